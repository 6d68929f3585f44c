"""Smoke test of the benchmark: the per-configuration runner on a small synthetic case, in a subprocess.

With the bundled segmentation weights it runs the real model (Tasks 2/3 too when their models exist); without
them, a tiny network with random weights (the runner's ``--random-weights``), so the runner is always exercised.
The full benchmark is ``make bench`` (minutes), not part of the test suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import data
from bench.run import Config, case_tables, estimate_seconds, parse_evaluation, stage_names

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "algorithm" / "resources" / "model" / "segmentation"
SYNTHETIC_CONFIG = REPO / "algorithm" / "segmentation" / "configs" / "synthetic_2mm_segresnet.json"


def tiny_config(tmp_path: Path) -> Path:
    """The synthetic model's config shrunk to one 32^3 window at 4 mm: seconds on any CPU."""
    config = json.loads(SYNTHETIC_CONFIG.read_text())
    config.update(spacing_mm=[4.0, 4.0, 4.0], patch_size=[32, 32, 32], crop_size_mm=[128.0, 128.0, 128.0])
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def small_case(tmp_path_factory) -> dict:
    return data.ensure_case("small", tmp_path_factory.mktemp("bench_data"), log=lambda _text: None)


@pytest.mark.slow  # a whole benchmark child run: left out of `make test-fast`
def test_algorithm_case_runner_reports_timings_and_peak_rss(small_case, tmp_path):
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "bench.algorithm_case", "--case", small_case["input_dir"], "--json-out", str(out)]
    cmd += ["--device", "cpu", "--folds", "2", "--name", "smoke"]
    bundled = (BUNDLED / "config.json").is_file() and (BUNDLED / "fold_0.pt").is_file()
    if not bundled:
        cmd += ["--seg-config", str(tiny_config(tmp_path)), "--random-weights", "--tasks", "1"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())

    timings = result["timings"]
    for stage in ("read inputs", "infer", "total"):
        assert timings[stage] >= 0.0, stage
    assert timings["total"] >= timings["infer"]
    assert 0.0 <= result["outside_network_fraction"] <= 1.0
    assert 0.05 < result["peak_rss_gib"] < 8.0
    assert result["peak_rss_gib"] >= result["rss_after_load_gib"] - 1e-6
    assert result["stage_peak_rss_gib"]["infer"] > 0.0
    assert result["load_s"] > 0.0
    assert result["model"]["folds"] == 2
    assert result["model"]["fold_copies"] == (0 if bundled and (BUNDLED / "fold_1.pt").is_file() else 1)
    assert result["device"] == "cpu" and result["precision"] == "fp32"
    assert result["conv_dtype"] == "float32"
    assert result["fallbacks"] == []
    assert "images/tumor-lymph-node-segmentation" in result["outputs"]
    if not {2, 3} & set(result["tasks"]):
        assert timings["features (standalone)"] >= 0.0

    # The runner's tables take this JSON as it is.
    run = {**result, "config": Config(False, 2).__dict__, "case_name": "small", "process_s": 1.0}
    lines = case_tables("small", small_case, [run])
    assert any(line.startswith("infer") for line in lines)
    assert stage_names([run])[-1] == "total"


