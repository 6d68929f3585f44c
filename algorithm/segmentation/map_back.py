"""Map crop-grid probabilities back onto the exact CT grid.

Each class probability map is resampled *linearly* from the crop grid onto the block of the CT's own
voxel grid that the crop covers (so a whole-body CT is never allocated in float), the argmax is taken
there, and the block is pasted into an all-background uint8 volume of the CT's size. The result copies
the CT's size, spacing, origin and direction exactly. Outside the crop every voxel is background.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from algorithm.segmentation.crop import IndexRegion, grid_of_region, region_covering
from hecktor.geometry import Grid, bounding_box_mm


def probabilities_on_ct_block(probs: np.ndarray, crop: Grid, ct: sitk.Image) -> tuple[IndexRegion, np.ndarray]:
    """Argmax labels on the CT voxels the crop covers.

    Args:
        probs: class probabilities (K, z, y, x) float32 on the crop grid (identity direction).
        crop: the crop grid.
        ct: the CT whose grid the output lives on.

    Returns:
        The CT index region covered by the crop, and its labels (z, y, x) uint8 in the CT's own array
        order (``sitk.GetArrayFromImage(ct)[region.slices_zyx()]`` has the same shape).
    """
    ct_grid = Grid.of(ct)
    low, high = bounding_box_mm(crop)
    region = region_covering(ct_grid, low, high)
    if region.is_empty:
        return region, np.zeros((0, 0, 0), dtype=np.uint8)
    block = grid_of_region(ct_grid, region)
    best: np.ndarray | None = None
    best_p: np.ndarray | None = None
    for k in range(probs.shape[0]):
        src = sitk.GetImageFromArray(np.ascontiguousarray(probs[k], dtype=np.float32))
        src.SetSpacing(crop.spacing)
        src.SetOrigin(crop.origin)
        src.SetDirection(crop.direction)
        outside = 1.0 if k == 0 else 0.0  # outside the crop: certainly background
        p = sitk.GetArrayFromImage(
            sitk.Resample(
                src,
                list(block.size),
                sitk.Transform(),
                sitk.sitkLinear,
                block.origin,
                block.spacing,
                block.direction,
                outside,
                sitk.sitkFloat32,
            )
        )
        if best is None:
            best, best_p = np.zeros(p.shape, dtype=np.uint8), p
        else:
            better = p > best_p
            best[better] = k
            np.maximum(best_p, p, out=best_p)
    assert best is not None
    return region, best


def probabilities_on_grid(probs: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Class probabilities (K, z, y, x) on ``source`` resampled linearly onto ``target`` (any direction).

    Outside ``source`` every voxel is certainly background (class 0 = 1, the others 0), as in
    :func:`probabilities_on_ct_block`. Returns float32 (K, z, y, x) in ``target``'s array order.
    """
    out = np.empty((probs.shape[0], *target.size[::-1]), dtype=np.float32)
    for k in range(probs.shape[0]):
        src = sitk.GetImageFromArray(np.ascontiguousarray(probs[k], dtype=np.float32))
        src.SetSpacing(source.spacing)
        src.SetOrigin(source.origin)
        src.SetDirection(source.direction)
        resampled = sitk.Resample(
            src,
            list(target.size),
            sitk.Transform(),
            sitk.sitkLinear,
            target.origin,
            target.spacing,
            target.direction,
            1.0 if k == 0 else 0.0,
            sitk.sitkFloat32,
        )
        out[k] = sitk.GetArrayViewFromImage(resampled)
    return out


def paste_on_ct(labels: np.ndarray, region: IndexRegion, ct: sitk.Image) -> sitk.Image:
    """A uint8 image on exactly the CT grid: ``labels`` (z, y, x) in ``region``, 0 elsewhere."""
    size = ct.GetSize()
    full = np.zeros((size[2], size[1], size[0]), dtype=np.uint8)
    if not region.is_empty:
        full[region.slices_zyx()] = labels
    out = sitk.GetImageFromArray(full)
    out.CopyInformation(ct)
    return out
