"""The command line: Grand Challenge mode as a subprocess, structural errors, organiser tools, report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import image, label_array, write, write_outcomes
from test_eval_task1 import PRED_A, TRUTH_A, build_task1

from evaluation.cli import main

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HECKTOR_EVAL_WORKERS": "1"},
    )


def test_cli_grand_challenge_mode_is_deterministic(tmp_path: Path) -> None:
    inp, gt = build_task1(tmp_path)
    outputs = []
    for name in ("run1", "run2"):
        proc = cli("--input", inp, "--ground-truth", gt, "--output", tmp_path / name, "--bootstrap", "50")
        assert proc.returncode == 0, proc.stderr
        assert "done: Task 1 (4 cases): GTVp_mean_dice=0.3750" in proc.stderr
        outputs.append((tmp_path / name / "metrics.json").read_bytes())
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["aggregates"]["GTVn_aggregated_f1"] == pytest.approx(4 / 7)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_predictions", "predictions.json is missing"),
        ("not_a_list", "expected a list of algorithm jobs"),
        ("no_ground_truth", "ground truth folder"),
    ],
)
def test_structural_errors_exit_with_one_line(tmp_path: Path, setup: str, message: str) -> None:
    inp, gt = tmp_path / "input", tmp_path / "gt"
    inp.mkdir()
    write(image(TRUTH_A), gt / "labels" / "CHUM-001.mha")
    if setup == "not_a_list":
        (inp / "predictions.json").write_text('{"results": []}')
    elif setup == "no_ground_truth":
        (inp / "predictions.json").write_text("[]")
        gt = tmp_path / "missing"
    proc = cli("--input", inp, "--ground-truth", gt, "--output", tmp_path / "out")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_empty_predictions_scores_every_supported_task_as_missing(tmp_path: Path) -> None:
    inp, gt = tmp_path / "input", tmp_path / "gt"
    inp.mkdir()
    (inp / "predictions.json").write_text("[]")
    write(image(TRUTH_A), gt / "labels" / "CHUM-001.mha")
    write_outcomes(gt / "outcomes.csv", [{"PatientID": "CHUM-001", "RFS": 5, "Relapse": 1, "HPV Status": 0}])
    assert main(["--input", str(inp), "--ground-truth", str(gt), "--output", str(tmp_path / "out.json")]) == 0
    metrics = json.loads((tmp_path / "out.json").read_text())
    agg = metrics["aggregates"]
    assert metrics["conventions"]["tasks"] == [1, 2, 3]
    # the only Task 3 patient is HPV negative: balanced accuracy = its specificity, 0 with a missing call
    assert (agg["GTVp_mean_dice"], agg["c_index"], agg["balanced_accuracy"]) == (0.0, 0.5, 0.0)
    assert all(np.isfinite(v) for v in agg.values() if isinstance(v, float))
    assert any(p["code"] == "task_unknown" for p in metrics["problems"])


def test_forced_task_without_ground_truth_is_structural(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inp, gt = build_task1(tmp_path)
    assert main(["--input", str(inp), "--ground-truth", str(gt), "--output", str(tmp_path / "o"), "--task", "2"]) == 2
    assert "no RFS and Relapse values for Task 2" in capsys.readouterr().err


def test_bad_pattern_flag(capsys: pytest.CaptureFixture) -> None:
    assert main(["--ct-name-pattern", "(no-group)"]) == 2
    assert "named group 'patient'" in capsys.readouterr().err


def organisers_dataset(root: Path) -> Path:
    """Three patients in the distributed layout; CHUS-002's label is off its CT grid, HGJ-003's has a 5."""
    for pid, label, ct_origin in [
        ("CHUM-001", label_array([((2, 4, 4, 8, 4, 8), 1)]), (0.0, 0.0, 0.0)),
        ("CHUS-002", label_array([((2, 4, 4, 8, 4, 8), 2)]), (0.0, 0.0, 3.0)),
        ("HGJ-003", label_array([((2, 4, 4, 8, 4, 8), 5)]), (0.0, 0.0, 0.0)),
    ]:
        case = root / "Task 1" / pid
        write(image(label.astype(np.float32)), case / f"{pid}.nii.gz")
        write(image(np.zeros_like(label, dtype=np.int16), origin=ct_origin), case / f"{pid}__CT.nii.gz")
        write(image(np.zeros_like(label, dtype=np.float32)), case / f"{pid}__PT.nii.gz")
    write_outcomes(
        root / "HECKTOR_2025_Training_Task_2.csv",
        [{"PatientID": "CHUM-001", "CenterID": 1, "RFS": 300, "Relapse": 1}, {"PatientID": "CHUS-002", "RFS": 900}],
    )
    (root / "HECKTOR_2025_Training_Task_3.csv").write_text("PatientID,CenterID,HPV Status\nCHUM-001,1,1\nHGJ-003,3,\n")
    (root / "HECKTOR_2025_Training_Task_1.csv").write_text("PatientID,CenterID\nCHUM-001,1\nCHUS-002,2\nHGJ-003,3\n")
    return root


def test_prepare_ground_truth(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = organisers_dataset(tmp_path / "data")
    gt = tmp_path / "GT"
    assert main(["prepare-ground-truth", "--data", str(data), "--out", str(gt), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "CHUS-002: label is not on the CT grid" in err and "HGJ-003: label holds values outside" in err
    assert err.strip().splitlines()[-1].startswith("evaluation error: 2 label(s) refused")
    assert sorted(p.name for p in (gt / "labels").iterdir()) == ["CHUM-001.mha"]
    written = (gt / "labels" / "CHUM-001.mha").read_bytes()
    assert b"MET_UCHAR" in written
    assert (gt / "outcomes.csv").read_text().splitlines() == [
        "PatientID,CenterID,RFS,Relapse,HPV Status",
        "CHUM-001,1,300,1,1",
        "CHUS-002,2,900,,",
        "HGJ-003,3,,,",
    ]
    assert main(["prepare-ground-truth", "--data", str(data), "--out", str(gt)]) == 2  # not empty
    assert "--overwrite" in capsys.readouterr().err


def test_score_folder_task1_and_report(tmp_path: Path) -> None:
    data = organisers_dataset(tmp_path / "data")
    preds = tmp_path / "preds"
    write(image(label_array([((2, 4, 4, 8, 6, 10), 1)])), preds / "CHUM-001.nii.gz")  # Dice 0.5
    write(image(PRED_A), preds / "NOPE-009.mha")
    out = tmp_path / "cv" / "metrics.json"
    args = ["score-folder", "--predictions", preds, "--data", data, "--task", "1", "--output", out]
    assert main([str(a) for a in [*args, "--report", tmp_path / "report", "--workers", "1"]]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["aggregates"]["task1_n_cases"] == 1
    assert metrics["aggregates"]["GTVp_mean_dice"] == pytest.approx(0.5)
    codes = {p["code"] for p in metrics["problems"]}
    assert {"unknown_patient", "not_scored"} <= codes
    assert (tmp_path / "report" / "task1_dice.png").stat().st_size > 1000
    assert "task1_dice.png" in (tmp_path / "report" / "index.html").read_text()


def test_score_folder_tasks_2_3_with_gt_layout(tmp_path: Path) -> None:
    gt = tmp_path / "GT"
    rows = [
        {"PatientID": f"CHUM-{i:03d}", "RFS": 100 * i, "Relapse": i % 2, "HPV Status": int(i > 3)} for i in range(1, 7)
    ]
    write_outcomes(gt / "outcomes.csv", rows)
    (tmp_path / "risk.csv").write_text("PatientID,risk\n" + "".join(f"CHUM-{i:03d},{7 - i}\n" for i in range(1, 6)))
    out = tmp_path / "m2.json"
    report = tmp_path / "r2"
    args = ["score-folder", "--predictions", tmp_path / "risk.csv", "--data", gt, "--task", "2", "--output", out]
    assert main([str(a) for a in [*args, "--report", report, "--all-patients", "--bootstrap", "50"]]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["aggregates"]["task2_n_cases"] == 6 and metrics["aggregates"]["task2_n_missing_predictions"] == 1
    assert metrics["results"][0]["RFS"] == 100.0  # score-folder rows carry the ground truth
    assert (report / "task2_kaplan_meier.png").is_file()

    preds = tmp_path / "hpv"
    preds.mkdir()
    (preds / "calls.csv").write_text(
        "PatientID,hpv,probability\n" + "".join(f"CHUM-{i:03d},{int(i > 2)},{i / 10}\n" for i in range(1, 7))
    )
    out = tmp_path / "m3.json"
    args = ["score-folder", "--predictions", preds, "--data", gt, "--task", "3", "--output", out]
    assert main([str(a) for a in [*args, "--report", tmp_path / "r3", "--bootstrap", "0"]]) == 0
    agg = json.loads(out.read_text())["aggregates"]
    assert (agg["sensitivity"], agg["specificity"], agg["auc"]) == (1.0, pytest.approx(2 / 3), 1.0)
    assert (tmp_path / "r3" / "task3_roc.png").is_file()


@pytest.mark.skipif(Path("/input/predictions.json").exists(), reason="a real /input is mounted")
def test_no_arguments_means_grand_challenge_defaults() -> None:
    proc = cli()
    assert proc.returncode == 2
    assert proc.stderr.strip() == "evaluation error: /input/predictions.json is missing"
