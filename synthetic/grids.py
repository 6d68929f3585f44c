"""Image grids of the synthetic scans: axis-aligned in LPS, each axis possibly flipped.

A grid's direction is ``diag(sx, sy, sz)`` with signs +-1 (z is always +1 here, so the head is at
the high-z, superior end of every scan). A flipped axis keeps the same physical extent: its origin
(centre of voxel 0, mm) sits at the other end, so the anatomy stays in place and the array is
mirrored. Because the axes stay axis-aligned, physical coordinates are separable: x depends only on
the x index, which keeps rendering cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from hecktor.geometry import Grid


@dataclass(frozen=True)
class AxisGrid:
    """Size (x, y, z voxels), spacing (mm), origin (mm, LPS, centre of voxel 0) and axis signs."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    signs: tuple[int, int, int] = (1, 1, 1)

    @classmethod
    def covering(
        cls,
        low_mm: tuple[float, float, float],
        size: tuple[int, int, int],
        spacing: tuple[float, float, float],
        signs: tuple[int, int, int] = (1, 1, 1),
    ) -> AxisGrid:
        """The grid of ``size`` voxels whose extent starts at ``low_mm`` (voxel edge) on every axis."""
        origin = []
        for lo, n, s, sign in zip(low_mm, size, spacing, signs, strict=True):
            first = lo + s / 2
            origin.append(float(first if sign > 0 else first + (n - 1) * s))
        return cls(tuple(int(n) for n in size), tuple(float(s) for s in spacing), tuple(origin), signs)

    @property
    def direction(self) -> tuple[float, ...]:
        sx, sy, sz = self.signs
        return (float(sx), 0.0, 0.0, 0.0, float(sy), 0.0, 0.0, 0.0, float(sz))

    @property
    def n_voxels(self) -> int:
        return math.prod(self.size)

    def axis_mm(self, axis: int) -> np.ndarray:
        """Physical coordinate (mm, float32) of each index along ``axis`` (0 = x, 1 = y, 2 = z)."""
        n = self.size[axis]
        return (self.origin[axis] + self.signs[axis] * self.spacing[axis] * np.arange(n)).astype(np.float32)

    def extent_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Low and high physical corners (mm) of the grid, voxel edges included."""
        lo, hi = [], []
        for axis in range(3):
            coords = self.axis_mm(axis)
            lo.append(float(coords.min()) - self.spacing[axis] / 2)
            hi.append(float(coords.max()) + self.spacing[axis] / 2)
        return np.array(lo), np.array(hi)

    def to_grid(self) -> Grid:
        """As a :class:`hecktor.geometry.Grid` (for comparisons and checks)."""
        return Grid(self.size, self.spacing, self.origin, self.direction)

    def image(self, array_zyx: np.ndarray) -> sitk.Image:
        """A SimpleITK image on this grid from a numpy array in z, y, x order."""
        if array_zyx.shape != self.size[::-1]:
            raise ValueError(f"array shape {array_zyx.shape} does not match grid size {self.size} (x, y, z)")
        image = sitk.GetImageFromArray(array_zyx)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


def index_range(coords: np.ndarray, low: float, high: float) -> tuple[int, int]:
    """Index range [start, stop) of the monotonic ``coords`` that lie within [low, high] (empty: start == stop)."""
    inside = np.nonzero((coords >= low) & (coords <= high))[0]
    if inside.size == 0:
        return 0, 0
    return int(inside[0]), int(inside[-1]) + 1
