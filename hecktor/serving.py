"""Grand Challenge's invoke API: the tiny HTTP shell around a container's work.

An image labelled ``org.grand-challenge.api-method="invoke"`` is started once by Grand Challenge's
``sagemaker-shim``; it polls ``GET /health`` until it answers 200, stages a case in ``/input``, calls
``POST /invoke``, and takes ``/output`` once that answers 201. This module is that shell and nothing
else, the same for every image (the algorithm's and the evaluation's): the work is a plain function
``handler(input_dir, output_dir)`` returned by ``load()``, which runs once, at start-up, in a
background thread, so ``/health`` answers at once and turns 200 when the models are in memory.

======================  =====================================================================
request                 answer
======================  =====================================================================
``GET /health``         200 ``{"status": "ready"}``; 503 ``{"status": "loading"}`` before; 303
                        (a redirect, ``{"status": "failed", "error": ...}``) once loading failed
``POST /invoke``        201 when ``/output`` is written; 400 for unusable input
                        (:class:`hecktor.errors.InputError`), 500 for anything else, 503 while
                        loading; errors carry ``{"error": "<one line>"}``; a body (ignored) must
                        arrive within :data:`BODY_TIMEOUT_S` and be at most :data:`MAX_BODY_BYTES`
======================  =====================================================================

What the platform sees (read from sagemaker-shim 0.8's code, ``UserProcess``):

- **The last stderr line is the reason.** The shim keeps the server's stderr lines and Grand Challenge
  shows the last one of a failed job; it ignores the reply's body. So, with :func:`serve`, log lines up
  to INFO (access log, progress, shutdown) go to **stdout**, warnings and errors to stderr, and every
  failure ends with one ``error: <reason>`` line on stderr, written *before* the reply is sent.
- **A failed load is reported at the next health poll.** The shim ignores the server process's exit and
  polls ``/health`` for up to 300 s, but fails the job at once on a redirect reply. So after a failed
  ``load()`` the server prints the reason, answers ``/health`` with 303 and ends (status 1) soon after
  that reply, or after ``load_failure_linger_s`` when nobody asks.
- **SIGTERM stops within the shim's 5 s grace period**: the loop stops at once; work in flight is
  abandoned (outputs are written to temporary names and renamed, so none is left half-written) and the
  process leaves with ``os._exit`` (status 143), skipping the interpreter teardown that aborted while a
  thread was inside torch's C++ code; an idle server exits 0.
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
from typing import NoReturn

from hecktor.errors import HecktorError, InputError
from hecktor.progress import setup_logging

log = logging.getLogger("hecktor.serving")

DEFAULT_PORT = 4743
#: Seconds a client may take to send a request's headers or body before the connection is closed.
BODY_TIMEOUT_S = 30.0
#: The largest request body read (the case is in the input folder; a body is read and ignored).
MAX_BODY_BYTES = 1 << 20
#: Exit status after SIGTERM stopped work in flight (128 + 15, what a shell reports for a SIGTERM death).
STATUS_TERMINATED = 128 + signal.SIGTERM
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


def report(reason: str) -> None:
    """Write ``error: <reason>`` as one line on stderr, flushed: the line Grand Challenge shows a participant."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    print(f"error: {reason}", file=sys.stderr, flush=True)


