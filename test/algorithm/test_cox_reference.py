"""The kit's Cox model against an independent implementation, lifelines' ``CoxPHFitter``, same data and penalty.

The kit fits scikit-survival's ``CoxPHSurvivalAnalysis`` (log partial likelihood - alpha / 2 ||beta||^2,
Breslow ties) on its imputed, standardised features. lifelines maximises the same likelihood minus
n x penalizer / 2 ||beta||^2 on features it standardises itself (sample sd), so penalizer = alpha / n and the
coefficients compare after undoing its scaling. Follow-up times here are untied, where Breslow's and
lifelines' Efron likelihoods coincide.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from algorithm.prognosis import cox as cox_module
from algorithm.prognosis.model import fit_risk_model
from algorithm.tabular.cv import harrell_c

lifelines = pytest.importorskip("lifelines", reason="lifelines (pinned in requirements-dev.txt) is not installed")


def _cohort(n: int, seed: int, p: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, p) + rng.normal(size=p)
    z = (x - x.mean(0)) / x.std(0)
    lp = 0.6 * z[:, 0] - 0.4 * z[:, 1] + 0.3 * z[:, 2]
    t = rng.exponential(np.exp(-lp)) * 500
    c = rng.uniform(100, 1500, n)
    return x, np.minimum(t, c) + rng.uniform(0, 1e-3, n), t <= c


@pytest.mark.parametrize("alpha", cox_module.RIDGE_ALPHAS)
def test_ridge_cox_equals_lifelines_at_the_same_penalty(alpha: float) -> None:
    x, t, e = _cohort(300, int(alpha))
    names = [f"f{j}" for j in range(x.shape[1])]
    tr, te = np.arange(220), np.arange(220, 300)
    model = fit_risk_model("cox", x[tr], names, t[tr], e[tr])  # the kit's preprocessing (and its choice)
    z = model.standardised(x[tr])
    coef, info = cox_module.fit_cox(z, t[tr], e[tr], select=False, ridge_alphas=(alpha,))
    assert info["alpha"] == alpha and info["estimator"] == "CoxPHSurvivalAnalysis"
    frame = pd.DataFrame(z, columns=names).assign(T=t[tr], E=e[tr].astype(int))
    sd = frame[names].std(ddof=1).to_numpy()  # lifelines' own scaling, under its penalty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lifelines.CoxPHFitter(penalizer=alpha / len(tr) / sd**2).fit(frame, "T", "E")
    np.testing.assert_allclose(coef, ref.params_.to_numpy(), rtol=1e-3, atol=1e-4)
    z_te = model.standardised(x[te])
    c_kit = harrell_c(t[te], e[te], z_te @ coef)
    c_ref = harrell_c(t[te], e[te], ref.predict_log_partial_hazard(pd.DataFrame(z_te, columns=names)).to_numpy())
    assert abs(c_kit - c_ref) <= 0.005, (c_kit, c_ref)


def test_the_default_model_is_the_alpha_1_fit_when_nothing_beats_it() -> None:
    x, t, e = _cohort(300, 5)
    names = [f"f{j}" for j in range(x.shape[1])]
    model = fit_risk_model("cox", x, names, t, e)
    z = model.standardised(x)
    chosen = model.details["chosen"]
    if model.details["estimator"] == "CoxPHSurvivalAnalysis":
        coef, _ = cox_module.fit_cox(z, t, e, select=False, ridge_alphas=(float(model.details["alpha"]),))
        np.testing.assert_allclose(model.coefficients, coef, rtol=1e-6, atol=1e-9)
    assert chosen.startswith(("ridge", "elastic-net"))
