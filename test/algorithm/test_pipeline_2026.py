"""HECKTOR 2026 end to end: a synthetic 2026 case through ``python -m algorithm run --edition 2026``, its four
outputs, the fallbacks, and the scoring of the predictions tree by the evaluation's 2026 phase."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.pipeline import Algorithm, rfs_time_days
from hecktor import interface
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import find_single_image, read_image
from hecktor.predictions_tree import JobSpec, write_predictions_tree
from hecktor.staging import N_STAGES, T_STAGES
from synthetic import generate_case, write_grand_challenge_layout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gc2026(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gc2026")
    cases = [generate_case("CHUM-001", seed=21), generate_case("HGJ-002", seed=21, flip_ct=True)]
    write_grand_challenge_layout(cases, root, edition="2026")
    return root


@pytest.fixture(scope="module")
def algorithm2026() -> Algorithm:
    return Algorithm(device="cpu", edition="2026", rfs_output="time")


def check_2026_outputs(case_dir: Path, out: Path) -> tuple[str, str, float]:
    label = read_image(find_single_image(out / interface.SEGMENTATION_2026.relative_path, "segmentation"))
    ct = read_image(find_single_image(case_dir / interface.CT.relative_path))
    assert label.GetPixelID() == sitk.sitkUInt8
    assert grid_differences(Grid.of(label), Grid.of(ct)) == []
    assert set(np.unique(sitk.GetArrayViewFromImage(label))) <= {0, 1, 2}
    t = json.loads((out / interface.T_STAGE.relative_path).read_text())
    n = json.loads((out / interface.N_STAGE.relative_path).read_text())
    rfs = json.loads((out / interface.RFS.relative_path).read_text())
    assert t in T_STAGES and n in N_STAGES
    assert isinstance(rfs, float) and math.isfinite(rfs)
    assert not (out / interface.SEGMENTATION.relative_path).exists()
    assert not (out / interface.HPV_STATUS.relative_path).exists()
    return t, n, rfs


def test_cli_run_2026_writes_four_outputs_and_is_scored(gc2026, tmp_path):
    jobs = []
    for case_dir in sorted((gc2026 / "inputs").iterdir()):
        out = tmp_path / "outputs" / case_dir.name
        proc = _run(
            "algorithm", "run", "--input", str(case_dir), "--output", str(out), "--device", "cpu",
            env={"HECKTOR_EDITION": "2026"},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "rfs.json" in proc.stderr and "HPV Status (input" in proc.stderr
        assert "RFS model (2026)" in proc.stderr and "model of edition 2026" in proc.stderr  # the log names it
        check_2026_outputs(case_dir, out)
        jobs.append(JobSpec(case_dir.name, out, f"{case_dir.name}__CT.nii.gz", f"{case_dir.name}__PT.nii.gz"))
    write_predictions_tree(tmp_path / "eval" / "input", jobs, edition="2026")
    eval_dir = tmp_path / "eval"
    proc = _run(
        "evaluation", "--input", str(eval_dir / "input"), "--ground-truth", str(gc2026 / "ground_truth"),
        "--output", str(eval_dir),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    agg = metrics["aggregates"]
    assert agg["t_stage_n_cases"] == 2
    assert 0.0 <= agg["final_score"] <= 1.0


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _run(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=REPO, env={**_env(), **(env or {})}
    )


def test_empty_mask_falls_back_to_the_most_frequent_stages(gc2026, algorithm2026, tmp_path, monkeypatch):
    from algorithm.pipeline import empty_label_like

    case_dir = gc2026 / "inputs" / "CHUM-001"
    monkeypatch.setattr(algorithm2026.segmenter, "segment", lambda ct, pet, timings=None: empty_label_like(ct))
    result = algorithm2026.run(case_dir, tmp_path)
    t, n, _rfs = check_2026_outputs(case_dir, tmp_path)
    fallback = algorithm2026.staging.fallback
    assert (t, n) == (fallback["T"], fallback["N"])
    assert any("most frequent stages" in f for f in result.fallbacks)


def test_rfs_output_time_is_decreasing_in_risk_and_risk_setting(gc2026, tmp_path):
    assert rfs_time_days(0.0) == 1000.0 and rfs_time_days(1.0) < rfs_time_days(0.0)
    assert math.isfinite(rfs_time_days(1e9)) and math.isfinite(rfs_time_days(-1e9))
    algo = Algorithm(device="cpu", edition="2026", rfs_output="risk")
    result = algo.run(gc2026 / "inputs" / "HGJ-002", tmp_path)
    assert json.loads((tmp_path / "rfs.json").read_text()) == pytest.approx(result.values["rfs_risk"])


def test_bad_edition_and_rfs_output_are_usage_errors(gc2026, tmp_path):
    for extra, env in ((["--edition", "2024"], {}), ([], {"HECKTOR_RFS_OUTPUT": "days"})):
        case = str(gc2026 / "inputs" / "CHUM-001")
        proc = _run("algorithm", "run", "--input", case, "--output", str(tmp_path), *extra, env=env)
        assert proc.returncode == 2
        last = proc.stderr.strip().splitlines()[-1]
        assert "2024" in last or "HECKTOR_RFS_OUTPUT" in last


def test_2026_uses_the_2026_rfs_model_and_2025_keeps_its_own(algorithm2026):
    from algorithm.models import BUNDLED_MODEL_DIR
    from algorithm.prognosis import PrognosisModel
    from hecktor.clinical import parse_clinical

    rfs = algorithm2026.prognosis
    assert rfs.training["edition"] == "2026"
    assert "clinical_hpv_status" in rfs.main.feature_names and "clinical_m_stage" not in rfs.main.feature_names
    record = {"Age": 60, "Gender": 1, "Tobacco Consumption": 1, "Performance Status": 1, "Treatment": 1}
    risks = [rfs.predict_risk(None, parse_clinical({**record, "HPV Status": hpv})) for hpv in (0, 1)]
    assert risks[0] > risks[1], "HPV-negative relapses earlier (the synthetic hazard's +0.9), so the input counts"
    assert Algorithm._prognosis_dir(None, "2025") == BUNDLED_MODEL_DIR / "prognosis"
    task2 = PrognosisModel.load(BUNDLED_MODEL_DIR / "prognosis")
    assert "clinical_m_stage" in task2.main.feature_names and "clinical_hpv_status" not in task2.main.feature_names


def test_a_model_folder_without_rfs_falls_back_to_its_prognosis_model(tmp_path, caplog):
    from algorithm.models import BUNDLED_MODEL_DIR

    (tmp_path / "prognosis").symlink_to(BUNDLED_MODEL_DIR / "prognosis")
    with caplog.at_level("WARNING", logger="algorithm.pipeline"):
        assert Algorithm._prognosis_dir(tmp_path, "2026") == tmp_path / "prognosis"
    assert "no 2026 RFS model" in caplog.text and "HPV unused" in caplog.text


def test_a_mounted_tarball_with_its_own_prognosis_model_is_not_replaced_by_the_bundled_rfs(
    tmp_path, monkeypatch, caplog
):
    """/opt/ml/model with prognosis/ but no rfs/: the participant's model, not the image's demo rfs/."""
    import algorithm.models as models

    mounted = tmp_path / "opt-ml-model"
    (mounted / "prognosis").mkdir(parents=True)
    (mounted / "prognosis" / "model.json").write_text("{}")
    monkeypatch.delenv("HECKTOR_MODEL_DIR", raising=False)
    monkeypatch.setattr(models, "MOUNTED_MODEL_DIR", mounted)
    with caplog.at_level("WARNING", logger="algorithm.pipeline"):
        assert Algorithm._prognosis_dir(None, "2026") == mounted / "prognosis"
    assert "no 2026 RFS model" in caplog.text
    (mounted / "rfs").mkdir()
    (mounted / "rfs" / "model.json").write_text("{}")
    assert Algorithm._prognosis_dir(None, "2026") == mounted / "rfs"
    monkeypatch.setattr(models, "MOUNTED_MODEL_DIR", tmp_path / "nothing-mounted")
    assert Algorithm._prognosis_dir(None, "2026") == models.BUNDLED_MODEL_DIR / "rfs"
