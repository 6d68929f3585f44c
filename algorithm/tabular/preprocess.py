"""Fitted imputation and standardisation of a feature matrix, stored as plain JSON parameters."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from algorithm.features import ANY_CLINICAL_FEATURE_NAMES, CATEGORICAL_CLINICAL, clinical_features
from hecktor.clinical import ClinicalRecord


def design_row(features: Mapping[str, Any] | None, clinical: ClinicalRecord | None, names: Sequence[str]) -> np.ndarray:
    """One model input row over ``names``: imaging ``features`` and ``clinical`` fields, NaN when absent.

    Values that are missing, non-numeric or not finite become NaN (to be imputed); never raises.
    """
    merged: dict[str, Any] = dict(features or {})
    merged.update(clinical_features(clinical))
    return np.array([_as_float(merged.get(n)) for n in names], dtype=np.float64)


def as_rows(x: np.ndarray, n_columns: int) -> np.ndarray:
    """``x`` as a float (n, ``n_columns``) matrix: a single row (1-D) becomes one row; zero columns allowed
    (a model without inputs, e.g. a clinical-only fallback fitted without any clinical column)."""
    x = np.asarray(x, dtype=np.float64)
    rows = 1 if x.ndim < 2 else x.shape[0]
    return x.reshape(rows, n_columns)


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


#: Name endings of skewed, non-negative features (volumes in ml, TLG in SUV*ml, TLR in ml) fed to models as log1p.
LOG1P_SUFFIXES: tuple[str, ...] = ("_mtv_ml", "_tlg", "_largest_ml", "_tlr")


def log1p_names(names: Sequence[str]) -> list[str]:
    """The names among ``names`` that models take as ``log(1 + max(x, 0))``."""
    return [n for n in names if n.endswith(LOG1P_SUFFIXES)]


def apply_log1p(x: np.ndarray, names: Sequence[str], which: Sequence[str]) -> np.ndarray:
    """A copy of ``x`` (n, len(names)) with the columns named in ``which`` mapped by log(1 + max(x, 0)); NaN kept."""
    x = np.array(x, dtype=np.float64, copy=True, ndmin=2)
    wanted = set(which)
    for j, name in enumerate(names):
        if name in wanted:
            x[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
    return x


#: How the categorical clinical columns of a model are filled: ``most_frequent`` (the training set's most frequent
#: value; what every model before issue 17 stored) or ``mean`` (the training mean of the 0/1 or 0-4 codes, e.g. a
#: blank tobacco field becomes the proportion of smokers; scikit-learn's ``SimpleImputer(strategy="mean")``).
CATEGORICAL_FILLS: tuple[str, ...] = ("most_frequent", "mean")


@dataclass
class Imputer:
    """Per-column fill values: the training median, or for categorical columns the most frequent value or the mean
    (``categorical_fill``). Only ``values`` act at inference; ``strategies`` records how each was chosen."""

    values: list[float]
    strategies: list[str]

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        names: Sequence[str],
        categorical: Iterable[str] = CATEGORICAL_CLINICAL,
        categorical_fill: str = "most_frequent",
    ) -> Imputer:
        """Fit on ``x`` (n, p); a column with no finite value is filled with 0.

        Raises:
            ValueError: ``categorical_fill`` not one of :data:`CATEGORICAL_FILLS`.
        """
        if categorical_fill not in CATEGORICAL_FILLS:
            raise ValueError(f"unknown categorical fill {categorical_fill!r}; expected one of {CATEGORICAL_FILLS}")
        cats = set(categorical)
        values, strategies = [], []
        for j, name in enumerate(names):
            col = x[:, j][np.isfinite(x[:, j])]
            if name in cats and categorical_fill == "most_frequent":
                strategies.append("most_frequent")
                if col.size:
                    uniq, counts = np.unique(col, return_counts=True)
                    values.append(float(uniq[np.argmax(counts)]))  # ties: the smallest value
                else:
                    values.append(0.0)
            elif name in cats:
                strategies.append("mean")
                values.append(float(np.mean(col)) if col.size else 0.0)
            else:
                strategies.append("median")
                values.append(float(np.median(col)) if col.size else 0.0)
        return cls(values, strategies)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``x`` with NaN (and infinite) entries replaced by the fill values."""
        x = np.array(x, dtype=np.float64, copy=True, ndmin=2)
        fill = np.broadcast_to(np.asarray(self.values, dtype=np.float64), x.shape)
        bad = ~np.isfinite(x)
        x[bad] = fill[bad]
        return x

    def to_dict(self) -> dict[str, Any]:
        return {"values": list(self.values), "strategies": list(self.strategies)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Imputer:
        return cls([float(v) for v in data["values"]], [str(s) for s in data["strategies"]])


@dataclass
class Scaler:
    """Standardisation ``(x - mean) / std`` with training mean and std (ddof 0; std 0 -> 1)."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, x: np.ndarray) -> Scaler:
        """Fit on ``x`` (n, p), NaN entries ignored (a column with no finite value: mean 0, std 1)."""
        mean, std = [], []
        for j in range(x.shape[1]):
            col = x[:, j][np.isfinite(x[:, j])]
            m = float(col.mean()) if col.size else 0.0
            s = float(col.std()) if col.size else 1.0
            mean.append(m)
            std.append(s if s > 1e-12 else 1.0)
        return cls(mean, std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (x - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scaler:
        return cls([float(v) for v in data["mean"]], [float(v) for v in data["std"]])


def usable_columns(x: np.ndarray, names: Sequence[str], max_missing: float = 0.5) -> tuple[list[str], list[str]]:
    """Split ``names`` into (kept, dropped): dropped columns are missing in more than ``max_missing`` of the
    rows or constant over their finite values (they carry no information for the training set)."""
    kept, dropped = [], []
    for j, name in enumerate(names):
        col = x[:, j]
        finite = col[np.isfinite(col)]
        if finite.size == 0 or (1.0 - finite.size / len(col)) > max_missing or np.ptp(finite) == 0:
            dropped.append(name)
        else:
            kept.append(name)
    return kept, dropped


def fit_preprocessing(
    x: np.ndarray, names: Sequence[str], categorical_fill: str = "most_frequent"
) -> tuple[np.ndarray, list[str], Imputer, Scaler]:
    """The log1p-mapped ``x``, the log1p column names, and the imputer (categorical clinical columns filled by
    ``categorical_fill``, see :data:`CATEGORICAL_FILLS`) and scaler fitted on it."""
    logs = log1p_names(names)
    x = apply_log1p(x, names, logs)
    imputer = Imputer.fit(x, names, categorical_fill=categorical_fill)
    scaler = Scaler.fit(imputer.transform(x))
    return x, logs, imputer, scaler


def take_columns(x: np.ndarray, names: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """The columns ``wanted`` of ``x`` (whose columns are ``names``); a column not in ``names`` is all NaN."""
    col = {n: i for i, n in enumerate(names)}
    if not wanted:
        return np.zeros((len(x), 0))
    return np.column_stack([x[:, col[n]] if n in col else np.full(len(x), np.nan) for n in wanted])


def imaging_names(names: Sequence[str]) -> list[str]:
    """The imaging (non-clinical) names among ``names``, in order."""
    return [n for n in names if n not in ANY_CLINICAL_FEATURE_NAMES]


def rows_without_imaging(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Rows of ``x`` (columns ``names``) with no finite imaging (non-clinical) feature; none if no such column."""
    imaging = [i for i, n in enumerate(names) if n not in ANY_CLINICAL_FEATURE_NAMES]
    if not imaging:
        return np.zeros(len(x), dtype=bool)
    return ~np.isfinite(x[:, imaging]).any(axis=1)


def main_and_clinical_inputs(
    x: np.ndarray, names: Sequence[str], max_missing: float = 0.5
) -> tuple[list[str], np.ndarray, list[str], np.ndarray, list[str]]:
    """Inputs of a main model and its clinical-only fallback: the usable columns (see :func:`usable_columns`)
    and their matrix, the clinical ones among them and their matrix, and the dropped columns."""
    kept, dropped = usable_columns(x, names, max_missing)
    col = {n: i for i, n in enumerate(names)}
    xk = x[:, [col[n] for n in kept]] if kept else np.zeros((len(x), 0))
    clin = [n for n in kept if n in ANY_CLINICAL_FEATURE_NAMES]
    xc = x[:, [col[n] for n in clin]] if clin else np.zeros((len(x), 0))
    return kept, xk, clin, xc, dropped
