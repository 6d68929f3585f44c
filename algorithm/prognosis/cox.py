"""Penalised Cox model (scikit-survival's ``CoxnetSurvivalAnalysis``), kept as its coefficients only.

The risk is the linear predictor ``z @ beta`` on imputed, standardised features ``z`` (higher = earlier
event). The elastic-net strength is chosen on an inner stratified K-fold split of the training data by
Harrell's C over the fitted path; if the path cannot be fitted, a ridge ``CoxPHSurvivalAnalysis`` is used.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis
from sksurv.util import Surv

from algorithm.tabular.cv import harrell_c

log = logging.getLogger(__name__)


def fit_cox(
    z: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    *,
    l1_ratio: float = 0.5,
    n_alphas: int = 30,
    inner_folds: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Coefficients (p,) of an elastic-net Cox model on standardised ``z`` (n, p, no NaN), and fit details.

    Args:
        z: imputed, standardised features.
        time: follow-up (days).
        event: event indicator (True = recurrence).
        l1_ratio: elastic-net mixing (1 = lasso, towards 0 = ridge).
        n_alphas: length of the penalty path.
        inner_folds: folds of the inner split choosing the penalty.
        seed: seed of the inner split.
    """
    y = Surv.from_arrays(event=np.asarray(event, bool), time=np.asarray(time, float))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, n_alphas=n_alphas, alpha_min_ratio=0.01, max_iter=100000)
            base.fit(z, y)
            alphas = base.alphas_
            scores = _inner_scores(z, time, event, alphas, l1_ratio, inner_folds, seed)
        # the first alpha zeroes every coefficient (a constant risk): choose among the others
        best = 1 + int(np.nanargmax(scores[1:])) if len(alphas) > 1 and np.isfinite(scores[1:]).any() else 0
        coef = np.asarray(base.coef_[:, best], dtype=float)
        info = {
            "estimator": "CoxnetSurvivalAnalysis",
            "l1_ratio": l1_ratio,
            "alpha": float(alphas[best]),
            "inner_c_index": float(scores[best]) if np.isfinite(scores[best]) else None,
            "n_nonzero": int((coef != 0).sum()),
        }
        return coef, info
    except (ArithmeticError, ValueError) as exc:
        log.warning("elastic-net Cox failed (%s); fitting a ridge Cox model instead", exc)
        ridge = CoxPHSurvivalAnalysis(alpha=10.0).fit(z, y)
        coef = np.asarray(ridge.coef_, dtype=float)
        return coef, {"estimator": "CoxPHSurvivalAnalysis", "alpha": 10.0, "n_nonzero": int((coef != 0).sum())}


def _inner_scores(
    z: np.ndarray, time: np.ndarray, event: np.ndarray, alphas: np.ndarray, l1_ratio: float, folds: int, seed: int
) -> np.ndarray:
    event = np.asarray(event, bool)
    k = max(2, min(folds, int(event.sum()), int((~event).sum())))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    scores = np.zeros((k, len(alphas)))
    for f, (tr, te) in enumerate(splitter.split(z, event)):
        y = Surv.from_arrays(event=event[tr], time=np.asarray(time, float)[tr])
        try:
            m = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=alphas, max_iter=100000).fit(z[tr], y)
        except (ArithmeticError, ValueError):
            scores[f] = np.nan
            continue
        coefs = m.coef_
        for a in range(coefs.shape[1] if coefs.ndim == 2 else 0):
            scores[f, a] = harrell_c(np.asarray(time)[te], event[te], z[te] @ coefs[:, a])
        if coefs.shape[1] < len(alphas):  # the path stopped early
            scores[f, coefs.shape[1] :] = np.nan
    return np.nanmean(scores, axis=0) if np.isfinite(scores).any() else np.full(len(alphas), np.nan)
