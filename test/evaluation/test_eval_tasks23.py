"""Tasks 2 and 3 end to end: hand-computed C-index and balanced accuracy, value tolerance, robustness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import Job, write_jobs, write_outcomes

from evaluation.config import Conventions
from evaluation.evaluate import RunOptions, evaluate

OUTCOMES = [
    {"PatientID": "CHUM-001", "CenterID": 1, "RFS": 100, "Relapse": 1, "HPV Status": 1},
    {"PatientID": "CHUM-002", "CenterID": 1, "RFS": 200, "Relapse": 1, "HPV Status": 1},
    {"PatientID": "CHUS-003", "CenterID": 2, "RFS": 300, "Relapse": 0, "HPV Status": 1},
    {"PatientID": "CHUS-004", "CenterID": 2, "RFS": 400.5, "Relapse": 1, "HPV Status": 0},
    {"PatientID": "MDA-005", "CenterID": 7, "RFS": None, "Relapse": 1, "HPV Status": 0},
    {"PatientID": "MDA-006", "CenterID": 7, "RFS": 50, "Relapse": None, "HPV Status": None},
]


def gt_dir(tmp: Path) -> Path:
    write_outcomes(tmp / "gt" / "outcomes.csv", OUTCOMES)
    return tmp / "gt"


def run(tmp: Path, jobs: list[Job], task: int, **conv: object) -> dict:
    write_jobs(tmp / "input", jobs, task=task)
    return evaluate(RunOptions(tmp / "input", gt_dir(tmp), tmp / "out"), Conventions(**conv))


def rows(metrics: dict) -> dict[str, dict]:
    return {r["PatientID"]: r for r in metrics["results"]}


def test_task2_hand_computed_cindex(tmp_path: Path) -> None:
    # Comparable pairs (shorter time is an event): (1,2) (1,3) (1,4) (2,3) (2,4) = 5.
    # Concordant: (1,2) 1, (1,3) 1, (1,4) tie with missing 0.5, (2,3) 0, (2,4) 0.5 -> 3 / 5.
    jobs = [
        Job("CHUM-001", rfs="0.9"),
        Job("CHUM-002", rfs='"0.5"'),  # tolerated numeric string
        Job("CHUS-003", rfs="0.7"),
        Job("CHUS-004", rfs="NaN"),  # unusable -> tied with everyone
        Job("MDA-006", rfs="1.0"),  # Relapse unknown: not in Task 2
    ]
    metrics = run(tmp_path, jobs, task=2, bootstrap_resamples=200)
    agg = metrics["aggregates"]
    assert metrics["conventions"]["tasks"] == [2]
    assert agg["c_index"] == pytest.approx(0.6)
    assert agg["c_index_comparable_pairs"] == 5
    assert agg["task2_n_cases"] == 4 and agg["task2_n_events"] == 3
    assert agg["task2_n_missing_predictions"] == 1
    assert 0.0 <= agg["c_index_ci_low"] <= agg["c_index"] <= agg["c_index_ci_high"] <= 1.0
    r = rows(metrics)
    assert set(r) == {"CHUM-001", "CHUM-002", "CHUS-003", "CHUS-004"}
    assert r["CHUM-002"]["risk"] == 0.5 and r["CHUS-004"]["prediction_status"] == "invalid"
    assert "RFS" not in r["CHUM-001"]  # ground truth is not published per case on Grand Challenge
    codes = {(p["PatientID"], p["code"]) for p in metrics["problems"]}
    assert {("CHUM-002", "tolerated_string"), ("CHUS-004", "non_finite_value"), ("MDA-006", "unknown_patient")} <= codes
    assert agg["by_centre"]["CHUM"]["c_index"] == 1.0


def test_task2_bootstrap_is_seeded(tmp_path: Path) -> None:
    jobs = [Job(p, rfs=str(v)) for p, v in [("CHUM-001", 3), ("CHUM-002", 1), ("CHUS-003", 2), ("CHUS-004", 0)]]
    a = run(tmp_path / "a", jobs, task=2, seed=1)["aggregates"]
    b = run(tmp_path / "b", jobs, task=2, seed=1)["aggregates"]
    assert (a["c_index_ci_low"], a["c_index_ci_high"]) == (b["c_index_ci_low"], b["c_index_ci_high"])


@pytest.mark.parametrize("raw", ["[0.5]", '{"risk": 1}', "true", '"high"', "null", "Infinity", "not json"])
def test_task2_uninterpretable_values_are_missing(tmp_path: Path, raw: str) -> None:
    jobs = [Job("CHUM-001", rfs=raw), Job("CHUM-002", rfs="0.3")]
    metrics = run(tmp_path, jobs, task=2, bootstrap_resamples=0)
    r = rows(metrics)
    assert r["CHUM-001"]["prediction_status"] == "invalid" and r["CHUM-001"]["risk"] is None
    assert any(p["PatientID"] == "CHUM-001" and p["severity"] == "error" for p in metrics["problems"])
    assert metrics["aggregates"]["task2_n_missing_predictions"] == 3  # CHUM-001 + two patients without a job


def test_task3_hand_computed(tmp_path: Path) -> None:
    # truth: CHUM-001 +, CHUM-002 +, CHUS-003 +, CHUS-004 -, MDA-005 -
    # calls:      +          -           missing      -          + (string "true")
    # TP 1, FN 2 (the missing call is wrong), TN 1, FP 1: sensitivity 1/3, specificity 1/2.
    jobs = [
        Job("CHUM-001", hpv="true", hpv_probability="0.9"),
        Job("CHUM-002", hpv="false", hpv_probability="0.4"),
        Job("CHUS-003", hpv="[true]", hpv_probability="0.8"),
        Job("CHUS-004", hpv="0", hpv_probability="0.3"),
        Job("MDA-005", hpv='"TRUE"', hpv_probability="0.5"),
    ]
    metrics = run(tmp_path, jobs, task=3, bootstrap_resamples=100)
    agg = metrics["aggregates"]
    assert metrics["conventions"]["tasks"] == [3]
    assert agg["sensitivity"] == pytest.approx(1 / 3)
    assert agg["specificity"] == pytest.approx(1 / 2)
    assert agg["balanced_accuracy"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert (agg["hpv_tp"], agg["hpv_fn"], agg["hpv_tn"], agg["hpv_fp"]) == (1, 2, 1, 1)
    assert agg["task3_n_missing_predictions"] == 1
    # AUC on probabilities: positives 0.9, 0.4, 0.8 vs negatives 0.3, 0.5 -> (2 + 1 + 2) / 6
    assert agg["auc"] == pytest.approx(5 / 6)
    assert agg["task3_n_positive"] == 3 and agg["task3_n_negative"] == 2
    r = rows(metrics)
    assert r["CHUS-004"]["hpv_predicted"] is False and r["MDA-005"]["hpv_predicted"] is True
    assert r["CHUS-003"]["prediction_status"] == "invalid"
    codes = {(p["PatientID"], p["code"]) for p in metrics["problems"]}
    assert {("CHUS-004", "tolerated_number"), ("MDA-005", "tolerated_string")} <= codes
    assert ("CHUS-003", "uninterpretable_value") in codes


def test_task3_without_probability_writes_chance_auc(tmp_path: Path) -> None:
    jobs = [Job("CHUM-001", hpv="true"), Job("CHUS-004", hpv="false")]
    metrics = run(tmp_path, jobs, task=3, bootstrap_resamples=0)
    agg = metrics["aggregates"]
    assert agg["auc"] == 0.5
    assert any(p["code"] == "no_probability" for p in metrics["problems"])
    # three positives: one right, two without a job; two negatives: one right, one without a job
    assert agg["sensitivity"] == pytest.approx(1 / 3) and agg["specificity"] == pytest.approx(1 / 2)


def curve_json(times: list[float], survival: list[float]) -> str:
    return json.dumps({"times_days": times, "survival": survival})


def test_task2_integrated_brier_score_matches_sksurv(tmp_path: Path) -> None:
    from sksurv.metrics import integrated_brier_score
    from sksurv.util import Surv

    from hecktor.metrics.brier import default_times, survival_at

    known = [o for o in OUTCOMES if o["RFS"] is not None and o["Relapse"] is not None]
    curves = {
        o["PatientID"]: (
            [50.0, 150.0, 250.0, 350.0, 450.0],
            [0.95 - 0.1 * k, 0.85 - 0.1 * k, 0.6 - 0.1 * k, 0.4 - 0.1 * k, 0.35 - 0.1 * k],
        )
        for k, o in enumerate(known)
    }
    jobs = [Job(pid, rfs=str(0.1 * k), rfs_curve=curve_json(*curves[pid])) for k, pid in enumerate(curves)]
    metrics = run(tmp_path, jobs, task=2, bootstrap_resamples=50)
    agg = metrics["aggregates"]

    time = np.array([float(o["RFS"]) for o in known])
    event = np.array([bool(o["Relapse"]) for o in known])
    grid = default_times(time)
    survival = np.stack([survival_at(*curves[o["PatientID"]], grid) for o in known])
    y = Surv.from_arrays(event, time)
    assert agg["integrated_brier_score"] == pytest.approx(integrated_brier_score(y, y, survival, grid), abs=1e-10)
    assert agg["task2_n_survival_curves"] == len(known)


def test_task2_brier_needs_every_curve(tmp_path: Path) -> None:
    good = curve_json([100.0, 300.0], [0.8, 0.4])
    jobs = [
        Job("CHUM-001", rfs="0.9", rfs_curve=good),
        Job("CHUM-002", rfs="0.5", rfs_curve='{"times_days": [1, 1], "survival": [0.5, 0.4]}'),  # unusable
        Job("CHUS-003", rfs="0.7", rfs_curve=good),
        Job("CHUS-004", rfs="0.2"),  # no curve
    ]
    metrics = run(tmp_path, jobs, task=2, bootstrap_resamples=50)
    assert "integrated_brier_score" not in metrics["aggregates"]
    codes = {(p["PatientID"], p["code"]) for p in metrics["problems"]}
    assert ("CHUM-002", "invalid_survival_curve") in codes and (None, "brier_not_computed") in codes
    assert metrics["aggregates"]["c_index"] > 0  # the ranking metric is unaffected
