"""Crop in physical space: the model's crop grid from a box, and index-space regions of an image.

The crop grid is identity-direction in LPS (array axes z, y, x = superior, posterior, left when read
with ``sitk.GetArrayFromImage``), with the model's spacing (mm), covering the located box. Images are
cut to the index region that covers a physical box *before* anything is resampled, so a whole-body scan
is never resampled as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from algorithm.segmentation.locate import Box
from hecktor.geometry import Grid

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class IndexRegion:
    """A block of an image's own voxel grid: ``start`` and ``size`` (x, y, z), voxels."""

    start: tuple[int, int, int]
    size: tuple[int, int, int]

    @property
    def is_empty(self) -> bool:
        return any(s <= 0 for s in self.size)

    def slices_zyx(self) -> tuple[slice, slice, slice]:
        """Numpy slices (z, y, x) selecting this region from the image's array."""
        return tuple(slice(st, st + sz) for st, sz in zip(self.start[::-1], self.size[::-1], strict=True))  # type: ignore[return-value]


def crop_grid(box: Box, spacing_mm: list[float] | tuple[float, ...]) -> Grid:
    """Identity-direction grid with ``spacing_mm`` (x, y, z) whose voxels tile ``box`` (at least 1 voxel/axis).

    The grid is centred on the box; when the box is not a whole number of voxels, it overhangs by less
    than one voxel.
    """
    spacing = np.asarray(spacing_mm, dtype=float)
    extent = np.asarray(box.high) - np.asarray(box.low)
    size = np.maximum(np.ceil(extent / spacing - 1e-6).astype(int), 1)
    centre = (np.asarray(box.high) + np.asarray(box.low)) / 2
    origin = centre - (size - 1) * spacing / 2
    return Grid(
        tuple(int(s) for s in size),
        tuple(float(s) for s in spacing),
        tuple(float(o) for o in origin),
        IDENTITY,
    )


def region_covering(image: sitk.Image | Grid, low: np.ndarray, high: np.ndarray, margin: int = 0) -> IndexRegion:
    """The index region of ``image`` (clamped to it) whose voxels cover the physical box [low, high] (mm).

    Works for any direction cosines: the box's 8 corners are mapped to continuous indices and the
    enclosing index range is taken, grown by ``margin`` voxels on every side.
    """
    grid = image if isinstance(image, Grid) else Grid.of(image)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    corners = np.array([[hi if b else lo for lo, hi, b in zip(low, high, bits, strict=True)] for bits in _BITS])
    inverse = np.linalg.inv(grid.matrix())
    index = (corners - np.asarray(grid.origin)) @ inverse.T
    start = np.floor(index.min(axis=0)).astype(int) - margin
    stop = np.ceil(index.max(axis=0)).astype(int) + 1 + margin
    start = np.clip(start, 0, grid.size)
    stop = np.clip(stop, 0, grid.size)
    return IndexRegion(tuple(int(s) for s in start), tuple(int(s) for s in stop - start))  # type: ignore[arg-type]


def crop_to_region(image: sitk.Image, region: IndexRegion) -> sitk.Image:
    """The voxels of ``region`` as a new image with the right origin (same spacing and direction)."""
    return sitk.RegionOfInterest(image, list(region.size), list(region.start))


def grid_of_region(grid: Grid, region: IndexRegion) -> Grid:
    """The geometry of ``region`` of ``grid``: same spacing and direction, origin at the region's first voxel."""
    origin = np.asarray(grid.origin) + grid.matrix() @ np.asarray(region.start, dtype=float)
    return Grid(region.size, grid.spacing, tuple(float(o) for o in origin), grid.direction)


_BITS = [(i & 1, (i >> 1) & 1, (i >> 2) & 1) for i in range(8)]
