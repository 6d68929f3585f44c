"""Seeded percentile bootstrap confidence intervals over cases.

For ``b = 1..B`` (``B = n_resamples``): draw ``n`` case indices uniformly with replacement,
``idx_b = rng.integers(0, n, size=n)`` with ``rng = np.random.default_rng(seed)`` (one draw per resample,
in order), and evaluate ``s_b = statistic(idx_b)``. Resamples where the statistic is undefined (``None``,
NaN, +-inf; e.g. no comparable pair, one class absent) are skipped. With ``V`` the valid values::

    interval = (percentile(V, 100 * alpha / 2), percentile(V, 100 * (1 - alpha / 2)))

using numpy's default (linear interpolation between order statistics). ``None`` when fewer than half of the
resamples are valid (``2 |V| < B``), when ``n < 1`` or ``B < 1``. Same inputs and seed -> same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float | None],
    n: int,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic`` (a function of an int64 array of case indices).

    Args:
        statistic: maps the resampled case indices (length ``n``, values in ``0..n-1``) to a number or
            ``None``.
        n: number of cases.
        n_resamples: number of resamples B.
        seed: seed of ``np.random.default_rng``.
        alpha: 1 - confidence level (0.05 -> 95 % interval), in (0, 1).

    Returns:
        ``(low, high)`` or ``None`` (fewer than half of the resamples valid, or nothing to resample).

    Raises:
        ValueError: ``alpha`` outside (0, 1).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n < 1 or n_resamples < 1:
        return None
    rng = np.random.default_rng(seed)
    values: list[float] = []
    for _ in range(n_resamples):
        indices = rng.integers(0, n, size=n)
        value = statistic(indices)
        if value is None:
            continue
        value = float(value)
        if math.isfinite(value):
            values.append(value)
    if 2 * len(values) < n_resamples:
        return None
    low, high = np.percentile(np.asarray(values), [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)
