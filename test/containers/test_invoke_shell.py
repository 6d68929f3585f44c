"""The invoke HTTP shell (:mod:`hecktor.serving`) on the host, without an image: fast, runs everywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from hecktor.errors import InputError
from hecktor.progress import setup_logging
from hecktor.serving import InvokeServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def serve_logging() -> Iterator[None]:
    """The logging the serve commands set up (INFO to stdout, warnings and errors to stderr), whatever an earlier
    test in this process left configured."""
    setup_logging(split_streams=True)
    yield
    setup_logging()


@contextmanager
def running(load: Callable, tmp_path: Path) -> Iterator[tuple[InvokeServer, str]]:
    server = InvokeServer(
        load, name="test", host="127.0.0.1", port=0, input_dir=tmp_path / "in", output_dir=tmp_path / "out"
    )
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(server.run()), daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(10)


def request(url: str, method: str = "GET") -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 10
    while request(url + "/health")[0] != 200:
        assert time.monotonic() < deadline, "never became healthy"
        time.sleep(0.02)


def test_health_is_503_while_loading_then_200_and_invoke_returns_201(tmp_path: Path) -> None:
    release = threading.Event()
    seen: list[tuple[Path, Path]] = []

    def load():
        release.wait(10)

        def handler(input_dir: Path, output_dir: Path) -> dict:
            seen.append((input_dir, output_dir))
            return {"outputs": ["x"]}

        return handler

    with running(load, tmp_path) as (_, url):
        assert request(url + "/health") == (503, {"status": "loading"})
        assert request(url + "/invoke", "POST")[0] == 503
        release.set()
        wait_ready(url)
        status, body = request(url + "/invoke", "POST")
        assert status == 201 and body["status"] == "succeeded" and body["outputs"] == ["x"]
        assert seen == [(tmp_path / "in", tmp_path / "out")]
        assert request(url + "/nothing")[0] == 404
        assert request(url + "/nothing", "POST")[0] == 404


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (InputError("/input/images/ct/a.mha", "CT cannot be read as an image"), 400, "/input/images/ct/a.mha: CT"),
        (RuntimeError("CUDA out of memory\nmore detail"), 500, "RuntimeError: CUDA out of memory"),
    ],
)
def test_a_failed_invoke_gives_a_one_line_error_and_the_server_keeps_serving(
    error: Exception, status: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(_input: Path, _output: Path) -> None:
        raise error

    with running(lambda: handler, tmp_path) as (_, url):
        wait_ready(url)
        code, body = request(url + "/invoke", "POST")
        assert code == status
        assert body["error"].startswith(message) and "\n" not in body["error"]
        assert request(url + "/health")[0] == 200
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: {message}")


def test_invokes_run_one_at_a_time(tmp_path: Path) -> None:
    active, peak = [0], [0]
    lock = threading.Lock()

    def handler(_input: Path, _output: Path) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1

    with running(lambda: handler, tmp_path) as (_, url):
        wait_ready(url)
        threads = [threading.Thread(target=request, args=(url + "/invoke", "POST")) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert peak[0] == 1


def test_a_failed_load_answers_health_with_a_redirect_then_ends_with_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sagemaker-shim polls /health for 300 s whatever the server process does, but fails at once on a redirect."""

    def load():
        raise FileNotFoundError("model/segmentation/config.json is missing")

    server = InvokeServer(load, name="algorithm", host="127.0.0.1", port=0, load_failure_linger_s=30)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    thread_result: list[int] = []
    thread = threading.Thread(target=lambda: thread_result.append(server.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while server.load_error is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    reason = "algorithm could not load: FileNotFoundError: model/segmentation/config.json is missing"
    assert request(url + "/invoke", "POST") == (500, {"error": reason})
    with pytest.raises(urllib.error.HTTPError) as info:  # urllib does not follow a 303 to a POST-less GET loop
        urllib.request.build_opener(NoRedirect).open(url + "/health", timeout=5)
    assert info.value.code == 303 and info.value.headers["Location"]
    assert json.loads(info.value.read())["error"].startswith("FileNotFoundError: model/segmentation")
    start = time.monotonic()
    thread.join(10)
    assert thread_result == [1] and time.monotonic() - start < 5  # ends soon after the failure was told
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"error: {reason}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_body_shorter_than_its_content_length_times_out_and_frees_the_server(tmp_path: Path) -> None:
    import socket

    server = InvokeServer(
        lambda: lambda _i, _o: None, name="t", host="127.0.0.1", port=0, body_timeout_s=0.5, input_dir=tmp_path
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        wait_ready(url)
        with socket.create_connection(server.server_address[:2], timeout=10) as conn:
            conn.sendall(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
            start = time.monotonic()
            reply = conn.recv(4096).decode()
        assert reply.startswith("HTTP/1.0 408") and time.monotonic() - start < 5, reply
        with socket.create_connection(server.server_address[:2], timeout=10) as conn:
            conn.sendall(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
            assert conn.recv(4096).decode().startswith("HTTP/1.0 413")
        assert request(url + "/invoke", "POST")[0] == 201  # the server still serves
    finally:
        server.shutdown()
        thread.join(10)


SERVE_SCRIPT = """
import sys, time
from pathlib import Path
from hecktor.errors import InputError
from hecktor.serving import serve

def load():
    def handle(input_dir, output_dir):
        if (input_dir / "slow").exists():
            time.sleep(60)
        if (input_dir / "bad").exists():
            raise InputError(input_dir / "images/ct/x.mha", "CT file is truncated")
        return {}
    return handle

port, input_dir, output_dir = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
serve(load, name="test", host="127.0.0.1", port=port, input_dir=input_dir, output_dir=output_dir)
"""


@contextmanager
def serve_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    case = tmp_path / "in"
    case.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(port), str(case), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if request(url + "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        yield proc, url, case
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_puts_the_reason_of_a_failed_invoke_last_on_stderr_and_logs_on_stdout(tmp_path: Path) -> None:
    with serve_process(tmp_path) as (proc, url, case):
        (case / "bad").touch()
        assert request(url + "/invoke", "POST")[0] == 400
        request(url + "/health")  # more access-log lines after the failure
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert stderr.strip().splitlines()[-1] == f"error: {case / 'images/ct/x.mha'}: CT file is truncated", stderr
    assert "GET /health" in stdout and "signal 15, stopping" in stdout
    assert "GET /health" not in stderr and "signal" not in stderr


def test_sigterm_during_an_invoke_stops_the_server_at_once_with_status_143(tmp_path: Path) -> None:
    with serve_process(tmp_path) as (proc, url, case):
        (case / "slow").touch()
        threading.Thread(target=lambda: _quiet_request(url + "/invoke", "POST"), daemon=True).start()
        time.sleep(0.5)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=10)
        seconds = time.monotonic() - start
    assert proc.returncode == 143 and seconds < 2, (seconds, stdout, stderr)
    assert "abandoning the invoke in progress" in stdout and "terminate called" not in stderr


def _quiet_request(url: str, method: str) -> None:
    with suppress(OSError):
        request(url, method)
