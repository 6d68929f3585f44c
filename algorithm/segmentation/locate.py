"""Locate the head-and-neck box: a physical box (LPS, mm) from PET brain uptake at the top of the scan.

The winning HECKTOR recipes crop a fixed box (about 200 x 200 x 310 mm) that hangs from the top of the
head: the brain is the largest high-uptake region in the top part of a PET, so its top and its centre
(x, y) anchor the box. In LPS, superior is **+z**, so "top" is the largest physical z.

Everything here works on a coarse identity-direction LPS grid (``locate.grid_mm``, 4 mm by default)
resampled from the CT and PET, so direction cosines and the two images' different grids never matter
and a whole-body scan costs a few MB. Order of attempts, the first that succeeds wins:

1. ``pet-brain``: the largest connected component (26-connectivity) of PET uptake above
   ``max(brain_min_suv, t x p99.9)`` in the top ``head_search_mm`` of the body, for each relative
   threshold ``t`` in ``brain_rel_thresholds``, if its volume reaches ``brain_min_volume_mm3``.
   Box top = brain top + ``top_margin_mm``; box centre (x, y) = brain centroid.
2. ``ct-body``: PET uninformative (no brain found): the body on CT (HU > ``body_hu``, thin structures
   such as the table removed by an in-plane opening, largest component). Box top = body top +
   ``top_margin_mm``; centre (x, y) = centroid of the body in the top ``head_search_mm``.
3. ``scan-extent``: no body either: the box hangs from the top of the CT, centred on it in (x, y).

The box is then clipped to the CT's physical extent (when the scan is smaller than the box, the
overlap is used), since the output lives on the CT grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cc3d
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from algorithm.segmentation.config import LocateConfig
from hecktor.geometry import Grid, bounding_box_mm

log = logging.getLogger(__name__)

#: Smallest in-plane body area (mm^2) for a CT slice to count as part of the body.
MIN_BODY_SLICE_AREA_MM2 = 1500.0
#: Radius (mm) of the in-plane opening that removes the table and other thin structures from the body.
BODY_OPENING_RADIUS_MM = 8.0


@dataclass(frozen=True)
class Box:
    """An axis-aligned physical box in LPS: ``low`` and ``high`` corners (x, y, z), mm; how it was found."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]
    method: str

    @property
    def size_mm(self) -> tuple[float, float, float]:
        return tuple(float(h - lo) for lo, h in zip(self.low, self.high, strict=True))  # type: ignore[return-value]

    @property
    def centre_mm(self) -> tuple[float, float, float]:
        return tuple(float((h + lo) / 2) for lo, h in zip(self.low, self.high, strict=True))  # type: ignore[return-value]


def locate_head_and_neck(
    ct: sitk.Image, pet: sitk.Image, crop_size_mm: list[float] | tuple[float, ...], settings: LocateConfig
) -> Box:
    """The head-and-neck box (LPS, mm) of size ``crop_size_mm`` (x, y, z), clipped to the CT's extent.

    Args:
        ct: CT in HU, any grid and direction.
        pet: PET in SUV, any grid and direction (need not match the CT).
        crop_size_mm: box size (x, y, z), mm.
        settings: locator settings.
    """
    ct_low, ct_high = bounding_box_mm(Grid.of(ct))
    coarse = _coarse_grid(ct_low, ct_high, settings.grid_mm)
    ct_c = _sample(ct, coarse, -1024.0)  # (z, y, x), z ascending = inferior -> superior
    pet_c = _sample(pet, coarse, 0.0)
    g = settings.grid_mm
    z_centres = coarse.origin[2] + g * np.arange(ct_c.shape[0])

    body = _body_mask(ct_c, settings.body_hu, g)
    body_slices = np.flatnonzero(body.sum(axis=(1, 2)) * g * g >= MIN_BODY_SLICE_AREA_MM2)
    body_top = float(z_centres[body_slices[-1]] + g / 2) if body_slices.size else float(ct_high[2])
    slab = z_centres >= body_top - settings.head_search_mm

    size = np.asarray(crop_size_mm, dtype=float)
    brain = _largest_uptake(pet_c, slab, settings)
    if brain is not None:
        zz, yy, xx = np.nonzero(brain)
        top = float(z_centres[zz.max()] + g / 2) + settings.top_margin_mm
        cx = coarse.origin[0] + g * float(xx.mean())
        cy = coarse.origin[1] + g * float(yy.mean())
        method = "pet-brain"
        log.info("located the brain on PET: %.0f ml, top at z = %.1f mm", brain.sum() * g**3 / 1000, top)
    elif body_slices.size:
        top = body_top + settings.top_margin_mm
        top_body = body & slab[:, None, None]
        _, yy, xx = np.nonzero(top_body)
        cx = coarse.origin[0] + g * float(xx.mean())
        cy = coarse.origin[1] + g * float(yy.mean())
        method = "ct-body"
        log.warning("no brain uptake found on PET; head-and-neck box placed from the CT body instead")
    else:
        top = float(ct_high[2])
        cx, cy = float((ct_low[0] + ct_high[0]) / 2), float((ct_low[1] + ct_high[1]) / 2)
        method = "scan-extent"
        log.warning("neither brain uptake on PET nor a body on CT found; box hangs from the top of the CT")

    top = min(top, float(ct_high[2]))
    centre = np.array([cx, cy, top - size[2] / 2]) + np.asarray(settings.offset_mm, dtype=float)
    low = np.maximum(centre - size / 2, ct_low)
    high = np.minimum(centre + size / 2, ct_high)
    if np.any(high <= low):  # box entirely outside the CT (extreme offsets): use the CT's own extent
        low, high, method = ct_low, ct_high, method + "+ct-extent"
    box = Box(tuple(float(v) for v in low), tuple(float(v) for v in high), method)  # type: ignore[arg-type]
    log.info(
        "head-and-neck box (%s): low %s, high %s mm",
        method,
        np.round(box.low, 1).tolist(),
        np.round(box.high, 1).tolist(),
    )
    return box


