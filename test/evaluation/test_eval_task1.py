"""Task 1 end to end on tiny hand-made cases whose metrics are computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import Job, image, label_array, write, write_jobs

from evaluation.config import Conventions
from evaluation.evaluate import RunOptions, evaluate

# Case A (CHUM-001), spacing (1, 1, 2) -> 2 mm^3 voxels.
TRUTH_A = label_array(
    [((2, 4, 4, 8, 4, 8), 1), ((6, 8, 14, 16, 2, 4), 2), ((6, 8, 14, 16, 14, 16), 2)]
)  # GTVp 32 vox; GTVn two 8-vox lesions
PRED_A = label_array(
    [((2, 4, 4, 8, 6, 10), 1), ((6, 8, 14, 16, 2, 4), 2), ((0, 1, 0, 1, 18, 19), 2)]
)  # GTVp 32 vox (16 shared); GTVn lesion 1 exact (TP), lesion 2 missed (FN), one 1-vox FP
# Case B (CHUS-002), spacing (1, 1, 1): GTVp empty on both sides, one GTVn lesion found exactly.
TRUTH_B = label_array([((3, 5, 3, 5, 3, 5), 2)])
# Case C (CHUS-003): prediction off the grid (origin moved) -> scored empty.
TRUTH_C = label_array([((1, 3, 1, 3, 1, 3), 1)])
# Case D (MDA-004): no job -> scored empty.
TRUTH_D = label_array([((1, 3, 1, 3, 1, 3), 1), ((6, 8, 10, 12, 10, 12), 2)])


def build_task1(tmp: Path, payload_keys: str = "both") -> tuple[Path, Path]:
    gt = tmp / "gt"
    write(image(TRUTH_A), gt / "labels" / "CHUM-001.mha")
    write(image(TRUTH_B, spacing=(1, 1, 1)), gt / "labels" / "CHUS-002.nii.gz")
    write(image(TRUTH_C), gt / "labels" / "CHUS-003.mha")
    write(image(TRUTH_D), gt / "labels" / "MDA-004.mha")
    jobs = [
        Job("CHUS-003", segmentation=image(TRUTH_C, origin=(5.0, 0.0, 0.0)), pk="c"),
        Job("CHUM-001", segmentation=image(PRED_A), pk="a", ct_name="CHUM-001.mha"),
        Job("HGJ-999", segmentation=image(TRUTH_C), pk="z"),
        Job("CHUS-002", segmentation=image(TRUTH_B, spacing=(1, 1, 1)), pk="b", ct_name="CHUS-002_ct.nii.gz"),
    ]
    write_jobs(tmp / "input", jobs, task=1, payload_keys=payload_keys)
    return tmp / "input", gt


def run(inp: Path, gt: Path, out: Path, workers: int = 1, **conv: object) -> dict:
    return evaluate(RunOptions(inp, gt, out, workers=workers), Conventions(**conv))


def by_patient(metrics: dict) -> dict[str, dict]:
    return {r["PatientID"]: r for r in metrics["results"]}


@pytest.mark.parametrize("payload_keys", ["both", "interface", "socket"])
def test_task1_hand_computed(tmp_path: Path, payload_keys: str) -> None:
    inp, gt = build_task1(tmp_path, payload_keys)
    metrics = run(inp, gt, tmp_path / "out")
    agg = metrics["aggregates"]
    assert metrics["conventions"]["tasks"] == [1]
    assert agg["GTVp_mean_dice"] == pytest.approx((0.5 + 1.0 + 0.0 + 0.0) / 4)
    assert agg["GTVp_aggregated_dice"] == pytest.approx(2 * 32 / 160)
    assert agg["GTVn_aggregated_dice"] == pytest.approx(2 * 24 / 82)  # mm^3: case B has 1 mm^3 voxels
    assert (agg["GTVn_tp"], agg["GTVn_fp"], agg["GTVn_fn"]) == (2, 1, 2)
    assert agg["GTVn_aggregated_f1"] == pytest.approx(4 / 7)
    assert agg["GTVn_precision"] == pytest.approx(2 / 3)
    assert agg["GTVn_recall"] == pytest.approx(0.5)
    assert agg["task1_n_cases"] == 4
    assert agg["task1_n_missing_predictions"] == 1
    assert agg["task1_n_invalid_predictions"] == 1
    rows = by_patient(metrics)
    assert list(rows) == ["CHUM-001", "CHUS-002", "CHUS-003", "MDA-004"]
    a = rows["CHUM-001"]
    assert a["GTVp_dice"] == pytest.approx(0.5)
    assert (a["GTVp_pred_volume_mm3"], a["GTVp_true_volume_mm3"], a["GTVp_intersection_mm3"]) == (64, 64, 32)
    assert (a["GTVn_tp"], a["GTVn_fp"], a["GTVn_fn"]) == (1, 1, 1)
    assert a["job_pk"] == "a" and a["prediction_status"] == "ok" and a["centre"] == "CHUM"
    assert rows["CHUS-002"]["GTVp_dice"] == 1.0
    assert rows["CHUS-003"]["prediction_status"] == "invalid"
    assert rows["CHUS-003"]["GTVp_dice"] == 0.0
    assert rows["MDA-004"]["prediction_status"] == "no_job"
    assert (rows["MDA-004"]["GTVn_fn"], rows["MDA-004"]["job_pk"]) == (1, None)
    codes = {(p["PatientID"], p["code"]) for p in metrics["problems"]}
    assert ("CHUS-003", "off_grid") in codes
    assert ("MDA-004", "missing_prediction") in codes
    assert ("HGJ-999", "unknown_patient") in codes
    off_grid = next(p for p in metrics["problems"] if p["code"] == "off_grid")
    assert "origin" in off_grid["message"] and "5 mm" in off_grid["message"]
    centres = agg["by_centre"]
    assert centres["CHUS"]["task1_n_cases"] == 2
    assert centres["CHUS"]["GTVp_mean_dice"] == pytest.approx(0.5)
    assert centres["MDA"]["GTVn_aggregated_f1"] == 0.0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == metrics


@pytest.mark.parametrize(("mode", "expected"), [("one", 0.375), ("zero", 0.125), ("exclude", 0.5 / 3)])
def test_gtvp_empty_convention(tmp_path: Path, mode: str, expected: float) -> None:
    inp, gt = build_task1(tmp_path)
    metrics = run(inp, gt, tmp_path / "out", gtvp_both_empty=mode)
    assert metrics["aggregates"]["GTVp_mean_dice"] == pytest.approx(expected)
    assert metrics["aggregates"]["GTVp_mean_dice_n_cases"] == (3 if mode == "exclude" else 4)
    assert metrics["conventions"]["gtvp_both_empty"] == mode


def test_parallel_matches_serial_and_is_deterministic(tmp_path: Path) -> None:
    inp, gt = build_task1(tmp_path)
    run(inp, gt, tmp_path / "serial", workers=1, surface_metrics=True)
    run(inp, gt, tmp_path / "parallel", workers=2, surface_metrics=True)
    serial = (tmp_path / "serial" / "metrics.json").read_bytes()
    assert serial == (tmp_path / "parallel" / "metrics.json").read_bytes()
    metrics = json.loads(serial)
    rows = by_patient(metrics)
    assert rows["CHUS-002"]["GTVp_hd95_mm"] is None  # both empty: excluded
    assert rows["CHUS-002"]["GTVn_hd95_mm"] == 0.0
    diagonal = float(np.linalg.norm([20 * 1.0, 20 * 1.0, 10 * 2.0]))
    assert rows["CHUS-003"]["GTVp_hd95_mm"] == pytest.approx(diagonal)  # empty prediction, truth present
    assert np.isfinite(metrics["aggregates"]["GTVp_mean_hd95_mm"])


def _single_case(tmp_path: Path, prediction: object, truth: np.ndarray = TRUTH_A, **job: object) -> dict:
    gt = tmp_path / "gt"
    write(image(truth), gt / "labels" / "CHUM-001.mha")
    write_jobs(tmp_path / "input", [Job("CHUM-001", segmentation=prediction, **job)], task=1)
    metrics = run(tmp_path / "input", gt, tmp_path / "out", bootstrap_resamples=0)
    return metrics


@pytest.mark.parametrize(
    ("prediction", "code"),
    [
        (image(np.where(PRED_A == 2, 3, PRED_A).astype(np.uint8)), "bad_labels"),
        (image(PRED_A.astype(np.float32) * 0.5), "fractional_labels"),
        (image(np.where(PRED_A == 1, np.nan, PRED_A).astype(np.float64)), "fractional_labels"),
        (image(PRED_A[:5]), "off_grid"),
        (image(PRED_A, spacing=(1.0, 1.0, 2.5)), "off_grid"),
        (b"this is not an image", "unreadable_prediction"),
    ],
)
def test_unusable_prediction_is_scored_empty(tmp_path: Path, prediction: object, code: str) -> None:
    metrics = _single_case(tmp_path, prediction)
    row = metrics["results"][0]
    assert row["prediction_status"] == "invalid"
    assert row["GTVp_dice"] == 0.0 and row["GTVp_pred_volume_mm3"] == 0.0
    assert (row["GTVn_tp"], row["GTVn_fp"], row["GTVn_fn"]) == (0, 0, 2)
    errors = [p for p in metrics["problems"] if p["severity"] == "error"]
    assert [p["code"] for p in errors] == [code]
    assert str(tmp_path) not in errors[0]["message"]  # paths are relative to the input folder
    assert metrics["aggregates"]["task1_n_invalid_predictions"] == 1


def test_two_files_in_output_folder(tmp_path: Path) -> None:
    metrics = _single_case(tmp_path, image(PRED_A), extra_files={"second.mha": b"x"})
    assert metrics["results"][0]["prediction_status"] == "invalid"
    errors = [p for p in metrics["problems"] if p["severity"] == "error"]
    assert [p["code"] for p in errors] == ["unreadable_prediction"]
    assert "expected exactly one" in errors[0]["message"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integral_float_prediction_is_scored_as_its_labels(tmp_path: Path, dtype: type) -> None:
    # MONAI's SaveImage writes float32 label maps by default: scored exactly like the uint8 map.
    as_float = _single_case(tmp_path / "float", image(PRED_A.astype(dtype)))
    as_uint8 = _single_case(tmp_path / "uint8", image(PRED_A))
    row, reference = as_float["results"][0], as_uint8["results"][0]
    assert row["prediction_status"] == "ok"
    assert {k: v for k, v in row.items() if k != "job_pk"} == {k: v for k, v in reference.items() if k != "job_pk"}
    assert row["GTVp_dice"] == pytest.approx(0.5)
    assert [p["code"] for p in as_float["problems"]] == ["not_uint8"]


def test_int16_prediction_is_accepted_with_warning(tmp_path: Path) -> None:
    metrics = _single_case(tmp_path, image(PRED_A.astype(np.int16)))
    row = metrics["results"][0]
    assert row["prediction_status"] == "ok" and row["GTVp_dice"] == pytest.approx(0.5)
    assert [p["code"] for p in metrics["problems"]] == ["not_uint8"]


def test_failed_and_output_less_jobs_are_missing(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    write(image(TRUTH_A), gt / "labels" / "CHUM-001.mha")
    write(image(TRUTH_C), gt / "labels" / "CHUM-002.mha")
    jobs = [Job("CHUM-001", segmentation=image(PRED_A), status="Failed"), Job("CHUM-002", segmentation=None)]
    write_jobs(tmp_path / "input", jobs, task=1)
    metrics = evaluate(RunOptions(tmp_path / "input", gt, tmp_path / "out", task=1), Conventions())
    rows = by_patient(metrics)
    assert rows["CHUM-001"]["prediction_status"] == "failed_job"
    assert rows["CHUM-002"]["prediction_status"] == "no_output"
    assert metrics["aggregates"]["GTVp_mean_dice"] == 0.0
    assert metrics["aggregates"]["task1_n_missing_predictions"] == 2


def test_duplicate_jobs_keep_smallest_succeeded_pk(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    write(image(TRUTH_A), gt / "labels" / "CHUM-001.mha")
    jobs = [
        Job("CHUM-001", segmentation=image(TRUTH_A), pk="a-failed", status="Failed"),
        Job("CHUM-001", segmentation=image(TRUTH_A), pk="c-perfect"),
        Job("CHUM-001", segmentation=image(PRED_A), pk="b-half"),
    ]
    write_jobs(tmp_path / "input", jobs, task=1)
    metrics = run(tmp_path / "input", gt, tmp_path / "out")
    row = metrics["results"][0]
    assert row["job_pk"] == "b-half" and row["GTVp_dice"] == pytest.approx(0.5)
    dup = [p for p in metrics["problems"] if p["code"] == "duplicate_job"]
    assert len(dup) == 1 and "a-failed" in dup[0]["message"] and "c-perfect" in dup[0]["message"]


def test_unreadable_ground_truth_is_not_scored(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    write(image(TRUTH_A), gt / "labels" / "CHUM-001.mha")
    (gt / "labels" / "CHUM-002.mha").write_bytes(b"broken")
    jobs = [Job("CHUM-001", segmentation=image(TRUTH_A)), Job("CHUM-002", segmentation=image(TRUTH_A))]
    write_jobs(tmp_path / "input", jobs, task=1)
    metrics = run(tmp_path / "input", gt, tmp_path / "out")
    rows = by_patient(metrics)
    assert rows["CHUM-002"]["prediction_status"] == "gt_error" and rows["CHUM-002"]["GTVp_dice"] is None
    assert metrics["aggregates"]["task1_n_cases"] == 1
    assert metrics["aggregates"]["GTVp_mean_dice"] == 1.0
    assert any(p["code"] == "gt_unusable" for p in metrics["problems"])


def test_unmapped_ct_name_and_custom_pattern(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    write(image(TRUTH_A), gt / "labels" / "CHUM-001.mha")
    write_jobs(tmp_path / "input", [Job("CHUM-001", segmentation=image(TRUTH_A), ct_name="scan-CHUM-001.mha")], 1)
    metrics = run(tmp_path / "input", gt, tmp_path / "out")
    assert metrics["results"][0]["prediction_status"] == "no_job"
    assert any(p["code"] == "unknown_patient" for p in metrics["problems"])
    pattern = r"^scan-(?P<patient>[A-Z]+-\d+)\.mha$"
    metrics = run(tmp_path / "input", gt, tmp_path / "out", ct_name_pattern=pattern)
    assert metrics["results"][0]["GTVp_dice"] == 1.0


def test_truncated_prediction_is_unreadable(tmp_path: Path) -> None:
    full = write(image(PRED_A), tmp_path / "full.mha").read_bytes()
    metrics = _single_case(tmp_path, full[: len(full) // 2])
    assert metrics["results"][0]["prediction_status"] == "invalid"
    assert [p["code"] for p in metrics["problems"] if p["severity"] == "error"] == ["unreadable_prediction"]
