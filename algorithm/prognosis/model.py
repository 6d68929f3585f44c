"""Task 2 model: a recurrence-free-survival risk (higher = earlier recurrence) from features + clinical data.

A :class:`PrognosisModel` holds a *main* risk model on imaging and clinical features and a clinical-only
*fallback* model. The fallback is used when no imaging feature is available (``features`` is ``None``
or every imaging input is NaN, e.g. an empty segmentation); its output is mapped onto the main model's
scale by the least-squares line fitted on the training cases (main risk ~ slope * fallback risk +
intercept), so fallback risks rank sensibly among the others. Missing inputs in a row are imputed with
the training medians / most frequent values (Cox) or, for ICARE, left out of the sign average as in the
published model (and imputed when a bag has nothing else). Volumes and TLG enter as log(1 + x)
(``log1p_features``). The output is always a finite float.

``model.json`` (format ``hecktor-kit/prognosis``, version 1)::

    {"format": "hecktor-kit/prognosis", "format_version": 1, "created": ISO date,
     "main": RISK, "fallback": RISK, "fallback_map": {"slope": a, "intercept": b},
     "dropped_features": [...], "training": {...}}
    RISK = {"kind": "icare" | "cox" | "deephit" | "mtlr" | "constant", "feature_names": [...], "log1p_features": [...],
            "imputer": {"values": [...], "strategies": [...]}, "scaler": {"mean": [...], "std": [...]},
            "missing": "skip" | "impute",
            "icare": {"settings": {...}, "bags": [{"features": [column indices], "signs": [+-1],
                      "mean": [...], "std": [...], "out_mean": m, "out_std": s, "settings": {...}}]},
            "cox": {"coefficients": [...], "details": {...}},
            "network": {"kind": "deephit" | "mtlr", "n_features": p, "time_grid_days": [c_1, ..., c_K],
                        "settings": {"hidden": [...], "dropout": ..., ...}, "weights": "main_deephit.pt"}}

DeepHit / MTLR (:mod:`.discrete`) keep their MLP parameters in a torch state_dict beside model.json
(``main_<kind>.pt``, ``fallback_<kind>.pt``; loaded with ``weights_only=True``). Their risk is minus the
restricted mean survival time up to the last grid time (days), and :meth:`PrognosisModel.predict_survival`
gives the survival curve at the grid times; ICARE and Cox give no curve (``None``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from algorithm.prognosis.cox import fit_cox
from algorithm.prognosis.icare import IcareBag, IcareSettings, fit_icare, predict_icare
from algorithm.tabular import (
    Imputer,
    Scaler,
    apply_log1p,
    created_stamp,
    design_row,
    fit_preprocessing,
    imaging_names,
    main_and_clinical_inputs,
    read_model_json,
    rows_without_imaging,
    take_columns,
    write_model_json,
)
from hecktor.clinical import ClinicalRecord

log = logging.getLogger(__name__)

FORMAT = "hecktor-kit/prognosis"
FORMAT_VERSION = 1
MODEL_KINDS = ("icare", "cox", "deephit", "mtlr")
#: Kinds whose parameters are a torch state_dict beside model.json (see :mod:`.discrete`).
NEURAL_KINDS = ("deephit", "mtlr")


@dataclass
class RiskModel:
    """One fitted risk model over ``feature_names`` (a pure function of a feature matrix)."""

    kind: str
    feature_names: list[str]
    imputer: Imputer
    scaler: Scaler
    missing: str = "impute"
    bags: list[IcareBag] = field(default_factory=list)
    icare_settings: dict[str, Any] = field(default_factory=dict)
    coefficients: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    log1p: list[str] = field(default_factory=list)
    head: Any = None  # a fitted :class:`algorithm.prognosis.discrete.DiscreteSurvival` (deephit / mtlr)
    weights_file: str = ""

    @property
    def has_curves(self) -> bool:
        return self.kind in NEURAL_KINDS and self.head is not None

    def survival_matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(grid times in days (K,), survival probabilities (n, K)) of the rows of ``x`` (deephit / mtlr only)."""
        if not self.has_curves:
            raise ValueError(f"a {self.kind!r} risk model has no survival curves")
        x = np.asarray(x, dtype=np.float64).reshape(-1, len(self.feature_names))
        z = self.scaler.transform(self.imputer.transform(apply_log1p(x, self.feature_names, self.log1p)))
        return np.asarray(self.head.grid, dtype=np.float64), self.head.survival(z)

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Risks of the rows of ``x`` (n, len(feature_names)); NaN entries handled as the module says."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, len(self.feature_names))
        x = apply_log1p(x, self.feature_names, self.log1p)
        if self.kind == "icare":
            risk = predict_icare(self.bags, x) if self.missing == "skip" else np.full(len(x), np.nan)
            todo = ~np.isfinite(risk)
            if todo.any():
                risk[todo] = predict_icare(self.bags, self.imputer.transform(x[todo]))
        elif self.kind == "cox":
            z = self.scaler.transform(self.imputer.transform(x))
            risk = z @ np.asarray(self.coefficients, dtype=np.float64)
        elif self.kind in NEURAL_KINDS:
            z = self.scaler.transform(self.imputer.transform(x))
            risk = self.head.risk(z)
        else:
            risk = np.zeros(len(x))
        return np.where(np.isfinite(risk), risk, 0.0)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "log1p_features": list(self.log1p),
            "imputer": self.imputer.to_dict(),
            "scaler": self.scaler.to_dict(),
            "missing": self.missing,
        }
        if self.kind == "icare":
            out["icare"] = {"settings": self.icare_settings, "bags": [b.to_dict() for b in self.bags]}
        if self.kind == "cox":
            out["cox"] = {"coefficients": list(self.coefficients), "details": self.details}
        if self.kind in NEURAL_KINDS:
            out["network"] = self.head.to_dict(self.weights_file)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model_dir: str | Path | None = None) -> RiskModel:
        kind = str(data["kind"])
        if kind not in (*MODEL_KINDS, "constant"):
            raise ValueError(f"unknown risk model kind {kind!r}")
        names = [str(n) for n in data["feature_names"]]
        model = cls(
            kind=kind,
            feature_names=names,
            imputer=Imputer.from_dict(data["imputer"]),
            scaler=Scaler.from_dict(data["scaler"]),
            missing=str(data.get("missing", "impute")),
            log1p=[str(n) for n in data.get("log1p_features", [])],
        )
        if kind == "icare":
            model.bags = [IcareBag.from_dict(b) for b in data["icare"]["bags"]]
            model.icare_settings = dict(data["icare"].get("settings", {}))
            if any(j >= len(names) for b in model.bags for j in b.features):
                raise ValueError("an ICARE bag refers to a feature index beyond feature_names")
        if kind == "cox":
            model.coefficients = [float(c) for c in data["cox"]["coefficients"]]
            model.details = dict(data["cox"].get("details", {}))
            if len(model.coefficients) != len(names):
                raise ValueError("Cox coefficients and feature_names differ in length")
        if kind in NEURAL_KINDS:
            if model_dir is None:
                raise ValueError(f"a {kind} model needs its folder to load the weights")
            from algorithm.prognosis.discrete import DiscreteSurvival

            model.head = DiscreteSurvival.from_dict(data["network"], Path(model_dir))
            model.weights_file = str(data["network"]["weights"])
            if model.head.n_features != len(names):
                raise ValueError("network inputs and feature_names differ in length")
        if len(model.imputer.values) != len(names) or len(model.scaler.mean) != len(names):
            raise ValueError("imputer/scaler and feature_names differ in length")
        return model