def whole_scan_box(ct: sitk.Image, crop_size_mm: list[float] | tuple[float, ...]) -> Box:
    """A box of ``crop_size_mm`` hanging from the top of the CT, centred on it in (x, y), clipped to the CT.

    The input region of the learned locator (``locate.method = "whole-scan"``): no PET, no heuristics.
    """
    ct_low, ct_high = bounding_box_mm(Grid.of(ct))
    size = np.asarray(crop_size_mm, dtype=float)
    centre = np.array([(ct_low[0] + ct_high[0]) / 2, (ct_low[1] + ct_high[1]) / 2, ct_high[2] - size[2] / 2])
    low = np.maximum(centre - size / 2, ct_low)
    high = np.minimum(centre + size / 2, ct_high)
    return Box(tuple(float(v) for v in low), tuple(float(v) for v in high), "whole-scan")  # type: ignore[arg-type]


def box_around(centre: np.ndarray, crop_size_mm: list[float] | tuple[float, ...], ct: sitk.Image, method: str) -> Box:
    """A box of ``crop_size_mm`` centred on ``centre`` (x, y, z), mm, clipped to the CT's extent."""
    ct_low, ct_high = bounding_box_mm(Grid.of(ct))
    size = np.asarray(crop_size_mm, dtype=float)
    low = np.maximum(np.asarray(centre, dtype=float) - size / 2, ct_low)
    high = np.minimum(np.asarray(centre, dtype=float) + size / 2, ct_high)
    if np.any(high <= low):
        low, high, method = ct_low, ct_high, method + "+ct-extent"
    return Box(tuple(float(v) for v in low), tuple(float(v) for v in high), method)  # type: ignore[arg-type]


def _coarse_grid(low: np.ndarray, high: np.ndarray, spacing: float) -> Grid:
    size = np.maximum(np.ceil((high - low) / spacing).astype(int), 1)
    origin = low + spacing / 2
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    return Grid(tuple(int(s) for s in size), (spacing,) * 3, tuple(float(o) for o in origin), identity)


def _sample(image: sitk.Image, grid: Grid, default: float) -> np.ndarray:
    """``image`` linearly resampled onto ``grid`` as float32 (z, y, x)."""
    out = sitk.Resample(
        image,
        grid.size,
        sitk.Transform(),
        sitk.sitkLinear,
        grid.origin,
        grid.spacing,
        grid.direction,
        default,
        sitk.sitkFloat32,
    )
    return sitk.GetArrayFromImage(out)


def _body_mask(ct: np.ndarray, body_hu: float, g: float) -> np.ndarray:
    """Largest component of CT > body_hu after an in-plane opening that drops thin structures (table)."""
    mask = ct > body_hu
    radius = max(1, round(BODY_OPENING_RADIUS_MM / g))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = (yy**2 + xx**2 <= radius**2)[None]
    mask = ndimage.binary_opening(mask, structure=disk)
    if not mask.any():
        return mask
    labels = cc3d.connected_components(mask.astype(np.uint8), connectivity=26)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == int(np.argmax(counts))


def _largest_uptake(pet: np.ndarray, slab: np.ndarray, settings: LocateConfig) -> np.ndarray | None:
    """Mask (z, y, x) of the brain: the largest high-uptake component in the slab, or None."""
    values = pet[slab]
    if values.size == 0 or not np.isfinite(values).any():
        return None
    robust_max = float(np.nanpercentile(values, 99.9))
    min_voxels = settings.brain_min_volume_mm3 / settings.grid_mm**3
    for rel in settings.brain_rel_thresholds:
        threshold = max(settings.brain_min_suv, rel * robust_max)
        mask = (pet > threshold) & slab[:, None, None]
        if not mask.any():
            continue
        labels = cc3d.connected_components(mask.astype(np.uint8), connectivity=26)
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        best = int(np.argmax(counts))
        if counts[best] >= min_voxels:
            return labels == best
    return None


def largest_component_extent(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Index extent of the largest 26-connected component of a (z, y, x) mask: ``(low, high, voxels)`` with
    ``low`` and ``high`` the first and last voxel indices in (x, y, z) order (float); None when the mask is empty.
    For the learned locators (their fine box is centred on it)."""
    if not mask.any():
        return None
    labels = cc3d.connected_components(mask.astype(np.uint8), connectivity=26)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    zz, yy, xx = np.nonzero(labels == int(np.argmax(counts)))
    low = np.array([xx.min(), yy.min(), zz.min()], dtype=float)
    high = np.array([xx.max(), yy.max(), zz.max()], dtype=float)
    return low, high, int(counts.max())
