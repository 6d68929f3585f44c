"""Paint layers of analytic solids onto a grid, slab by slab (bounded memory for 512x512x700 scans).

A :class:`Layer` is a solid, a value and a blend mode. Painting goes through the layers in order
for each slab of z slices; each layer only touches the voxels inside its bounding box (plus a margin
for soft edges). The edge profile turns a signed distance (mm) into an occupancy in [0, 1]:
:func:`ramp_profile` (linear anti-aliasing over one voxel, for CT), :func:`blur_profile` (a Gaussian
edge, for PET and dose) or a hard inside test (labels, see :func:`paint_labels`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import erfc

from synthetic.grids import AxisGrid, index_range
from synthetic.shapes import Solid

Profile = Callable[[np.ndarray], np.ndarray]

#: Slices per slab; about 512 * 512 * 16 * 4 bytes = 16 MiB per float32 temporary.
SLAB_SLICES = 16


@dataclass(frozen=True)
class Layer:
    """A solid painted with ``value``.

    ``mode``: ``"set"`` blends towards the value by the occupancy (painter's algorithm), ``"max"``
    keeps the larger of the current value and ``value * occupancy``. ``grow_mm`` inflates the solid.
    """

    solid: Solid
    value: float
    mode: Literal["set", "max"] = "set"
    grow_mm: float = 0.0


def ramp_profile(width_mm: float) -> Profile:
    """Occupancy falling linearly from 1 to 0 across ``width_mm`` centred on the surface."""

    def profile(s: np.ndarray) -> np.ndarray:
        return np.clip(0.5 - s / width_mm, 0.0, 1.0)

    profile.margin_mm = width_mm  # type: ignore[attr-defined]
    return profile


def blur_profile(sigma_mm: float) -> Profile:
    """Occupancy of a flat solid seen through a Gaussian blur of ``sigma_mm`` (planar-edge model)."""
    scale = 1.0 / (np.sqrt(2.0) * sigma_mm)

    def profile(s: np.ndarray) -> np.ndarray:
        return 0.5 * erfc(s * scale)

    profile.margin_mm = 3.5 * sigma_mm  # type: ignore[attr-defined]
    return profile


@dataclass(frozen=True)
class _Box:
    z: tuple[int, int]
    y: tuple[int, int]
    x: tuple[int, int]


def _slabs(grid: AxisGrid, slab: int) -> Iterator[tuple[int, int]]:
    for k0 in range(0, grid.size[2], slab):
        yield k0, min(grid.size[2], k0 + slab)


def _boxes(grid: AxisGrid, solids: Sequence[Solid], margins: Sequence[float], shift: np.ndarray) -> list[_Box | None]:
    """Index boxes of every solid on the grid (None when it misses the grid); ``shift`` moves the solids (mm)."""
    axes = [grid.axis_mm(a) for a in range(3)]
    boxes: list[_Box | None] = []
    for solid, margin in zip(solids, margins, strict=True):
        lo, hi = solid.bounds()
        ranges = [index_range(axes[a], lo[a] + shift[a] - margin, hi[a] + shift[a] + margin) for a in range(3)]
        boxes.append(None if any(r[0] == r[1] for r in ranges) else _Box(ranges[2], ranges[1], ranges[0]))
    return boxes


def paint(
    grid: AxisGrid,
    layers: Sequence[Layer],
    profile: Profile,
    background: float,
    *,
    dtype: type = np.float32,
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    finish: Callable[[np.ndarray, int], np.ndarray] | None = None,
    slab: int = SLAB_SLICES,
) -> np.ndarray:
    """Render ``layers`` on ``grid`` into a z, y, x array of ``dtype``.

    Args:
        shift_mm: translation of every solid (mm), e.g. a different patient set-up.
        finish: called on each float32 slab (with its first z index) before the cast to ``dtype``,
            e.g. to add noise; must return the slab.
    """
    shift = np.asarray(shift_mm, dtype=float)
    margin = float(getattr(profile, "margin_mm", 0.0))
    boxes = _boxes(grid, [la.solid for la in layers], [margin + la.grow_mm for la in layers], shift)
    axes = [grid.axis_mm(a) - np.float32(shift[a]) for a in range(3)]
    out = np.empty(grid.size[::-1], dtype=dtype)
    for k0, k1 in _slabs(grid, slab):
        buf = np.full((k1 - k0, grid.size[1], grid.size[0]), background, dtype=np.float32)
        for layer, box in zip(layers, boxes, strict=True):
            if box is None:
                continue
            z0, z1 = max(box.z[0], k0), min(box.z[1], k1)
            if z0 >= z1:
                continue
            x = axes[0][box.x[0] : box.x[1]][None, None, :]
            y = axes[1][box.y[0] : box.y[1]][None, :, None]
            z = axes[2][z0:z1][:, None, None]
            s = layer.solid.signed_distance(x, y, z)
            if layer.grow_mm:
                s = s - np.float32(layer.grow_mm)
            occ = profile(s).astype(np.float32, copy=False)
            view = buf[z0 - k0 : z1 - k0, box.y[0] : box.y[1], box.x[0] : box.x[1]]
            if layer.mode == "set":
                view += occ * (np.float32(layer.value) - view)
            else:
                np.maximum(view, occ * np.float32(layer.value), out=view)
        if finish is not None:
            buf = finish(buf, k0)
        out[k0:k1] = buf.astype(dtype) if np.issubdtype(dtype, np.floating) else np.rint(buf).astype(dtype)
    return out


def paint_labels(
    grid: AxisGrid,
    solids: Sequence[tuple[Solid, int]],
    *,
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """uint8 z, y, x label array: a voxel takes the label of the last solid whose inside holds its centre.

    A solid that holds no voxel centre (a small node between coarse voxels) gets the voxel nearest to
    its bounding-box centre, so every lesion inside the grid shows in the label.
    """
    shift = np.asarray(shift_mm, dtype=float)
    out = np.zeros(grid.size[::-1], dtype=np.uint8)
    boxes = _boxes(grid, [s for s, _ in solids], [0.0] * len(solids), shift)
    axes = [grid.axis_mm(a) - np.float32(shift[a]) for a in range(3)]
    for (solid, label), box in zip(solids, boxes, strict=True):
        if box is None:
            continue
        x = axes[0][box.x[0] : box.x[1]][None, None, :]
        y = axes[1][box.y[0] : box.y[1]][None, :, None]
        z = axes[2][box.z[0] : box.z[1]][:, None, None]
        inside = solid.signed_distance(x, y, z) <= 0
        view = out[box.z[0] : box.z[1], box.y[0] : box.y[1], box.x[0] : box.x[1]]
        if inside.any():
            view[inside] = label
            continue
        lo, hi = solid.bounds()
        centre = (lo + hi) / 2 + shift
        lo_grid, hi_grid = grid.extent_mm()
        if np.all(centre >= lo_grid) and np.all(centre <= hi_grid):
            i, j, k = (int(np.argmin(np.abs(grid.axis_mm(a) - centre[a]))) for a in range(3))
            out[k, j, i] = label
    return out
