"""Task 2 risk models: one class per kind, one small contract, one registry.

A risk model maps a feature matrix (n, p; NaN allowed) to risks (higher = earlier recurrence). Every kind
shares the preprocessing fitted on the training rows and stored with it: log(1 + x) of the volume / TLG
columns (``log1p_features``), imputation (training medians; categorical clinical fields: the training mean, or
the most frequent value in models fitted before issue 17) and standardisation.

The contract of a kind (a subclass of :class:`RiskModel`):

- ``kind``: its name in ``model.json`` (class attribute), registered in :data:`RISK_KINDS`;
- ``fit(data: FitData)`` (classmethod): fit on the prepared rows;
- ``risk(x)``: risks of log1p-transformed rows (NaN handled by the kind; non-finite risks become 0);
- ``params()`` / ``from_params(common, data, model_dir)``: the kind's block of ``model.json`` and back;
- optionally ``survival_matrix(x)`` and ``has_curves = True`` (discrete-time kinds);
- optionally ``save_files(model_dir, role)`` for parameters kept beside ``model.json`` (torch weights).

Registered kinds: ``icare`` (:class:`IcareRisk`), ``cox`` (:class:`CoxRisk`), ``deephit`` / ``mtlr``
(:class:`algorithm.prognosis.discrete.DiscreteRisk`, torch imported only then) and ``constant``
(:class:`ConstantRisk`, what training falls back to with no features or no events). A new kind: a
subclass in its own module plus one line in :data:`RISK_KINDS` (and in
:data:`algorithm.prognosis.model.MODEL_KINDS` to make it trainable from the command line).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from algorithm.prognosis.cox import fit_cox
from algorithm.prognosis.icare import IcareBag, IcareSettings, fit_icare, predict_icare
from algorithm.tabular import Imputer, Scaler, apply_log1p, as_rows

#: kind -> "module:Class" (imported when a model of that kind is fitted or loaded).
RISK_KINDS: dict[str, str] = {
    "icare": "algorithm.prognosis.risk:IcareRisk",
    "cox": "algorithm.prognosis.risk:CoxRisk",
    "deephit": "algorithm.prognosis.discrete:DiscreteRisk",
    "mtlr": "algorithm.prognosis.discrete:DiscreteRisk",
    "constant": "algorithm.prognosis.risk:ConstantRisk",
}


@dataclass
class Preprocessing:
    """The fitted preprocessing every kind shares (see the module docstring)."""

    feature_names: list[str]
    imputer: Imputer
    scaler: Scaler
    log1p: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FitData:
    """What a kind's ``fit`` gets: log1p-transformed rows ``x`` (n, p; NaN allowed), time (days), event
    (bool), the preprocessing fitted on ``x``, the kind asked for, the seed and the trainer's options."""

    x: np.ndarray
    time: np.ndarray
    event: np.ndarray
    prep: Preprocessing
    kind: str
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def z(self) -> np.ndarray:
        """``x`` imputed and standardised."""
        return self.prep.scaler.transform(self.prep.imputer.transform(self.x))


@dataclass
class RiskModel:
    """One fitted risk model over ``prep.feature_names`` (a pure function of a feature matrix)."""

    kind: ClassVar[str] = ""
    has_curves: ClassVar[bool] = False

    prep: Preprocessing
    #: How NaN inputs are handled: ``impute`` (the stored fill values) or ``skip`` (left out of ICARE's means).
    missing: str = "impute"

    @property
    def feature_names(self) -> list[str]:
        return self.prep.feature_names

    def standardised(self, x: np.ndarray) -> np.ndarray:
        """Imputed, standardised rows of log1p-transformed ``x``."""
        return self.prep.scaler.transform(self.prep.imputer.transform(x))

    def _rows(self, x: np.ndarray) -> np.ndarray:
        x = as_rows(x, len(self.feature_names))
        return apply_log1p(x, self.feature_names, self.prep.log1p)

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Risks of the rows of ``x`` (n, len(feature_names)); always finite (non-finite risks become 0)."""
        risk = self.risk(self._rows(x))
        return np.where(np.isfinite(risk), risk, 0.0)

    def risk(self, x: np.ndarray) -> np.ndarray:
        """Risks of log1p-transformed rows ``x`` (the kind's own maths)."""
        raise NotImplementedError

    def survival_matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(grid times in days (K,), survival probabilities (n, K)) of the rows of ``x`` (curve kinds only)."""
        raise ValueError(f"a {self.kind!r} risk model has no survival curves")

    def params(self) -> dict[str, Any]:
        """The kind's own block of ``model.json`` (beside the shared keys)."""
        return {}

    def save_files(self, model_dir: Path, role: str) -> None:
        """Write the parameters kept beside ``model.json`` (none for most kinds)."""

    def describe(self) -> dict[str, Any]:
        """Kind and inputs, for logs."""
        return {"kind": self.kind, "n_features": len(self.feature_names)}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "log1p_features": list(self.prep.log1p),
            "imputer": self.prep.imputer.to_dict(),
            "scaler": self.prep.scaler.to_dict(),
            "missing": self.missing,
        }
        return {**out, **self.params()}

    @classmethod
    def from_params(cls, prep: Preprocessing, data: Mapping[str, Any], model_dir: Path | None) -> RiskModel:
        """The model of this kind from its ``model.json`` block ``data`` (``prep`` already read)."""
        return cls(prep, missing=str(data.get("missing", "impute")))

    @classmethod
    def fit(cls, data: FitData) -> RiskModel:
        """Fit on ``data`` (log1p-transformed rows, NaN allowed; time in days; event)."""
        raise NotImplementedError

    @staticmethod
    def from_dict(data: Mapping[str, Any], model_dir: str | Path | None = None) -> RiskModel:
        """Any kind's model from its ``model.json`` block (dispatch on ``kind``, see :data:`RISK_KINDS`)."""
        kind = str(data["kind"])
        names = [str(n) for n in data["feature_names"]]
        prep = Preprocessing(
            names,
            Imputer.from_dict(data["imputer"]),
            Scaler.from_dict(data["scaler"]),
            [str(n) for n in data.get("log1p_features", [])],
        )
        model = risk_class(kind).from_params(prep, data, Path(model_dir) if model_dir is not None else None)
        if len(prep.imputer.values) != len(names) or len(prep.scaler.mean) != len(names):
            raise ValueError("imputer/scaler and feature_names differ in length")
        return model


