"""Bad and hostile input at the command line (files in a temporary folder): each fault ends as documented."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import Job, image, label_array, write, write_jobs, write_outcomes
from test_eval_task1 import PRED_A, TRUTH_A

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str | Path, timeout: float = 120, **popen: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HECKTOR_EVAL_WORKERS": "1"},
        **popen,
    )


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.strip().splitlines()[-1]


def _task1(tmp_path: Path, jobs: list[Job]) -> tuple[Path, Path]:
    gt = tmp_path / "gt"
    for job in jobs:
        write(image(TRUTH_A), gt / "labels" / f"{job.patient_id}.mha")
    write_jobs(tmp_path / "input", jobs, task=1)
    return tmp_path / "input", gt


def _rows(out: Path) -> dict[str, dict]:
    return {r["PatientID"]: r for r in json.loads((out / "metrics.json").read_text())["results"]}


def test_deeply_nested_predictions_json_is_a_structural_error(tmp_path: Path) -> None:
    inp, gt = _task1(tmp_path, [Job("CHUM-001", segmentation=image(PRED_A))])
    (inp / "predictions.json").write_text("[" * 100_000 + "]" * 100_000)
    proc = cli("--input", inp, "--ground-truth", gt, "--output", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "cannot be read as JSON (nested too deeply)" in last_line(proc)


def test_a_job_with_a_300_character_pk_is_one_problem(tmp_path: Path) -> None:
    # No folder can carry that name (255 bytes at most): the job's outputs cannot even be looked for.
    _, gt = _task1(tmp_path, [Job("CHUM-001", segmentation=image(PRED_A)), Job("CHUM-002", segmentation=image(PRED_A))])
    predictions = tmp_path / "input" / "predictions.json"
    entries = json.loads(predictions.read_text())
    entries[0]["pk"] = "p" * 300  # jobs are written in order: CHUM-001 first
    predictions.write_text(json.dumps(entries))
    proc = cli("--input", tmp_path / "input", "--ground-truth", gt, "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(tmp_path / "out")
    assert rows["CHUM-001"]["prediction_status"] == "invalid"
    assert rows["CHUM-002"]["prediction_status"] == "ok" and rows["CHUM-002"]["GTVp_dice"] == pytest.approx(0.5)
    problems = json.loads((tmp_path / "out" / "metrics.json").read_text())["problems"]
    assert [(p["code"], p["PatientID"]) for p in problems if p["severity"] == "error"] == [
        ("unreadable_prediction", "CHUM-001")
    ]
    assert "File name too long" in problems[0]["message"]


@pytest.mark.parametrize("link", ["file", "folder", "pk"])
def test_a_job_output_resolving_outside_input_is_refused(tmp_path: Path, link: str) -> None:
    inp, gt = _task1(tmp_path, [Job("CHUM-001", segmentation=image(PRED_A))])
    (predictions,) = json.loads((inp / "predictions.json").read_text())
    job_dir = inp / predictions["pk"]
    folder = job_dir / "output" / "images" / "tumor-lymph-node-segmentation"
    (target,) = list(folder.iterdir())
    outside = tmp_path / "elsewhere"
    if link == "file":  # the ground-truth label itself, behind a link
        target.unlink()
        target.symlink_to(gt / "labels" / "CHUM-001.mha")
    elif link == "folder":
        (outside / "seg").mkdir(parents=True)
        write(image(TRUTH_A), outside / "seg" / "output.mha")
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
        folder.symlink_to(outside / "seg")
    else:
        job_dir.rename(outside)
        job_dir.symlink_to(outside)
    proc = cli("--input", inp, "--ground-truth", gt, "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    row = _rows(tmp_path / "out")["CHUM-001"]
    assert row["prediction_status"] == "invalid" and row["GTVp_dice"] == 0.0
    problems = json.loads((tmp_path / "out" / "metrics.json").read_text())["problems"]
    assert [p["code"] for p in problems if p["severity"] == "error"] == ["outside_input"]


def test_a_json_output_linked_outside_input_is_not_read(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    write_outcomes(gt / "outcomes.csv", [{"PatientID": f"CHUM-00{k}", "RFS": 100 * k, "Relapse": 1} for k in (1, 2)])
    write_jobs(tmp_path / "input", [Job("CHUM-001", rfs="0.5"), Job("CHUM-002", rfs="0.1")], task=2)
    predictions = tmp_path / "input" / "predictions.json"
    entries = json.loads(predictions.read_text())
    for entry in entries:
        for output in entry["outputs"]:
            output["value"] = None  # make the evaluation read the file
    predictions.write_text(json.dumps(entries))
    secret = tmp_path / "secret.json"
    secret.write_text("0.9")
    rfs = tmp_path / "input" / entries[0]["pk"] / "output" / "rfs.json"
    rfs.unlink()
    rfs.symlink_to(secret)
    proc = cli("--input", tmp_path / "input", "--ground-truth", gt, "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(tmp_path / "out")
    assert rows["CHUM-001"]["prediction_status"] == "invalid" and rows["CHUM-001"]["risk"] is None
    assert rows["CHUM-002"]["risk"] == 0.1
    messages = [p["message"] for p in json.loads((tmp_path / "out" / "metrics.json").read_text())["problems"]]
    assert any("outside the input folder" in m for m in messages)


@pytest.mark.parametrize("case", ["existing_file", "file_in_the_way", "json_is_a_folder"])
def test_unusable_output_is_refused_before_scoring(tmp_path: Path, case: str) -> None:
    inp, gt = _task1(tmp_path, [Job("CHUM-001", segmentation=image(PRED_A))])
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    output = {
        "existing_file": blocker,
        "file_in_the_way": blocker / "out",
        "json_is_a_folder": tmp_path / "metrics.json",
    }[case]
    if case == "json_is_a_folder":
        output.mkdir()
    proc = cli("--input", inp, "--ground-truth", gt, "--output", output)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr  # before any log line: nothing was scored
    assert last_line(proc).startswith("evaluation error:") and str(output) in last_line(proc)
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_refused_before_scoring(tmp_path: Path) -> None:
    inp, gt = _task1(tmp_path, [Job("CHUM-001", segmentation=image(PRED_A))])
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    proc = cli("--input", inp, "--ground-truth", gt, "--output", out)
    assert proc.returncode == 2 and "is not writable" in last_line(proc), proc.stderr


def _many_cases(tmp_path: Path, n: int = 10) -> tuple[Path, Path]:
    shape = (60, 128, 128)
    truth = label_array([((5, 30, 20, 60, 20, 60), 1), ((35, 45, 70, 90, 70, 90), 2)], shape)
    jobs = [Job(f"CHUM-{k:03d}", segmentation=image(np.roll(truth, k % 4, axis=2))) for k in range(n)]
    gt = tmp_path / "gt"
    for job in jobs:
        write(image(truth), gt / "labels" / f"{job.patient_id}.mha")
    write_jobs(tmp_path / "input", jobs, task=1)
    return tmp_path / "input", gt


def _session_processes(sid: int) -> list[str]:
    ps = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(sid)], capture_output=True, text=True)
    return [line for line in ps.stdout.splitlines() if line.split()[1][0] != "Z"]  # zombies hold no memory


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_outlives_the_evaluation(tmp_path: Path, sig: signal.Signals) -> None:
    inp, gt = _many_cases(tmp_path)
    args = ["--input", inp, "--ground-truth", gt, "--output", tmp_path / "out", "--workers", "2", "--surface-metrics"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "evaluation", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 60
        # main, tracker, forkserver and both workers: scoring is under way (a signal during the forkserver's own
        # start-up, before it has armed itself, is a different and much narrower window)
        while len(_session_processes(proc.pid)) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_session_processes(proc.pid)) >= 5, "the workers never started"
        time.sleep(0.5)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_processes(proc.pid) == []
    finally:
        for line in _session_processes(proc.pid):
            os.kill(int(line.split()[0]), signal.SIGKILL)


def test_under_an_address_space_cap_the_run_completes_or_says_why(tmp_path: Path) -> None:
    inp, gt = _many_cases(tmp_path, n=4)

    def cap() -> None:
        limit = 512 * 1024 * 1024  # ulimit -v 524288
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    args = ("--input", inp, "--ground-truth", gt, "--output", tmp_path / "out", "--workers", "2")
    proc = cli(*args, timeout=180, preexec_fn=cap)
    if proc.returncode == 0:
        assert len(_rows(tmp_path / "out")) == 4
    else:
        assert "Traceback" not in proc.stderr and last_line(proc).startswith("evaluation error:"), proc.stderr


def test_workers_that_cannot_start_fall_back_to_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging
    import multiprocessing

    from evaluation import parallel

    class NoFork(type(multiprocessing.get_context("spawn"))):  # type: ignore[misc]
        class Process(multiprocessing.get_context("spawn").Process):  # type: ignore[misc, name-defined]
            def start(self) -> None:
                raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(parallel, "pool_context", lambda *_: NoFork())
    messages: list[str] = []
    logger = logging.getLogger("test.parallel")
    monkeypatch.setattr(logger, "warning", lambda msg, *args: messages.append(msg % args))
    assert parallel.map_cases(abs, [-1, -2, 3], 2, logger, "item", lambda item, why: None) == [1, 2, 3]
    assert any("could not start" in m and "in this process" in m for m in messages), messages
