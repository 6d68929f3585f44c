"""IPCW Brier score and integrated Brier score of predicted survival curves (Graf et al., 1999).

Matches ``sksurv.metrics.brier_score`` / ``integrated_brier_score``: at time ``t``,

    BS(t) = mean_i [ S_i(t)^2 * 1(T_i <= t, event_i) / G(T_i) + (1 - S_i(t))^2 * 1(T_i > t) / G(t) ]

with ``G`` the Kaplan-Meier estimate of the censoring distribution (fitted on ``train`` data, by default
the scored cases themselves), and IBS = trapezoid integral of BS over ``times`` / (times[-1] - times[0]).
Lower is better; 0.25 is the score of a constant S = 0.5. Pure numpy (no torch, no sksurv at run time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def censoring_km(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier of the censoring distribution: (unique times with -inf prepended, G at them)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    uniq = np.unique(time)
    if event.all():
        return uniq, np.ones(len(uniq))
    at_risk = np.array([(time >= u).sum() for u in uniq], dtype=np.float64)
    n_event = np.array([((time == u) & event).sum() for u in uniq], dtype=np.float64)
    n_cens = np.array([((time == u) & ~event).sum() for u in uniq], dtype=np.float64)
    at_risk -= n_event  # the events at u are removed before the censorings (sksurv's reverse=True)
    ratio = np.divide(n_cens, at_risk, out=np.zeros(len(uniq)), where=n_cens != 0)
    return np.r_[-np.inf, uniq], np.r_[1.0, np.cumprod(1.0 - ratio)]


def _step(knots: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Right-continuous step function through (knots, values), evaluated at ``t`` (>= knots[0])."""
    idx = np.searchsorted(knots, np.asarray(t, dtype=np.float64), side="right") - 1
    return values[np.clip(idx, 0, len(values) - 1)]


def survival_at(curve_times: Sequence[float], curve_survival: Sequence[float], t: Sequence[float]) -> np.ndarray:
    """A step survival curve (S = 1 before its first time, right-continuous) evaluated at times ``t``."""
    knots = np.r_[-np.inf, np.asarray(curve_times, dtype=np.float64)]
    values = np.r_[1.0, np.asarray(curve_survival, dtype=np.float64)]
    return _step(knots, values, np.asarray(t, dtype=np.float64))


def brier_scores(
    time: np.ndarray,
    event: np.ndarray,
    survival: np.ndarray,
    times: np.ndarray,
    train_time: np.ndarray | None = None,
    train_event: np.ndarray | None = None,
) -> np.ndarray:
    """IPCW Brier score at each of ``times`` of ``survival`` (n, len(times)) for cases (``time``, ``event``)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    survival = np.asarray(survival, dtype=np.float64).reshape(len(time), -1)
    times = np.asarray(times, dtype=np.float64)
    knots, g = censoring_km(
        time if train_time is None else np.asarray(train_time), event if train_event is None else train_event
    )
    g_t = _step(knots, g, times)
    g_y = _step(knots, g, time)
    g_t = np.where(g_t == 0, np.inf, g_t)
    g_y = np.where(g_y == 0, np.inf, g_y)
    out = np.empty(len(times))
    for i, t in enumerate(times):
        est = survival[:, i]
        case = (time <= t) & event
        control = time > t
        out[i] = np.mean(est**2 * case / g_y + (1.0 - est) ** 2 * control / g_t[i])
    return out


def integrated_brier_score(
    time: np.ndarray,
    event: np.ndarray,
    survival: np.ndarray,
    times: np.ndarray,
    train_time: np.ndarray | None = None,
    train_event: np.ndarray | None = None,
) -> float:
    """Integrated Brier score over ``times`` (at least two, increasing, inside the follow-up range)."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) < 2:
        raise ValueError("at least two time points are needed")
    bs = brier_scores(time, event, survival, times, train_time, train_event)
    return float(np.trapezoid(bs, times) / (times[-1] - times[0]))


def default_times(time: np.ndarray, n: int = 20, low: float = 0.1, high: float = 0.8) -> np.ndarray:
    """Evaluation grid: ``n`` times between the ``low`` and ``high`` quantiles of the observed times
    (unique, strictly inside the follow-up range as sksurv requires); may return fewer than two."""
    time = np.asarray(time, dtype=np.float64)
    if len(time) < 2:
        return np.zeros(0)
    grid = np.unique(np.linspace(np.quantile(time, low), np.quantile(time, high), n))
    return grid[(grid >= time.min()) & (grid < time.max())]
