"""Pure geometry of image grids: comparison, physical extent and overlap.

A *grid* is the size (voxels, x y z), spacing (mm), origin (mm, LPS, centre of voxel 0) and direction
cosines of an image. Predictions must lie on the CT grid exactly (up to float rounding of the file
format); nothing in this project resamples a prediction to make it fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import SimpleITK as sitk

#: Default tolerances for "the same grid": spacing relative, origin in mm, direction absolute.
#: They absorb the float32 rounding of NIfTI headers, nothing more.
SPACING_RTOL = 1e-4
ORIGIN_ATOL_MM = 1e-3
DIRECTION_ATOL = 1e-4


@dataclass(frozen=True)
class Grid:
    """Geometry of an image: size (x, y, z voxels), spacing (mm), origin (mm), direction (3x3, row-major)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image | sitk.ImageFileReader) -> Grid:
        """The grid of an image, or of an image file whose header was read."""
        size = image.GetSize()
        return cls(
            tuple(int(s) for s in size),
            tuple(float(s) for s in image.GetSpacing()),
            tuple(float(o) for o in image.GetOrigin()),
            tuple(float(d) for d in image.GetDirection()),
        )

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    def matrix(self) -> np.ndarray:
        """Index (x, y, z) -> physical point: ``origin + direction @ (spacing * index)``; 3x3 part."""
        d = np.asarray(self.direction, dtype=float).reshape(3, 3)
        return d * np.asarray(self.spacing, dtype=float)[None, :]

    def corners_mm(self) -> np.ndarray:
        """The 8 physical corners (mm, LPS) of the grid's extent, voxel edges included; shape (8, 3)."""
        lo = np.full(3, -0.5)
        hi = np.asarray(self.size, dtype=float) - 0.5
        idx = np.array([[hi[i] if b else lo[i] for i, b in enumerate(bits)] for bits in product((0, 1), repeat=3)])
        return idx @ self.matrix().T + np.asarray(self.origin)


def grid_differences(
    actual: Grid,
    reference: Grid,
    *,
    spacing_rtol: float = SPACING_RTOL,
    origin_atol_mm: float = ORIGIN_ATOL_MM,
    direction_atol: float = DIRECTION_ATOL,
) -> list[str]:
    """Human-readable differences between two grids; empty when they are the same grid.

    Each item names the property and by how much it differs, e.g.
    ``"origin differs by up to 2.5 mm (max tolerated 0.001 mm)"``.
    """
    problems: list[str] = []
    if len(actual.size) != len(reference.size):
        return [f"dimension {len(actual.size)} != {len(reference.size)}"]
    if actual.size != reference.size:
        problems.append(f"size {actual.size} != {reference.size}")
    sp_a, sp_r = np.asarray(actual.spacing), np.asarray(reference.spacing)
    rel = np.max(np.abs(sp_a - sp_r) / np.maximum(np.abs(sp_r), 1e-12))
    if rel > spacing_rtol:
        problems.append(
            f"spacing {_fmt(actual.spacing)} != {_fmt(reference.spacing)} mm (relative difference {rel:.2g})"
        )
    dorigin = float(np.max(np.abs(np.asarray(actual.origin) - np.asarray(reference.origin))))
    if dorigin > origin_atol_mm:
        problems.append(
            f"origin {_fmt(actual.origin)} != {_fmt(reference.origin)} mm (differs by up to {dorigin:.4g} mm)"
        )
    ddir = float(np.max(np.abs(np.asarray(actual.direction) - np.asarray(reference.direction))))
    if ddir > direction_atol:
        problems.append(
            f"direction {_fmt(actual.direction)} != {_fmt(reference.direction)} (max difference {ddir:.3g})"
        )
    return problems


def same_grid(a: Grid, b: Grid, **tolerances: float) -> bool:
    """True when :func:`grid_differences` finds nothing."""
    return not grid_differences(a, b, **tolerances)


def bounding_box_mm(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned physical bounding box (mm, LPS) of the grid's extent: (low corner, high corner)."""
    corners = grid.corners_mm()
    return corners.min(axis=0), corners.max(axis=0)


def overlap_volume_mm3(a: Grid, b: Grid) -> float:
    """Volume (mm^3) of the intersection of the two grids' axis-aligned physical bounding boxes."""
    lo_a, hi_a = bounding_box_mm(a)
    lo_b, hi_b = bounding_box_mm(b)
    edge = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0.0, None)
    return float(np.prod(edge))


def overlap_fraction(a: Grid, b: Grid) -> float:
    """Fraction of ``a``'s bounding-box volume that ``b``'s bounding box covers (0..1)."""
    lo, hi = bounding_box_mm(a)
    vol = float(np.prod(hi - lo))
    return overlap_volume_mm3(a, b) / vol if vol > 0 else 0.0


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
