"""Task 2 models: Harrell's C, ICARE, Cox, fallbacks, model.json round trip and the bundled model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored

from algorithm.features import CLINICAL_FEATURE_NAMES, IMAGING_FEATURE_NAMES
from algorithm.models import BUNDLED_MODEL_DIR
from algorithm.prognosis import IcareSettings, PrognosisModel, fit_prognosis_model
from algorithm.prognosis.icare import drop_correlated, fit_icare, predict_icare
from algorithm.tabular import ModelError
from algorithm.tabular.cv import column_cindices, harrell_c, make_folds
from hecktor.clinical import parse_clinical

NAMES = [*IMAGING_FEATURE_NAMES, *CLINICAL_FEATURE_NAMES]


def _cohort(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features over NAMES (imaging + clinical, some missing) and a survival outcome driven by two of them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    col = {c: i for i, c in enumerate(NAMES)}
    x[:, col["gtvp_mtv_ml"]] = rng.lognormal(2.0, 0.8, n)
    x[:, col["clinical_gender"]] = rng.integers(0, 2, n)
    lp = 0.8 * np.log(x[:, col["gtvp_mtv_ml"]]) + 0.6 * x[:, col["clinical_age"]] - 0.5 * x[:, col["gtvn_suv_max"]]
    t = rng.exponential(np.exp(-lp)) * 500
    c = rng.uniform(100, 1500, n)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, np.minimum(t, c).round() + 1, t <= c


def test_harrell_c_matches_scikit_survival() -> None:
    rng = np.random.default_rng(3)
    time = rng.integers(1, 30, 200).astype(float)  # many tied times
    event = rng.random(200) < 0.6
    risk = rng.integers(0, 5, 200).astype(float)  # many tied risks
    assert harrell_c(time, event, risk) == pytest.approx(concordance_index_censored(event, time, risk)[0])
    cols = column_cindices(time, event, np.column_stack([risk, -risk]))
    assert cols[0] == pytest.approx(harrell_c(time, event, risk)) and cols[1] == pytest.approx(1 - cols[0])


def test_harrell_c_counts_missing_risks_as_ties_like_the_leaderboard() -> None:
    from hecktor.metrics.concordance import harrell_cindex

    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([True, True, False, True])
    risk = np.array([4.0, np.nan, 2.0, 1.0])
    # pairs (0,1) (0,2) (0,3) (1,2) (1,3): 2 concordant, 3 involve the missing risk (0.5 each)
    assert harrell_c(time, event, risk) == pytest.approx(3.5 / 5)
    assert harrell_c(time, event, risk) == harrell_cindex(time, event, risk).cindex


def test_icare_learns_signs_and_drops_correlated_features() -> None:
    x, t, e = _cohort(200)
    bags = fit_icare(x, t, e, IcareSettings(n_bags=20, cmin=(0.55,)), seed=1)
    signs: dict[str, list[float]] = {}
    for bag in bags:
        for j, s in zip(bag.features, bag.signs, strict=True):
            signs.setdefault(NAMES[j], []).append(s)
    assert np.mean(signs["gtvp_mtv_ml"]) == 1.0 and np.mean(signs["gtvn_suv_max"]) == -1.0
    risk = predict_icare(bags, x)
    assert harrell_c(t, e, risk) > 0.65
    a = np.arange(50.0)
    kept = drop_correlated(np.column_stack([a, 2 * a + 1, np.sin(a)]), [0, 1, 2], rho=0.9)
    assert kept == [0, 2]


@pytest.mark.parametrize("kind", ["icare", "cox"])
def test_fit_save_load_round_trip(kind: str, tmp_path: Path) -> None:
    x, t, e = _cohort()
    model = fit_prognosis_model(x, NAMES, t, e, kind, seed=0, icare_settings=IcareSettings(n_bags=15))
    risk = model.predict_table(x, NAMES)
    assert np.isfinite(risk).all() and harrell_c(t, e, risk) > 0.6
    path = model.save(tmp_path)
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in model.json"))
    loaded = PrognosisModel.load(tmp_path)
    assert np.array_equal(loaded.predict_table(x, NAMES), risk)
    clinical = parse_clinical({"Age": 70, "Gender": "M"})
    feats = dict(zip(NAMES[: len(IMAGING_FEATURE_NAMES)], x[0], strict=False))
    assert loaded.predict_risk(feats, clinical) == model.predict_risk(feats, clinical)


@pytest.mark.parametrize("kind", ["icare", "cox"])
def test_outputs_are_always_finite_floats(kind: str) -> None:
    x, t, e = _cohort()
    model = fit_prognosis_model(x, NAMES, t, e, kind, icare_settings=IcareSettings(n_bags=10))
    nan_feats = dict.fromkeys(IMAGING_FEATURE_NAMES, math.nan)
    odd_feats = {"gtvp_suv_max": "high", "gtvp_mtv_ml": math.inf, "unknown": 3.0}
    for feats in (None, {}, nan_feats, odd_feats, {"gtvp_mtv_ml": 12.0}):
        for clinical in (None, parse_clinical({}), parse_clinical({"Age": "61", "M-stage": "M1"})):
            risk = model.predict_risk(feats, clinical)
            assert type(risk) is float and math.isfinite(risk)
            json.dumps(risk, allow_nan=False)
    assert model.uses_fallback(None) and model.uses_fallback(nan_feats) and not model.uses_fallback({"gtvp_mtv_ml": 1})


def test_fallback_uses_the_clinical_model_on_the_main_scale() -> None:
    x, t, e = _cohort(150)
    model = fit_prognosis_model(x, NAMES, t, e, "cox")
    old = parse_clinical({"Age": 3.0})  # standardised units in this toy cohort: old = high risk
    young = parse_clinical({"Age": -3.0})
    assert model.predict_risk(None, old) > model.predict_risk(None, young)


def test_blank_clinical_fields_get_the_training_mean_stored_in_the_model_file(tmp_path: Path) -> None:
    """Issue 17: categorical clinical blanks are filled with the training mean (scikit-learn's SimpleImputer),
    the fill travels in model.json, and a model fitted with the previous most-frequent fill still loads as it was."""
    from sklearn.impute import SimpleImputer

    x, t, e = _cohort(150)
    col = {c: i for i, c in enumerate(NAMES)}
    ps = col["clinical_performance_status"]
    rng = np.random.default_rng(1)
    x[:, ps] = np.where(rng.random(150) < 0.3, np.nan, rng.choice(4, 150, p=(0.55, 0.33, 0.09, 0.03)))
    model = fit_prognosis_model(x, NAMES, t, e, "cox")
    names = model.main.feature_names
    j = names.index("clinical_performance_status")
    imputer = model.main.prep.imputer
    assert imputer.strategies[j] == "mean" and imputer.strategies[names.index("clinical_age")] == "median"
    reference = SimpleImputer(strategy="mean").fit(x[:, [ps]]).statistics_[0]
    assert imputer.values[j] == pytest.approx(reference) and 0.0 < imputer.values[j] < 1.0  # not the mode 0
    model.save(tmp_path / "mean")
    stored = json.loads((tmp_path / "mean" / "model.json").read_text())["main"]["imputer"]
    assert stored["values"][j] == pytest.approx(reference)
    blank = parse_clinical({"Age": 0.5})
    as_mean = parse_clinical({"Age": 0.5, "Performance Status": imputer.values[j]})
    loaded = PrognosisModel.load(tmp_path / "mean")
    feats = {"gtvp_mtv_ml": 8.0}
    assert loaded.predict_risk(feats, blank) == pytest.approx(loaded.predict_risk(feats, as_mean))
    old = fit_prognosis_model(x, NAMES, t, e, "cox", clinical_fill="most_frequent")
    assert old.main.prep.imputer.values[j] == 0.0 and old.main.prep.imputer.strategies[j] == "most_frequent"
    old.save(tmp_path / "old")
    reloaded = PrognosisModel.load(tmp_path / "old")
    assert reloaded.predict_table(x, NAMES) == pytest.approx(old.predict_table(x, NAMES))
    with pytest.raises(ValueError, match="categorical fill"):
        fit_prognosis_model(x, NAMES, t, e, "cox", clinical_fill="median")


def test_degenerate_training_sets_give_constant_but_finite_models() -> None:
    x, t, _ = _cohort(30)
    model = fit_prognosis_model(x, NAMES, t, np.zeros(30, bool), "cox")  # no event at all
    assert model.main.kind == "constant" and model.predict_risk(None, None) == pytest.approx(0.0)


def test_make_folds_groups_centres() -> None:
    groups = [f"C{i % 7}" for i in range(70)]
    strata = np.arange(70) % 2
    folds, how = make_folds(groups, strata, 5, seed=0)
    assert len(folds) == 5 and "grouped by centre" in how
    for train, test in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
    folds, how = make_folds(["A"] * 20, np.arange(20) % 2, 5, seed=0)
    assert len(folds) == 5 and "single centre" in how


def test_load_errors_are_one_line_model_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        PrognosisModel.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "hecktor-kit/hpv", "format_version": 1}')
    with pytest.raises(ModelError, match="expected a 'hecktor-kit/prognosis' model"):
        PrognosisModel.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "hecktor-kit/prognosis", "format_version": 99}')
    with pytest.raises(ModelError, match="version 99"):
        PrognosisModel.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "hecktor-kit/prognosis", "format_version": 1, "main": {}}')
    with pytest.raises(ModelError, match="inconsistent"):
        PrognosisModel.load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        PrognosisModel.load(tmp_path)


def test_bundled_model_loads_and_predicts() -> None:
    model_dir = BUNDLED_MODEL_DIR / "prognosis"
    if not (model_dir / "model.json").is_file():
        pytest.skip("no bundled prognosis model yet")
    model = PrognosisModel.load(model_dir)
    assert model.training.get("cross_validation", {}).get("c_index") is not None
    for feats in (None, {"gtvp_mtv_ml": 20.0, "gtvp_suv_max": 12.0, "gtvn_count": 2.0}):
        assert math.isfinite(model.predict_risk(feats, parse_clinical({"Age": 60})))
    big = model.predict_risk({"gtvp_mtv_ml": 60.0, "total_mtv_ml": 80.0, "gtvp_tlg": 600.0}, None)
    small = model.predict_risk({"gtvp_mtv_ml": 2.0, "total_mtv_ml": 2.0, "gtvp_tlg": 10.0}, None)
    assert big > small  # larger tumours carry the higher risk in the synthetic cohort