def fit_risk_model(
    kind: str,
    x: np.ndarray,
    names: Sequence[str],
    time: np.ndarray,
    event: np.ndarray,
    *,
    seed: int = 0,
    icare_settings: IcareSettings | None = None,
    l1_ratio: float = 0.5,
    discrete_settings: Any = None,
) -> RiskModel:
    """Fit a risk model of ``kind`` ("icare" or "cox") on ``x`` (n, p; NaN allowed), time (days), event."""
    names = list(names)
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown prognosis model {kind!r}; expected one of {MODEL_KINDS}")
    x, logs, imputer, scaler = fit_preprocessing(x, names)
    if not names or not np.asarray(event, bool).any():
        reason = {"reason": "no features or no events"}
        return RiskModel("constant", names, imputer, scaler, details=reason, log1p=logs)
    if kind == "icare":
        settings = icare_settings or IcareSettings()
        bags = fit_icare(x, time, event, settings, seed=seed)
        return RiskModel(
            "icare", names, imputer, scaler, "skip", bags=bags, icare_settings=settings.to_dict(), log1p=logs
        )
    if kind in NEURAL_KINDS:
        from algorithm.prognosis.discrete import fit_discrete

        head = fit_discrete(kind, scaler.transform(imputer.transform(x)), time, event, discrete_settings, seed=seed)
        return RiskModel(kind, names, imputer, scaler, head=head, log1p=logs)
    coef, details = fit_cox(scaler.transform(imputer.transform(x)), time, event, l1_ratio=l1_ratio, seed=seed)
    return RiskModel("cox", names, imputer, scaler, coefficients=[float(c) for c in coef], details=details, log1p=logs)