def risk_class(kind: str) -> type[RiskModel]:
    """The class of risk-model ``kind`` (imported now).

    Raises:
        ValueError: an unknown kind.
    """
    if kind not in RISK_KINDS:
        raise ValueError(f"unknown risk model kind {kind!r}; known: {', '.join(RISK_KINDS)}")
    module, _, name = RISK_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class ConstantRisk(RiskModel):
    """Risk 0 for everyone: what training gives with no usable feature or no event."""

    kind: ClassVar[str] = "constant"
    details: dict[str, Any] = field(default_factory=dict)

    def risk(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))


@dataclass
class IcareRisk(RiskModel):
    """ICARE (:mod:`.icare`): bags of sign-averaged standardised features; NaN inputs left out of the mean."""

    kind: ClassVar[str] = "icare"
    bags: list[IcareBag] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def risk(self, x: np.ndarray) -> np.ndarray:
        risk = predict_icare(self.bags, x) if self.missing == "skip" else np.full(len(x), np.nan)
        todo = ~np.isfinite(risk)
        if todo.any():  # a row with nothing in any bag: imputed
            risk[todo] = predict_icare(self.bags, self.prep.imputer.transform(x[todo]))
        return risk

    def params(self) -> dict[str, Any]:
        return {"icare": {"settings": self.settings, "bags": [b.to_dict() for b in self.bags]}}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "bags": len(self.bags)}

    @classmethod
    def from_params(cls, prep: Preprocessing, data: Mapping[str, Any], model_dir: Path | None) -> IcareRisk:
        bags = [IcareBag.from_dict(b) for b in data["icare"]["bags"]]
        if any(j >= len(prep.feature_names) for b in bags for j in b.features):
            raise ValueError("an ICARE bag refers to a feature index beyond feature_names")
        missing = str(data.get("missing", "impute"))
        return cls(prep, missing=missing, bags=bags, settings=dict(data["icare"].get("settings", {})))

    @classmethod
    def fit(cls, data: FitData) -> IcareRisk:
        settings = data.options.get("icare_settings") or IcareSettings()
        bags = fit_icare(data.x, data.time, data.event, settings, seed=data.seed)
        return cls(data.prep, missing="skip", bags=bags, settings=settings.to_dict())


@dataclass
class CoxRisk(RiskModel):
    """Elastic-net Cox (:mod:`.cox`): risk = standardised features @ coefficients."""

    kind: ClassVar[str] = "cox"
    coefficients: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def risk(self, x: np.ndarray) -> np.ndarray:
        return self.standardised(x) @ np.asarray(self.coefficients, dtype=np.float64)

    def params(self) -> dict[str, Any]:
        return {"cox": {"coefficients": list(self.coefficients), "details": self.details}}

    @classmethod
    def from_params(cls, prep: Preprocessing, data: Mapping[str, Any], model_dir: Path | None) -> CoxRisk:
        coefficients = [float(c) for c in data["cox"]["coefficients"]]
        if len(coefficients) != len(prep.feature_names):
            raise ValueError("Cox coefficients and feature_names differ in length")
        missing = str(data.get("missing", "impute"))
        return cls(prep, missing=missing, coefficients=coefficients, details=dict(data["cox"].get("details", {})))

    @classmethod
    def fit(cls, data: FitData) -> CoxRisk:
        l1_ratio = float(data.options.get("l1_ratio", 0.5))
        coef, details = fit_cox(data.z, data.time, data.event, l1_ratio=l1_ratio, seed=data.seed)
        return cls(data.prep, coefficients=[float(c) for c in coef], details=details)


def fit_risk_kind(
    kind: str,
    x: np.ndarray,
    names: Sequence[str],
    time: np.ndarray,
    event: np.ndarray,
    prep: Preprocessing,
    *,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> RiskModel:
    """Fit a model of ``kind`` on log1p-transformed rows (``prep`` fitted on them); ``constant`` without
    features or events."""
    if not list(names) or not np.asarray(event, bool).any():
        return ConstantRisk(prep, details={"reason": "no features or no events"})
    return risk_class(kind).fit(FitData(x, time, event, prep, kind, seed, dict(options or {})))
