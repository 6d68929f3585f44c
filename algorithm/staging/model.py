"""T and N stage classifiers (HECKTOR 2026): lesion geometry + clinical data -> "T1".."T4", "N0".."N3".

One :class:`StagingModel` holds two multinomial logistic regressions (``class_weight="balanced"``, as the
challenge scores balanced accuracy): T from :data:`algorithm.staging.geometry.T_FEATURES` (primary volume,
greatest dimension, midline reach = invasion proxy) and N from ``N_FEATURES`` (node count, largest node's
diameter and volume, laterality, total burden), each plus the 2026 clinical inputs (age, gender, tobacco,
alcohol, performance status, treatment, HPV status). Volumes enter as log(1 + ml); missing values are imputed
(median / most frequent of the training set) and standardised, parameters stored in ``model.json``.

Fallback (documented, logged by the caller): without any lesion in the mask (segmentation empty or failed),
or without features, the model answers the training set's most frequent stages (``fallback`` in
``model.json``); without a primary but with nodes, T is the most frequent T and N is predicted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from algorithm.features.clinical import CLINICAL_FEATURE_NAMES_2026, clinical_feature_name
from algorithm.model_files import created_stamp, format_name, read_model_json, write_model_json
from algorithm.staging.geometry import N_FEATURES, T_FEATURES
from algorithm.tabular import Imputer, Scaler
from hecktor.clinical import FEATURE_FIELDS_2026, ClinicalRecord
from hecktor.staging import N_STAGES, T_STAGES

FORMAT = format_name("staging")  # hecktor-kit/staging
KIND = "logistic"
FORMAT_VERSION = 1
#: The 2026 clinical model inputs (HPV status included, no M-stage).
CLINICAL_2026: tuple[str, ...] = CLINICAL_FEATURE_NAMES_2026
#: Named configurations: which inputs each stage model sees and the inverse regularisation strength C.
CONFIGS: dict[str, dict[str, Any]] = {
    "geometry+clinical": {"clinical": True, "c": 1.0},
    "geometry": {"clinical": False, "c": 1.0},
    "geometry+clinical-strong": {"clinical": True, "c": 0.1},
}
DEFAULT_CONFIG = "geometry+clinical"
CATEGORICAL = frozenset({*CLINICAL_2026, "t_present", "n_bilateral"}) - {clinical_feature_name("Age")}


def input_row(
    features: Mapping[str, float] | None, clinical: ClinicalRecord | None, names: Sequence[str]
) -> np.ndarray:
    """One input row over ``names``: staging geometry and 2026 clinical fields, NaN where missing; volumes
    as log(1 + ml)."""
    merged: dict[str, float] = dict(features or {})
    if clinical is not None:
        merged.update(zip(CLINICAL_2026, clinical.vector(FEATURE_FIELDS_2026), strict=True))
    row = []
    for name in names:
        value = merged.get(name, math.nan)
        value = float(value) if value is not None and math.isfinite(float(value)) else math.nan
        row.append(math.log1p(max(value, 0.0)) if name.endswith("_ml") and math.isfinite(value) else value)
    return np.asarray(row, dtype=float)


@dataclass
class StageClassifier:
    """A fitted multinomial logistic regression over named inputs (imputer + scaler + coefficients)."""

    names: list[str]
    classes: list[str]
    coef: list[list[float]]
    intercept: list[float]
    imputer: Imputer
    scaler: Scaler

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities (n, len(classes)) of input rows (n, len(names))."""
        z = self.scaler.transform(self.imputer.transform(np.atleast_2d(rows)))
        logits = z @ np.asarray(self.coef).T + np.asarray(self.intercept)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, rows: np.ndarray) -> list[str]:
        return [self.classes[int(k)] for k in np.argmax(self.probabilities(rows), axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "classes": self.classes,
            "coef": self.coef,
            "intercept": self.intercept,
            "imputer": self.imputer.to_dict(),
            "scaler": self.scaler.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageClassifier:
        return cls(
            [str(n) for n in data["names"]],
            [str(c) for c in data["classes"]],
            [[float(v) for v in row] for row in data["coef"]],
            [float(v) for v in data["intercept"]],
            Imputer.from_dict(data["imputer"]),
            Scaler.from_dict(data["scaler"]),
        )


def fit_classifier(x: np.ndarray, y: Sequence[str], names: Sequence[str], c: float, seed: int = 0) -> StageClassifier:
    """Fit on rows ``x`` (n, len(names)) and stages ``y``; one class only gives a constant classifier."""
    from sklearn.linear_model import LogisticRegression

    imputer = Imputer.fit(x, names, categorical=CATEGORICAL)
    scaler = Scaler.fit(imputer.transform(x))
    z = scaler.transform(imputer.transform(x))
    classes = sorted(set(y))
    if len(classes) == 1:
        return StageClassifier(list(names), classes, [[0.0] * len(names)], [0.0], imputer, scaler)
    fitted = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed).fit(z, list(y))
    coef, intercept = fitted.coef_, fitted.intercept_
    if len(classes) == 2:  # sklearn's binary form: one row for the second class
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return StageClassifier(
        list(names), [str(k) for k in fitted.classes_], coef.tolist(), [float(v) for v in intercept], imputer, scaler
    )


@dataclass
class StagePrediction:
    """The stages of one case, their class probabilities, and the fallbacks taken (messages)."""

    t_stage: str
    n_stage: str
    t_probabilities: dict[str, float] = field(default_factory=dict)
    n_probabilities: dict[str, float] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)