class _RequestHandler(BaseHTTPRequestHandler):
    server: InvokeServer
    server_version = "hecktor-invoke"

    def setup(self) -> None:
        self.timeout = self.server.body_timeout_s  # bounds every read on this connection (headers and body)
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _reply(self, status: HTTPStatus, body: Mapping[str, object], headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/health":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: GET {self.path}"})
        elif self.server.load_error is not None:
            # sagemaker-shim fails the job at once on a redirect from /health (any other status: it polls on)
            self._reply(
                HTTPStatus.SEE_OTHER,
                {"status": "failed", "error": self.server.load_error},
                {"Location": "/health/failed"},
            )
            self.server.load_failure_seen()
        elif self.server.handler is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading"})
        else:
            self._reply(HTTPStatus.OK, {"status": "ready"})

    def _read_body(self) -> bool:
        """Read (and drop) the request body within the time limit; False (after a reply) when it cannot be."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.server.max_body_bytes:
            self.close_connection = True
            self._reply(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length > 0 else HTTPStatus.BAD_REQUEST,
                {"error": f"refusing a request body of Content-Length {self.headers.get('Content-Length')}"},
            )
            return False
        try:
            received = len(self.rfile.read(length)) if length else 0
        except TimeoutError:
            received = -1
        if received != length:
            self.close_connection = True
            log.info(
                "%s: request body incomplete (Content-Length %d); connection closed", self.address_string(), length
            )
            if received >= 0:  # the client closed its side: nobody to answer
                return False
            self._reply(
                HTTPStatus.REQUEST_TIMEOUT,
                {"error": f"request body not received within {self.server.body_timeout_s:g} s"},
            )
            return False
        return True

    def do_POST(self) -> None:
        if not self._read_body():
            return
        if self.path.rstrip("/") != "/invoke":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: POST {self.path}"})
            return
        if self.server.load_error is not None:
            reason = f"{self.server.name} could not load: {self.server.load_error}"
            report(reason)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": reason})
            return
        if self.server.handler is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "the model is still loading"})
            return
        status, body = self.server.invoke()
        self._reply(status, body)


class InvokeServer(ThreadingHTTPServer):
    """The invoke API over ``load()``'s handler; :meth:`run` serves until :meth:`shutdown` (or :meth:`stop`).

    Args:
        load: called once, in a background thread; returns ``handler(input_dir, output_dir)``.
        name: what to call the service in log lines ("algorithm (tasks 1,2,3)", "evaluation").
        host, port: where to listen (port 0: any free port, see ``server_address``).
        input_dir, output_dir: the folders passed to the handler.
        load_failure_linger_s: after a failed load, how long (s) the server waits for a ``/health`` poll to
            tell it the reason before it ends anyway (it ends right after such a poll was answered).
        body_timeout_s: seconds a client may take to send headers or body (:data:`BODY_TIMEOUT_S`).
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
        load_failure_linger_s: float = 60.0,
        body_timeout_s: float = BODY_TIMEOUT_S,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        super().__init__((host, port), _RequestHandler)
        self.load, self.name = load, name
        self.input_dir, self.output_dir = Path(input_dir), Path(output_dir)
        self.load_failure_linger_s = load_failure_linger_s
        self.body_timeout_s, self.max_body_bytes = body_timeout_s, max_body_bytes
        self.handler: Handler | None = None
        self.load_error: str | None = None
        self.stopped_by: int | None = None
        self.stop_requested_at: float | None = None
        self._invoke_lock = threading.Lock()
        self._busy = threading.Event()
        self._stopping = threading.Event()

    @property
    def busy(self) -> bool:
        """True while an invoke runs."""
        return self._busy.is_set()

    def _load(self) -> None:
        start = time.perf_counter()
        try:
            handler = self.load()
        except BaseException as exc:
            log.warning("%s: loading failed", self.name, exc_info=True)
            self.load_error = one_line(exc)
            report(f"{self.name} could not load: {self.load_error}")
            log.info(
                "%s: GET /health answers 303 (failed); stopping after that reply or in %.0f s",
                self.name,
                self.load_failure_linger_s,
            )
            self._later(self.load_failure_linger_s, self._stop_async)
            return
        self.handler = handler
        log.info("%s: ready after %.1f s (GET /health answers 200)", self.name, time.perf_counter() - start)

    def load_failure_seen(self) -> None:
        """A client was told that loading failed: stop shortly (the reply is on its way)."""
        self._later(0.5, self._stop_async)

    @staticmethod
    def _later(seconds: float, function: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, function)
        timer.daemon = True
        timer.start()

    def _stop_async(self) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            threading.Thread(target=self.shutdown, name="shutdown", daemon=True).start()

    def stop(self, signum: int | None = None) -> None:
        """Stop serving (safe from a signal handler): the loop ends within one poll interval."""
        self.stopped_by = signum
        self.stop_requested_at = time.monotonic()
        what = f"signal {signum}" if signum is not None else "stop requested"
        log.info("%s: %s, stopping%s", self.name, what, " (abandoning the invoke in progress)" if self.busy else "")
        self._stop_async()

    def invoke(self) -> tuple[HTTPStatus, dict[str, object]]:
        """Run the handler on the staged case, one call at a time: ``(status, JSON body)``.

        A failure is logged and its reason written as the last stderr line (:func:`report`) before returning.
        """
        assert self.handler is not None
        with self._invoke_lock:
            self._busy.set()
            start = time.perf_counter()
            try:
                result = self.handler(self.input_dir, self.output_dir)
            except InputError as exc:
                status, reason = HTTPStatus.BAD_REQUEST, one_line(exc)
            except Exception as exc:
                log.error("invoke failed", exc_info=True)
                status, reason = HTTPStatus.INTERNAL_SERVER_ERROR, one_line(exc)
            else:
                seconds = time.perf_counter() - start
                log.info("invoke succeeded in %.1f s", seconds)
                return HTTPStatus.CREATED, {"status": "succeeded", "seconds": round(seconds, 3), **(result or {})}
            finally:
                self._busy.clear()
        log.info("invoke failed (%d) after %.1f s", status, time.perf_counter() - start)
        report(reason)
        return status, {"error": reason}

    def run(self) -> int:
        """Start loading, serve until stopped: 0; 1 when loading failed; 143 when SIGTERM abandoned an invoke."""
        host, port = self.server_address[:2]
        log.info(
            "%s: invoke API on http://%s:%d (input %s, output %s); loading ...",
            *(self.name, host, port, self.input_dir, self.output_dir),
        )
        threading.Thread(target=self._load, name="load", daemon=True).start()
        try:
            self.serve_forever(poll_interval=0.1)
        finally:
            self.server_close()
        if self.load_error is not None:
            return 1
        if self.stopped_by is not None and self.busy:
            return STATUS_TERMINATED
        return 0


def serve(load: Callable[[], Handler], *, verbose: bool = False, **options: object) -> NoReturn:
    """Serve the invoke API (options: see :class:`InvokeServer`) until SIGTERM/SIGINT or a failed load; never returns.

    Logging is split (INFO and below to stdout, warnings and errors to stderr) so that the last stderr line
    is a failure's reason. The process ends with ``os._exit``: 0 after a clean stop, 1 after a failed load,
    143 when SIGTERM abandoned an invoke (no interpreter teardown while worker threads may be inside C++).
    """
    setup_logging(verbose, split_streams=True)
    server = InvokeServer(load, **options)  # type: ignore[arg-type]

    def stop(signum: int, _frame: object) -> None:
        server.stop(signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    code = server.run()
    if server.stop_requested_at is not None:
        seconds = time.monotonic() - server.stop_requested_at
        log.info("%s: stopped %.2f s after the request; exit status %d", server.name, seconds, code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
