"""The invoke HTTP shell (:mod:`hecktor.serving`) on the host, without an image: fast, runs everywhere."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hecktor.errors import InputError
from hecktor.serving import InvokeServer


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
    error: Exception, status: int, message: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(_input: Path, _output: Path) -> None:
        raise error

    with caplog.at_level(logging.INFO, "hecktor.serving"), running(lambda: handler, tmp_path) as (_, url):
        wait_ready(url)
        code, body = request(url + "/invoke", "POST")
        assert code == status
        assert body["error"].startswith(message) and "\n" not in body["error"]
        assert request(url + "/health")[0] == 200
    assert f"invoke failed ({status}): {message}" in caplog.text


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


def test_a_failed_load_ends_the_server_with_status_1_and_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def load():
        raise FileNotFoundError("model/segmentation/config.json is missing")

    server = InvokeServer(load, name="algorithm", host="127.0.0.1", port=0)
    thread_result: list[int] = []
    thread = threading.Thread(target=lambda: thread_result.append(server.run()), daemon=True)
    thread.start()
    thread.join(10)
    assert thread_result == [1]
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "error: algorithm could not load: FileNotFoundError: model/segmentation/config.json is missing"
