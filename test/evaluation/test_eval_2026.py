"""HECKTOR 2026 phase, at the level a user sees: the organisers' 2026 layout -> ``prepare-ground-truth`` ->
a generated ``predictions.json`` tree -> ``python -m evaluation`` -> ``metrics.json``; and ``score-folder``.

Four patients on a 6x8x8 grid (spacing 1 x 1 x 2 mm, so every voxel weighs the same). Hand-computed values:

=========  ===========================  ===========================  ========  ===========
patient    GTVp (truth / prediction)    GTVn (truth / prediction)    T (t/p)   N (t/p)
=========  ===========================  ===========================  ========  ===========
CHUM-001   8 vox / 8 vox, 4 shared: 0.5  8 / same 8: 1.0              T1/T1     N0/N0
CHUM-002   8 / same 8: 1.0              none / none: 1.0 (default)   T2/"t2 "  N2b/"N2c"
CHUM-003   8 / none: 0.0                8 / 8, 4 shared: 0.5          T2/T3     N1/"Nx"
CHUM-004   4 / same 4: 1.0              none / 8: 0.0                T3/"T5"   N0/N0
=========  ===========================  ===========================  ========  ===========

- GTVp mean 2.5/4 = 0.625, GTVn mean 2.5/4 = 0.625, dice_score 0.625 (GTVn with ``exclude``: 1.5/3 = 0.5).
- GTVn aggregated Dice 2(8+4)/(16+16+8) = 0.6; GTVn F1: TP 2 (IoU 1 and 4/12 > 0.3), FP 1 -> 4/5 = 0.8.
- T BA: recall T1 1, T2 1/2, T3 0 -> 0.5; N BA: N0 2/2, N1 0 (Nx is a wrong call), N2 1 -> 2/3; staging 7/12.
- RFS (days, relapse): 100 (1), 300 (0), 200 (1), 500 (0); rfs.json 150, 400, 100, 600 read as times, risk =
  -time. Comparable pairs: 001 with 002, 003, 004 and 003 with 002, 004; concordant 001>002, 001>004, 003>002,
  003>004 -> C = 4/5 = 0.8. Read as risks (the sign error): C = 1/5 = 0.2.
- final = 0.25 x 0.625 + 0.35 x 7/12 + 0.40 x 0.8 = 0.680416..., with the sign error 0.440416...
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import image, label_array, write

from evaluation.cli import main
from hecktor.dataset_layout import COLUMNS_2026, CSV_NAME_2026
from hecktor.interface import N_STAGE, RFS, SEGMENTATION_2026, SEGMENTATION_FILENAME, T_STAGE
from hecktor.metrics import table
from hecktor.predictions_tree import JobSpec, write_predictions_tree

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (6, 8, 8)
A = (1, 3, 1, 3, 1, 3)  # 8 voxels
A_SHIFTED = (1, 3, 1, 3, 2, 4)  # 4 of them shared with A
B = (1, 3, 5, 7, 5, 7)  # 8 voxels, away from A
B_SHIFTED = (1, 3, 5, 7, 4, 6)  # 4 shared with B
SMALL = (1, 2, 1, 3, 1, 3)  # 4 voxels

TRUTH = {
    "CHUM-001": ([(A, 1), (B, 2)], "T1", "N0", 100, 1),
    "CHUM-002": ([(A, 1)], "T2", "N2b", 300, 0),
    "CHUM-003": ([(A, 1), (B, 2)], "T2", "N1", 200, 1),
    "CHUM-004": ([(SMALL, 1)], "T3", "N0", 500, 0),
}
PREDICTED = {
    "CHUM-001": ([(A_SHIFTED, 1), (B, 2)], "T1", "N0", 150.0),
    "CHUM-002": ([(A, 1)], "t2 ", "N2c", 400.0),
    "CHUM-003": ([(B_SHIFTED, 2)], "T3", "Nx", 100.0),
    "CHUM-004": ([(SMALL, 1), (B, 2)], "T5", "N0", 600.0),
}
FINAL = 0.25 * 0.625 + 0.35 * 7 / 12 + 0.40 * 0.8


def write_2026_layout(root: Path) -> Path:
    """The organisers' 2026 training layout: ``<PID>/<PID>__CT|__PT|<PID>.nii.gz`` and the 2026 CSV."""
    rows = []
    for pid, (boxes, t, n, rfs, relapse) in TRUTH.items():
        ct = image(np.zeros(SHAPE, dtype=np.int16))
        write(ct, root / pid / f"{pid}__CT.nii.gz")
        write(image(np.zeros(SHAPE, dtype=np.float32)), root / pid / f"{pid}__PT.nii.gz")
        write(image(label_array(boxes, SHAPE)), root / pid / f"{pid}.nii.gz")
        values = [pid, "1", "60", "1", "1", "0", "1", "1", "1", t, n, str(rfs), str(relapse)]
        rows.append(dict(zip(COLUMNS_2026, values, strict=True)))
    with (root / CSV_NAME_2026).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS_2026)
        writer.writeheader()
        writer.writerows(rows)
    return root


