"""Grand Challenge's invoke API: the tiny HTTP shell around a container's work.

An image labelled ``org.grand-challenge.api-method="invoke"`` is started once; the platform polls
``GET /health`` until it answers 200, stages a case in ``/input``, calls ``POST /invoke``, and takes
``/output`` once that answers 201. This module is that shell and nothing else, the same for every
image (cf. ``app.py`` of Grand Challenge's starter kit): the work is a plain function
``handler(input_dir, output_dir)`` returned by ``load()``, which runs once, at start-up, in a
background thread, so ``/health`` answers at once and turns 200 when the models are in memory.

======================  =====================================================================
request                 answer
======================  =====================================================================
``GET /health``         200 ``{"status": "ready"}``; 503 ``{"status": "loading"}`` before
``POST /invoke``        201 when ``/output`` is written; 400 for unusable input
                        (:class:`hecktor.errors.InputError`), 500 for anything else, 503 while
                        loading; errors carry ``{"error": "<one line>"}``
======================  =====================================================================

One invoke runs at a time (a lock; a second caller waits). Every failure is also logged as one
``ERROR`` line on stderr. A failed ``load()`` ends the process with status 1 and the reason as the
last stderr line, instead of leaving the platform to poll ``/health`` until it gives up. SIGTERM
stops the server cleanly (a container's PID 1 gets no default signal handlers).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hecktor.errors import HecktorError, InputError

log = logging.getLogger("hecktor.serving")

DEFAULT_PORT = 4743
#: ``handler(input_dir, output_dir)`` processes the staged case; what it returns goes into the 201 body.
Handler = Callable[[Path, Path], Mapping[str, object] | None]


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--port``, ``--input``, ``--output`` (env ``HECKTOR_PORT``, ``HECKTOR_INPUT_DIR``, ...)."""
    env = os.environ.get
    parser.add_argument("--host", default=env("HECKTOR_HOST", "0.0.0.0"), help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=int(env("HECKTOR_PORT", DEFAULT_PORT)), help="default 4743")
    parser.add_argument("--input", type=Path, default=Path(env("HECKTOR_INPUT_DIR", "/input")), help="case folder")
    parser.add_argument(
        "--output", "--out", type=Path, default=Path(env("HECKTOR_OUTPUT_DIR", "/output")), help="outputs"
    )


def one_line(exc: BaseException) -> str:
    """The exception as one line: its message for our errors (:class:`HecktorError`), ``Type: message`` otherwise."""
    text = str(exc) if isinstance(exc, HecktorError) else f"{type(exc).__name__}: {exc}"
    return (text.strip().splitlines() or [type(exc).__name__])[0]


class _RequestHandler(BaseHTTPRequestHandler):
    server: InvokeServer
    server_version = "hecktor-invoke"

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _reply(self, status: HTTPStatus, body: Mapping[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/health":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: GET {self.path}"})
        elif self.server.handler is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading"})
        else:
            self._reply(HTTPStatus.OK, {"status": "ready"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # the case is in the input folder; a body, if any, is ignored
        if self.path.rstrip("/") != "/invoke":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: POST {self.path}"})
            return
        if self.server.handler is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "the model is still loading"})
            return
        status, body = self.server.invoke()
        self._reply(status, body)


class InvokeServer(ThreadingHTTPServer):
    """The invoke API over ``load()``'s handler; :meth:`run` serves until :meth:`shutdown`.

    Args:
        load: called once, in a background thread; returns ``handler(input_dir, output_dir)``.
        name: what to call the service in log lines.
        host, port: where to listen (port 0: any free port, see ``server_address``).
        input_dir, output_dir: the folders passed to the handler.
    """

    daemon_threads = True

    def __init__(
        self,
        load: Callable[[], Handler],
        *,
        name: str,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        input_dir: Path = Path("/input"),
        output_dir: Path = Path("/output"),
    ) -> None:
        super().__init__((host, port), _RequestHandler)
        self.load, self.name = load, name
        self.input_dir, self.output_dir = Path(input_dir), Path(output_dir)
        self.handler: Handler | None = None
        self.load_error: str | None = None
        self._invoke_lock = threading.Lock()

    def _load(self) -> None:
        start = time.perf_counter()
        try:
            handler = self.load()
        except BaseException as exc:
            log.exception("%s: loading failed", self.name)
            self.load_error = one_line(exc)
            self.shutdown()
            return
        self.handler = handler
        log.info("%s: ready after %.1f s (GET /health answers 200)", self.name, time.perf_counter() - start)

    def invoke(self) -> tuple[HTTPStatus, dict[str, object]]:
        """Run the handler on the staged case, one call at a time: ``(status, JSON body)``."""
        assert self.handler is not None
        with self._invoke_lock:
            start = time.perf_counter()
            try:
                result = self.handler(self.input_dir, self.output_dir)
            except InputError as exc:
                status, reason = HTTPStatus.BAD_REQUEST, one_line(exc)
            except Exception as exc:
                log.exception("invoke failed")
                status, reason = HTTPStatus.INTERNAL_SERVER_ERROR, one_line(exc)
            else:
                seconds = time.perf_counter() - start
                log.info("invoke succeeded in %.1f s", seconds)
                return HTTPStatus.CREATED, {"status": "succeeded", "seconds": round(seconds, 3), **(result or {})}
        log.error("invoke failed (%d): %s", status, reason)
        return status, {"error": reason}

    def run(self) -> int:
        """Start loading, serve until shut down: 0, or 1 (with ``error: ...`` on stderr) when loading failed."""
        host, port = self.server_address[:2]
        log.info(
            "%s: invoke API on http://%s:%d (input %s, output %s); loading ...",
            *(self.name, host, port, self.input_dir, self.output_dir),
        )
        threading.Thread(target=self._load, name="load", daemon=True).start()
        try:
            self.serve_forever(poll_interval=0.2)
        finally:
            self.server_close()
        if self.load_error is not None:
            print(f"error: {self.name} could not load: {self.load_error}", file=sys.stderr)
            return 1
        return 0


def serve(load: Callable[[], Handler], **options: object) -> int:
    """Serve the invoke API (options: see :class:`InvokeServer`) until SIGTERM/SIGINT (0) or a failed load (1)."""
    server = InvokeServer(load, **options)  # type: ignore[arg-type]

    def stop(signum: int, _frame: object) -> None:
        log.info("%s: signal %d, stopping", server.name, signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    return server.run()
