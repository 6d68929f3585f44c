"""The univariate scores ICARE's reference package uses to sign a feature, computed fast for many features.

``icare`` 0.1.0 (``icare.metrics``) scores a feature used as a risk with scikit-survival's
``concordance_index_censored`` (Harrell), ``concordance_index_ipcw`` (Uno, truncated at the last event
time) and the mean of ``cumulative_dynamic_auc`` at the 10th-81st percentiles of the times (tAUC),
training set = test set. Called per feature and per bag those cost about 45 ms each on 500 cases,
which makes a 100-bag model take minutes. The functions here give the same numbers (tested against
scikit-survival in ``test/algorithm/test_icare_reference.py``): the inverse-probability-of-censoring
weights and the Kaplan-Meier survival come from scikit-survival's own estimators, fitted once per set of
rows; only the weighted pair counts are vectorised. Times in days; higher risk = earlier event.
"""

from __future__ import annotations

import contextlib

import numpy as np

from algorithm.tabular.cv import comparable_pairs


def _censoring(time: np.ndarray, event: np.ndarray):
    from sksurv.nonparametric import CensoringDistributionEstimator
    from sksurv.util import Surv

    return CensoringDistributionEstimator().fit(Surv.from_arrays(event=event, time=time))


def _ipcw(cens, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``CensoringDistributionEstimator.predict_ipcw``: 1 / G(t_i) for events, 0 for censored; NaN-free or raise."""
    g = cens.predict_proba(time[event])
    if (g == 0.0).any():
        raise ValueError("censoring survival function is zero at one or more time points")
    w = np.zeros(time.shape[0])
    w[event] = 1.0 / g
    return w


def _concordant(ri: np.ndarray, rj: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """1 where ``ri`` > ``rj``, 0.5 for a tie within ``tol`` (scikit-survival's ``tied_tol``), else 0."""
    tie = np.abs(ri - rj) <= tol
    return np.where(tie, 0.5, (ri > rj).astype(np.float64))


class RowSet:
    """What the scores of every feature known on the same rows share: pairs, IPCW weights, times, KM."""

    def __init__(self, time: np.ndarray, event: np.ndarray) -> None:
        from sksurv.nonparametric import SurvivalFunctionEstimator
        from sksurv.util import Surv

        self.time = np.asarray(time, np.float64)
        self.event = np.asarray(event, bool)
        self.i, self.j = comparable_pairs(self.time, self.event)
        self.uno_w: np.ndarray | None = None
        self.auc_w: np.ndarray | None = None
        self.times = np.unique(np.nanpercentile(self.time, np.linspace(10, 81, 25)))
        if not self.event.any():
            return
        cens = _censoring(self.time, self.event)
        tau = float(self.time[self.event].max())
        mask = self.time < tau
        try:
            w = np.zeros(self.time.shape[0])
            w[mask] = _ipcw(cens, self.time[mask], self.event[mask])
            self.uno_w = np.square(w[self.i])
        except ValueError:
            pass
        t = self.time
        if self.times.max() < t.max() and self.times.min() >= t.min():
            with contextlib.suppress(ValueError):  # zero censoring survival: no tAUC on these rows
                self.auc_w = _ipcw(cens, t, self.event)
        if self.auc_w is not None and self.times.size > 1:
            s = SurvivalFunctionEstimator().fit(Surv.from_arrays(event=self.event, time=t)).predict_proba(self.times)
            self.km_step = -np.diff(np.r_[1.0, s])
            self.km_last = float(s[-1])

    def harrell(self, risk: np.ndarray) -> float:
        if self.i.size == 0:
            return float("nan")
        return float(_concordant(risk[self.i], risk[self.j]).mean())

    def uno(self, risk: np.ndarray) -> float:
        if self.uno_w is None or self.i.size == 0 or self.uno_w.sum() == 0:
            return float("nan")
        return float((self.uno_w * _concordant(risk[self.i], risk[self.j])).sum() / self.uno_w.sum())

    def tauc(self, risk: np.ndarray) -> float:
        if self.auc_w is None:
            return float("nan")
        scores = np.empty(self.times.size)
        for k, tk in enumerate(self.times):
            case = (self.time <= tk) & self.event
            ctrl = self.time > tk
            wc = self.auc_w[case]
            n_ctrl = int(ctrl.sum())
            if n_ctrl == 0 or wc.sum() == 0:
                scores[k] = np.nan
                continue
            r_ctrl = np.sort(risk[ctrl])
            below = np.searchsorted(r_ctrl, risk[case] - 1e-8, side="left")  # controls lower beyond the tolerance
            upto = np.searchsorted(r_ctrl, risk[case] + 1e-8, side="right")  # ... plus the tied ones
            scores[k] = float((wc * (below + 0.5 * (upto - below))).sum() / (wc.sum() * n_ctrl))
        if self.times.size == 1:
            return float(scores[0])
        return float((scores * self.km_step).sum() / (1.0 - self.km_last))


def column_scores(time: np.ndarray, event: np.ndarray, x: np.ndarray, methods: list[str]) -> np.ndarray:
    """Scores (p, len(methods)) of each column of ``x`` used as a risk, on the rows where it is finite.

    NaN where a score cannot be computed (scikit-survival would raise: no comparable pair, zero
    censoring survival, percentile times outside the follow-up)."""
    out = np.full((x.shape[1], len(methods)), np.nan)
    finite = np.isfinite(x)
    cache: dict[bytes, RowSet] = {}
    for col in range(x.shape[1]):
        ok = finite[:, col]
        if ok.sum() < 2:
            continue
        key = np.packbits(ok).tobytes()
        if key not in cache:
            cache[key] = RowSet(np.asarray(time)[ok], np.asarray(event)[ok])
        rows, risk = cache[key], x[ok, col]
        for m, method in enumerate(methods):
            out[col, m] = getattr(rows, method.lower())(risk)
    return out


def uno_cindex(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """``concordance_index_ipcw(y, y, risk, tau=time[event].max())[0]`` as ``icare.metrics.uno_cindex``
    (NaN where scikit-survival raises)."""
    return RowSet(time, event).uno(np.asarray(risk, np.float64))


def mean_tauc(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Mean cumulative/dynamic AUC as ``icare.metrics.tAUC``: ``cumulative_dynamic_auc(y, y, risk, times)[1]``
    with ``times`` = the 10th-81st percentiles (25 steps) of ``time``; the mean is the AUC integrated over
    the Kaplan-Meier estimate, as scikit-survival's (NaN where scikit-survival raises)."""
    return RowSet(time, event).tauc(np.asarray(risk, np.float64))
