"""Validation metrics of training, on the crop grid (volumes in mm^3).

* GTVp Dice per case: 2|P ∩ G| / (|P| + |G|) for label 1; **1.0 when both are empty** (the project's
  convention, see the reference); the ranking value is the mean over cases.
* GTVn aggregated Dice: 2 Σ_c |P_c ∩ G_c| / Σ_c (|P_c| + |G_c|) for label 2, volumes in mm^3
  (the HECKTOR 2022 formula); 1.0 when every case is empty on both sides.

The formulas are the shared core's :mod:`hecktor.metrics.overlap`, the code the evaluation scores with.
These are training-time estimates on the model grid; the official figures come from the evaluation
container on the CT grid.
"""

from __future__ import annotations

import numpy as np

from hecktor.labels import GTVN, GTVP
from hecktor.metrics.overlap import Overlap, aggregated_dice, dice_with_convention, label_overlaps


def case_overlap(pred: np.ndarray, truth: np.ndarray, voxel_volume_mm3: float) -> dict[int, Overlap]:
    """Volumes (mm^3) of P ∩ G, P and G for GTVp (1) and GTVn (2) of two label maps on one grid."""
    return label_overlaps(pred, truth, voxel_volume_mm3, labels=(GTVP, GTVN))


def _dice(o: Overlap) -> float:
    return float(dice_with_convention(o, "one"))


def _aggregated(overlaps: list[Overlap]) -> float:
    value = aggregated_dice(overlaps)
    return 1.0 if value is None else float(value)


def summarise(overlaps: list[dict[int, Overlap]]) -> dict[str, float]:
    """``gtvp_mean_dice`` (mean of per-case Dice) and ``gtvn_aggregated_dice`` over cases; NaN when no case."""
    if not overlaps:
        return {"gtvp_mean_dice": float("nan"), "gtvn_aggregated_dice": float("nan")}
    gtvp = float(np.mean([_dice(o[GTVP]) for o in overlaps]))
    return {"gtvp_mean_dice": gtvp, "gtvn_aggregated_dice": _aggregated([o[GTVN] for o in overlaps])}
