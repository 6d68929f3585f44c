"""Volume overlap of label maps: per-case Dice and aggregated Dice (HECKTOR Task 1).

For one case and one label ``l``, with ``P`` the predicted voxels (``pred == l``), ``G`` the true voxels
(``truth == l``) and ``v`` the voxel volume in mm^3 (product of the three spacings):

    |P|_mm3 = v * #P,   |G|_mm3 = v * #G,   |P ∩ G|_mm3 = v * #(P ∩ G)

    Dice = 2 |P ∩ G| / (|P| + |G|)                       (v cancels within a case)

Over cases ``c`` (the HECKTOR 2022 GTVn formula; volumes in mm^3, so cases with larger voxels weigh more):

    aggregated Dice = 2 Σ_c |P_c ∩ G_c|_mm3 / Σ_c (|P_c|_mm3 + |G_c|_mm3)

Both empty (|P| + |G| = 0): Dice is undefined (``Overlap.dice`` is ``None``); the ranking convention
is applied by :func:`dice_with_convention` (HECKTOR reference: 1.0 [our choice], or 0.0, or excluded).
A prediction on an empty truth (or an empty prediction on a non-empty truth) has Dice 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: ``both_empty`` conventions of :func:`dice_with_convention` and the value each gives.
BOTH_EMPTY_VALUES: dict[str, float | None] = {"one": 1.0, "zero": 0.0, "exclude": None}

#: Voxels per block when counting: small enough to stay in the CPU cache (256 Ki voxels).
_BLOCK_VOXELS = 1 << 18


@dataclass(frozen=True)
class Overlap:
    """Volumes of one label in one case, in mm^3 (voxel count x voxel volume).

    Attributes:
        intersection_mm3: |P ∩ G| in mm^3.
        prediction_mm3: |P| in mm^3.
        truth_mm3: |G| in mm^3.
    """

    intersection_mm3: float
    prediction_mm3: float
    truth_mm3: float

    @property
    def both_empty(self) -> bool:
        """True when neither the prediction nor the truth has a voxel of the label."""
        return self.prediction_mm3 + self.truth_mm3 == 0

    @property
    def dice(self) -> float | None:
        """2 |P ∩ G| / (|P| + |G|); ``None`` when both are empty (the caller applies the convention)."""
        denominator = self.prediction_mm3 + self.truth_mm3
        if denominator == 0:
            return None
        return 2.0 * self.intersection_mm3 / denominator


def label_overlaps(
    pred: np.ndarray, truth: np.ndarray, voxel_volume_mm3: float, labels: Sequence[int] = (1, 2)
) -> dict[int, Overlap]:
    """Per-label volumes of ``pred`` and ``truth`` (same shape, integer label maps, z-y-x) in mm^3.

    For each ``l`` in ``labels``: #(pred == l & truth == l), #(pred == l), #(truth == l), each multiplied
    by ``voxel_volume_mm3``. One pass over the volumes in cache-sized blocks (no full-size temporary);
    blocks where both maps are all zero are skipped (unless 0 is one of ``labels``).

    Args:
        pred: predicted label map.
        truth: true label map, same shape.
        voxel_volume_mm3: volume of one voxel in mm^3 (> 0, finite).
        labels: the labels to measure.

    Returns:
        ``{label: Overlap}`` in the order of ``labels``.

    Raises:
        ValueError: shapes differ or the voxel volume is not a positive finite number.
    """
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    if not (math.isfinite(voxel_volume_mm3) and voxel_volume_mm3 > 0):
        raise ValueError(f"voxel volume must be a positive finite number of mm^3, got {voxel_volume_mm3}")
    labels = tuple(int(label) for label in labels)
    counts = np.zeros((len(labels), 3), dtype=np.int64)  # intersection, prediction, truth
    flat_pred = np.ascontiguousarray(pred).reshape(-1)
    flat_truth = np.ascontiguousarray(truth).reshape(-1)
    can_skip = 0 not in labels
    for start in range(0, flat_pred.size, _BLOCK_VOXELS):
        p = flat_pred[start : start + _BLOCK_VOXELS]
        t = flat_truth[start : start + _BLOCK_VOXELS]
        if can_skip and not p.any() and not t.any():
            continue
        for k, label in enumerate(labels):
            p_l = p == label
            t_l = t == label
            counts[k, 0] += np.count_nonzero(p_l & t_l)
            counts[k, 1] += np.count_nonzero(p_l)
            counts[k, 2] += np.count_nonzero(t_l)
    v = float(voxel_volume_mm3)
    return {
        label: Overlap(
            intersection_mm3=int(counts[k, 0]) * v,
            prediction_mm3=int(counts[k, 1]) * v,
            truth_mm3=int(counts[k, 2]) * v,
        )
        for k, label in enumerate(labels)
    }


def dice_with_convention(o: Overlap, both_empty: str = "one") -> float | None:
    """Dice of ``o``; when both prediction and truth are empty, the ``both_empty`` convention.

    Args:
        o: the volumes of one label in one case.
        both_empty: ``"one"`` -> 1.0 (a correct empty prediction, [our choice]), ``"zero"`` -> 0.0
            (SimpleITK's LabelOverlapMeasuresImageFilter value), ``"exclude"`` -> ``None`` (left out of means).

    Raises:
        ValueError: unknown ``both_empty``.
    """
    if both_empty not in BOTH_EMPTY_VALUES:
        raise ValueError(f"both_empty must be one of {sorted(BOTH_EMPTY_VALUES)}, got {both_empty!r}")
    value = o.dice
    return BOTH_EMPTY_VALUES[both_empty] if value is None else value


def aggregated_dice(overlaps: Iterable[Overlap]) -> float | None:
    """2 Σ_c |P_c ∩ G_c| / Σ_c (|P_c| + |G_c|), volumes in mm^3 (sums by ``math.fsum``: order-independent).

    Cases where both are empty add nothing. ``None`` when the denominator is 0 (no voxel of the label in
    any prediction nor truth, or no case at all).
    """
    intersections: list[float] = []
    volumes: list[float] = []
    for o in overlaps:
        intersections.append(o.intersection_mm3)
        volumes.append(o.prediction_mm3)
        volumes.append(o.truth_mm3)
    denominator = math.fsum(volumes)
    if denominator == 0:
        return None
    return 2.0 * math.fsum(intersections) / denominator
