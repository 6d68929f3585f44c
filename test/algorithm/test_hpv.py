"""Task 3 model: calibrated logistic ensemble from JSON, threshold choice, fallbacks, bundled model."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold

from algorithm.features import CLINICAL_FEATURE_NAMES, IMAGING_FEATURE_NAMES
from algorithm.hpv import HPVModel, best_threshold, fit_hpv_model
from algorithm.hpv.model import fit_classifier, logistic
from algorithm.models import BUNDLED_MODEL_DIR
from algorithm.tabular import ModelError, apply_log1p
from algorithm.tabular.cv import auc, balanced_accuracy
from hecktor.clinical import parse_clinical

NAMES = [*IMAGING_FEATURE_NAMES, *CLINICAL_FEATURE_NAMES]


def _cohort(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    col = {c: i for i, c in enumerate(NAMES)}
    x[:, col["clinical_tobacco_consumption"]] = rng.integers(0, 2, n)
    logit = 0.8 + 1.2 * x[:, col["gtvn_count"]] - 1.5 * x[:, col["clinical_tobacco_consumption"]]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, y, [f"C{i % 5}" for i in range(n)]


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_json_parameters_reproduce_scikit_learn(method: str) -> None:
    x, y, _ = _cohort()
    clf = fit_classifier(x, NAMES, y, calibration=method, seed=3)
    z = clf.scaler.transform(clf.imputer.transform(apply_log1p(x, NAMES, clf.log1p)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CalibratedClassifierCV(
            logistic(clf.C, clf.penalty),
            method=method,
            cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=3),
            ensemble=True,
        ).fit(z, y)
    assert np.allclose(clf.predict_proba(x), ref.predict_proba(z)[:, 1], atol=1e-10)


def test_best_threshold_maximises_balanced_accuracy() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.5, 0.9])
    t = best_threshold(y, p)
    assert balanced_accuracy(y, p >= t) == pytest.approx(0.875)
    assert best_threshold(np.ones(4), np.linspace(0, 1, 4)) == 0.5


def test_fit_round_trip_and_outputs(tmp_path: Path) -> None:
    x, y, groups = _cohort()
    model = fit_hpv_model(x, NAMES, y, groups, folds=3, seed=0)
    dec, prob = model.predict_table(x, NAMES)
    assert auc(y, prob) > 0.75 and 0.0 < model.main.threshold < 1.0
    path = model.save(tmp_path)
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in model.json"))
    loaded = HPVModel.load(tmp_path)
    dec2, prob2 = loaded.predict_table(x, NAMES)
    assert np.array_equal(prob, prob2) and np.array_equal(dec, dec2)
    nan_feats = dict.fromkeys(IMAGING_FEATURE_NAMES, math.nan)
    for feats in (None, {}, nan_feats, {"gtvn_count": "two"}, {"gtvn_count": 3.0}):
        for clinical in (None, parse_clinical({}), parse_clinical({"Tobacco Consumption": "yes", "Age": "55"})):
            positive, probability = loaded.predict(feats, clinical)
            assert type(positive) is bool and type(probability) is float
            assert 0.0 <= probability <= 1.0
            json.dumps([positive, probability], allow_nan=False)
    assert loaded.uses_fallback(None) and loaded.uses_fallback(nan_feats)
    # the clinical fallback still uses what it knows: smokers are less often HPV positive
    smoker = loaded.predict(None, parse_clinical({"Tobacco Consumption": 1}))[1]
    non_smoker = loaded.predict(None, parse_clinical({"Tobacco Consumption": 0}))[1]
    assert smoker < non_smoker


def test_one_class_training_set_gives_a_prior_model() -> None:
    x, _, groups = _cohort(40)
    model = fit_hpv_model(x, NAMES, np.ones(40, int), groups)
    positive, probability = model.predict(None, None)
    assert positive is True and probability > 0.9


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        HPVModel.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "hecktor-kit/prognosis", "format_version": 1}')
    with pytest.raises(ModelError, match="expected a 'hecktor-kit/hpv' model"):
        HPVModel.load(tmp_path)


def test_bundled_model_loads_and_predicts() -> None:
    model_dir = BUNDLED_MODEL_DIR / "hpv"
    if not (model_dir / "model.json").is_file():
        pytest.skip("no bundled HPV model yet")
    model = HPVModel.load(model_dir)
    assert 0.0 < model.main.threshold < 1.0 and model.training.get("cross_validation", {}).get("auc") is not None
    for feats in (None, {"gtvp_suv_max": 10.0, "gtvn_count": 3.0}):
        positive, probability = model.predict(feats, parse_clinical({"Age": 60, "Tobacco Consumption": 0}))
        assert isinstance(positive, bool) and 0.0 <= probability <= 1.0
