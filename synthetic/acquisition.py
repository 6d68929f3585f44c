"""Scanner fields of view and voxel grids of the synthetic scans, as messy as the real data.

``small`` (tests, examples): CT 96-128 voxels in-plane over 250-300 mm, 3-5 mm slices, 40-80 slices
of head and neck; PET 4-5.5 mm voxels. ``realistic``: CT 512x512 at ~0.9-1.2 mm, 1.5-5 mm slices,
100-400 slices, head-only, head-to-thorax or whole-body; PET 128-256 matrix at 2.7-5.5 mm.
The PET always has its own spacing, origin and extent (overlapping the CT for the most part);
about 20 % of CTs and 10 % of PETs have a flipped x and/or y axis. The head is always at the
high-z (superior) end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthetic.anatomy import ELECTIVE_NECK, Anatomy
from synthetic.grids import AxisGrid

SIZES = ("small", "realistic")
COVERAGES = ("head", "thorax", "whole-body")
_FLIPS = ((-1, 1, 1), (1, -1, 1), (-1, -1, 1))
P_FLIP_CT = 0.2
P_FLIP_PET = 0.1
#: Canonical z range (mm, vertex = 0) of the bottom of a scan for each coverage.
_BOTTOM_Z = {"head": (-340.0, -300.0), "thorax": (-560.0, -480.0), "whole-body": (-1000.0, -920.0)}
#: Realistic PET matrix sizes with their in-plane spacing (mm).
_PET_MATRICES = ((128, 5.47), (144, 4.69), (168, 4.07), (192, 3.65), (200, 3.52), (256, 2.73))


@dataclass(frozen=True)
class Acquisition:
    """The grids of one patient's scans (planning CT and dose grids exist for every patient)."""

    ct: AxisGrid
    pet: AxisGrid
    planning_ct: AxisGrid
    dose: AxisGrid
    coverage: str


def _signs(rng: np.random.Generator, p_flip: float, force: bool | None = None) -> tuple[int, int, int]:
    flip = rng.random() < p_flip
    choice = _FLIPS[int(rng.integers(len(_FLIPS)))]
    if force is not None:
        flip = force
    return choice if flip else (1, 1, 1)


def drawn_ct_flip(rng: np.random.Generator) -> bool:
    """Whether :func:`draw_acquisition` with this (fresh) generator and no override flips the CT."""
    return _signs(rng, P_FLIP_CT) != (1, 1, 1)


def _body_centre_xy(anatomy: Anatomy) -> tuple[float, float]:
    return anatomy.shift_mm[0], anatomy.shift_mm[1] + 12.0 * anatomy.scale


def _grid(
    centre_xy: tuple[float, float],
    z_low: float,
    n_xy: tuple[int, int],
    n_z: int,
    spacing: tuple[float, float, float],
    signs: tuple[int, int, int],
) -> AxisGrid:
    low = (centre_xy[0] - n_xy[0] * spacing[0] / 2, centre_xy[1] - n_xy[1] * spacing[1] / 2, z_low)
    return AxisGrid.covering(low, (n_xy[0], n_xy[1], n_z), spacing, signs)


def _ct_grid(rng: np.random.Generator, anatomy: Anatomy, size: str, coverage: str, signs) -> AxisGrid:
    top = anatomy.z_of(0.0) + rng.uniform(-10.0, 20.0)
    bottom = anatomy.z_of(rng.uniform(*_BOTTOM_Z[coverage]))
    if size == "small":
        n_xy = int(rng.integers(96, 129))
        sp = rng.uniform(250.0, 300.0) / n_xy
        dz = float(rng.choice([3.0, 3.27, 4.0, 5.0]))
        n_z = int(np.clip(round((top - bottom) / dz), 40, 80))
    else:
        n_xy = 512
        sp = float(rng.choice([0.9766, 0.9766, 0.9766, 0.8984, 1.0, 1.1719]))
        dz = float(rng.choice([1.5, 2.0, 2.5, 3.0, 3.27, 5.0]))
        dz = min(max(dz, (top - bottom) / 400), (top - bottom) / 100)
        n_z = int(np.clip(round((top - bottom) / dz), 100, 400))
    cx, cy = _body_centre_xy(anatomy)
    centre = (cx + rng.uniform(-15.0, 15.0), cy + rng.uniform(-15.0, 15.0))
    # Keep the bottom (shoulders, lesions); a scan with too few slices loses the top of the skull.
    return _grid(centre, bottom, (n_xy, n_xy), n_z, (sp, sp, dz), signs)


