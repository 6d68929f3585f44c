"""Validation metrics of training, on the crop grid (volumes in mm^3), with the evaluation's own maths.

* GTVp Dice per case: 2|P ∩ G| / (|P| + |G|) for label 1; **1.0 when both are empty** (the project's
  convention, see the reference); the ranking value is the mean over cases.
* GTVn aggregated Dice: 2 Σ_c |P_c ∩ G_c| / Σ_c (|P_c| + |G_c|) for label 2, volumes in mm^3
  (the HECKTOR 2022 formula); 1.0 when every case is empty on both sides.
* GTVn aggregated F1: lesions are the connected components (26-connectivity) of label 2; a group of
  predicted and true lesions linked by overlap is one true positive when its IoU > 0.3 (the evaluation's
  default rule); TP/FP/FN are summed over cases and F1 = 2 TP / (2 TP + FP + FN); 1.0 when no case has a
  lesion on either side.

The formulas are the shared core's :mod:`hecktor.metrics.overlap` and :mod:`hecktor.metrics.lesions`, the
code the evaluation scores with. These are training-time estimates on the model grid; the official figures
come from the evaluation container on the CT grid.

Model selection: :func:`selection_score` is the weighted mean of the three ranking figures (weights
``selection_weights`` of the training block; equal by default, as the Borda ranking counts each once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hecktor.labels import GTVN, GTVP
from hecktor.metrics.lesions import DetectionCounts, detect_lesions, f1_from_counts
from hecktor.metrics.overlap import Overlap, aggregated_dice, dice_with_convention, label_overlaps

#: The validation figures, in the order of :func:`selection_score`'s weights.
METRIC_KEYS: tuple[str, ...] = ("gtvp_mean_dice", "gtvn_aggregated_dice", "gtvn_aggregated_f1")
#: IoU a group of GTVn lesions needs to count as detected (the evaluation's default, strict ``>``).
GTVN_IOU_THRESHOLD = 0.30


@dataclass(frozen=True)
class CaseScore:
    """One validation case: overlap volumes (mm^3) of GTVp / GTVn and the GTVn lesion counts."""

    overlaps: dict[int, Overlap]
    lesions: DetectionCounts


def case_overlap(pred: np.ndarray, truth: np.ndarray, voxel_volume_mm3: float) -> dict[int, Overlap]:
    """Volumes (mm^3) of P ∩ G, P and G for GTVp (1) and GTVn (2) of two label maps on one grid."""
    return label_overlaps(pred, truth, voxel_volume_mm3, labels=(GTVP, GTVN))


def case_score(pred: np.ndarray, truth: np.ndarray, voxel_volume_mm3: float) -> CaseScore:
    """Overlaps and GTVn lesion counts of one case (label maps (z, y, x) on one grid, voxel volume in mm^3)."""
    counts, _ = detect_lesions(pred == GTVN, truth == GTVN, iou_threshold=GTVN_IOU_THRESHOLD)
    return CaseScore(case_overlap(pred, truth, voxel_volume_mm3), counts)


def _dice(o: Overlap) -> float:
    return float(dice_with_convention(o, "one"))


def _aggregated(overlaps: list[Overlap]) -> float:
    value = aggregated_dice(overlaps)
    return 1.0 if value is None else float(value)


def summarise(scores: Sequence[CaseScore]) -> dict[str, float]:
    """``gtvp_mean_dice``, ``gtvn_aggregated_dice`` and ``gtvn_aggregated_f1`` over cases; NaN when no case."""
    if not scores:
        return dict.fromkeys(METRIC_KEYS, float("nan"))
    f1 = f1_from_counts(sum((s.lesions for s in scores), DetectionCounts(0, 0, 0)))
    return {
        "gtvp_mean_dice": float(np.mean([_dice(s.overlaps[GTVP]) for s in scores])),
        "gtvn_aggregated_dice": _aggregated([s.overlaps[GTVN] for s in scores]),
        "gtvn_aggregated_f1": 1.0 if f1 is None else float(f1),
    }


def selection_score(metrics: dict[str, float], weights: Sequence[float] = (1.0, 1.0, 1.0)) -> float:
    """Weighted mean of GTVp mean Dice, GTVn aggregated Dice and GTVn F1 (weights in :data:`METRIC_KEYS` order).

    Raises:
        ValueError: not three non-negative weights with a positive sum.
    """
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(METRIC_KEYS),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"selection_weights must be {len(METRIC_KEYS)} non-negative numbers, got {list(weights)}")
    values = np.array([metrics[k] for k in METRIC_KEYS], dtype=float)
    return float(np.dot(w, values) / w.sum())