def write_2026_outputs(root: Path, predicted: dict = PREDICTED) -> list[JobSpec]:
    """One algorithm ``/output`` folder per patient with the four 2026 outputs."""
    jobs = []
    for pid, (boxes, t, n, rfs) in predicted.items():
        out = root / pid
        write(image(label_array(boxes, SHAPE)), out / SEGMENTATION_2026.relative_path / SEGMENTATION_FILENAME)
        (out / T_STAGE.relative_path).write_text(json.dumps(t))
        (out / N_STAGE.relative_path).write_text(json.dumps(n))
        (out / RFS.relative_path).write_text(json.dumps(rfs))
        jobs.append(JobSpec(pid, out, ct_image_name=f"{pid}.mha"))
    return jobs


@pytest.fixture(scope="module")
def phase(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("hecktor2026")
    data = write_2026_layout(tmp / "data")
    gt = tmp / "gt"
    assert main(["prepare-ground-truth", "--data", str(data), "--out", str(gt), "--workers", "1"]) == 0
    write_predictions_tree(tmp / "input", write_2026_outputs(tmp / "outputs"), edition="2026")
    return {"tmp": tmp, "data": data, "gt": gt, "input": tmp / "input"}


def _score(phase: dict[str, Path], out: Path, *flags: str) -> dict:
    argv = ["--input", str(phase["input"]), "--ground-truth", str(phase["gt"]), "--output", str(out)]
    assert main([*argv, "--workers", "1", "--bootstrap", "0", *flags]) == 0
    return json.loads(out.read_text())


def _codes(metrics: dict, pid: str) -> set[tuple[str, str]]:
    return {(p["severity"], p["code"]) for p in metrics["problems"] if p["PatientID"] == pid}


def test_prepare_ground_truth_from_the_2026_layout(phase: dict[str, Path]) -> None:
    with (phase["gt"] / "outcomes.csv").open() as handle:
        rows = {r["PatientID"]: r for r in csv.DictReader(handle)}
    assert sorted(rows) == sorted(TRUTH) and sorted(p.name for p in (phase["gt"] / "labels").iterdir()) == [
        f"{pid}.mha" for pid in sorted(TRUTH)
    ]
    assert rows["CHUM-002"]["N-stage"] == "N2" and rows["CHUM-004"]["T-stage"] == "T3"
    assert rows["CHUM-003"]["RFS"] == "200" and rows["CHUM-003"]["Relapse"] == "1"


def test_python_m_evaluation_scores_the_2026_phase_by_hand(phase: dict[str, Path]) -> None:
    out = phase["tmp"] / "metrics.json"
    argv = ["--input", str(phase["input"]), "--ground-truth", str(phase["gt"]), "--output", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "evaluation", *argv, "--workers", "1", "--bootstrap", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "HECKTOR 2026" in done.stderr and "final_score=0.6804" in done.stderr
    # one unified 2026 task: its parts are not logged as the 2025 "Task 1" / "Task 2"
    assert "2026 segmentation: scoring" in done.stderr and "2026 RFS: scoring" in done.stderr
    assert "done: 2026 segmentation (" in done.stderr and "; 2026 RFS (" in done.stderr  # the summary line
    assert "Task 1:" not in done.stderr and "Task 2:" not in done.stderr
    metrics = json.loads(out.read_text())
    agg = metrics["aggregates"]
    expected = {
        "GTVp_mean_dice": 0.625,
        "GTVn_mean_dice": 0.625,
        "dice_score": 0.625,
        "GTVn_aggregated_dice": 0.6,
        "GTVp_aggregated_dice": 32 / 48,
        "GTVn_aggregated_f1": 0.8,
        "t_stage_balanced_accuracy": 0.5,
        "n_stage_balanced_accuracy": 2 / 3,
        "staging_score": 7 / 12,
        "c_index": 0.8,
        "final_score": FINAL,
    }
    assert {k: agg[k] for k in expected} == pytest.approx(expected, abs=1e-12)
    assert (agg["GTVn_tp"], agg["GTVn_fp"], agg["GTVn_fn"], agg["c_index_comparable_pairs"]) == (2, 1, 0, 5)
    assert agg["t_stage_n_missing_predictions"] == 1 and agg["n_stage_n_missing_predictions"] == 1
    assert metrics["conventions"]["tasks"] == [1, 2, 4]
    assert metrics["conventions"]["edition"] == "2026" and metrics["conventions"]["rfs_output"] == "time"
    written = set(agg) - {"by_centre", *table.GENERAL_KEYS}
    assert written <= set(table.BY_KEY) and {a.key for a in table.AGGREGATES if a.task == 4} <= written
    staging = {r["PatientID"]: r for r in metrics["results"] if r["task"] == 4}
    assert [staging[p]["t_stage_predicted"] for p in sorted(staging)] == ["T1", "T2", "T3", None]
    assert [staging[p]["n_stage_predicted"] for p in sorted(staging)] == ["N0", "N2", None, "N0"]
    assert "T-stage" not in staging["CHUM-001"]  # no ground truth in Grand Challenge results
    rfs_rows = {r["PatientID"]: r for r in metrics["results"] if r["task"] == 2}
    assert rfs_rows["CHUM-001"]["rfs"] == 150.0 and rfs_rows["CHUM-001"]["risk"] == -150.0
    assert not any(p["code"] == "c_index_below_chance" for p in metrics["problems"])
    assert agg["by_centre"]["CHUM"]["staging_score"] == pytest.approx(7 / 12)


def test_bad_stage_strings_are_per_case_problems(phase: dict[str, Path]) -> None:
    metrics = _score(phase, phase["tmp"] / "problems.json")
    assert ("warning", "normalised_stage") in _codes(metrics, "CHUM-002")  # "t2 "
    assert ("note", "collapsed_stage") in _codes(metrics, "CHUM-002")  # "N2c"
    assert ("error", "unknown_stage") in _codes(metrics, "CHUM-003")  # "Nx"
    assert ("error", "invalid_stage") in _codes(metrics, "CHUM-004")  # "T5"
    assert not any(code.endswith("_stage") for _, code in _codes(metrics, "CHUM-001"))


def test_a_c_index_below_chance_is_flagged_as_a_sign_error(phase: dict[str, Path]) -> None:
    metrics = _score(phase, phase["tmp"] / "risk.json", "--rfs-output", "risk")
    agg = metrics["aggregates"]
    assert agg["c_index"] == pytest.approx(0.2)
    assert agg["final_score"] == pytest.approx(0.25 * 0.625 + 0.35 * 7 / 12 + 0.40 * 0.2)
    flagged = [p for p in metrics["problems"] if p["code"] == "c_index_below_chance"]
    assert len(flagged) == 1 and flagged[0]["severity"] == "warning" and "0.8000" in flagged[0]["message"]
    assert metrics["conventions"]["rfs_output"] == "risk"


def test_gtvn_empty_convention_moves_only_the_gtvn_mean(phase: dict[str, Path]) -> None:
    agg = _score(phase, phase["tmp"] / "exclude.json", "--gtvn-empty", "exclude")["aggregates"]
    assert agg["GTVn_mean_dice"] == pytest.approx(0.5) and agg["GTVn_mean_dice_n_cases"] == 3
    assert agg["dice_score"] == pytest.approx((0.625 + 0.5) / 2) and agg["GTVp_mean_dice"] == pytest.approx(0.625)


def test_missing_stage_output_is_a_wrong_call(phase: dict[str, Path], tmp_path: Path) -> None:
    jobs = write_2026_outputs(tmp_path / "outputs")
    (tmp_path / "outputs" / "CHUM-001" / N_STAGE.relative_path).unlink()
    write_predictions_tree(tmp_path / "input", jobs, edition="2026")
    out = tmp_path / "metrics.json"
    argv = ["--input", str(tmp_path / "input"), "--ground-truth", str(phase["gt"]), "--output", str(out)]
    assert main([*argv, "--workers", "1", "--bootstrap", "0"]) == 0
    metrics = json.loads(out.read_text())
    assert ("error", "missing_output") in _codes(metrics, "CHUM-001")
    # N0 recall drops to 1/2: N BA = (1/2 + 0 + 1) / 3
    assert metrics["aggregates"]["n_stage_balanced_accuracy"] == pytest.approx(0.5)


def test_score_folder_scores_a_2026_fold(phase: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "fold"
    folder.mkdir()
    with (folder / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["PatientID", "t_stage", "n_stage", "rfs"])
        for pid, (boxes, t, n, rfs) in PREDICTED.items():
            write(image(label_array(boxes, SHAPE)), folder / f"{pid}.nii.gz")
            writer.writerow([pid, t, n, rfs])
    out = tmp_path / "fold.json"
    argv = ["score-folder", "--predictions", str(folder), "--data", str(phase["data"]), "--output", str(out)]
    assert main([*argv, "--edition", "2026", "--workers", "1", "--bootstrap", "0"]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["aggregates"]["final_score"] == pytest.approx(FINAL)
    staging = {r["PatientID"]: r for r in metrics["results"] if r["task"] == 4}
    assert staging["CHUM-002"]["N-stage"] == "N2"  # cross-validation rows carry the truth


def test_score_folder_2025_still_needs_a_task(phase: dict[str, Path], tmp_path: Path, capsys) -> None:
    argv = ["score-folder", "--predictions", str(tmp_path), "--data", str(phase["data"]), "--edition", "2025"]
    assert main(argv) == 2
    assert "--task" in capsys.readouterr().err


def test_a_2026_job_without_some_outputs_misses_those_only(phase: dict[str, Path], tmp_path: Path) -> None:
    jobs = write_2026_outputs(tmp_path / "outputs")
    for name in (T_STAGE.relative_path, N_STAGE.relative_path):
        (tmp_path / "outputs" / "CHUM-002" / name).unlink()
    write_predictions_tree(tmp_path / "input", jobs, edition="2026")
    out = tmp_path / "metrics.json"
    argv = ["--input", str(tmp_path / "input"), "--ground-truth", str(phase["gt"]), "--output", str(out)]
    assert main([*argv, "--workers", "1", "--bootstrap", "0"]) == 0
    metrics = json.loads(out.read_text())
    problems = [(p["task"], p["code"]) for p in metrics["problems"] if p["PatientID"] == "CHUM-002"]
    assert problems == [(4, "missing_output")]  # one job holds all outputs: not a "no job" case
    assert metrics["aggregates"]["GTVp_mean_dice"] == pytest.approx(0.625)


def test_an_empty_submission_against_a_2026_ground_truth_is_a_2026_phase(
    phase: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "predictions.json").write_text("[]")
    out = tmp_path / "metrics.json"
    argv = ["--input", str(tmp_path / "input"), "--ground-truth", str(phase["gt"]), "--output", str(out)]
    assert main([*argv, "--workers", "1", "--bootstrap", "0"]) == 0
    metrics = json.loads(out.read_text())
    agg = metrics["aggregates"]
    assert metrics["conventions"]["tasks"] == [1, 2, 4]
    assert agg["t_stage_balanced_accuracy"] == 0.0 and agg["c_index"] == 0.5  # every call wrong; all risks tied
    assert agg["final_score"] == pytest.approx(0.25 * agg["dice_score"] + 0.40 * 0.5)


def test_a_2025_metrics_json_keeps_its_conventions(tmp_path: Path) -> None:
    examples = ROOT / "ground_truth_examples"
    out = tmp_path / "metrics.json"
    argv = ["--input", str(examples / "predictions" / "task2"), "--ground-truth", str(examples / "ground_truth")]
    assert main([*argv, "--output", str(out), "--bootstrap", "0"]) == 0
    conventions = json.loads(out.read_text())["conventions"]
    assert conventions["tasks"] == [2] and not {"edition", "rfs_output", "gtvn_both_empty"} & set(conventions)


def test_ground_truth_stages_are_normalised_and_checked() -> None:
    from evaluation.ground_truth import parse_outcome_row

    row = {"PatientID": "CHUM-009", "RFS": "120", "Relapse": "1", "T stage": "tx", "N_Stage": "N2a"}
    outcome, bad = parse_outcome_row(row)
    assert (outcome.t_stage, outcome.n_stage, bad) == (None, "N2", [])
    outcome, bad = parse_outcome_row({"PatientID": "CHUM-010", "T-stage": "T7", "N-stage": "N1"})
    assert (outcome.t_stage, outcome.n_stage, bad) == (None, "N1", ["T-stage"])


def test_rfs_output_setting_flag_then_environment_then_default() -> None:
    from evaluation.options import resolve_rfs_output
    from hecktor.errors import HecktorError

    assert resolve_rfs_output(None, {}) == "time"
    assert resolve_rfs_output(None, {"HECKTOR_RFS_OUTPUT": " Risk "}) == "risk"
    assert resolve_rfs_output("time", {"HECKTOR_RFS_OUTPUT": "risk"}) == "time"
    with pytest.raises(HecktorError, match="HECKTOR_RFS_OUTPUT='days'"):
        resolve_rfs_output(None, {"HECKTOR_RFS_OUTPUT": "days"})


def test_a_bad_edition_setting_is_one_line(phase: dict[str, Path], monkeypatch, capsys) -> None:
    monkeypatch.setenv("HECKTOR_EDITION", "2024")
    argv = ["score-folder", "--predictions", str(phase["tmp"]), "--data", str(phase["data"]), "--task", "2"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "evaluation error: HECKTOR_EDITION='2024': the edition must be one of 2025, 2026"
    )