def _pet_grid(rng: np.random.Generator, ct: AxisGrid, size: str, signs) -> AxisGrid:
    lo, hi = ct.extent_mm()
    top = hi[2] + rng.uniform(-15.0, 30.0)
    bottom = lo[2] - rng.uniform(-20.0, 60.0 if size == "small" else 150.0)
    if size == "small":
        sp = float(rng.choice([4.0, 4.07, 4.69, 5.0, 5.47]))
        dz = float(rng.choice([4.0, 4.25, 5.0]))
        n_xy = math.ceil((hi[0] - lo[0]) * rng.uniform(1.0, 1.25) / sp)
    else:
        n_xy, sp = _PET_MATRICES[int(rng.integers(len(_PET_MATRICES)))]
        dz = float(rng.choice([2.79, 3.0, 3.27, 4.0, 5.0]))
    n_z = math.ceil((top - bottom) / dz)
    centre = ((lo[0] + hi[0]) / 2 + rng.uniform(-10.0, 10.0), (lo[1] + hi[1]) / 2 + rng.uniform(-10.0, 10.0))
    return _grid(centre, top - n_z * dz, (n_xy, n_xy), n_z, (sp, sp, dz), signs)


def _planning_grids(rng: np.random.Generator, anatomy: Anatomy, size: str) -> tuple[AxisGrid, AxisGrid]:
    top = anatomy.z_of(0.0) + rng.uniform(0.0, 20.0)
    bottom = anatomy.z_of(rng.uniform(-380.0, -330.0))
    if size == "small":
        n_xy, sp, dz = int(rng.integers(96, 113)), float(rng.uniform(2.4, 3.0)), 3.0
    else:
        n_xy, sp, dz = 512, float(rng.choice([0.9766, 1.1719, 1.2695])), float(rng.choice([2.0, 2.5, 3.0]))
    n_z = round((top - bottom) / dz)
    cx, cy = _body_centre_xy(anatomy)
    planning = _grid((cx, cy), top - n_z * dz, (n_xy, n_xy), n_z, (sp, sp, dz), (1, 1, 1))
    # Dose grid: the elective neck with a margin, coarser voxels, own origin.
    lo, hi = anatomy.place(ELECTIVE_NECK).bounds()
    lo, hi = lo - 40.0, hi + 40.0
    ds = 4.0 if size == "small" else float(rng.choice([2.5, 3.0]))
    n = [math.ceil((hi[a] - lo[a]) / ds) for a in range(3)]
    dose = AxisGrid.covering(tuple(lo), tuple(n), (ds, ds, ds))
    return planning, dose


def draw_acquisition(
    rng: np.random.Generator,
    anatomy: Anatomy,
    size: str,
    *,
    coverage: str | None = None,
    flip_ct: bool | None = None,
) -> Acquisition:
    """Draw the scan grids of a patient.

    Args:
        size: ``"small"`` or ``"realistic"``.
        coverage: ``"head"``, ``"thorax"`` or ``"whole-body"`` CT field of view; drawn when ``None``
            (always ``"head"`` for ``small``).
        flip_ct: force (True) or forbid (False) a flipped CT axis; drawn (20 %) when ``None``.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, not {size!r}")
    ct_signs = _signs(rng, P_FLIP_CT, flip_ct)  # first draw: see drawn_ct_flip
    drawn = "head" if size == "small" else str(rng.choice(COVERAGES, p=(0.35, 0.35, 0.30)))
    coverage = coverage or drawn
    if coverage not in COVERAGES:
        raise ValueError(f"coverage must be one of {COVERAGES}, not {coverage!r}")
    ct = _ct_grid(rng, anatomy, size, coverage, ct_signs)
    pet = _pet_grid(rng, ct, size, _signs(rng, P_FLIP_PET))
    planning, dose = _planning_grids(rng, anatomy, size)
    return Acquisition(ct=ct, pet=pet, planning_ct=planning, dose=dose, coverage=coverage)
