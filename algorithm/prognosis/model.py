"""Task 2 model: a recurrence-free-survival risk (higher = earlier recurrence) from features + clinical data.

A :class:`PrognosisModel` holds a *main* risk model on imaging and clinical features and a clinical-only
*fallback* model. The fallback is used when no imaging feature is available (``features`` is ``None``
or every imaging input is NaN, e.g. an empty segmentation); its output is mapped onto the main model's
scale by the least-squares line fitted on the training cases (main risk ~ slope * fallback risk +
intercept), so fallback risks rank sensibly among the others. Missing inputs in a row are imputed with
the training medians (imaging, age) and, for the categorical clinical fields, the training means
(``clinical_fill="mean"``, the default since issue 17: a blank tobacco field becomes the proportion of smokers;
models fitted before stored the most frequent value, ``strategies`` says which, and load unchanged) (Cox,
DeepHit, MTLR) or, for ICARE, left out of the sign average as in the published model (and imputed when a bag
has nothing else). Volumes and TLG enter as log(1 + x)
(``log1p_features``). The output is always a finite float.

``model.json`` (format ``hecktor-kit/prognosis``, version 1)::

    {"format": "hecktor-kit/prognosis", "format_version": 1, "kind": "main+fallback", "created": ISO date,
     "main": RISK, "fallback": RISK, "fallback_map": {"slope": a, "intercept": b},
     "dropped_features": [...], "training": {...}}
    RISK = {"kind": "icare" | "cox" | "deephit" | "mtlr" | "constant", "feature_names": [...], "log1p_features": [...],
            "imputer": {"values": [...], "strategies": [...]}, "scaler": {"mean": [...], "std": [...]},
            "missing": "skip" | "impute",
            "icare": {"settings": {...}, "bags": [{"features": [column indices], "signs": [+-1],
                      "mean": [...], "std": [...], "out_mean": m, "out_std": s, "settings": {...}}]},
            "cox": {"coefficients": [...], "details": {...}},
            "network": {"kind": "deephit" | "mtlr", "n_features": p, "time_grid_days": [0, c_1, ..., c_K],
                        "settings": {"hidden": [...], "dropout": ..., ...}, "weights": "main_deephit.pt"}}

DeepHit / MTLR (:mod:`.discrete`) keep their MLP parameters in a torch state_dict beside model.json
(``main_<kind>.pt``, ``fallback_<kind>.pt``; loaded with ``weights_only=True``). Their risk is minus the
restricted mean survival time up to the last grid time (days), and :meth:`PrognosisModel.predict_survival`
gives the survival curve at the grid times; ICARE and Cox give no curve (``None``).

Each ``RISK`` is read by the class of its ``kind`` (:mod:`.risk`: one class per kind, registered in
:data:`~algorithm.prognosis.risk.RISK_KINDS`); the file as a whole follows :mod:`algorithm.model_files`
(a file without ``kind`` is a ``main+fallback`` one).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from algorithm.model_files import inconsistent, read_kind
from algorithm.prognosis.icare import IcareSettings
from algorithm.prognosis.risk import Preprocessing, RiskModel, fit_risk_kind
from algorithm.tabular import (
    created_stamp,
    design_row,
    fit_preprocessing,
    imaging_names,
    main_and_clinical_inputs,
    rows_without_imaging,
    take_columns,
    write_model_json,
)
from hecktor.clinical import ClinicalRecord

log = logging.getLogger(__name__)

FORMAT = "hecktor-kit/prognosis"
FORMAT_VERSION = 1
#: The file-level kind (:mod:`algorithm.model_files`): a main risk model and a clinical-only fallback.
KIND = "main+fallback"
#: Risk-model kinds the trainer fits (:data:`algorithm.prognosis.risk.RISK_KINDS` also loads ``constant``).
MODEL_KINDS = ("icare", "cox", "deephit", "mtlr")
#: How the trainer fills blank categorical clinical fields (issue 17: the mean beat the most frequent value by
#: +0.004 / +0.009 in centre-grouped CV on two 1800-case training cohorts; model card, Task 2).
CLINICAL_FILL = "mean"


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
    clinical_fill: str = CLINICAL_FILL,
) -> RiskModel:
    """Fit a risk model of ``kind`` (one of :data:`MODEL_KINDS`) on ``x`` (n, p; NaN allowed), time (days),
    event; the preprocessing is fitted first (categorical clinical blanks filled by ``clinical_fill``, one of
    :data:`algorithm.tabular.CATEGORICAL_FILLS`), a ``constant`` model given without features or events."""
    names = list(names)
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown prognosis model {kind!r}; expected one of {MODEL_KINDS}")
    x, logs, imputer, scaler = fit_preprocessing(x, names, categorical_fill=clinical_fill)
    options = {"icare_settings": icare_settings, "l1_ratio": l1_ratio, "discrete_settings": discrete_settings}
    return fit_risk_kind(
        kind, x, names, time, event, Preprocessing(names, imputer, scaler, logs), seed=seed, options=options
    )


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
            "kind": KIND,
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
            risk_model.save_files(Path(model_dir), role)
        return write_model_json(model_dir, self.to_dict())

    @classmethod
    def load(cls, model_dir: str | Path, **options: Any) -> PrognosisModel:
        """Load ``model_dir/model.json`` (any file of the prognosis task loads with
        :func:`algorithm.prognosis.load_prognosis_model`).

        Raises:
            ModelError: missing, invalid, of another format/version/kind, or inconsistent.
        """
        data = read_kind(model_dir, "prognosis", KIND)
        with inconsistent(model_dir, "prognosis model"):
            return cls.from_dict(data, model_dir)

    def predict(
        self, features: Mapping[str, float] | None, clinical: ClinicalRecord | None, images: Any = None
    ) -> float:
        """The component contract's prediction: :meth:`predict_risk` (``images`` unused)."""
        return self.predict_risk(features, clinical)

    def describe(self) -> dict[str, Any]:
        """Task, kind, the main and fallback risk models and the training record's headline."""
        return {
            "task": "prognosis",
            "kind": KIND,
            "main": self.main.describe(),
            "fallback": self.fallback.describe(),
            "survival_curves": self.has_curves,
            "trained_on": self.training.get("data"),
        }


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
    clinical_fill: str = CLINICAL_FILL,
) -> PrognosisModel:
    """Fit the main and fallback models on ``x`` (n, p) with columns ``names``, time (days), event (bool).

    Columns missing in more than ``max_missing`` of the cases, or constant, are dropped (listed in the model).
    Blank categorical clinical fields are filled by ``clinical_fill`` (``mean`` or ``most_frequent``), stored.
    """
    x = np.asarray(x, dtype=np.float64)
    kept, xk, clin, xc, dropped = main_and_clinical_inputs(x, names, max_missing)
    extra = {"icare_settings": icare_settings, "discrete_settings": discrete_settings, "clinical_fill": clinical_fill}
    main = fit_risk_model(kind, xk, kept, time, event, seed=seed, **extra)
    fallback = fit_risk_model(kind, xc, clin, time, event, seed=seed + 1, **extra)
    slope, intercept = fallback_line(fallback.predict_matrix(xc), main.predict_matrix(xk))
    return PrognosisModel(main, fallback, slope, intercept, dropped_features=dropped)


def fallback_line(fallback_risk: np.ndarray, main_risk: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line main risk ~ fallback risk on the training cases, which puts
    fallback risks on the main model's scale; a constant fallback gives slope 0 at the main risks' mean."""
    if len(fallback_risk) > 1 and fallback_risk.std() > 1e-12:
        slope, intercept = np.polyfit(fallback_risk, main_risk, 1)
        return float(slope), float(intercept)
    return 0.0, float(main_risk.mean()) if len(main_risk) else 0.0
