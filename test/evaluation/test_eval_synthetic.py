"""End to end on the shared synthetic cohort: Grand Challenge layout, training layout, library cross-checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from eval_helpers import Job, write_jobs

from evaluation.cli import main
from evaluation.config import Conventions
from evaluation.evaluate import RunOptions, evaluate
from evaluation.ground_truth import load_ground_truth

synthetic = pytest.importorskip("synthetic")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    from synthetic.training_layout import write_training_layout

    root = tmp_path_factory.mktemp("synthetic")
    cases = synthetic.generate_cohort(6, seed=3, size="small")
    synthetic.write_grand_challenge_layout(cases, root / "gc")
    write_training_layout(cases, root / "training")
    return cases, root


def test_perfect_segmentations_score_one(cohort: tuple[list, Path], tmp_path: Path) -> None:
    cases, root = cohort
    write_jobs(tmp_path / "input", [Job(c.patient_id, segmentation=c.label) for c in cases], task=1)
    metrics = evaluate(RunOptions(tmp_path / "input", root / "gc" / "ground_truth", tmp_path), Conventions())
    agg = metrics["aggregates"]
    assert agg["task1_n_cases"] == len(cases) and agg["n_errors"] == 0
    assert agg["GTVp_mean_dice"] == 1.0 and agg["GTVp_aggregated_dice"] == 1.0
    assert agg["GTVn_fp"] == 0 and agg["GTVn_fn"] == 0


def test_oracle_risk_and_hpv_match_reference_libraries(cohort: tuple[list, Path], tmp_path: Path) -> None:
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from sksurv.metrics import concordance_index_censored

    cases, root = cohort
    gt = root / "gc" / "ground_truth"
    jobs = [Job(c.patient_id, rfs=repr(float(c.oracle_risk))) for c in cases]
    write_jobs(tmp_path / "t2", jobs, task=2)
    agg = evaluate(RunOptions(tmp_path / "t2", gt, tmp_path / "o2"), Conventions(bootstrap_resamples=100))["aggregates"]
    known = [c for c in cases if c.rfs_days is not None and c.relapse is not None]
    expected = concordance_index_censored(
        np.array([bool(c.relapse) for c in known]),
        np.array([c.rfs_days for c in known], dtype=float),
        np.array([c.oracle_risk for c in known]),
    )[0]
    assert agg["c_index"] == pytest.approx(expected)

    jobs = [
        Job(c.patient_id, hpv="true" if c.oracle_hpv_prob > 0.5 else "false", hpv_probability=repr(c.oracle_hpv_prob))
        for c in cases
    ]
    write_jobs(tmp_path / "t3", jobs, task=3)
    agg = evaluate(RunOptions(tmp_path / "t3", gt, tmp_path / "o3"), Conventions(bootstrap_resamples=0))["aggregates"]
    known = [c for c in cases if c.hpv is not None]
    truth = [int(c.hpv) for c in known]
    calls = [int(c.oracle_hpv_prob > 0.5) for c in known]
    assert agg["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, calls))
    if len(set(truth)) == 2:
        assert agg["auc"] == pytest.approx(roc_auc_score(truth, [c.oracle_hpv_prob for c in known]))


def test_prepare_ground_truth_reproduces_the_gc_ground_truth(cohort: tuple[list, Path], tmp_path: Path) -> None:
    _, root = cohort
    out = tmp_path / "GT"
    assert main(["prepare-ground-truth", "--data", str(root / "training"), "--out", str(out), "--workers", "1"]) == 0
    ours, theirs = load_ground_truth(out), load_ground_truth(root / "gc" / "ground_truth")
    assert ours.outcomes == theirs.outcomes
    assert sorted(ours.labels) == sorted(theirs.labels)
    for pid, path in ours.labels.items():
        a, b = sitk.ReadImage(str(path)), sitk.ReadImage(str(theirs.labels[pid]))
        assert a.GetPixelID() == sitk.sitkUInt8
        assert np.array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))
        assert np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
