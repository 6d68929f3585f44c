"""The official defaults at the command line: strict IoU > 0.30, exact C-index ties, undefined per-centre values."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from eval_helpers import Job, image, label_array, write, write_jobs, write_outcomes
from lifelines.utils import concordance_index
from scipy import ndimage
from test_eval_cli import cli

# A true node of 10 voxels and a prediction of 3 of them: IoU exactly 3/10.
TRUTH = label_array([((2, 3, 2, 4, 2, 7), 2), ((6, 8, 10, 14, 10, 14), 1)])
PRED = label_array([((2, 3, 2, 3, 2, 5), 2), ((6, 8, 10, 14, 10, 14), 1)])


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize(("flags", "f1", "inclusive"), [((), 0.0, False), (("--inclusive",), 1.0, True)])
def test_detection_needs_iou_above_30_percent_by_default(
    tmp_path: Path, flags: tuple[str, ...], f1: float, inclusive: bool
) -> None:
    write(image(TRUTH), tmp_path / "gt" / "labels" / "CHUM-001.mha")
    write_jobs(tmp_path / "input", [Job("CHUM-001", segmentation=image(PRED))], task=1)
    proc = cli("--input", tmp_path / "input", "--ground-truth", tmp_path / "gt", "--output", tmp_path / "out", *flags)
    assert proc.returncode == 0, proc.stderr
    metrics = _metrics(tmp_path / "out")
    assert metrics["aggregates"]["GTVn_aggregated_f1"] == f1
    assert metrics["conventions"]["gtvn_iou_inclusive"] is inclusive
    assert metrics["conventions"]["gtvn_iou_threshold"] == 0.3


def test_c_index_of_risks_within_5e_9_is_lifelines(tmp_path: Path) -> None:
    rfs = [5, 8, 12, 20, 25, 30, 41]
    relapse = [1, 1, 0, 1, 0, 1, 0]
    offsets = [5, 4, 1, 3, 2, 0.5, 2.5]
    patients = [f"CHUM-{k:03d}" for k in range(len(rfs))]
    write_outcomes(
        tmp_path / "gt" / "outcomes.csv",
        [{"PatientID": p, "RFS": t, "Relapse": e} for p, t, e in zip(patients, rfs, relapse, strict=True)],
    )
    risks = [1.0 + o * 1e-9 for o in offsets]
    write_jobs(tmp_path / "input", [Job(p, rfs=repr(r)) for p, r in zip(patients, risks, strict=True)], task=2)
    base = ("--input", tmp_path / "input", "--ground-truth", tmp_path / "gt", "--bootstrap", "0")
    assert cli(*base, "--output", tmp_path / "exact").returncode == 0
    assert cli(*base, "--output", tmp_path / "sksurv", "--cindex-tied-tol", "1e-8").returncode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = concordance_index(np.array(rfs, float), -np.array(risks), np.array(relapse))
    exact = _metrics(tmp_path / "exact")
    assert exact["aggregates"]["c_index"] == pytest.approx(expected, rel=1e-12, abs=0)
    assert exact["conventions"]["cindex_tied_tol"] == 0.0
    assert _metrics(tmp_path / "sksurv")["aggregates"]["c_index"] == 0.5


def test_undefined_per_centre_values_are_null_and_leaderboard_values_finite(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    rows = [("CHUM-001", 100, 1), ("CHUM-002", 300, 0), ("CHUM-003", 200, 1), ("HGJ-001", 50, 1)]
    write_outcomes(gt / "outcomes.csv", [{"PatientID": p, "RFS": t, "Relapse": e} for p, t, e in rows])
    write_jobs(tmp_path / "t2", [Job(p, rfs=str(1.0 / t)) for p, t, _ in rows], task=2)
    assert cli("--input", tmp_path / "t2", "--ground-truth", gt, "--output", tmp_path / "o2").returncode == 0
    by_centre = _metrics(tmp_path / "o2")["aggregates"]["by_centre"]
    assert by_centre["HGJ"] == {"c_index": None, "task2_n_cases": 1}
    assert by_centre["CHUM"]["c_index"] == 1.0

    no_node = label_array([((6, 8, 10, 14, 10, 14), 1)])
    write(image(TRUTH), gt / "labels" / "CHUM-001.mha")
    write(image(no_node), gt / "labels" / "HGJ-001.mha")
    jobs = [Job("CHUM-001", segmentation=image(PRED)), Job("HGJ-001", segmentation=image(no_node))]
    write_jobs(tmp_path / "t1", jobs, task=1)
    assert cli("--input", tmp_path / "t1", "--ground-truth", gt, "--output", tmp_path / "o1").returncode == 0
    aggregates = _metrics(tmp_path / "o1")["aggregates"]
    hgj = aggregates["by_centre"]["HGJ"]
    assert hgj["GTVn_aggregated_dice"] is None and hgj["GTVn_aggregated_f1"] is None
    assert hgj["GTVp_mean_dice"] == 1.0
    for key in ("GTVp_mean_dice", "GTVn_aggregated_dice", "GTVn_aggregated_f1"):
        assert isinstance(aggregates[key], float)


def _organisers_aggregated_dice(pairs: list[tuple[sitk.Image, sitk.Image]], label: int) -> float:
    """The HECKTOR 2025 baseline's ``DiceAggScore`` formula (Task1/utils/metrics.py), re-derived: per case
    TP = SimpleITK's Dice x (|G| + |P|) / 2 in mm^3, then 2 sum TP / sum (|G| + |P|)."""
    total_tp = total_volume = 0.0
    for pred, truth in pairs:
        voxel = float(np.prod(truth.GetSpacing()))
        volume = voxel * (np.count_nonzero(sitk.GetArrayViewFromImage(truth) == label))
        volume += voxel * (np.count_nonzero(sitk.GetArrayViewFromImage(pred) == label))
        overlap = sitk.LabelOverlapMeasuresImageFilter()
        overlap.Execute(truth, pred)
        try:
            dice = overlap.GetDiceCoefficient(label)
        except RuntimeError:  # label in neither image
            dice = 0.0
        total_tp += dice * volume / 2
        total_volume += volume
    return 2 * total_tp / total_volume


