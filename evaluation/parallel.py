"""Run a per-case function over many cases in a process pool, with progress lines and crash isolation."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from evaluation import lifeline
from hecktor.progress import progress

T = TypeVar("T")
R = TypeVar("R")

#: Seconds the pool's workers may take to start (import the scoring code) before the cases run serially.
STARTUP_TIMEOUT_S = 120.0


def map_cases(
    func: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    logger: logging.Logger,
    what: str,
    on_failure: Callable[[T, str], R],
) -> list[R]:
    """``[func(item) for item in items]`` in input order, ``workers`` processes at a time.

    ``func`` must be a module-level function (it is pickled to the workers). Workers are forked from a
    clean ``forkserver`` process that has imported ``func``'s module once (``spawn`` where forkserver is
    unavailable), so neither this process's library state (ITK threads) nor per-worker imports are
    inherited or repeated. With one worker or one item everything runs in this process. When ``func``
    raises, or a worker dies (segfault, out of memory) and breaks the pool, the item is retried alone in
    a fresh worker; if that fails too, ``on_failure(item, reason)`` (run here) gives its result.

    Workers die with this process (:mod:`evaluation.lifeline`). When the pool cannot start (workers
    refused memory, or not ready within :data:`STARTUP_TIMEOUT_S`), one warning says so and the items run
    here, one after the other: the result is the same, only slower.
    """
    if not items:
        return []
    if workers <= 1 or len(items) == 1:
        return _serial(func, items, logger, what, on_failure)

    results: dict[int, R] = {}
    retry: list[int] = []
    context = pool_context(func.__module__)
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(items)), mp_context=context, initializer=lifeline.die_with_parent
    )
    failure = _start(pool)
    if failure is not None:
        logger.warning(
            "worker processes could not start (%s); scoring the %d %ss in this process", failure, len(items), what
        )
        _abandon(pool)
        return _serial(func, items, logger, what, on_failure)
    with pool:
        futures: dict[Future[R], int] = {pool.submit(func, item): i for i, item in enumerate(items)}
        for future in progress(as_completed(futures), what, logger, total=len(futures)):
            index = futures[future]
            try:
                results[index] = future.result()
            except BrokenProcessPool:
                retry.append(index)
            except Exception as exc:  # a bug or MemoryError for this case only
                logger.warning("%s #%d failed in a worker (%s); retrying alone", what, index, _reason(exc))
                retry.append(index)
    for index in sorted(retry):
        results[index] = _isolated(func, items[index], context, on_failure, logger, what)
    return [results[i] for i in range(len(items))]


def pool_context(*preload: str) -> multiprocessing.context.BaseContext:
    """A ``forkserver`` context preloading :mod:`evaluation.lifeline` then ``preload`` modules, or ``spawn``
    where it is unavailable."""
    os.environ[lifeline.PARENT_ENV] = str(os.getpid())
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([lifeline.__name__, *(m for m in preload if m and m != "__main__")])
        return context
    return multiprocessing.get_context("spawn")


def _ready() -> int:
    """Runs in a worker: it started and imported the scoring code."""
    return os.getpid()


def _start(pool: ProcessPoolExecutor) -> str | None:
    """Start ``pool``'s workers; ``None`` when one answered, else why not (one line)."""
    try:
        pool.submit(_ready).result(timeout=STARTUP_TIMEOUT_S)
    except TimeoutError:
        return f"no worker ready after {STARTUP_TIMEOUT_S:.0f} s"
    except BrokenProcessPool:
        return "a worker died while starting, e.g. out of memory"
    except Exception as exc:  # OSError (fork refused: ENOMEM), MemoryError, ...
        return _reason(exc)
    return None


def _abandon(pool: ProcessPoolExecutor) -> None:
    """Stop a pool that failed to start without waiting for it (its workers are killed)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()


def _serial(
    func: Callable[[T], R], items: Sequence[T], logger: logging.Logger, what: str, on_failure: Callable[[T, str], R]
) -> list[R]:
    return [_guarded(func, item, on_failure) for item in progress(items, what, logger)]


def _guarded(func: Callable[[T], R], item: T, on_failure: Callable[[T, str], R]) -> R:
    try:
        return func(item)
    except Exception as exc:
        return on_failure(item, _reason(exc))


def _isolated(
    func: Callable[[T], R],
    item: T,
    context: multiprocessing.context.BaseContext,
    on_failure: Callable[[T, str], R],
    logger: logging.Logger,
    what: str,
) -> R:
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=lifeline.die_with_parent) as pool:
            return pool.submit(func, item).result()
    except BrokenProcessPool:
        reason = "the worker process died (out of memory or a crash in a library)"
    except Exception as exc:
        reason = _reason(exc)
    logger.warning("%s failed again alone: %s", what, reason)
    return on_failure(item, reason)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
