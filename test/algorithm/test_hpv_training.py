"""Training CLI smoke run (Task 3) on a tiny synthetic cohort in the organisers' layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from algorithm.hpv import HPVModel
from algorithm.training import hpv as train_hpv
from evaluation.cli import main as evaluation_main


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synthetic = pytest.importorskip("synthetic")
    out = tmp_path_factory.mktemp("cohort")
    synthetic.write_training_layout(synthetic.generate_cohort(24, seed=8), out)
    return out


@pytest.mark.slow  # training: left out of `make test-fast`
def test_training_cli_writes_a_loadable_model(cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    argv = ["--data", str(cohort), "--out", str(out), "--folds", "3", "--bootstrap", "20", "--holdout", str(cohort)]
    assert train_hpv.main(argv) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "balanced accuracy" in printed and "Held-out" in printed
    assert "bootstrap 95% CIs (20 resamples): metric 4/4" in captured.err  # the end of training shows progress
    assert "final fit on all" in captured.err
    model = HPVModel.load(out)
    cv = model.training["cross_validation"]
    assert 0.0 <= cv["balanced_accuracy"] <= 1.0 and "auc_ci95" in cv
    assert model.training["threshold"] == pytest.approx(model.main.threshold, abs=1e-4)
    per_fold = cv["threshold_per_fold"]  # stability of the CV-chosen threshold across the outer folds
    assert len(per_fold) == 3 and all(0.0 <= t <= 1.0 for t in per_fold)
    assert cv["threshold_fold_range"] == [min(per_fold), max(per_fold)] and "Threshold stability" in printed
    known = pd.read_csv(cohort / "HECKTOR_2025_Training_Task_3.csv")["HPV Status"].notna().sum()
    assert model.training["n_cases"] == known
    oof = pd.read_csv(out / "cv_predictions.csv")
    assert oof["probability"].between(0, 1).all()
    # the CV predictions are scorable as they are (issue 19)
    metrics_path = tmp_path / "cv_metrics.json"
    score = ["score-folder", "--predictions", str(out / "cv_predictions.csv"), "--data", str(cohort), "--task", "3"]
    assert evaluation_main([*score, "--output", str(metrics_path), "--bootstrap", "0"]) == 0
    aggregates = json.loads(metrics_path.read_text())["aggregates"]
    assert aggregates["task3_n_cases"] == known and aggregates.get("task3_n_missing_predictions", 0) == 0
    assert aggregates["balanced_accuracy"] == pytest.approx(cv["balanced_accuracy"], abs=1e-3)
    positive, probability = model.predict(None, None)
    assert isinstance(positive, bool) and math.isfinite(probability)
