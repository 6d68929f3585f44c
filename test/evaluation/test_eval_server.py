"""``python -m evaluation serve``: the invoke API scores the staged submission as one exec run does."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from test_eval_cli import REPO, cli
from test_eval_task1 import build_task1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(port: int, method: str, path: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_invoke_writes_the_exec_runs_metrics_and_answers_400_for_a_bad_submission(tmp_path: Path) -> None:
    inp, gt = build_task1(tmp_path)
    exec_run = cli("--input", inp, "--ground-truth", gt, "--output", tmp_path / "exec", "--bootstrap", "50")
    assert exec_run.returncode == 0, exec_run.stderr
    port = _free_port()
    output = tmp_path / "served"
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--input", str(inp), "--output", str(output)]
    args += ["--ground-truth", str(gt), "--bootstrap", "50"]
    server = subprocess.Popen(
        [sys.executable, "-m", "evaluation", *args],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HECKTOR_EVAL_WORKERS": "2"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _call(port, "GET", "/health")
            except OSError:
                status, body = 0, {}
            if status == 200 or time.monotonic() > deadline or server.poll() is not None:
                break
            time.sleep(0.2)
        assert (status, body) == (200, {"status": "ready"})
        for _ in range(2):  # each invoke starts its own worker pool; the result is the same
            (output / "metrics.json").unlink(missing_ok=True)
            status, body = _call(port, "POST", "/invoke")
            assert status == 201, body
            assert body["tasks"] == [1] and body["aggregates"]["GTVp_mean_dice"] == 0.375
            assert (output / "metrics.json").read_bytes() == (tmp_path / "exec" / "metrics.json").read_bytes()

        (inp / "predictions.json").unlink()
        status, body = _call(port, "POST", "/invoke")
        assert status == 400 and "predictions.json is missing" in body["error"]
        assert _call(port, "GET", "/health")[0] == 200  # still serving
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
