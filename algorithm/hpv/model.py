"""Task 3 model: HPV status (positive = True) and its probability from imaging features + clinical data.

A calibrated, regularised logistic regression: volumes and TLG taken as log(1 + x), inputs imputed
(training medians / most frequent) and standardised; the penalty (L2 or L1) and its strength ``C`` are
chosen by an inner stratified split (log-loss); scikit-learn's
``CalibratedClassifierCV(ensemble=True)`` then fits one logistic model per calibration fold with a Platt
(sigmoid) or isotonic map on held-out decision values, and the probability is the mean over those
members. The decision threshold maximises the balanced accuracy of out-of-fold probabilities in a
cross-validation grouped by centre (when groups are given) and is stored with the model.

As for Task 2, a clinical-only fallback model (with its own threshold) is used when no imaging
feature is available; with no clinical data either its imputed input gives a prior-like probability.
The probability is always finite and in [0, 1].

``model.json`` (format ``hecktor-kit/hpv``, version 1)::

    {"format": "hecktor-kit/hpv", "format_version": 1, "kind": "features", "created": ISO date,
     "main": CLASSIFIER, "fallback": CLASSIFIER, "prevalence": p, "dropped_features": [...], "training": {...}}
    CLASSIFIER = {"feature_names": [...], "log1p_features": [...], "imputer": {...},
                  "scaler": {"mean": [...], "std": [...]},
                  "threshold": t, "C": c, "penalty": "l2" | "l1", "calibration": "sigmoid" | "isotonic",
                  "members": [{"coefficients": [...], "intercept": b0,
                               "calibrator": {"method": "sigmoid", "a": a, "b": b}   # p = 1 / (1 + exp(a f + b))
                                           | {"method": "isotonic", "x": [...], "y": [...]}}]}
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from algorithm.model_files import inconsistent, read_kind
from algorithm.tabular import (
    Imputer,
    Scaler,
    apply_log1p,
    as_rows,
    created_stamp,
    design_row,
    fit_preprocessing,
    imaging_names,
    main_and_clinical_inputs,
    rows_without_imaging,
    take_columns,
    write_model_json,
)
from algorithm.tabular.cv import balanced_accuracy, make_folds
from hecktor.clinical import ClinicalRecord

log = logging.getLogger(__name__)

FORMAT = "hecktor-kit/hpv"
FORMAT_VERSION = 1
#: The file-level kind (:mod:`algorithm.model_files`) of this classifier.
KIND = "features"
C_GRID: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: Penalties tried by the inner split (with every ``C`` of :data:`C_GRID`).
PENALTIES: tuple[str, ...] = ("l2", "l1")


def logistic(c_value: float, penalty: str = "l2") -> LogisticRegression:
    """The logistic regression used throughout; the intercept is never penalised.

    ``"l2"``: ridge, exact Newton solver; ``"l1"``: lasso, SAGA solver (seeded, so refits are identical).
    """
    if penalty == "l1":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return LogisticRegression(C=c_value, l1_ratio=1.0, solver="saga", max_iter=5000, random_state=0)
    return LogisticRegression(C=c_value, solver="newton-cholesky", max_iter=1000)


@dataclass
class Member:
    """One logistic model and its calibration map."""

    coefficients: list[float]
    intercept: float
    calibrator: dict[str, Any]

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        f = z @ np.asarray(self.coefficients) + self.intercept
        if self.calibrator["method"] == "sigmoid":
            return expit(-(self.calibrator["a"] * f + self.calibrator["b"]))
        if self.calibrator["method"] == "isotonic":
            return np.interp(f, self.calibrator["x"], self.calibrator["y"])  # clipped at the ends, as sklearn
        raise ValueError(f"unknown calibration {self.calibrator['method']!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"coefficients": list(self.coefficients), "intercept": self.intercept, "calibrator": self.calibrator}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Member:
        cal = dict(data["calibrator"])
        if cal.get("method") == "sigmoid":
            cal = {"method": "sigmoid", "a": float(cal["a"]), "b": float(cal["b"])}
        elif cal.get("method") == "isotonic":
            cal = {"method": "isotonic", "x": [float(v) for v in cal["x"]], "y": [float(v) for v in cal["y"]]}
        else:
            raise ValueError(f"unknown calibration {cal.get('method')!r}")
        return cls([float(c) for c in data["coefficients"]], float(data["intercept"]), cal)


@dataclass
class Classifier:
    """Calibrated logistic ensemble over ``feature_names`` with its decision threshold."""

    feature_names: list[str]
    imputer: Imputer
    scaler: Scaler
    members: list[Member]
    threshold: float = 0.5
    C: float = 1.0
    calibration: str = "sigmoid"
    log1p: list[str] = field(default_factory=list)
    penalty: str = "l2"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of HPV positivity for the rows of ``x`` (n, p; NaN imputed), in [0, 1]."""
        x = as_rows(x, len(self.feature_names))
        x = apply_log1p(x, self.feature_names, self.log1p)
        z = self.scaler.transform(self.imputer.transform(x))
        if not self.members:
            return np.full(len(x), 0.5)
        p = np.mean([m.predict_proba(z) for m in self.members], axis=0)
        return np.clip(np.where(np.isfinite(p), p, 0.5), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "log1p_features": list(self.log1p),
            "imputer": self.imputer.to_dict(),
            "scaler": self.scaler.to_dict(),
            "threshold": self.threshold,
            "C": self.C,
            "penalty": self.penalty,
            "calibration": self.calibration,
            "members": [m.to_dict() for m in self.members],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Classifier:
        names = [str(n) for n in data["feature_names"]]
        clf = cls(
            feature_names=names,
            imputer=Imputer.from_dict(data["imputer"]),
            scaler=Scaler.from_dict(data["scaler"]),
            members=[Member.from_dict(m) for m in data["members"]],
            threshold=float(data["threshold"]),
            C=float(data.get("C", 1.0)),
            calibration=str(data.get("calibration", "sigmoid")),
            log1p=[str(n) for n in data.get("log1p_features", [])],
            penalty=str(data.get("penalty", "l2")),
        )
        if any(len(m.coefficients) != len(names) for m in clf.members) or len(clf.imputer.values) != len(names):
            raise ValueError("coefficients/imputer and feature_names differ in length")
        return clf


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold on ``p`` (positive when ``p >= t``) maximising balanced accuracy.

    Candidates are midpoints between consecutive distinct probabilities; among equally good ones the
    middle candidate is taken. Returns 0.5 when ``y`` has one class only.
    """
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=np.float64)
    if y.all() or not y.any():
        return 0.5
    u = np.unique(p)
    cands = np.concatenate([[u[0] - 1e-9], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-9]]) if len(u) > 1 else u
    scores = np.array([balanced_accuracy(y, p >= t) for t in cands])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(np.clip(cands[best[len(best) // 2]], 0.0, 1.0))


def fit_classifier(
    x: np.ndarray,
    names: Sequence[str],
    y: np.ndarray,
    *,
    calibration: str = "sigmoid",
    seed: int = 0,
    cal_folds: int = 5,
    c_value: float | None = None,
    penalty: str | None = None,
) -> Classifier:
    """Fit a calibrated logistic ensemble on ``x`` (n, p; NaN allowed) and labels ``y`` (0/1); threshold 0.5.

    ``c_value`` (inverse penalty strength) and ``penalty`` are chosen from :data:`C_GRID` x :data:`PENALTIES`
    by an inner split when not given.
    """
    names = list(names)
    y = np.asarray(y, dtype=int)
    x, logs, imputer, scaler = fit_preprocessing(x, names)
    z = scaler.transform(imputer.transform(x))
    n_min = int(min((y == 1).sum(), (y == 0).sum()))
    if not names or n_min < 2:
        prevalence = float(y.mean()) if len(y) else 0.5
        logit = math.log(max(prevalence, 1e-3) / max(1 - prevalence, 1e-3))
        member = Member([0.0] * len(names), 0.0, {"method": "sigmoid", "a": 0.0, "b": -logit})
        return Classifier(names, imputer, scaler, [member], 0.5, 0.0, "sigmoid", logs)
    k = max(2, min(cal_folds, n_min))
    if c_value is None or penalty is None:
        c_value, penalty = _choose_c(z, y, k, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = CalibratedClassifierCV(
            logistic(c_value, penalty),
            method=calibration,
            cv=StratifiedKFold(n_splits=k, shuffle=True, random_state=seed),
            ensemble=True,
        ).fit(z, y)
    members = []
    for cc in cal.calibrated_classifiers_:
        est, calibrator = cc.estimator, cc.calibrators[0]
        if calibration == "sigmoid":
            cmap = {"method": "sigmoid", "a": float(calibrator.a_), "b": float(calibrator.b_)}
        else:
            cmap = {
                "method": "isotonic",
                "x": [float(v) for v in calibrator.X_thresholds_],
                "y": [float(v) for v in calibrator.y_thresholds_],
            }
        members.append(Member([float(c) for c in est.coef_[0]], float(est.intercept_[0]), cmap))
    return Classifier(names, imputer, scaler, members, 0.5, c_value, calibration, logs, penalty)


def _choose_c(z: np.ndarray, y: np.ndarray, k: int, seed: int) -> tuple[float, str]:
    """The (``C``, penalty) of :data:`C_GRID` x :data:`PENALTIES` with the best mean held-out log-loss
    on a stratified ``k``-fold split."""
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed + 7)
    candidates = [(c, pen) for pen in PENALTIES for c in C_GRID]
    losses = np.zeros(len(candidates))
    for tr, te in splitter.split(z, y):
        for i, (c, pen) in enumerate(candidates):
            m = logistic(c, pen).fit(z[tr], y[tr])
            p = np.clip(m.predict_proba(z[te])[:, 1], 1e-6, 1 - 1e-6)
            losses[i] -= np.mean(y[te] * np.log(p) + (1 - y[te]) * np.log(1 - p))
    c_value, penalty = candidates[int(np.argmin(losses))]
    return float(c_value), penalty


def fit_classifier_with_threshold(
    x: np.ndarray,
    names: Sequence[str],
    y: np.ndarray,
    groups: Sequence[str] | None = None,
    *,
    folds: int = 5,
    calibration: str = "sigmoid",
    seed: int = 0,
) -> tuple[Classifier, np.ndarray]:
    """Fit on all rows; the threshold maximises balanced accuracy of out-of-fold probabilities.

    Folds are grouped by ``groups`` (centres) when given. Returns the classifier and the out-of-fold
    probabilities used for the threshold.
    """
    y = np.asarray(y, dtype=int)
    groups = list(groups) if groups is not None else [str(i) for i in range(len(y))]
    oof = np.full(len(y), np.nan)
    final = fit_classifier(x, names, y, calibration=calibration, seed=seed)
    if min((y == 1).sum(), (y == 0).sum()) >= 2:
        splits, _ = make_folds(groups, y, folds, seed)
        for tr, te in splits:  # C and penalty as chosen on all rows (a negligible leak into the threshold only)
            clf = fit_classifier(
                x[tr], names, y[tr], calibration=calibration, seed=seed, c_value=final.C, penalty=final.penalty
            )
            oof[te] = clf.predict_proba(x[te])
    ok = np.isfinite(oof)
    final.threshold = best_threshold(y[ok], oof[ok]) if ok.any() else 0.5
    return final, oof


@dataclass
class HPVModel:
    """Main classifier + clinical-only fallback, loadable from and savable to ``model.json``."""

    main: Classifier
    fallback: Classifier
    prevalence: float = 0.5
    dropped_features: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def imaging_names(self) -> list[str]:
        return imaging_names(self.main.feature_names)

    def uses_fallback(self, features: Mapping[str, float] | None) -> bool:
        """True when the clinical-only fallback would be used for these imaging features."""
        if features is None or not self.imaging_names:
            return features is None
        return not np.isfinite(design_row(features, None, self.imaging_names)).any()

    def predict(
        self,
        features: Mapping[str, float] | None,
        clinical: ClinicalRecord | None,
        images: tuple[Any, ...] | None = None,
    ) -> tuple[bool, float]:
        """``(is_positive, probability)`` for one case; probability finite in [0, 1], threshold from the model.

        ``images`` (CT, PET, label) is accepted for a common signature with the CNN model and unused here.
        """
        clf = self.fallback if self.uses_fallback(features) else self.main
        p = float(clf.predict_proba(design_row(features, clinical, clf.feature_names)[None, :])[0])
        if not math.isfinite(p):  # cannot happen by construction; kept as the last guard
            log.warning("HPV model gave a non-finite probability; using the training prevalence")
            p = self.prevalence
        return bool(p >= clf.threshold), p

    def predict_table(self, x: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(decisions, probabilities) for rows of ``x`` with columns ``names`` (a superset of the inputs)."""
        xm = take_columns(x, names, self.main.feature_names)
        p = self.main.predict_proba(xm)
        t = np.full(len(x), self.main.threshold)
        fb = rows_without_imaging(xm, self.main.feature_names)
        if fb.any():
            p[fb] = self.fallback.predict_proba(take_columns(x, names, self.fallback.feature_names)[fb])
            t[fb] = self.fallback.threshold
        return p >= t, p

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "created": created_stamp(),
            "main": self.main.to_dict(),
            "fallback": self.fallback.to_dict(),
            "prevalence": self.prevalence,
            "dropped_features": list(self.dropped_features),
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HPVModel:
        return cls(
            main=Classifier.from_dict(data["main"]),
            fallback=Classifier.from_dict(data["fallback"]),
            prevalence=float(data.get("prevalence", 0.5)),
            dropped_features=[str(n) for n in data.get("dropped_features", [])],
            training=dict(data.get("training", {})),
        )

    def save(self, model_dir: str | Path) -> Path:
        """Write ``model_dir/model.json``; returns its path."""
        return write_model_json(model_dir, self.to_dict())

    @classmethod
    def load(cls, model_dir: str | Path, **options: Any) -> HPVModel:
        """Load ``model_dir/model.json``.

        A folder of any kind (the CNN + clinical model too) loads with :func:`algorithm.hpv.load_hpv_model`.

        Raises:
            ModelError: missing, invalid, of another format/version or kind, or inconsistent.
        """
        data = read_kind(model_dir, "hpv", KIND)
        with inconsistent(model_dir, "HPV model"):
            return cls.from_dict(data)

    def describe(self) -> dict[str, Any]:
        """Task, kind, the two classifiers' inputs and thresholds, the training record's headline."""
        return {
            "task": "hpv",
            "kind": KIND,
            "main": {"n_features": len(self.main.feature_names), "threshold": self.main.threshold},
            "fallback": {"n_features": len(self.fallback.feature_names), "threshold": self.fallback.threshold},
            "trained_on": self.training.get("data"),
        }


def fit_hpv_model(
    x: np.ndarray,
    names: Sequence[str],
    y: np.ndarray,
    groups: Sequence[str] | None = None,
    *,
    folds: int = 5,
    calibration: str = "sigmoid",
    seed: int = 0,
    max_missing: float = 0.5,
) -> HPVModel:
    """Fit main and fallback classifiers (thresholds from grouped out-of-fold probabilities)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    kept, xk, clin, xc, dropped = main_and_clinical_inputs(x, names, max_missing)
    main, _ = fit_classifier_with_threshold(xk, kept, y, groups, folds=folds, calibration=calibration, seed=seed)
    fallback, _ = fit_classifier_with_threshold(xc, clin, y, groups, folds=folds, calibration=calibration, seed=seed)
    return HPVModel(main, fallback, prevalence=float(y.mean()) if len(y) else 0.5, dropped_features=dropped)