def test_runner_without_model_exits_3_with_a_reason(small_case, tmp_path):
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "bench.algorithm_case", "--case", small_case["input_dir"], "--json-out", str(out)]
    cmd += ["--model-dir", str(tmp_path / "nothing")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "segmentation model missing" in json.loads(out.read_text())["error"]


def test_evaluation_table_parsing_and_estimates():
    lines = [
        "mean         0.21    0.035       0.16        5.49   157.4x",
        "1 worker(s)                 2.64     5.69",
        "2 worker(s)                 3.97     3.78",
    ]
    parsed = parse_evaluation(lines)
    assert parsed["speed_up"] == pytest.approx(157.4)
    assert parsed["cases_per_s_1_workers"] == pytest.approx(5.69)
    assert parsed["cases_per_s_2_workers"] == pytest.approx(3.78)
    assert parse_evaluation(["something else entirely"]) == {}

    measured = {"config": Config(True, 1).__dict__, "case_name": "head", "process_s": 30.0, "load_s": 1.0}
    measured["timings"] = {"infer": 10.0, "total": 20.0}
    assert estimate_seconds([measured], "head", Config(True, 5)) == pytest.approx(30.0 + 4 * 11.0)
    assert estimate_seconds([measured], "whole-body", Config(True, 5)) is None


@pytest.mark.parametrize("precision", ["fp32", "amp"])
def test_precision_switch_sets_cuda_autocast(precision, monkeypatch):
    """On CUDA, fp32 must turn the segmentation's float16 autocast off and amp leave it on (checked without a GPU)."""
    from types import SimpleNamespace

    import torch

    import algorithm.segmentation.infer as infer
    from algorithm.segmentation.config import SegmentationConfig
    from bench.algorithm_case import set_precision

    seen: list[bool] = []
    real_autocast = torch.autocast

    def recording_autocast(device_type, dtype=None, enabled=True, **kwargs):
        seen.append(enabled)
        return real_autocast("cpu", enabled=False)

    monkeypatch.setattr(torch, "autocast", recording_autocast)
    config = SegmentationConfig(patch_size=[8, 8, 8], sw_overlap=0.0)
    segmenter = SimpleNamespace(device=torch.device("cuda"), config=config)
    assert set_precision(segmenter, precision) == precision
    net = torch.nn.Conv3d(2, 3, 1)
    with torch.inference_mode():
        out = infer.sliding_window_logits(net, torch.zeros(1, 2, 8, 8, 8), config, torch.device("cuda"))
    assert out.shape == (1, 3, 8, 8, 8)
    assert seen == [precision == "amp"]


def test_window_count_matches_monai_sliding_window():
    """The extrapolation's window count (bench.network_window) is what sliding_window_inference runs."""
    from bench.network_window import windows_per_pass

    assert windows_per_pass((310, 200, 200), (192, 192, 192), 0.5) == 12  # the 1 mm production config
    assert windows_per_pass((136, 80, 80), (48, 48, 48), 0.25) == 16  # the bundled synthetic model
    assert windows_per_pass((30, 20, 20), (32, 32, 32), 0.5) == 1  # smaller than a window: padded


def test_gpu_report_from_a_cuda_shaped_run():
    """The GPU tables and target lines (never run on our CPU-only CI) accept what the runner writes on CUDA."""
    from bench.run import gpu_summary, notes_for, target_lines

    info = {
        "spec": {"name": "whole-body", "patient_id": "MDA-102"},
        "ct_size": [512, 512, 400],
        "ct_spacing_mm": [0.98, 0.98, 2.49],
        "pet_size": [200, 200, 336],
        "planning_ct": False,
        "rt_dose": False,
    }
    runs = []
    for precision, model, reserved in (("fp32", "bundled", 1.5), ("amp", "prod", 17.0)):
        runs.append(
            {
                "config": Config(True, 5, precision, model).__dict__,
                "case_name": "whole-body",
                "device": "cuda",
                "gpu_name": "NVIDIA H100 80GB HBM3",
                "timings": {"read inputs": 0.5, "infer": 3.0, "total": 4.0},
                "stage_cpu_s": {"infer": 1.0},
                "stage_peak_rss_gib": {"infer": 2.0},
                "outside_network_fraction": 0.25,
                "run_totals_s": [6.0, 4.0],
                "first_total_s": 6.0,
                "gpu": {"max_allocated_gib": reserved - 1, "max_reserved_gib": reserved},
                "conv_dtype": "float16" if precision == "amp" else "float32",
                "peak_rss_gib": 3.0,
                "load_s": 1.0,
                "process_s": 20.0,
                "model": {
                    "folds": 5,
                    "fold_copies": 4,
                    "weights": "random" if model == "prod" else "trained",
                    "source": "somewhere",
                    "architecture": "SegResNet",
                    "network_kwargs": {},
                    "spacing_mm": [2.0, 2.0, 2.0],
                    "patch_size": [48, 48, 48],
                    "crop_size_mm": [160.0, 160.0, 272.0],
                    "sw_overlap": 0.25,
                    "mirror_axes": ["x"],
                },
            }
        )
    runs.append({"skipped": "budget spent", "config": Config(True, 5, "fp32", "prod").__dict__, "case_name": "x"})
    summary = "\n".join(gpu_summary(runs))
    assert "float16" in summary and "budget spent" in summary
    tables = "\n".join(case_tables("whole-body", info, runs[:2]))
    assert "amp, TTA on, 5f" in tables and "GPU max reserved (GiB)" in tables
    targets = "\n".join(target_lines([], runs, 2))
    assert "DOES NOT FIT" in targets and "not T4 seconds" in targets
    notes = notes_for({"machine": {"usable_cores": 2}, "algorithm": [], "gpu": runs[:2]})
    assert any("5 folds" in note for note in notes)


def test_pet_calibration_factors_and_oblique_grid():
    """Per-centre factors: seeded, one per centre, inside [low, high]; the oblique grid covers the whole scan."""
    import numpy as np
    import SimpleITK as sitk

    from bench.pet_calibration import centre_factors, on_oblique_grid

    factors = centre_factors(["HGJ", "CHUM", "HGJ", "MDA"], seed=16)
    assert list(factors) == ["CHUM", "HGJ", "MDA"]
    assert factors == centre_factors(["MDA", "CHUM", "HGJ"], seed=16)
    assert factors != centre_factors(["MDA", "CHUM", "HGJ"], seed=17)
    assert all(0.5 <= f <= 2.0 for f in factors.values())
    assert centre_factors(["A"], seed=0, low=1.5, high=1.5) == {"A": pytest.approx(1.5)}

    image = sitk.GetImageFromArray(np.ones((10, 20, 30), dtype=np.float32))
    image.SetSpacing((2.0, 2.5, 4.0))
    image.SetOrigin((-10.0, 5.0, 30.0))
    oblique = on_oblique_grid(image, 20.0, sitk.sitkNearestNeighbor, 0.0)
    direction = np.asarray(oblique.GetDirection()).reshape(3, 3)
    assert np.degrees(np.arccos(direction[1, 1])) == pytest.approx(20.0)
    assert oblique.GetSpacing() == image.GetSpacing()
    # Every voxel of the scan lands on the new grid: the total is kept to within interpolation at the edges.
    total = float(sitk.GetArrayViewFromImage(oblique).sum())
    assert 0.9 * 6000 < total < 1.1 * 6000


@pytest.mark.slow  # segments a generated cohort three times with the bundled model
def test_pet_calibration_bench_runs_every_variant(tmp_path, capsys):
    if not (BUNDLED / "fold_0.pt").is_file():
        pytest.skip("no bundled segmentation weights")
    from bench.pet_calibration import main

    report = tmp_path / "report.json"
    assert main(["--cases", "2", "--out", str(tmp_path / "cohort"), "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "per-centre PET factors:" in printed and "target <= 0.03" in printed
    figures = json.loads(report.read_text())
    assert set(figures["variants"]) == {"unshifted", "per-centre PET", "oblique grid 20 deg"}
    from algorithm.training.seg_data import find_cases

    assert set(figures["factors"]) == {case.centre for case in find_cases(tmp_path / "cohort" / "data")}
    for summary in figures["variants"].values():
        assert 0.0 <= summary["gtvp_mean_dice"] <= 1.0
        assert summary["gtvn_tp"] + summary["gtvn_fn"] > 0


def test_results_md_rewrite_keeps_the_stand_alone_benches_section(tmp_path, monkeypatch):
    """bench.run rewrites RESULTS.md but keeps what follows its marker (figures of the stand-alone benches)."""
    import bench.run as run

    path = tmp_path / "RESULTS.md"
    path.write_text(f"stale generated part\n{run.KEPT_MARKER}\n## PET calibration\nfigures\n")
    monkeypatch.setattr(run, "machine_lines", lambda _m: ["a CPU"])
    results = {"machine": {}, "command": "bench", "date": "today", "elapsed_s": 60.0, "cases": {}, "notes": []}
    run.write_markdown(path, results, {})
    text = path.read_text()
    assert "stale generated part" not in text and "- a CPU" in text
    assert text.count(run.KEPT_MARKER) == 1 and f"{run.KEPT_MARKER}\n## PET calibration\nfigures\n" in text
    run.write_markdown(path, results, {})
    assert path.read_text() == text
    fresh = tmp_path / "fresh.md"
    run.write_markdown(fresh, results, {})
    assert run.KEPT_MARKER not in fresh.read_text()


@pytest.mark.slow  # the session's nnU-Net smoke training (test/conftest.py), then four child jobs
def test_nnunet_vs_predict_runs_both_sides_and_prints_ratios(nnunet_results, tmp_path):
    out = tmp_path / "nnunet.json"
    cmd = [sys.executable, "-m", "bench.nnunet_vs_predict", "--quick", "--model", str(nnunet_results)]
    cmd += ["--cache", str(tmp_path / "cache"), "--spacing", "plans", "--json-out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    result = json.loads(out.read_text())
    for part in ("block", "whole"):
        for side in ("kit", "nnunet"):
            measured = result[part][side]
            assert 0 < measured["network_s"] < measured["entry_s"] < measured["wall_s"], (part, side, measured)
            assert measured["pre_post_s"] > 0 and measured["peak_rss_gib"] > 0.1, (part, side, measured)
            assert measured["peak_tree_rss_gib"] > 0.1, (part, side, measured)
        # each side wrote its mask: the kit's on the CT grid (.mha), nnU-Net's own export
        assert list((tmp_path / "cache" / "run" / part / "kit-out").rglob("*.mha"))
        assert (tmp_path / "cache" / "run" / part / "nnunet-out" / "CASE.nii.gz").is_file()
    assert any(line.startswith("pre+post (network excluded)") for line in result["lines"])
    assert any(line.startswith("peak RSS, one process GiB") for line in result["lines"])
    assert "pre+post (network excluded)" in proc.stdout
