"""``train segmentation``: data discovery, centre-stratified folds, and a tiny end-to-end smoke training."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest
import torch

from algorithm.segmentation import SegmentationConfig, Segmenter
from algorithm.training import segmentation as train_cli
from algorithm.training.oof_masks import resolve_masks
from algorithm.training.seg_data import centre_folds, find_cases
from hecktor.errors import HecktorError, InputError
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import read_image
from synthetic import generate_cohort, write_training_layout


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small synthetic cases in the organisers' training layout."""
    root = tmp_path_factory.mktemp("hecktor_data")
    write_training_layout(generate_cohort(n=4, seed=3, size="small"), root)
    return root


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = SegmentationConfig(
        network_kwargs={"init_filters": 8, "blocks_down": [1, 1, 1], "blocks_up": [1, 1]},
        spacing_mm=[4.0, 4.0, 4.0],
        patch_size=[16, 16, 16],
        crop_size_mm=[128.0, 128.0, 160.0],
        sw_overlap=0.0,
        training={"epochs": 1, "steps_per_epoch": 2, "batch_size": 1, "n_folds": 2, "learning_rate": 1e-3},
    )
    return config.save(tmp_path_factory.mktemp("config") / "tiny.json")


def test_find_cases_accepts_the_root_and_the_task_folder(dataset: Path) -> None:
    from_root = find_cases(dataset)
    from_task = find_cases(dataset / "Task 1")
    assert [c.patient_id for c in from_root] == [c.patient_id for c in from_task]
    assert len(from_root) == 4
    case = from_root[0]
    assert case.ct.name == f"{case.patient_id}__CT.nii.gz" and case.label.name == f"{case.patient_id}.nii.gz"
    with pytest.raises(InputError):
        find_cases(dataset / "missing")


def test_folds_are_stratified_by_centre() -> None:
    ids = [f"CHUM-{i:03d}" for i in range(10)] + [f"MDA-{i:03d}" for i in range(5)] + ["HGJ-001"]
    folds = centre_folds(ids, n_folds=5, seed=0)
    assert folds == centre_folds(ids, n_folds=5, seed=0)  # deterministic
    for centre, n in (("CHUM", 10), ("MDA", 5)):
        per_fold = [sum(1 for p, f in folds.items() if p.startswith(centre) and f == k) for k in range(5)]
        assert per_fold == [n // 5] * 5
    sizes = [list(folds.values()).count(k) for k in range(5)]
    assert max(sizes) - min(sizes) <= 1


def test_register_adds_the_subcommand() -> None:
    parser = argparse.ArgumentParser()
    train = parser.add_subparsers(dest="task")
    train_cli.register(train)
    args = parser.parse_args(["segmentation", "--data", "d", "--out", "o", "--folds", "0", "2", "--epochs", "3"])
    assert args.folds == [0, 2] and args.epochs == 3 and callable(args.func)


@pytest.mark.slow  # training: left out of `make test-fast`
def test_smoke_training_writes_a_loadable_model(dataset: Path, tiny_config: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "model"
    argv = ["--data", str(dataset), "--out", str(out), "--config", str(tiny_config), "--folds", "0", "--threads", "1"]

    assert train_cli.main(argv) == 0

    assert (out / "config.json").is_file() and (out / "fold_0.pt").is_file()
    assert json.loads((out / "splits.json").read_text()).keys() == {c.patient_id for c in find_cases(dataset)}
    rows = list(csv.DictReader((out / "training_log.csv").open()))
    assert len(rows) == 1 and rows[0]["val_gtvp_mean_dice"] != ""
    assert rows[0]["gpu_busy_pct"] == rows[0]["gpu_util_pct"] == ""  # CUDA-only figures: blank on the CPU
    seg = Segmenter.load(out, device="cpu")
    assert seg.config.folds == [0] and seg.config.training["epochs"] == 1

    case = find_cases(dataset)[0]
    ct, pet = read_image(case.ct), read_image(case.pet)
    label = seg.segment(ct, pet)
    assert grid_differences(Grid.of(label), Grid.of(ct)) == []

    # out-of-fold masks: every fold-0 held-out case, on its own CT grid, by the fold's model
    splits = json.loads((out / "splits.json").read_text())
    held_out = sorted(pid for pid, k in splits.items() if k == 0)
    assert json.loads((out / "oof" / "folds.json").read_text()) == dict.fromkeys(held_out, 0)
    for case in (c for c in find_cases(dataset) if c.patient_id in held_out):
        mask = read_image(out / "oof" / f"{case.patient_id}.nii.gz")
        assert grid_differences(Grid.of(mask), Grid.of(read_image(case.ct))) == []
    assert resolve_masks(f"oof:{out}") == out / "oof"
    with pytest.raises(HecktorError, match="no out-of-fold masks"):
        resolve_masks(f"oof:{tmp_path / 'none'}")

    # --resume continues after the finished epoch instead of starting again
    assert train_cli.main([*argv, "--epochs", "2", "--resume"]) == 0
    rows = list(csv.DictReader((out / "training_log.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]


def test_the_configs_folds_apply_unless_folds_says_otherwise(tmp_path: Path) -> None:
    """The README's CPU smoke config states ``"folds": [0]``: that is what trains, not five folds."""
    from algorithm.training.segmentation import folds_to_train, resolve_config

    smoke = resolve_config("synthetic_2mm_segresnet")
    assert folds_to_train(None, smoke, 5) == [0]
    assert folds_to_train([1, 3], smoke, 5) == [1, 3]
    assert folds_to_train(["all"], smoke, 5) == [0, 1, 2, 3, 4]
    assert folds_to_train(None, resolve_config("hecktor_1mm_segresnet"), 5) == [0, 1, 2, 3, 4]
    assert folds_to_train(None, resolve_config("hecktor_1mm_segresnet"), 3) == [0, 1, 2]  # --n-folds 3
    no_folds = tmp_path / "c.json"
    no_folds.write_text('{"architecture": "SegResNet"}')
    assert folds_to_train(None, no_folds, 3) == [0, 1, 2]
    with pytest.raises(HecktorError, match=r"out of range 0\.\.4"):
        folds_to_train([5], smoke, 5)


@pytest.mark.slow  # two training processes: left out of `make test-fast`
def test_torchrun_trains_with_two_gloo_processes(dataset: Path, tiny_config: Path, tmp_path: Path) -> None:
    """``torchrun --nproc-per-node 2 -m algorithm train segmentation ...``: DDP on the CPU (gloo), one model folder."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "algorithm", "train", "segmentation", "--data", str(dataset), "--out", str(out)]
    cmd += ["--config", str(tiny_config), "--folds", "0", "--workers", "0", "--split", "centre"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "DDP: 2 processes (gloo backend)" in done.stderr
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["processes"] == 2 and summary["split"] == "centre"
    rows = list(csv.DictReader((out / "training_log.csv").open()))
    assert len(rows) == 1 and rows[0]["val_gtvn_aggregated_f1"] != ""  # one row: rank 0 alone writes
    assert Segmenter.load(out, device="cpu").config.folds == [0]
