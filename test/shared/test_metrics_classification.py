"""hecktor.metrics.classification: balanced accuracy (sklearn cross-check), missing calls wrong, AUC."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from hecktor.metrics.classification import BinaryResult, binary_metrics


def test_hand_computed_with_missing_calls_counted_wrong() -> None:
    truth = [1, 1, 1, 0, 0, 0]
    predicted = [True, False, None, False, True, None]
    # Positives: hit, miss, missing -> TP 1, FN 2. Negatives: right, wrong, missing -> TN 1, FP 2.
    result = binary_metrics(truth, predicted)
    assert result == BinaryResult(
        balanced_accuracy=(1 / 3 + 1 / 3) / 2,
        sensitivity=1 / 3,
        specificity=1 / 3,
        tp=1,
        fp=2,
        tn=1,
        fn=2,
        auc=None,
        n_missing_predictions=2,
        n_missing_probabilities=0,
    )
    # Same as sklearn once each missing call is replaced by the opposite of the truth.
    filled = [int(p) if p is not None else 1 - t for t, p in zip(truth, predicted, strict=True)]
    assert result.balanced_accuracy == pytest.approx(balanced_accuracy_score(truth, filled))
    assert binary_metrics(truth, [True, False, float("nan"), False, True, np.nan]) == result


def test_hand_computed_without_missing() -> None:
    result = binary_metrics([1, 1, 1, 0, 0], [True, True, False, False, True])
    assert (result.tp, result.fn, result.tn, result.fp) == (2, 1, 1, 1)
    assert result.sensitivity == 2 / 3
    assert result.specificity == 1 / 2
    assert result.balanced_accuracy == (2 / 3 + 1 / 2) / 2


@pytest.mark.parametrize("seed", range(10))
def test_balanced_accuracy_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    truth = rng.integers(0, 2, n)
    truth[0], truth[1] = 0, 1
    predicted = rng.random(n) < 0.5
    result = binary_metrics(truth.tolist(), predicted.tolist())
    assert result.balanced_accuracy == pytest.approx(balanced_accuracy_score(truth, predicted), rel=1e-12)
    assert result.tp + result.fp + result.tn + result.fn == n
    assert binary_metrics(truth, predicted) == result  # numpy arrays accepted


def test_one_class_present() -> None:
    result = binary_metrics([1, 1, 1, 1], [True, False, True, None], [0.9, 0.2, 0.8, 0.5])
    assert result.specificity is None
    assert result.sensitivity == 0.5
    assert result.balanced_accuracy == 0.5  # the one available rate
    assert result.auc is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that y_pred has a class absent from y_true
        assert result.balanced_accuracy == balanced_accuracy_score([1, 1, 1, 1], [1, 0, 1, 0])
    negatives = binary_metrics([0, 0], [False, False])
    assert (negatives.sensitivity, negatives.specificity, negatives.balanced_accuracy) == (None, 1.0, 1.0)


def test_no_patient() -> None:
    result = binary_metrics([], [])
    assert math.isnan(result.balanced_accuracy)
    assert (result.sensitivity, result.specificity, result.auc) == (None, None, None)


def test_auc_only_when_every_probability_is_finite_and_both_classes_present() -> None:
    truth = [1, 0, 1, 0, 1]
    probability = [0.9, 0.3, 0.3, 0.1, 0.6]  # a tie across classes counts half
    result = binary_metrics(truth, [True, False, False, False, True], probability)
    assert result.auc == roc_auc_score(truth, probability)
    assert result.auc == pytest.approx((2 + 2 + 1.5) / 6)
    for bad in (None, float("nan"), float("inf")):
        missing = binary_metrics(truth, [True] * 5, [0.9, bad, 0.3, 0.1, 0.6])
        assert missing.auc is None
        assert missing.n_missing_probabilities == 1
    assert binary_metrics(truth, [True] * 5, None).auc is None


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="lengths"):
        binary_metrics([1, 0], [True])
    with pytest.raises(ValueError, match="lengths"):
        binary_metrics([1, 0], [True, False], [0.5])
    with pytest.raises(ValueError, match="truth"):
        binary_metrics([1, None], [True, False])
    with pytest.raises(ValueError, match="truth"):
        binary_metrics([2, 0], [True, False])
    with pytest.raises(ValueError, match="predicted"):
        binary_metrics([1, 0], ["yes", False])
    assert binary_metrics([True, False], [1, 0.0]).balanced_accuracy == 1.0


def test_numpy_inputs_take_the_vectorised_path_with_the_same_result() -> None:
    truth = [1, 0, 1, 0]
    as_lists = binary_metrics(truth, [True, None, False, False], [0.2, 0.4, 0.9, 0.1])
    as_arrays = binary_metrics(np.array(truth), np.array([1.0, np.nan, 0.0, 0.0]), np.array([0.2, 0.4, 0.9, 0.1]))
    assert as_lists == as_arrays
    assert binary_metrics(np.array([True, False]), np.array([True, True])).fp == 1
    with pytest.raises(ValueError, match="truth"):
        binary_metrics(np.array([1.0, np.nan]), [True, False])
    with pytest.raises(ValueError, match="predicted"):
        binary_metrics([1, 0], np.array([2, 0]))
