"""Training CLI smoke run (Task 2) on a tiny synthetic cohort in the organisers' layout."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from algorithm.prognosis import PrognosisModel
from algorithm.training import prognosis as train_prognosis
from algorithm.training.cases import load_cases
from algorithm.training.feature_cache import CACHE_FILE
from evaluation.cli import main as evaluation_main

FAST = ["--folds", "3", "--bags", "8", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synthetic = pytest.importorskip("synthetic")
    out = tmp_path_factory.mktemp("cohort")
    synthetic.write_training_layout(synthetic.generate_cohort(20, seed=5), out)
    return out


def test_layout_is_read(cohort: Path) -> None:
    cases, _ = load_cases(cohort / "Task 2", task=2)  # a task folder works as --data too
    assert len(cases) == 20
    assert all(c.ct and c.pet and c.label for c in cases)
    assert any(c.rt_dose is not None for c in cases) and any(c.rt_dose is None for c in cases)
    assert {c.centre for c in cases} >= {"CHUM", "CHUS"}
    assert all(c.targets["rfs_days"] > 0 and c.targets["relapse"] in (0.0, 1.0) for c in cases)


@pytest.mark.slow  # training: left out of `make test-fast`
def test_training_cli_writes_a_loadable_model(cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, cache = tmp_path / "model", tmp_path / "cache"
    args = ["--data", str(cohort), "--out", str(out), "--cache", str(cache), *FAST]
    assert train_prognosis.main([*args, "--holdout", str(cohort)]) == 0
    printed = capsys.readouterr().out
    assert "C-index" in printed and "Held-out" in printed
    assert "Pooled C ranks every case's out-of-fold risk" in printed  # the two C-indices are explained
    model = PrognosisModel.load(out)
    cv = model.training["cross_validation"]
    assert 0.0 <= cv["c_index"] <= 1.0 and len(cv["c_index_ci95"]) == 2
    assert model.training["n_cases"] == 20 and model.training["masks"] == "ground-truth"
    assert "oracle_c_index" in model.training["holdout"]
    oof = pd.read_csv(out / "cv_predictions.csv")
    assert len(oof) == 20 and oof["risk"].notna().all()
    metrics_path = tmp_path / "cv_metrics.json"  # the CV predictions are scorable as they are (issue 19)
    score = ["score-folder", "--predictions", str(out / "cv_predictions.csv"), "--data", str(cohort), "--task", "2"]
    assert evaluation_main([*score, "--output", str(metrics_path), "--bootstrap", "0"]) == 0
    assert json.loads(metrics_path.read_text())["aggregates"]["c_index"] == pytest.approx(cv["c_index"], abs=1e-3)
    assert math.isfinite(model.predict_risk(None, None))
    # second run: every feature row comes from the cache
    assert train_prognosis.main([*args, "--model", "cox"]) == 0
    assert "0 computed, 20 reused" in capsys.readouterr().err
    assert PrognosisModel.load(out).main.kind in ("cox", "constant")
    cached = pd.read_csv(cache / CACHE_FILE)
    assert len(cached) == 20 and cached["input_hash"].notna().all()


def test_predicted_masks_folder(cohort: Path, tmp_path: Path) -> None:
    masks = tmp_path / "predicted"
    masks.mkdir()
    for folder in sorted((cohort / "Task 1").iterdir())[:15]:  # 5 cases without a prediction
        shutil.copy(folder / f"{folder.name}.nii.gz", masks / f"{folder.name}.nii.gz")
    out = tmp_path / "model"
    assert train_prognosis.main(["--data", str(cohort), "--out", str(out), "--masks", str(masks), *FAST]) == 0
    training = PrognosisModel.load(out).training
    assert training["n_cases"] == 15 and training["masks"].startswith("predicted")
    assert any("15 of 20" in note for note in training["notes"])


def test_lead_cli_registers_the_subcommand(cohort: Path, tmp_path: Path) -> None:
    cli = pytest.importorskip("algorithm.cli")
    out = tmp_path / "model"
    assert cli.main(["train", "prognosis", "--data", str(cohort), "--out", str(out), "--max-cases", "12", *FAST]) == 0
    assert json.loads((out / "model.json").read_text())["format"] == "hecktor-kit/prognosis"


def test_pooled_and_fold_mean_c_are_explained() -> None:
    assert "separate centres" not in train_prognosis.pooled_vs_fold_mean(0.66, 0.64)
    assert "mostly separate centres" in train_prognosis.pooled_vs_fold_mean(0.814, 0.508)
    assert "risk scales differ" in train_prognosis.pooled_vs_fold_mean(0.5, 0.7)


@pytest.mark.slow  # training: left out of `make test-fast`
def test_a_table_without_clinical_columns_trains_an_imaging_only_model(cohort: Path, tmp_path: Path) -> None:
    """Issue 17: no clinical input column at all (the clinical-only fallback has no input) used to crash."""
    data = tmp_path / "imaging_only"
    data.mkdir()
    for task in ("Task 1", "Task 2", "Task 3"):
        (data / task).symlink_to(cohort / task, target_is_directory=True)
    table = pd.read_csv(cohort / "HECKTOR_2025_Training_Task_2.csv")
    table[["PatientID", "CenterID", "RFS", "Relapse"]].to_csv(data / "HECKTOR_2025_Training_Task_2.csv", index=False)
    out = tmp_path / "model"
    assert train_prognosis.main(["--data", str(data), "--out", str(out), "--model", "cox", *FAST]) == 0
    model = PrognosisModel.load(out)
    assert model.fallback.kind == "constant" and model.fallback.feature_names == []
    assert not any(n.startswith("clinical_") for n in model.main.feature_names)
    assert math.isfinite(model.predict_risk(None, None))  # no mask: the (constant) fallback
    oof = pd.read_csv(out / "cv_predictions.csv")
    assert len(oof) == 20 and oof["risk"].notna().all()
