"""Binary classification metrics for HPV status (HECKTOR Task 3): positive = HPV positive = 1.

Counts over patients, with ``y`` the truth and ``ŷ`` the call::

    TP = #(y=1, ŷ=1)   FN = #(y=1, ŷ≠1)   TN = #(y=0, ŷ=0)   FP = #(y=0, ŷ≠0)

    sensitivity = TP / (TP + FN)          (None when no positive patient)
    specificity = TN / (TN + FP)          (None when no negative patient)
    balanced accuracy = mean of the available ones of sensitivity and specificity

With both classes present, balanced accuracy = (sensitivity + specificity) / 2, equal to
``sklearn.metrics.balanced_accuracy_score``; with one class it is that class's recall (as sklearn's, which
averages the recall of the classes present in the truth); with no patient it is NaN.

Missing call (``None`` or NaN) [our choice: a missing call cannot be right]: counted as WRONG, i.e. as the
opposite of the truth (an FN for a positive patient, an FP for a negative one), and counted in
``n_missing_predictions``.

AUC (only when probabilities are given): ``sklearn.metrics.roc_auc_score(truth, probability)`` (ties in
probability count half, the Mann-Whitney statistic), computed only when every probability is finite and
both classes are present; otherwise ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from hecktor.metrics import floats_or_nan


@dataclass(frozen=True)
class BinaryResult:
    """Task 3 metrics of one set of patients.

    Attributes:
        balanced_accuracy: mean of the available of sensitivity and specificity; NaN with no patient.
        sensitivity: TP / (TP + FN), or ``None`` when no positive patient.
        specificity: TN / (TN + FP), or ``None`` when no negative patient.
        tp, fp, tn, fn: counts (missing calls are in ``fn`` or ``fp``).
        auc: ROC AUC of the probabilities, or ``None`` (no probabilities, one missing/non-finite, one class).
        n_missing_predictions: calls that were missing (``None``/NaN).
        n_missing_probabilities: probabilities that were missing or non-finite (0 when none were given).
    """

    balanced_accuracy: float
    sensitivity: float | None
    specificity: float | None
    tp: int
    fp: int
    tn: int
    fn: int
    auc: float | None
    n_missing_predictions: int
    n_missing_probabilities: int = 0


def binary_metrics(
    truth: Sequence[int] | np.ndarray,
    predicted: Sequence[bool | None] | np.ndarray,
    probability: Sequence[float | None] | np.ndarray | None = None,
) -> BinaryResult:
    """Balanced accuracy, sensitivity, specificity, counts and AUC (conventions: module docstring).

    Args:
        truth: 1 = HPV positive, 0 = negative (bools accepted).
        predicted: the calls, True/1 = positive, False/0 = negative, ``None``/NaN = missing.
        probability: optional probabilities of HPV positive, ``None``/NaN = missing.

    Raises:
        ValueError: lengths differ, a truth is not 0/1, a call is not a boolean, 0/1 or missing.
    """
    y = _as_binary(truth, "truth", allow_missing=False)
    calls = _as_binary(predicted, "predicted", allow_missing=True)
    if len(y) != len(calls):
        raise ValueError(f"lengths differ: truth {len(y)}, predicted {len(calls)}")
    positive = y == 1
    negative = y == 0
    tp = int(np.count_nonzero(positive & (calls == 1)))
    fn = int(np.count_nonzero(positive)) - tp
    tn = int(np.count_nonzero(negative & (calls == 0)))
    fp = int(np.count_nonzero(negative)) - tn
    sensitivity = tp / (tp + fn) if tp + fn else None
    specificity = tn / (tn + fp) if tn + fp else None
    available = [v for v in (sensitivity, specificity) if v is not None]
    balanced = sum(available) / len(available) if available else math.nan

    auc: float | None = None
    n_missing_probabilities = 0
    if probability is not None:
        p = floats_or_nan(probability)
        if len(p) != len(y):
            raise ValueError(f"lengths differ: truth {len(y)}, probability {len(p)}")
        finite = np.isfinite(p)
        n_missing_probabilities = int(np.count_nonzero(~finite))
        if n_missing_probabilities == 0 and tp + fn and tn + fp:
            auc = float(roc_auc_score(y, p))
    return BinaryResult(
        balanced_accuracy=balanced,
        sensitivity=sensitivity,
        specificity=specificity,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        auc=auc,
        n_missing_predictions=int(np.count_nonzero(calls == -1)),
        n_missing_probabilities=n_missing_probabilities,
    )


#: Accepted call / truth values (hash-equal: True, 1, 1.0, numpy bools and integers all map).
_CODES: dict[object, int] = {True: 1, False: 0}


def _as_binary(values: Sequence[object] | np.ndarray, name: str, *, allow_missing: bool) -> np.ndarray:
    """int8 array: 1, 0, or -1 for missing (``None``/NaN, only when ``allow_missing``)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":  # vectorised path for numeric arrays
        array = values.reshape(-1)
        missing = np.isnan(array) if array.dtype.kind == "f" else np.zeros(array.shape, dtype=bool)
        bad = ~missing & (array != 0) & (array != 1)
        if not allow_missing:
            bad |= missing
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name}[{k}] = {array[k]!r} is missing or not 0/1 (False/True)")
        return np.where(missing, -1, array == 1).astype(np.int8)
    out = np.empty(len(values), dtype=np.int8)
    for k, value in enumerate(values):
        code = _CODES.get(value) if isinstance(value, Hashable) else None
        if code is not None:
            out[k] = code
        elif value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
            if not allow_missing:
                raise ValueError(f"{name}[{k}] is missing")
            out[k] = -1
        else:
            raise ValueError(f"{name}[{k}] = {value!r} is not 0/1 (False/True)")
    return out


@dataclass(frozen=True)
class MulticlassResult:
    """Balanced accuracy of one set of categorical calls (HECKTOR 2026 T and N stages).

    Attributes:
        balanced_accuracy: mean over the classes present in the truth of their recall (as
            ``sklearn.metrics.balanced_accuracy_score``); NaN with no patient.
        recall: class -> recall, for the classes present in the truth.
        n_correct: calls equal to the truth.
        n_missing_predictions: calls that were missing (``None``), each counted wrong.
    """

    balanced_accuracy: float
    recall: dict[str, float]
    n_correct: int
    n_missing_predictions: int


def multiclass_balanced_accuracy(truth: Sequence[str], predicted: Sequence[str | None]) -> MulticlassResult:
    """Balanced accuracy of ``predicted`` against ``truth`` (equal lengths); a ``None`` call is wrong.

    Classes absent from the truth do not enter the mean (a call of such a class is simply wrong).
    """
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true classes but {len(predicted)} calls")
    hits: dict[str, list[bool]] = {}
    for t, p in zip(truth, predicted, strict=True):
        hits.setdefault(t, []).append(p == t)
    recall = {c: sum(v) / len(v) for c, v in sorted(hits.items())}
    balanced = sum(recall.values()) / len(recall) if recall else math.nan
    n_correct = sum(sum(v) for v in hits.values())
    return MulticlassResult(balanced, recall, n_correct, sum(p is None for p in predicted))
