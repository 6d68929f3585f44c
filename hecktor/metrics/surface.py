"""95th-percentile symmetric Hausdorff distance in mm (Task 1, optional: computed only when asked; slow).

Grand Challenge's convention, ``grand_challenge_metrics.stats.percentile_hausdorff_distance`` (percentile
0.95, connectivity 1), which this module calls:

- surfaces: ``S_P = P minus erosion(P)`` and ``S_G = G minus erosion(G)``, one erosion with the 6-neighbour
  (face) structuring element, outside of the array counting as background;
- directed distances: for every voxel of ``S_P`` the Euclidean distance in mm (``scipy`` EDT with the
  voxel spacing) to the nearest voxel of ``S_G``, and likewise from ``S_G`` to ``S_P``;
- each directed set sorted ascending, ``d_(k)`` with ``k = floor((m - 1) * 0.95)`` (0-based, ``m`` its size:
  the lower 95th percentile, no interpolation);

  ``HD95 = max(d_P->G(k_P), d_G->P(k_G))``  (mm)

DeepMind's ``surface-distance`` (``compute_robust_hausdorff``) also takes the larger directed percentile,
but of distances between **surfels** (voxel faces, on a grid shifted by half a voxel), each weighted by its
area; on the same masks the two differ by up to ~2 mm at 1-5 mm spacings (mean +0.55 mm over 60 random
pairs; docs/evaluation.md).

Both masks are first cropped to their joint bounding box grown by one voxel (clipped to the array): every
surface voxel and every nearest surface voxel lies inside, and the margin (or the array edge, which the
erosion already treats as background) keeps the erosion unchanged, so the value is identical to the
uncropped one.

``None`` when either mask is empty (the caller's convention decides what that scores).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from grand_challenge_metrics.stats import percentile_hausdorff_distance

PERCENTILE = 0.95


def hd95_mm(pred_mask: np.ndarray, truth_mask: np.ndarray, spacing_zyx_mm: Sequence[float]) -> float | None:
    """HD95 (mm) between two masks on one grid (definition: module docstring).

    Args:
        pred_mask: predicted mask (z, y, x), nonzero = inside.
        truth_mask: true mask, same shape.
        spacing_zyx_mm: voxel spacing in mm in array order (z, y, x), i.e. the image spacing reversed.

    Returns:
        The distance in mm, or ``None`` when either mask is empty.

    Raises:
        ValueError: shapes differ or the spacing does not have one positive value per axis.
    """
    pred = np.asarray(pred_mask)
    truth = np.asarray(truth_mask)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    spacing = tuple(float(s) for s in spacing_zyx_mm)
    if len(spacing) != pred.ndim or not all(s > 0 for s in spacing):
        raise ValueError(f"spacing must give {pred.ndim} positive values (z, y, x), got {spacing_zyx_mm}")
    pred = pred if pred.dtype == np.bool_ else pred != 0
    truth = truth if truth.dtype == np.bool_ else truth != 0
    if not pred.any() or not truth.any():
        return None
    box = _joint_box_with_margin(pred, truth, margin=1)
    return float(
        percentile_hausdorff_distance(
            pred[box], truth[box], percentile=PERCENTILE, voxelspacing=spacing, connectivity=1
        )
    )


def _joint_box_with_margin(a: np.ndarray, b: np.ndarray, margin: int) -> tuple[slice, ...]:
    """Bounding box of ``a | b`` grown by ``margin`` voxels per side, clipped to the array."""
    union = a | b
    box = []
    for axis in range(union.ndim):
        profile = union.any(axis=tuple(k for k in range(union.ndim) if k != axis))
        indices = np.flatnonzero(profile)
        low = max(int(indices[0]) - margin, 0)
        high = min(int(indices[-1]) + 1 + margin, union.shape[axis])
        box.append(slice(low, high))
    return tuple(box)
