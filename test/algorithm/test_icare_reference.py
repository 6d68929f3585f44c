"""The kit's ICARE against the reference package ``icare`` 0.1.0 (Lrebaud/ICARE), same data, same seeds.

``icare`` is pinned in requirements-dev.txt. Its 0.1.0 release calls scikit-learn's ``check_array`` with
``force_all_finite``, an argument scikit-learn 1.8 renamed to ``ensure_all_finite``; the fixture below
translates that one keyword name and nothing else, so the package's own algorithm runs unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw, cumulative_dynamic_auc
from sksurv.util import Surv

from algorithm.prognosis.icare import IcareSettings, fit_bag, fit_icare, predict_icare
from algorithm.prognosis.icare_scores import mean_tauc, uno_cindex
from algorithm.tabular.cv import harrell_c

icare_base = pytest.importorskip("icare.base", reason="icare (pinned in requirements-dev.txt) is not installed")
from icare.survival import BaggedIcareSurvival, IcareSurvival  # noqa: E402


@pytest.fixture(autouse=True)
def _icare_runs_on_current_sklearn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    from sklearn.utils import check_array

    def check(x: object, force_all_finite: object = True, **kw: object) -> object:
        return check_array(x, ensure_all_finite=force_all_finite, **kw)

    monkeypatch.setattr(icare_base, "check_array", check)
    monkeypatch.chdir(tmp_path)  # icare 0.1.0 appends to ./testoutput.txt when max_features < 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _cohort(n: int, seed: int, p: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (10 % missing, two nearly collinear) and an outcome driven by three of them (days)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    x[:, 1] = x[:, 0] + 0.2 * rng.normal(size=n)
    lp = 0.7 * x[:, 0] - 0.5 * x[:, 2] + 0.3 * x[:, 3]
    t = rng.exponential(np.exp(-lp)) * 500
    c = rng.uniform(100, 1500, n)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, np.minimum(t, c).round() + 1, t <= c


def test_sign_scores_equal_scikit_survivals() -> None:
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(30, 200))
        time = rng.integers(1, 400, n).astype(float)  # tied times
        event = rng.random(n) < rng.uniform(0.2, 0.8)
        risk = rng.normal(size=n)
        if seed % 3 == 0:
            risk = np.round(risk)  # tied risks
        y = Surv.from_arrays(event=event, time=time)
        tau = time[event].max()
        times = np.nanpercentile(time, np.linspace(10, 81, 25))
        for ours, theirs, args in (
            (uno_cindex, concordance_index_ipcw, {"tau": tau}),
            (mean_tauc, cumulative_dynamic_auc, {"times": times}),
        ):
            try:
                out = theirs(y, y, risk, **args)
                expected = float(out[0] if ours is uno_cindex else out[1])
            except ValueError:  # scikit-survival refuses (zero censoring survival): ours says NaN
                assert np.isnan(ours(time, event, risk))
                continue
            assert ours(time, event, risk) == pytest.approx(expected, abs=1e-12)
        assert harrell_c(time, event, risk) == pytest.approx(concordance_index_censored(event, time, risk)[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_bagged_icare_equals_the_package_on_the_same_split(seed: int) -> None:
    x, t, e = _cohort(160, seed)
    tr, te = np.arange(110), np.arange(110, 160)
    ref = BaggedIcareSurvival(n_estimators=15, random_state=seed).fit(x[tr], Surv.from_arrays(e[tr], t[tr]))
    theirs = np.asarray(ref.predict(x[te]), dtype=np.float64)
    ours = predict_icare(fit_icare(x[tr], t[tr], e[tr], IcareSettings(n_bags=15), seed=seed), x[te])
    assert np.abs(ours - theirs).max() < 1e-5  # float32 rounding in the package
    assert abs(harrell_c(t[te], e[te], ours) - harrell_c(t[te], e[te], theirs)) <= 0.005


@pytest.mark.parametrize(
    ("rho", "cmin", "max_features", "sign_method"),
    [(0.8, 0.52, 0.75, "tAUC,harrell,uno"), (None, None, 1.0, "harrell"), (0.9, 0.55, 1.0, "harrell,uno")],
)
def test_one_bag_equals_icare_survival(
    rho: float | None, cmin: float | None, max_features: float, sign_method: str
) -> None:
    x, t, e = _cohort(120, 5, p=10)
    ref = IcareSurvival(rho=rho, cmin=cmin, max_features=max_features, sign_method=sign_method, random_state=11)
    ref.fit(x, Surv.from_arrays(e, t))
    methods = sign_method.split(",")
    bag = fit_bag(x, t, e, rho or 1.0, cmin or 0.0, max_features, np.random.default_rng(11), methods)
    theirs = {int(f): w for f, w in zip(ref.used_features_, ref.weights_, strict=True)}
    assert dict(zip(bag.features, bag.signs, strict=True)) == theirs
    assert np.abs(bag.predict(x) - np.asarray(ref.predict(x), dtype=np.float64)).max() < 1e-5
