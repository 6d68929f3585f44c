"""Logging, stage timings, peak memory and progress lines for long work."""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO, TypeVar

T = TypeVar("T")


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _CurrentStream(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stdout`` / ``sys.stderr`` is at the time of the record, not
    to the object it was when logging was set up (which a redirection, e.g. a test's capture, may have closed)."""

    def __init__(self, name: str) -> None:
        self._stream_name = name
        super().__init__(getattr(sys, name))

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        """The stream logging.StreamHandler writes to: the current one of that name."""
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, value: TextIO) -> None:  # logging.StreamHandler.__init__ sets it: the name decides instead
        pass


def setup_logging(verbose: bool = False, *, split_streams: bool = False) -> None:
    """Log with timestamps; INFO by default, DEBUG when ``verbose``.

    Everything goes to stderr, unless ``split_streams``: then INFO and below go to stdout and only
    warnings and errors to stderr (a long-running server, whose last stderr line must be a failure's
    reason: Grand Challenge shows a participant only that line).
    """
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S")
    handlers: list[logging.Handler] = []
    if split_streams:
        low = _CurrentStream("stdout")
        low.addFilter(lambda record: record.levelno <= logging.INFO)
        high = _CurrentStream("stderr")
        high.setLevel(logging.WARNING)
        handlers = [low, high]
    else:
        handlers = [_CurrentStream("stderr")]
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=handlers, force=True)


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, GiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


@contextmanager
def stage(name: str, logger: logging.Logger, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Log the start and end of a stage with its wall time (s) and the peak RSS so far (GiB).

    When ``timings`` is given, the stage's seconds are added under ``name``.
    """
    logger.info("%s ...", name)
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + seconds
        logger.info("%s done in %.2f s (peak RSS %.2f GiB)", name, seconds, peak_rss_gib())


def progress(
    items: Sequence[T] | Iterable[T],
    what: str,
    logger: logging.Logger,
    every_s: float = 5.0,
    *,
    total: int | None = None,
) -> Iterator[T]:
    """Yield ``items`` while logging "what k/n (elapsed, eta)" at most every ``every_s`` seconds and at the end.

    When ``total`` is given, ``items`` is consumed lazily (e.g. results arriving from a process pool);
    otherwise it is materialised first to count it.
    """
    if total is None:
        items = list(items)
        total = len(items)
    start = last = time.perf_counter()
    for k, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if now - last >= every_s or k == total:
            elapsed = now - start
            eta = elapsed / k * (total - k)
            logger.info("%s %d/%d (elapsed %.1f s, eta %.1f s)", what, k, total, elapsed, eta)
            last = now