def test_aggregated_dice_matches_the_organisers_formula_on_generated_cases(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    spacings = [(1.0, 1.0, 2.0), (0.98, 0.98, 3.0), (0.5, 0.5, 1.5), (1.2, 1.2, 5.0)]
    pairs, jobs = [], []
    for k in range(8):
        shape = (12, 24, 24)
        smooth = ndimage.uniform_filter(rng.random(shape), size=3)
        truth = np.where(smooth > np.quantile(smooth, 0.9), 1, 0) + np.where(smooth < np.quantile(smooth, 0.05), 2, 0)
        noisy = smooth + 0.03 * rng.standard_normal(shape)
        pred = np.where(noisy > np.quantile(noisy, 0.9), 1, 0) + np.where(noisy < np.quantile(noisy, 0.06), 2, 0)
        truth_image = image(truth.astype(np.uint8), spacing=spacings[k % 4])
        pred_image = image(pred.astype(np.uint8), spacing=spacings[k % 4])
        write(truth_image, tmp_path / "gt" / "labels" / f"CHUM-{k:03d}.mha")
        jobs.append(Job(f"CHUM-{k:03d}", segmentation=pred_image))
        pairs.append((pred_image, truth_image))
    write_jobs(tmp_path / "input", jobs, task=1)
    proc = cli("--input", tmp_path / "input", "--ground-truth", tmp_path / "gt", "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    aggregates = _metrics(tmp_path / "out")["aggregates"]
    for label, key in ((1, "GTVp_aggregated_dice"), (2, "GTVn_aggregated_dice")):
        assert aggregates[key] == pytest.approx(_organisers_aggregated_dice(pairs, label), rel=1e-12, abs=0)
