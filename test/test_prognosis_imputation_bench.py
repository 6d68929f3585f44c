"""Smoke test of ``python -m bench.prognosis_imputation`` (issue 17: how blank clinical fields are filled)."""

from __future__ import annotations

import numpy as np
import pytest

from algorithm.features import CLINICAL_FEATURE_NAMES, MODEL_IMAGING_FEATURE_NAMES
from bench import prognosis_imputation


@pytest.mark.slow  # 20 nested-CV Cox fits
def test_every_fill_is_cross_validated_on_the_same_folds() -> None:
    names = [*MODEL_IMAGING_FEATURE_NAMES[:4], *CLINICAL_FEATURE_NAMES]
    rng = np.random.default_rng(0)
    n = 160
    x = rng.normal(size=(n, len(names)))
    clin = slice(4, len(names))
    x[:, clin] = rng.integers(0, 2, size=(n, len(CLINICAL_FEATURE_NAMES)))
    lp = x[:, 0] + 0.8 * x[:, names.index("clinical_tobacco_consumption")]
    t = rng.exponential(np.exp(-lp)) * 500 + 1
    c = rng.uniform(100, 1500, n)
    e = t <= c
    blank = rng.random((n, len(CLINICAL_FEATURE_NAMES))) < 0.3
    x[:, clin][blank] = np.nan
    groups = np.array([f"C{i % 6}" for i in range(n)])
    oof, per_fold = prognosis_imputation.cross_validate(x, np.minimum(t, c), e, groups, names)
    assert set(oof) == set(prognosis_imputation.VARIANTS)
    for variant in prognosis_imputation.VARIANTS:
        assert np.isfinite(oof[variant]).all() and len(per_fold[variant]) == 5
    a, b, extended, fill = prognosis_imputation._transform("indicators", x[:100], x[100:], names)
    assert fill == "most_frequent" and a.shape[1] == b.shape[1] == len(extended) > len(names)
    a, b, _, _ = prognosis_imputation._transform("iterative", x[:100], x[100:], names)
    assert np.isfinite(a[:, clin]).all() and np.isfinite(b[:, clin]).all()
