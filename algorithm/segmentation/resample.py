"""Resample an image onto a target grid, cropping first so only the needed voxels are ever touched.

``sitk.Resample`` maps physical points, so the source's direction cosines (flips, permutations) are
handled by ITK; nothing here slices numpy arrays across grids of different direction.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from algorithm.segmentation.crop import crop_to_region, region_covering
from hecktor.geometry import Grid, bounding_box_mm

#: Extra source voxels kept around the target's extent so that interpolation at its edge has neighbours.
CROP_MARGIN_VOXELS = 2


def resample_onto(
    image: sitk.Image,
    grid: Grid,
    interpolator: int = sitk.sitkLinear,
    default: float = 0.0,
    pixel_type: int = sitk.sitkFloat32,
) -> sitk.Image:
    """``image`` resampled onto ``grid`` (voxels outside the source get ``default``).

    The source is first cut to the index region covering the target's physical extent (plus
    :data:`CROP_MARGIN_VOXELS`), so the cost and memory scale with the target, not the whole scan.

    Args:
        image: source image, any grid and direction (CT in HU, PET in SUV, or a label map).
        grid: target grid (size x, y, z; spacing mm; origin mm; direction).
        interpolator: ``sitk.sitkLinear`` for intensities, ``sitk.sitkNearestNeighbor`` for labels.
        default: value outside the source (e.g. -1024 HU for CT, 0 SUV for PET).
        pixel_type: output pixel type.
    """
    low, high = bounding_box_mm(grid)
    region = region_covering(image, low, high, margin=CROP_MARGIN_VOXELS)
    if region.is_empty:
        out = sitk.Image(list(grid.size), pixel_type)
        out.SetSpacing(grid.spacing)
        out.SetOrigin(grid.origin)
        out.SetDirection(grid.direction)
        if default:
            out = out + default
        return out
    source = crop_to_region(image, region)
    return sitk.Resample(
        source,
        list(grid.size),
        sitk.Transform(),
        interpolator,
        grid.origin,
        grid.spacing,
        grid.direction,
        float(default),
        pixel_type,
    )


def array_on(image: sitk.Image, grid: Grid, interpolator: int = sitk.sitkLinear, default: float = 0.0) -> np.ndarray:
    """:func:`resample_onto` as a float32 numpy array (z, y, x)."""
    return sitk.GetArrayFromImage(resample_onto(image, grid, interpolator, default, sitk.sitkFloat32))
