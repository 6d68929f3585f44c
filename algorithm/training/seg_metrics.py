"""Validation metrics of training, on the crop grid (volumes in mm^3).

* GTVp Dice per case: 2|P ∩ G| / (|P| + |G|) for label 1; **1.0 when both are empty** (the project's
  convention, see the reference); the ranking value is the mean over cases.
* GTVn aggregated Dice: 2 Σ_c |P_c ∩ G_c| / Σ_c (|P_c| + |G_c|) for label 2, volumes in mm^3
  (the HECKTOR 2022 formula); 1.0 when every case is empty on both sides.

The evaluation container's :mod:`evaluation.metrics.overlap` is used when it is importable (a source
checkout); the algorithm image ships without the evaluation package, so a minimal implementation of
the same formulas stands in there. These are training-time estimates on the model grid; the official
figures come from the evaluation container on the CT grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:
    from evaluation.metrics.overlap import aggregated_dice, dice_with_convention, label_overlaps
except ImportError:  # pragma: no cover - only in the algorithm image
    label_overlaps = None  # type: ignore[assignment]

GTVP, GTVN = 1, 2


@dataclass(frozen=True)
class _Overlap:
    """Volumes of one label in one case, mm^3 (same attributes as ``evaluation.metrics.overlap.Overlap``)."""

    intersection_mm3: float
    prediction_mm3: float
    truth_mm3: float


def case_overlap(pred: np.ndarray, truth: np.ndarray, voxel_volume_mm3: float) -> dict[int, _Overlap]:
    """Volumes (mm^3) of P ∩ G, P and G for GTVp (1) and GTVn (2) of two label maps on one grid."""
    if label_overlaps is not None:
        return label_overlaps(pred, truth, voxel_volume_mm3, labels=(GTVP, GTVN))  # type: ignore[return-value]
    out = {}
    for value in (GTVP, GTVN):
        p, t = pred == value, truth == value
        out[value] = _Overlap(
            float(np.count_nonzero(p & t)) * voxel_volume_mm3,
            float(np.count_nonzero(p)) * voxel_volume_mm3,
            float(np.count_nonzero(t)) * voxel_volume_mm3,
        )
    return out


def _dice(o: _Overlap) -> float:
    if label_overlaps is not None:
        return float(dice_with_convention(o, "one"))  # type: ignore[arg-type]
    total = o.prediction_mm3 + o.truth_mm3
    return 1.0 if total <= 0 else 2.0 * o.intersection_mm3 / total


def _aggregated(overlaps: list[_Overlap]) -> float:
    if label_overlaps is not None:
        value = aggregated_dice(overlaps)  # type: ignore[arg-type]
        return 1.0 if value is None else float(value)
    inter = sum(o.intersection_mm3 for o in overlaps)
    total = sum(o.prediction_mm3 + o.truth_mm3 for o in overlaps)
    return 1.0 if total <= 0 else 2.0 * inter / total


def summarise(overlaps: list[dict[int, _Overlap]]) -> dict[str, float]:
    """``gtvp_mean_dice`` (mean of per-case Dice) and ``gtvn_aggregated_dice`` over cases; NaN when no case."""
    if not overlaps:
        return {"gtvp_mean_dice": float("nan"), "gtvn_aggregated_dice": float("nan")}
    gtvp = float(np.mean([_dice(o[GTVP]) for o in overlaps]))
    return {"gtvp_mean_dice": gtvp, "gtvn_aggregated_dice": _aggregated([o[GTVN] for o in overlaps])}
