"""Cross-validation helpers: centre-grouped folds, Harrell's C, classification scores, bootstrap CIs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from hecktor.metrics.bootstrap import bootstrap_ci
from hecktor.metrics.classification import binary_metrics
from hecktor.metrics.concordance import harrell_cindex

log = logging.getLogger(__name__)


def comparable_pairs(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Harrell's comparable pairs ``(i, j)``: ``i`` had the event and ``j`` was still event-free after it.

    A pair is comparable when ``event[i]`` and ``time[i] < time[j]``, or the times tie and ``j`` is
    censored (as in ``sksurv.metrics.concordance_index_censored``). Times in days.
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    ti, tj = time[:, None], time[None, :]
    comp = event[:, None] & ((ti < tj) | ((ti == tj) & ~event[None, :]))
    return np.nonzero(comp)


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index as the leaderboard computes it (:func:`hecktor.metrics.concordance.harrell_cindex`).

    Higher risk = shorter time; tied risks count 0.5; missing (NaN/inf) risks are tied with everyone.
    Returns NaN when no comparable pair remains. Times in days.
    """
    return float(harrell_cindex(time, np.asarray(event, bool), risk).cindex)


def column_cindices(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Harrell's C of each column of ``x`` (n, p) used as a risk, over the pairs where both values are finite."""
    i, j = comparable_pairs(time, event)
    out = np.full(x.shape[1], np.nan)
    if i.size == 0:
        return out
    for col in range(x.shape[1]):  # column by column: memory stays O(pairs)
        xi, xj = x[i, col], x[j, col]
        valid = np.isfinite(xi) & np.isfinite(xj)
        if valid.any():
            xi, xj = xi[valid], xj[valid]
            out[col] = float(((xi > xj) + 0.5 * (xi == xj)).mean())
    return out


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """(sensitivity + specificity) / 2 with positive = 1; a class absent from ``y_true`` is left out.

    :func:`hecktor.metrics.classification.binary_metrics`'s balanced accuracy (NaN with no patient).
    """
    return float(binary_metrics(np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)).balanced_accuracy)


def auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (``sklearn.metrics.roc_auc_score``, as the evaluation's), NaN when only one class is present."""
    y_true = np.asarray(y_true, dtype=int)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, score))


def make_folds(
    groups: Sequence[str], strata: np.ndarray, n_folds: int, seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Cross-validation folds grouped by centre and stratified by ``strata`` (event or class).

    With fewer centres than ``n_folds`` the folds are reduced to the number of centres; with a single
    centre the split falls back to patient-level stratified folds (said in the returned description).
    """
    groups = np.asarray(groups)
    strata = np.asarray(strata, dtype=int)
    n_groups = len(np.unique(groups))
    idx = np.arange(len(groups))
    if n_groups >= 2:
        k = min(n_folds, n_groups)
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = [(tr, te) for tr, te in splitter.split(idx, strata, groups)]
        how = f"{k}-fold cross-validation grouped by centre ({n_groups} centres), stratified"
        if k < n_folds:
            how += f" (only {n_groups} centres, so {k} folds instead of {n_folds})"
    else:
        k = max(2, min(n_folds, int(np.bincount(strata).min()) if len(np.unique(strata)) > 1 else n_folds))
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = [(tr, te) for tr, te in splitter.split(idx, strata)]
        how = f"{k}-fold patient-level stratified cross-validation (a single centre: no grouping possible)"
    return folds, how


def summarise(values: dict[str, float], ci: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """``{"c_index": 0.7, "c_index_ci95": [0.65, 0.75], ...}`` with plain floats, rounded to 4 places."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        out[k] = round(float(v), 4)
        if k in ci:
            out[f"{k}_ci95"] = [round(float(c), 4) for c in ci[k]]
    return out


# --- scores as the challenge evaluation computes them ---------------------------------------------------
# The trainers report CV and held-out figures with the shared metric code (hecktor.metrics), the very
# functions the evaluation container scores the leaderboard with, so the two figures share one definition.


def report_cindex(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C as the evaluation computes it (missing risks tied with everyone)."""
    return harrell_c(time, event, risk)


def report_binary(y: np.ndarray, decision: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Balanced accuracy, sensitivity, specificity and AUC (NaN where undefined), as the evaluation computes them."""
    res = binary_metrics(np.asarray(y, dtype=int), np.asarray(decision, dtype=bool), probability)

    def num(v: float | None) -> float:
        return float("nan") if v is None else float(v)

    return {
        "balanced_accuracy": num(res.balanced_accuracy),
        "sensitivity": num(res.sensitivity),
        "specificity": num(res.specificity),
        "auc": num(res.auc),
    }


def report_bootstrap(
    statistic: Callable[[np.ndarray], float], n: int, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile bootstrap interval (:func:`hecktor.metrics.bootstrap.bootstrap_ci`; NaN when undefined)."""
    res = bootstrap_ci(statistic, n, n_resamples=n_boot, seed=seed)
    return (float("nan"), float("nan")) if res is None else res
