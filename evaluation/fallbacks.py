"""Aggregates are always finite numbers: an undefined value is replaced by a documented fallback.

The leaderboard reads numbers from ``metrics.json`` by JSON path, and a null or missing value silently
drops the submission from ranking. So every aggregate goes through :func:`finite_or`; when it is
undefined (``None``, NaN, infinite) it is written as the fallback of its scale and a warning with code
``undefined_aggregate`` says so (a note for a per-centre figure).

Fallbacks (declared once, in :mod:`hecktor.metrics.table`): the worst value for Dice, F1, precision,
recall, sensitivity and specificity (0.0); chance for C-index, AUC and balanced accuracy (0.5); 0.0 for
mean HD95 (only undefined when no case has a lesion on either side, i.e. nothing to measure); the point
estimate for both ends of an undefined CI.

Per-centre values (``aggregates.by_centre``) are not leaderboard columns: there an undefined value is
``null`` (:func:`finite_or_none`), e.g. the C-index of a centre with one patient, or the GTVn aggregates of a
centre with no GTVn in its predictions nor its ground truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from evaluation.problems import Problem


def is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def finite_or(
    value: float | None,
    fallback: float | None,
    *,
    key: str,
    task: int,
    problems: list[Problem],
    why: str = "",
    centre: str | None = None,
) -> float:
    """``value`` as a float when finite; otherwise ``fallback`` and a warning appended to ``problems``
    (a ``None`` fallback, for per-centre values, is returned without a warning)."""
    if is_finite_number(value):
        return float(value)  # type: ignore[arg-type]
    if fallback is None:
        return None  # type: ignore[return-value]
    where = f"{key} of centre {centre}" if centre else key
    reason = f" ({why})" if why else ""
    # A centre's figure is informational (not a leaderboard value) and routinely undefined for a centre of one
    # or two cases: a note, so a good run shows no warnings (issue 19).
    severity = "note" if centre else "warning"
    problems.append(
        Problem(severity, "undefined_aggregate", f"{where} is undefined{reason}; written as {fallback}", task=task)
    )
    return float(fallback)


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float when finite, else ``None`` (an undefined per-centre value, written as null)."""
    return float(value) if is_finite_number(value) else None  # type: ignore[arg-type]


def confidence_interval(
    statistic: Callable[[np.ndarray], float | None],
    n: int,
    point: float,
    *,
    key: str,
    task: int,
    resamples: int,
    seed: int,
    level: float,
    problems: list[Problem],
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``n`` cases (resampled with replacement).

    When the bootstrap is disabled (``resamples`` = 0) or undefined (too few cases, every resample
    undefined), both ends are ``point`` and a note or warning says so.
    """
    from hecktor.metrics.bootstrap import bootstrap_ci

    if resamples <= 0:
        problems.append(
            Problem("note", "bootstrap_disabled", f"{key} CI not computed (--bootstrap 0); both ends = {key}", task)
        )
        return point, point
    interval = bootstrap_ci(statistic, n, n_resamples=resamples, seed=seed, alpha=1.0 - level) if n > 0 else None
    if interval is None or not all(is_finite_number(v) for v in interval):
        problems.append(
            Problem(
                "warning",
                "undefined_aggregate",
                f"{key} bootstrap CI is undefined (too few cases); both ends written as {point}",
                task=task,
            )
        )
        return point, point
    return float(interval[0]), float(interval[1])
