"""Penalised Cox model (scikit-survival), kept as its coefficients only.

The risk is the linear predictor ``z @ beta`` on imputed, standardised features ``z`` (higher = earlier
event). The penalty is chosen by inner cross-validation (:mod:`algorithm.tabular.nested_cv`) among a
ridge ``CoxPHSurvivalAnalysis`` (``alpha`` 1, the default, 10 or 100) and elastic-net
``CoxnetSurvivalAnalysis`` fits (``l1_ratio``, 4 strengths along the path); a candidate replaces the
default ridge fit only when its inner Harrell's C beats it by more than one standard error. Before issue
17 the elastic-net strength with the best inner C was always taken, which lost 0.03-0.06 C-index to the
plain ridge fit on held-out synthetic cohorts (``python -m bench.prognosis_card`` measures both).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis
from sksurv.util import Surv

from algorithm.tabular import nested_cv
from algorithm.tabular.cv import harrell_c
from algorithm.tabular.nested_cv import choose

log = logging.getLogger(__name__)


RIDGE_ALPHAS = (1.0, 10.0, 100.0)  # the first is the default fit
N_ENET = 4


def _ridge(alpha: float) -> Any:
    return CoxPHSurvivalAnalysis(alpha=alpha, ties="breslow")


def fit_cox(
    z: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    *,
    l1_ratio: float = 0.5,
    n_alphas: int = 30,
    inner_folds: int = 5,
    seed: int = 0,
    select: bool = True,
    ridge_alphas: tuple[float, ...] = RIDGE_ALPHAS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Coefficients (p,) of a penalised Cox model on standardised ``z`` (n, p, no NaN), and fit details.

    Args:
        z: imputed, standardised features.
        time: follow-up (days).
        event: event indicator (True = recurrence).
        l1_ratio: elastic-net mixing of the elastic-net candidates (1 = lasso, towards 0 = ridge).
        n_alphas: length of the elastic-net path the candidates are taken from.
        inner_folds: folds of the inner split choosing the penalty.
        seed: seed of the inner split.
        select: False = the default ridge fit, no inner CV.
        ridge_alphas: the ridge candidates, the first being the default fit.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    y = Surv.from_arrays(event=event, time=time)
    candidates, names = [], []
    for a in ridge_alphas:
        candidates.append(_ridge_candidate(z, time, event, a))
        names.append(f"ridge alpha={a:g}")
    enet_alphas: list[float] = []
    if select:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                path = CoxnetSurvivalAnalysis(
                    l1_ratio=l1_ratio, n_alphas=n_alphas, alpha_min_ratio=0.01, max_iter=100000
                )
                path.fit(z, y)
            # the first alpha zeroes every coefficient (a constant risk): strengths from the rest of the path
            picks = np.unique(np.linspace(1, len(path.alphas_) - 1, N_ENET).round().astype(int))
            enet_alphas = [float(path.alphas_[i]) for i in picks]
        except (ArithmeticError, ValueError) as exc:
            log.warning("elastic-net Cox path failed (%s); ridge candidates only", exc)
        for a in enet_alphas:
            candidates.append(_enet_candidate(z, time, event, a, l1_ratio))
            names.append(f"elastic-net l1_ratio={l1_ratio:g} alpha={a:.4g}")
        choice = choose(
            candidates,
            lambda te, risk: harrell_c(time[te], event[te], risk),
            nested_cv.inner_folds(event, inner_folds, seed),
        )
        chosen = choice.index
        inner = {n: (None if m is None else round(m, 4)) for n, m in zip(names, choice.mean_scores, strict=True)}
        reason = choice.reason
    else:
        chosen, inner, reason = 0, {}, "default ridge fit (no selection)"
    for attempt in (chosen, 0):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                coef = _coefficients(z, time, event, attempt, ridge_alphas, enet_alphas, l1_ratio)
            chosen = attempt
            break
        except (ArithmeticError, ValueError) as exc:
            log.warning("Cox fit %s failed (%s)", names[attempt], exc)
    else:
        coef = np.zeros(z.shape[1])
    info = {
        "estimator": "CoxPHSurvivalAnalysis" if chosen < len(ridge_alphas) else "CoxnetSurvivalAnalysis",
        "chosen": names[chosen],
        "alpha": ridge_alphas[chosen] if chosen < len(ridge_alphas) else enet_alphas[chosen - len(ridge_alphas)],
        "l1_ratio": 0.0 if chosen < len(ridge_alphas) else l1_ratio,
        "selection": reason,
        "inner_c_index": inner,
        "n_nonzero": int((coef != 0).sum()),
    }
    return coef, info


def _coefficients(
    z: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    which: int,
    ridge_alphas: tuple[float, ...],
    enet_alphas: list[float],
    l1_ratio: float,
) -> np.ndarray:
    y = Surv.from_arrays(event=event, time=time)
    if which < len(ridge_alphas):
        return np.asarray(_ridge(ridge_alphas[which]).fit(z, y).coef_, dtype=float)
    alpha = enet_alphas[which - len(ridge_alphas)]
    m = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=[alpha], max_iter=100000).fit(z, y)
    return np.asarray(m.coef_[:, -1], dtype=float)


def _ridge_candidate(z: np.ndarray, time: np.ndarray, event: np.ndarray, alpha: float) -> Any:
    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = _ridge(alpha).fit(z[tr], Surv.from_arrays(event=event[tr], time=time[tr]))
        return z[te] @ np.asarray(m.coef_, dtype=float)

    return fit_predict


def _enet_candidate(z: np.ndarray, time: np.ndarray, event: np.ndarray, alpha: float, l1_ratio: float) -> Any:
    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=[alpha], max_iter=100000)
            m.fit(z[tr], Surv.from_arrays(event=event[tr], time=time[tr]))
        return z[te] @ np.asarray(m.coef_[:, -1], dtype=float)

    return fit_predict