@dataclass
class PrognosisModel:
    """Main risk model + clinical-only fallback, loadable from and savable to ``model.json``."""

    main: RiskModel
    fallback: RiskModel
    fallback_slope: float = 0.0
    fallback_intercept: float = 0.0
    dropped_features: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def imaging_names(self) -> list[str]:
        return imaging_names(self.main.feature_names)

    def predict_risk(self, features: Mapping[str, float] | None, clinical: ClinicalRecord | None) -> float:
        """Risk of one case (higher = earlier recurrence); always a finite float (see the module docstring)."""
        row_main = design_row(features, clinical, self.main.feature_names)
        row_fb = design_row(features, clinical, self.fallback.feature_names)
        risk = self._predict(row_main[None, :], row_fb[None, :])[0]
        if not math.isfinite(risk):  # cannot happen by construction; kept as the last guard
            log.warning("prognosis model gave a non-finite risk; returning 0.0")
            return 0.0
        return float(risk)

    @property
    def has_curves(self) -> bool:
        """True when the model predicts survival curves (deephit / mtlr)."""
        return self.main.has_curves and self.fallback.has_curves

    def predict_survival(
        self, features: Mapping[str, float] | None, clinical: ClinicalRecord | None
    ) -> tuple[list[float], list[float]] | None:
        """``(times_days, survival)`` of one case (finite, non-increasing in [0, 1]), or ``None`` when the
        model has no curves (icare / cox). The clinical-only fallback's curve is used when it would give the risk."""
        if not self.has_curves:
            return None
        model = self.fallback if self.uses_fallback(features) and self.imaging_names else self.main
        times, surv = model.survival_matrix(design_row(features, clinical, model.feature_names)[None, :])
        curve = np.minimum.accumulate(np.clip(np.nan_to_num(surv[0], nan=1.0), 0.0, 1.0))
        return [float(t) for t in times], [float(v) for v in curve]

    def uses_fallback(self, features: Mapping[str, float] | None) -> bool:
        """True when the clinical-only fallback would be used for these imaging features."""
        if features is None:
            return True
        row = design_row(features, None, self.imaging_names)
        return bool(self.imaging_names) and not np.isfinite(row).any()

    def predict_table(self, x: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Risks of the rows of ``x`` whose columns are ``names`` (a superset of the model's inputs)."""
        return self._predict(
            take_columns(x, names, self.main.feature_names), take_columns(x, names, self.fallback.feature_names)
        )

    def _predict(self, x_main: np.ndarray, x_fb: np.ndarray) -> np.ndarray:
        risk = self.main.predict_matrix(x_main)
        no_imaging = rows_without_imaging(x_main, self.main.feature_names)
        if no_imaging.any():
            fb = self.fallback.predict_matrix(x_fb[no_imaging])
            risk[no_imaging] = self.fallback_slope * fb + self.fallback_intercept
        return np.where(np.isfinite(risk), risk, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": created_stamp(),
            "main": self.main.to_dict(),
            "fallback": self.fallback.to_dict(),
            "fallback_map": {"slope": self.fallback_slope, "intercept": self.fallback_intercept},
            "dropped_features": list(self.dropped_features),
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model_dir: str | Path | None = None) -> PrognosisModel:
        fmap = data.get("fallback_map", {})
        return cls(
            main=RiskModel.from_dict(data["main"], model_dir),
            fallback=RiskModel.from_dict(data["fallback"], model_dir),
            fallback_slope=float(fmap.get("slope", 0.0)),
            fallback_intercept=float(fmap.get("intercept", 0.0)),
            dropped_features=[str(n) for n in data.get("dropped_features", [])],
            training=dict(data.get("training", {})),
        )

    def save(self, model_dir: str | Path) -> Path:
        """Write ``model_dir/model.json`` (and the state_dict of each deephit / mtlr network); returns its path."""
        for role, risk_model in (("main", self.main), ("fallback", self.fallback)):
            if risk_model.kind in NEURAL_KINDS:
                risk_model.weights_file = risk_model.weights_file or f"{role}_{risk_model.kind}.pt"
                Path(model_dir).mkdir(parents=True, exist_ok=True)
                risk_model.head.save_weights(Path(model_dir) / risk_model.weights_file)
        return write_model_json(model_dir, self.to_dict())

    @classmethod
    def load(cls, model_dir: str | Path) -> PrognosisModel:
        """Load ``model_dir/model.json``.

        Raises:
            ModelFileError: missing, invalid, of another format/version, or inconsistent.
        """
        from algorithm.tabular import ModelFileError

        data = read_model_json(model_dir, FORMAT, (FORMAT_VERSION,))
        try:
            return cls.from_dict(data, model_dir)
        except (KeyError, TypeError, ValueError, OSError, RuntimeError) as exc:
            raise ModelFileError(f"{model_dir}: inconsistent prognosis model ({type(exc).__name__}: {exc})") from None


def fit_prognosis_model(
    x: np.ndarray,
    names: Sequence[str],
    time: np.ndarray,
    event: np.ndarray,
    kind: str = "icare",
    *,
    seed: int = 0,
    icare_settings: IcareSettings | None = None,
    max_missing: float = 0.5,
    discrete_settings: Any = None,
) -> PrognosisModel:
    """Fit the main and fallback models on ``x`` (n, p) with columns ``names``, time (days), event (bool).

    Columns missing in more than ``max_missing`` of the cases, or constant, are dropped (listed in the model).
    """
    x = np.asarray(x, dtype=np.float64)
    kept, xk, clin, xc, dropped = main_and_clinical_inputs(x, names, max_missing)
    extra = {"icare_settings": icare_settings, "discrete_settings": discrete_settings}
    main = fit_risk_model(kind, xk, kept, time, event, seed=seed, **extra)
    fallback = fit_risk_model(kind, xc, clin, time, event, seed=seed + 1, **extra)
    main_risk = main.predict_matrix(xk)
    fb_risk = fallback.predict_matrix(xc)
    slope, intercept = 0.0, float(main_risk.mean()) if len(main_risk) else 0.0
    if len(fb_risk) > 1 and fb_risk.std() > 1e-12:
        slope, intercept = (float(v) for v in np.polyfit(fb_risk, main_risk, 1))
    return PrognosisModel(main, fallback, slope, intercept, dropped_features=dropped)