@dataclass
class StagingModel:
    """T and N classifiers, the fallback stages and the training summary (module docstring)."""

    t_model: StageClassifier
    n_model: StageClassifier
    fallback: dict[str, str]
    config: str = DEFAULT_CONFIG
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, model_dir: str | Path) -> StagingModel:
        """Read ``model_dir/model.json``; raises :class:`algorithm.model_files.ModelError` when unusable."""
        data = read_model_json(model_dir, FORMAT, (FORMAT_VERSION,))
        return cls(
            StageClassifier.from_dict(data["t_model"]),
            StageClassifier.from_dict(data["n_model"]),
            {"T": str(data["fallback"]["T"]), "N": str(data["fallback"]["N"])},
            str(data.get("config", DEFAULT_CONFIG)),
            dict(data.get("training", {})),
        )

    def save(self, model_dir: str | Path) -> Path:
        return write_model_json(
            model_dir,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": KIND,
                "created": created_stamp(),
                "config": self.config,
                "fallback": self.fallback,
                "t_model": self.t_model.to_dict(),
                "n_model": self.n_model.to_dict(),
                "training": self.training,
            },
        )

    def describe(self) -> dict[str, Any]:
        """Task, kind, configuration, inputs, fallback stages, training record, and a one-line ``summary``."""
        summary = (
            f"staging logistic regressions ({self.config}): T from {len(self.t_model.names)} inputs "
            f"({', '.join(self.t_model.classes)}), N from {len(self.n_model.names)} inputs "
            f"({', '.join(self.n_model.classes)}); empty-mask fallback {self.fallback['T']}/{self.fallback['N']}"
        )
        return {
            "task": "staging",
            "kind": KIND,
            "config": self.config,
            "t_inputs": list(self.t_model.names),
            "n_inputs": list(self.n_model.names),
            "fallback": dict(self.fallback),
            "trained_on": self.training.get("data"),
            "summary": summary,
        }

    def predict(self, features: Mapping[str, float] | None, clinical: ClinicalRecord | None) -> StagePrediction:
        """The stages of one case from its :func:`algorithm.staging.geometry.staging_geometry` features
        (``None`` when they could not be computed) and its clinical record."""
        fallbacks = []
        lesions = features is not None and (features.get("t_present") == 1.0 or (features.get("n_count") or 0) > 0)
        if not lesions:
            why = "no staging features" if features is None else "the mask holds no lesion"
            fallbacks.append(
                f"{why}: wrote the training set's most frequent stages {self.fallback['T']}/{self.fallback['N']}"
            )
            return StagePrediction(self.fallback["T"], self.fallback["N"], fallbacks=fallbacks)
        n_row = input_row(features, clinical, self.n_model.names)
        n_prob = self.n_model.probabilities(n_row)[0]
        n_stage = self.n_model.classes[int(np.argmax(n_prob))]
        if features.get("t_present") != 1.0:
            fallbacks.append(f"no primary tumour in the mask: wrote the most frequent T stage {self.fallback['T']}")
            t_stage, t_probs = self.fallback["T"], {}
        else:
            t_prob = self.t_model.probabilities(input_row(features, clinical, self.t_model.names))[0]
            t_stage = self.t_model.classes[int(np.argmax(t_prob))]
            t_probs = dict(zip(self.t_model.classes, map(float, t_prob), strict=True))
        return StagePrediction(
            t_stage, n_stage, t_probs, dict(zip(self.n_model.classes, map(float, n_prob), strict=True)), fallbacks
        )


def most_frequent(values: Sequence[str], order: Sequence[str]) -> str:
    """The most frequent of ``values`` (ties: the earlier in ``order``)."""
    return max(order, key=lambda v: (list(values).count(v), -list(order).index(v)))


def fit_staging_model(
    rows: Sequence[Mapping[str, float]],
    clinical: Sequence[ClinicalRecord],
    t_stages: Sequence[str | None],
    n_stages: Sequence[str | None],
    config: str = DEFAULT_CONFIG,
    seed: int = 0,
) -> StagingModel:
    """Fit both classifiers on the cases with a known stage (T also needs a primary in the mask)."""
    settings = CONFIGS[config]
    extra = list(CLINICAL_2026) if settings["clinical"] else []
    t_names, n_names = [*T_FEATURES[1:], *extra], [*N_FEATURES, *extra]
    t_idx = [i for i, t in enumerate(t_stages) if t and rows[i].get("t_present") == 1.0]
    n_idx = [i for i, n in enumerate(n_stages) if n]
    if not t_idx or not n_idx:
        raise ValueError("staging needs cases with a known T stage and a primary, and cases with a known N stage")
    x_t = np.vstack([input_row(rows[i], clinical[i], t_names) for i in t_idx])
    x_n = np.vstack([input_row(rows[i], clinical[i], n_names) for i in n_idx])
    t_known = [str(t_stages[i]) for i in t_idx]
    n_known = [str(n_stages[i]) for i in n_idx]
    return StagingModel(
        fit_classifier(x_t, t_known, t_names, settings["c"], seed),
        fit_classifier(x_n, n_known, n_names, settings["c"], seed),
        {"T": most_frequent(t_known, T_STAGES), "N": most_frequent(n_known, N_STAGES)},
        config,
    )
