"""The training record of the tabular trainers: summary figures, ``cv_predictions.csv``, the saved model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from algorithm.training.cases import GROUND_TRUTH, TrainingCase
from algorithm.training.oof_masks import resolve_masks
from algorithm.training.options import DataOptions
from algorithm.training.training_set import TrainingSet


def figure(value: float | None) -> str:
    """A figure for the summary line: 3 decimals, or "n/a" when undefined."""
    return "n/a" if value is None else f"{value:.3f}"


def masks_label(masks: str | Path) -> str:
    """How the training record names ``--masks``: ``ground-truth``, ``out-of-fold (<RUN>/oof)`` for
    ``oof[:RUN]``, or ``predicted (<folder name>)``."""
    text = str(masks)
    if text == GROUND_TRUTH:
        return text
    if text == "oof" or text.startswith("oof:"):
        return f"out-of-fold ({resolve_masks(text)})"
    return f"predicted ({Path(masks).name})"


def rounded_timings(timings: dict[str, float]) -> dict[str, float]:
    """The step timings (seconds) for the training record, to 0.1 s."""
    return {k: round(v, 1) for k, v in timings.items()}


def holdout_record(options: DataOptions, cases: Sequence[TrainingCase]) -> dict[str, Any]:
    """The head of a ``holdout`` block: data set name, masks and case count."""
    return {"data": Path(options.holdout or "").name, "masks": str(options.holdout_masks), "n_cases": len(cases)}


def add_oracle(out: dict[str, Any], oracle: dict[str, Any] | None, key: str, name: str) -> dict[str, Any]:
    """``out`` with the synthetic generator's ``oracle[key]`` as ``name`` (and its seed) when known."""
    if oracle is not None and oracle.get(key) is not None:
        out[name] = round(float(oracle[key]), 4)
        out["synthetic_seed"] = oracle.get("seed")
    return out


def write_cv_predictions(out: Path, data: TrainingSet, fold_of: np.ndarray, columns: dict[str, Any]) -> None:
    """``OUT/cv_predictions.csv``: patient, centre, fold and the out-of-fold ``columns``."""
    pd.DataFrame(
        {"PatientID": [c.patient_id for c in data.cases], "centre": data.groups, "fold": fold_of, **columns}
    ).to_csv(out / "cv_predictions.csv", index=False)


def save_trained(
    model: Any, options: DataOptions, score_holdout: Callable[[Any, DataOptions], dict[str, Any]]
) -> tuple[Path, Path]:
    """Score ``--holdout`` into ``model.training`` (when given), make the record JSON-safe and save the model
    in ``--out``; returns the output folder and the written model file."""
    from algorithm.model_files import json_safe

    if options.holdout is not None:
        model.training["holdout"] = score_holdout(model, options)
    model.training = json_safe(model.training)
    out = Path(options.out)
    return out, model.save(out)
