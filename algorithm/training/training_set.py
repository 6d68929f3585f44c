"""The design matrix a tabular trainer fits on: cases (:mod:`.cases`) -> cached features (:mod:`.feature_cache`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from algorithm.features import CLINICAL_FEATURE_NAMES, CLINICAL_FEATURE_NAMES_2026
from algorithm.training.cases import DatasetError, TrainingCase, load_cases, synthetic_oracle
from algorithm.training.feature_cache import compute_features, design_matrix
from algorithm.training.options import DataOptions

log = logging.getLogger(__name__)


@dataclass
class TrainingSet:
    """Cases with targets, their design matrix (imaging + clinical) and bookkeeping."""

    cases: list[TrainingCase]
    x: np.ndarray
    names: list[str]
    groups: list[str]
    notes: list[str]
    timings: dict[str, float]


def usable_cases(cases: list[TrainingCase]) -> list[TrainingCase]:
    """The cases with CT, PET and mask (the others get no imaging features and are not trained on)."""
    return [c for c in cases if c.ct is not None and c.pet is not None and c.label is not None]


def clinical_names(edition: str) -> tuple[str, ...]:
    """The clinical model inputs of an edition: 2026 has HPV status and no M-stage."""
    return CLINICAL_FEATURE_NAMES_2026 if edition == "2026" else CLINICAL_FEATURE_NAMES


def prepare_training_set(options: DataOptions, task: int) -> TrainingSet:
    """Load cases, compute (cached) features and build the design matrix; cases without images are dropped.

    Raises:
        DatasetError: unusable dataset, or fewer than 10 usable cases.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    cases, notes = load_cases(options.data, task, options.masks, options.edition)
    if options.max_cases:
        cases = cases[: options.max_cases]
    usable = usable_cases(cases)
    if len(usable) < len(cases):
        notes.append(f"trained on the {len(usable)} of {len(cases)} cases with CT, PET and mask")
    if len(usable) < 10:
        raise DatasetError(f"{options.data}: only {len(usable)} usable cases for Task {task}; need at least 10")
    timings["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    features = compute_features(usable, options.cache_dir)
    timings["features_s"] = time.perf_counter() - start
    x, names = design_matrix(usable, features, clinical_names(options.edition))
    for note in notes:
        log.info("note: %s", note)
    return TrainingSet(usable, x, names, [c.centre for c in usable], notes, timings)


def load_holdout(
    options: DataOptions, task: int
) -> tuple[list[TrainingCase], np.ndarray, list[str], dict[str, Any] | None]:
    """Held-out cases with features (cached in ``<cache>/holdout``), design matrix and synthetic oracle if any."""
    if options.holdout is None:
        raise ValueError("no --holdout given")
    cases, notes = load_cases(options.holdout, task, options.holdout_masks, options.edition)
    cases = usable_cases(cases)
    for note in notes:
        log.info("held-out note: %s", note)
    features = compute_features(cases, options.cache_dir / "holdout")
    x, names = design_matrix(cases, features, clinical_names(options.edition))
    return cases, x, names, synthetic_oracle(options.holdout)
