"""The univariate scores ICARE's reference package uses to sign a feature, computed fast for many features.

``icare`` 0.1.0 (``icare.metrics``) scores a feature used as a risk with scikit-survival's
``concordance_index_censored`` (Harrell), ``concordance_index_ipcw`` (Uno, truncated at the last event
time) and the mean of ``cumulative_dynamic_auc`` at the 10th-81st percentiles of the times (tAUC),
training set = test set. Called per feature and per bag those cost about 45 ms each on 500 cases,
which makes a 100-bag model take minutes. The functions here give the same numbers (tested against
scikit-survival in ``test/algorithm/test_icare_reference.py``, to 1e-12): the Kaplan-Meier estimates of
the censoring and survival distributions follow scikit-survival's counts and step lookup
(``_StepKM``), computed once per set of rows, and the weighted pair counts are vectorised. Times in
days; higher risk = earlier event.
"""

from __future__ import annotations

import contextlib

import numpy as np

from algorithm.tabular.cv import comparable_pairs


class _StepKM:
    """scikit-survival's ``SurvivalFunctionEstimator`` / ``CensoringDistributionEstimator`` (``reverse``):
    the same Kaplan-Meier counts and the same step lookup, without its per-call validation overhead."""

    def __init__(self, time: np.ndarray, event: np.ndarray, reverse: bool = False) -> None:
        uniq, inverse, total = np.unique(time, return_inverse=True, return_counts=True)
        d = np.bincount(inverse, weights=event.astype(np.float64), minlength=uniq.size)
        at_risk = time.size - np.r_[0, np.cumsum(total)[:-1]]
        if reverse and event.all():
            self.unique_time, self.prob = uniq, np.ones(uniq.size)
            return
        if reverse:
            at_risk = at_risk - d
            d = total - d  # censorings are the "events" of the censoring distribution
        ratio = np.divide(d, at_risk, out=np.zeros(uniq.size), where=d != 0)
        self.unique_time = np.r_[-np.inf, uniq]
        self.prob = np.r_[1.0, np.cumprod(1.0 - ratio)]

    def predict(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        extends = t > self.unique_time[-1]
        if self.prob[-1] > 0 and extends.any():
            raise ValueError("time must be smaller than largest observed time point")
        out = np.zeros(t.shape)
        tv = t[~extends]
        idx = np.searchsorted(self.unique_time, tv)
        exact = np.abs(self.unique_time[np.minimum(idx, self.unique_time.size - 1)] - tv) < np.finfo(np.float64).eps
        idx[~exact] -= 1
        out[~extends] = self.prob[idx]
        return out


def _censoring(time: np.ndarray, event: np.ndarray) -> _StepKM:
    return _StepKM(time, event, reverse=True)


def _ipcw(cens: _StepKM, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``CensoringDistributionEstimator.predict_ipcw``: 1 / G(t_i) for events, 0 for censored."""
    g = cens.predict(time[event])
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
            s = _StepKM(t, self.event).predict(self.times)
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
