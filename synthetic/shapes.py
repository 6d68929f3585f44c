"""Analytic solids in LPS physical space (mm) with an approximate signed distance.

LPS: x grows towards the patient's left, y towards posterior, z towards superior (as ITK writes).
A solid answers :meth:`signed_distance` (mm, negative inside) for coordinate arrays that broadcast
together (the renderers pass x as (1, 1, nx), y as (1, ny, 1) and z as (nz, 1, 1), i.e. numpy z, y, x
order) and :meth:`bounds` (low and high corners, mm) so that renderers only touch nearby voxels.

The distance is exact for spheres and planes; for ellipsoids it is the distance to the surface along
the ray from the centre, which is close enough for anti-aliasing, PET blur and label masks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

_EPS = 1e-9


class Solid(Protocol):
    """Anything with a signed distance (mm) and an axis-aligned bounding box (mm, LPS)."""

    def signed_distance(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray: ...

    def bounds(self) -> tuple[np.ndarray, np.ndarray]: ...

    def transformed(self, scale: float, shift: tuple[float, float, float]) -> Solid: ...


def _radial_distance(rho: np.ndarray, q: np.ndarray, inner: float) -> np.ndarray:
    """Distance along the ray from the centre: ``rho (q - 1) / q``; ``-inner`` at the centre itself."""
    safe = np.maximum(q, _EPS)
    return np.where(q > _EPS, rho * (q - 1.0) / safe, -inner)


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid with centre (mm), semi-axes (mm) and an optional rotation.

    ``rotation`` is a 3x3 matrix, row-major, whose columns are the ellipsoid's local axes in LPS.
    """

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    rotation: tuple[float, ...] | None = None

    def signed_distance(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        d = (x - self.centre[0], y - self.centre[1], z - self.centre[2])
        if self.rotation is None:
            u = d
        else:
            r = np.asarray(self.rotation, dtype=float).reshape(3, 3)
            u = tuple(r[0, i] * d[0] + r[1, i] * d[1] + r[2, i] * d[2] for i in range(3))
        q2 = (u[0] / self.radii[0]) ** 2 + (u[1] / self.radii[1]) ** 2 + (u[2] / self.radii[2]) ** 2
        rho = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2)
        return _radial_distance(rho, np.sqrt(q2), min(self.radii))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        radii = np.asarray(self.radii, dtype=float)
        if self.rotation is None:
            half = radii
        else:
            r = np.asarray(self.rotation, dtype=float).reshape(3, 3)
            half = np.sqrt(((r * radii[None, :]) ** 2).sum(axis=1))
        centre = np.asarray(self.centre, dtype=float)
        return centre - half, centre + half

    def transformed(self, scale: float, shift: tuple[float, float, float]) -> Ellipsoid:
        """Scale about the origin, then translate (mm)."""
        centre = tuple(float(c * scale + s) for c, s in zip(self.centre, shift, strict=True))
        return replace(self, centre=centre, radii=tuple(float(r * scale) for r in self.radii))

    def shrunk(self, by_mm: float) -> Ellipsoid:
        """The same ellipsoid with every semi-axis ``by_mm`` shorter (at least 1 mm)."""
        return replace(self, radii=tuple(max(1.0, r - by_mm) for r in self.radii))


@dataclass(frozen=True)
class ZTube:
    """Elliptic cylinder along z whose centre and semi-axes vary with z (linear between knots).

    Args:
        knots_z: increasing z positions (mm) of the knots.
        cx, cy: centre (mm) at each knot.
        rx, ry: semi-axes (mm) at each knot.
        z_range: (low, high) z limits (mm) of the solid.
        y_max: keep only the part with ``y <= y_max`` (anterior part in LPS), when given.
    """

    knots_z: tuple[float, ...]
    cx: tuple[float, ...]
    cy: tuple[float, ...]
    rx: tuple[float, ...]
    ry: tuple[float, ...]
    z_range: tuple[float, float]
    y_max: float | None = None

    def _at(self, values: tuple[float, ...], z: np.ndarray) -> np.ndarray:
        z = np.asarray(z)
        return np.interp(z.ravel(), self.knots_z, values).reshape(z.shape).astype(z.dtype, copy=False)

    def signed_distance(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        rx, ry = self._at(self.rx, z), self._at(self.ry, z)
        dx, dy = x - self._at(self.cx, z), y - self._at(self.cy, z)
        q = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
        rho = np.sqrt(dx**2 + dy**2)
        s = _radial_distance(rho, q, min(min(self.rx), min(self.ry)))
        s = np.maximum(s, np.maximum(self.z_range[0] - z, z - self.z_range[1]))
        if self.y_max is not None:
            s = np.maximum(s, y - self.y_max)
        return s

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        cx, cy = np.asarray(self.cx), np.asarray(self.cy)
        rx, ry = np.asarray(self.rx), np.asarray(self.ry)
        lo = np.array([np.min(cx - rx), np.min(cy - ry), self.z_range[0]])
        hi = np.array([np.max(cx + rx), np.max(cy + ry), self.z_range[1]])
        if self.y_max is not None:
            hi[1] = min(hi[1], self.y_max)
        return lo, hi

    def transformed(self, scale: float, shift: tuple[float, float, float]) -> ZTube:
        """Scale about the origin, then translate (mm)."""
        sx, sy, sz = shift

        def f(values: tuple[float, ...], offset: float) -> tuple[float, ...]:
            return tuple(float(v * scale + offset) for v in values)

        return ZTube(
            knots_z=f(self.knots_z, sz),
            cx=f(self.cx, sx),
            cy=f(self.cy, sy),
            rx=f(self.rx, 0.0),
            ry=f(self.ry, 0.0),
            z_range=(self.z_range[0] * scale + sz, self.z_range[1] * scale + sz),
            y_max=None if self.y_max is None else self.y_max * scale + sy,
        )

    def shrunk(self, by_mm: float) -> ZTube:
        """The same tube with semi-axes ``by_mm`` shorter (at least 1 mm); z limits unchanged."""
        return replace(
            self,
            rx=tuple(max(1.0, r - by_mm) for r in self.rx),
            ry=tuple(max(1.0, r - by_mm) for r in self.ry),
        )


@dataclass(frozen=True)
class Union:
    """Union of solids: the minimum of their signed distances."""

    parts: tuple[Solid, ...]

    def signed_distance(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        result = self.parts[0].signed_distance(x, y, z)
        for part in self.parts[1:]:
            result = np.minimum(result, part.signed_distance(x, y, z))
        return result

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [p.bounds() for p in self.parts]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)

    def transformed(self, scale: float, shift: tuple[float, float, float]) -> Union:
        return Union(tuple(p.transformed(scale, shift) for p in self.parts))


def solid_volume_mm3(solid: Solid, step_mm: float = 0.5) -> float:
    """Volume (mm^3) of a small solid, by counting inside points of a ``step_mm`` lattice over its bounds."""
    lo, hi = solid.bounds()
    axes = [np.arange(lo[i] + step_mm / 2, hi[i], step_mm) for i in range(3)]
    x = axes[0][None, None, :]
    y = axes[1][None, :, None]
    z = axes[2][:, None, None]
    inside = solid.signed_distance(x, y, z) <= 0
    return float(np.count_nonzero(inside) * step_mm**3)
