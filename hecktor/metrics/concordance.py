"""Harrell's concordance index for right-censored times (HECKTOR Task 2), missing risks counted as ties.

Inputs per patient ``i``: ``T_i`` (RFS, days), ``E_i`` (1 = relapse observed, 0 = censored), ``r_i`` (risk
score, higher = earlier relapse expected).

Comparable pairs (ordered; ``i`` is the one known to fail first)::

    (i, j) comparable  <=>  E_i = 1  and  ( T_i < T_j   or   (T_i = T_j and E_j = 0) )

Tied times follow ``sksurv.metrics.concordance_index_censored`` (read from its source, v0.28
``_iter_comparable``) and ``lifelines.utils.concordance_index`` alike: an event and a censoring at the same
time are comparable (the event is taken as earlier: censored at ``t`` means still relapse-free at ``t``);
two events at the same time are not comparable; two censorings never are. Times tie by exact equality.

Each comparable pair scores::

    concordant: r_i > r_j                                      -> 1
    tied risk:  r_i == r_j (|r_j - r_i| <= tied_tol), or r_i or r_j missing -> 0.5
    discordant: otherwise                                      -> 0

    C = (concordant + 0.5 * tied_risk) / comparable

Risks are compared **exactly** by default (``tied_tol=0``), as ``lifelines.utils.concordance_index`` does
(the HECKTOR 2025 organisers' baseline calls it): only equal floats tie, so the C-index does not depend on
the scale of the risk. ``sksurv.metrics.concordance_index_censored`` ties risks within an absolute
``tied_tol=1e-8`` (the same float expression ``|r_j - r_i| <= tied_tol``; pass ``tied_tol=1e-8`` to
reproduce it): a model whose risks all lie within 5e-9 of each other scores 0.5 there, whatever their order.

Missing predictions (``None``, NaN, +-inf) [HECKTOR 2021/22 convention, our choice]: a missing risk is
tied with every other risk, so every comparable pair involving it scores 0.5 (no single number could do
that; the pair counting is done here, vectorised over blocks of an events x patients matrix, O(n^2)
memory-bounded, no Python loop over pairs). Their count is reported.

No comparable pair (fewer than two patients, no event, all events after every other time):
``cindex`` is NaN and ``comparable`` is 0 (sksurv raises, lifelines divides by zero); the caller decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hecktor.metrics import floats_or_nan

#: Cells of the events x patients pair matrix evaluated at once (bounds the temporary memory to ~10 MB).
_BLOCK_CELLS = 1 << 20


@dataclass(frozen=True)
class ConcordanceResult:
    """Harrell's C and its pair counts (pairs counted once, as ordered (earlier event, later) pairs).

    Attributes:
        cindex: (concordant + 0.5 tied_risk) / comparable; NaN when ``comparable`` is 0.
        concordant: comparable pairs where the earlier event has the higher risk.
        discordant: comparable pairs where it has the lower risk.
        tied_risk: comparable pairs with tied risks, including every pair with a missing risk.
        comparable: comparable pairs (= concordant + discordant + tied_risk).
        n_missing_predictions: patients whose risk is missing or non-finite.
        tied_time: comparable pairs with equal times (an event and a censoring at the same time),
            as sksurv's fifth output.
        tied_missing: comparable pairs scored 0.5 because a risk is missing (included in ``tied_risk``).
    """

    cindex: float
    concordant: float
    discordant: float
    tied_risk: float
    comparable: int
    n_missing_predictions: int
    tied_time: int = 0
    tied_missing: int = 0


def harrell_cindex(
    time_days: Sequence[float] | np.ndarray,
    event: Sequence[int | bool] | np.ndarray,
    risk: Sequence[float | None] | np.ndarray,
    *,
    tied_tol: float = 0.0,
) -> ConcordanceResult:
    """Harrell's C of ``risk`` against (``time_days``, ``event``) (formula and conventions: module docstring).

    Equals ``lifelines.utils.concordance_index(time, -risk, event)`` (default ``tied_tol=0``) and, with
    ``tied_tol=1e-8``, ``sksurv.metrics.concordance_index_censored(event.astype(bool), time, risk)`` (all five
    outputs), whenever no risk is missing.

    Args:
        time_days: RFS in days (finite).
        event: 1/True = relapse observed, 0/False = censored.
        risk: risk scores, higher = earlier relapse; ``None``/NaN/inf = missing (tied with everyone).
        tied_tol: absolute tolerance under which two risks are tied (default 0: exact, as lifelines;
            sksurv uses 1e-8; >= 0).

    Raises:
        ValueError: lengths differ, a time is not finite, an event is not 0/1, or ``tied_tol`` < 0.
    """
    t = np.asarray(time_days, dtype=np.float64).reshape(-1)
    e = _as_event(event)
    r = floats_or_nan(risk)
    if not (len(t) == len(e) == len(r)):
        raise ValueError(f"lengths differ: time {len(t)}, event {len(e)}, risk {len(r)}")
    if not np.all(np.isfinite(t)):
        raise ValueError("every time must be a finite number")
    if not (tied_tol >= 0):
        raise ValueError(f"tied_tol must be >= 0, got {tied_tol}")

    missing = ~np.isfinite(r)
    r = np.where(missing, 0.0, r)
    rows = np.flatnonzero(e)
    n = len(t)
    concordant = tied = comparable = tied_time = tied_missing = 0
    block = max(1, _BLOCK_CELLS // max(n, 1))
    for start in range(0, len(rows), block):
        i = rows[start : start + block]
        t_i = t[i, None]
        is_comparable = (t[None, :] > t_i) | ((t[None, :] == t_i) & ~e[None, :])
        diff = r[None, :] - r[i, None]  # r_j - r_i, as sksurv's ``est - est_i``
        has_missing = missing[None, :] | missing[i, None]
        is_tied = (np.abs(diff) <= tied_tol) | has_missing
        is_concordant = ~is_tied & (r[None, :] < r[i, None])
        comparable += int(np.count_nonzero(is_comparable))
        tied += int(np.count_nonzero(is_comparable & is_tied))
        concordant += int(np.count_nonzero(is_comparable & is_concordant))
        tied_time += int(np.count_nonzero(is_comparable & (t[None, :] == t_i)))
        tied_missing += int(np.count_nonzero(is_comparable & has_missing))
    discordant = comparable - concordant - tied
    cindex = (concordant + 0.5 * tied) / comparable if comparable else math.nan
    return ConcordanceResult(
        cindex=cindex,
        concordant=float(concordant),
        discordant=float(discordant),
        tied_risk=float(tied),
        comparable=comparable,
        n_missing_predictions=int(np.count_nonzero(missing)),
        tied_time=tied_time,
        tied_missing=tied_missing,
    )


def _as_event(event: Sequence[int | bool] | np.ndarray) -> np.ndarray:
    """Events as a bool array; only 0/1 (or False/True) accepted."""
    values = np.asarray(event).reshape(-1)
    if values.dtype == np.bool_:
        return values
    numeric = values.astype(np.float64)
    if not np.all((numeric == 0) | (numeric == 1)):
        raise ValueError("every event must be 0/1 (False/True)")
    return numeric == 1
