"""Hand-crafted PET/CT (and RT dose) features of the primary tumour (GTVp) and the involved nodes (GTVn).

Physical approach. The label (0 background, 1 GTVp, 2 GTVn) lives on the CT grid, which is the finest
grid of the case (about 1 x 1 x 1.5-5 mm). Each lesion (26-connected component of labels 1 and 2) is
cropped from the label with a margin of :data:`CROP_MARGIN_MM`, and the PET (and RT dose, and the CT when
it is not on the label's grid) is resampled *linearly* onto that cropped label grid with SimpleITK, which
maps every output voxel centre through its physical position (origin, spacing and direction cosines of
both images, LPS), so grids that differ in origin, extent, spacing or orientation are handled the same
way. Voxels outside the PET (or dose) field of view get NaN, never 0. Keeping the label on its own grid
makes volumes exactly those of the delineation (voxel count x CT voxel volume) instead of a PET-voxel
approximation; cropping lesion by lesion bounds memory and time by the lesions' size even when false
positives lie far apart in a whole-body scan (two distant 0.2 ml lesions in a 512 x 512 x 300 CT: 0.7 s,
0.8 GiB peak).

Feature table (``gtvp_*`` from label 1, ``gtvn_*`` from label 2, all nodes together):

=============================  =======  ====================================================================
name                           unit     definition
=============================  =======  ====================================================================
``{r}_suv_max``                SUV      maximum PET value in the region
``{r}_suv_mean``               SUV      mean PET value in the region
``{r}_suv_peak``               SUV      largest mean PET value in a 1 cm^3 sphere (radius 6.2 mm) centred
                                        on a voxel of the region (sphere not restricted to the region)
``{r}_mtv_ml``                 ml       region volume (voxels x voxel volume / 1000); 0 when absent
``{r}_tlg``                    SUV*ml   ``suv_mean * mtv_ml``; 0 when the region is absent
``{r}_ct_mean_hu``             HU       mean CT value in the region
``{r}_ct_std_hu``              HU       standard deviation (ddof 0) of the CT values in the region
``gtvp_sphericity``            1        pi^(1/3) (6 V)^(2/3) / A: ITK's roundness, A from ITK's Crofton
                                        perimeter estimate (smooths voxel staircases, so boxes read rounder)
``gtvp_elongation``            1        ratio of the two largest principal moments' square roots (>= 1)
``gtvn_count``                 count    26-connected components of label 2
``gtvn_largest_ml``            ml       volume of the largest node component; 0 when there is none
``gtvp_gtvn_dist_min_mm``      mm       smallest distance between the GTVp centroid and a node centroid
``gtvp_gtvn_dist_max_mm``      mm       largest such distance
``lesions_spread_mm``          mm       largest distance between any two lesion centroids (GTVp as one
                                        lesion, each node component as one), 0 for a single lesion
``total_mtv_ml``               ml       ``gtvp_mtv_ml + gtvn_mtv_ml``
``total_tlg``                  SUV*ml   ``gtvp_tlg + gtvn_tlg``
``pet_background_suv``         SUV      median PET value of the voxels around the lesions (each lesion's
                                        bounding box + 12 mm) that belong to no lesion
``{r}_tbr_max``                1        ``suv_max / pet_background_suv`` (tumour-to-background ratio)
``{r}_tbr_mean``               1        ``suv_mean / pet_background_suv``
``{r}_tbr_peak``               1        ``suv_peak / pet_background_suv``
``{r}_tlr``                    ml       ``tbr_mean * mtv_ml`` (total lesion ratio, TLG without the unit);
                                        0 when the region is absent
``total_tlr``                  ml       ``gtvp_tlr + gtvn_tlr``
``{r}_dose_mean_gy``           Gy       mean planned dose in the region
``{r}_dose_min_gy``            Gy       minimum planned dose in the region
``{r}_dose_max_gy``            Gy       maximum planned dose in the region
``{r}_dose_d95_gy``            Gy       D95: the dose received by at least 95 % of the region (5th percentile)
=============================  =======  ====================================================================

Undefined values are NaN, never an exception: SUV, HU, shape and dose features of an absent region;
SUV features when the PET covers less than half of the region; dose features without an RT dose or
when the dose grid covers less than 95 % of the region. The RT dose is assumed to be in Gy and in the
same physical frame as the CT (HECKTOR distributes it registered to the planning CT; no registration
between planning CT and diagnostic CT is attempted here).

Calibration. The SUV features (and TLG) move with the PET calibration of a centre (x0.5..x2 between
scanners, reconstructions and dose-calibration errors); the ratio features (``tbr_*``, ``tlr``) do not:
multiplying the PET by any factor leaves them unchanged. The Task 2/3 trainers therefore feed models
:data:`MODEL_IMAGING_FEATURE_NAMES`, which leaves out :data:`SCALE_DEPENDENT_FEATURE_NAMES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cc3d
import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.signal import fftconvolve

from hecktor.geometry import Grid, same_grid

#: Bumped whenever a feature's definition changes (part of the training cache key).
FEATURES_VERSION = "2"

#: Margin (mm) around the lesions' bounding box kept when cropping, > SUVpeak radius + a PET voxel.
CROP_MARGIN_MM = 12.0
#: Radius (mm) of the 1 cm^3 sphere used for SUVpeak: (3 / (4 pi) * 1000 mm^3)^(1/3).
SUV_PEAK_RADIUS_MM = (3.0 / (4.0 * math.pi) * 1000.0) ** (1.0 / 3.0)
#: Least fraction of a region's voxels that the PET (resp. dose) must cover for its statistics.
MIN_PET_COVERAGE = 0.5
MIN_DOSE_COVERAGE = 0.95

REGIONS: dict[str, int] = {"gtvp": 1, "gtvn": 2}
_REGION_STATS = ("suv_max", "suv_mean", "suv_peak", "mtv_ml", "tlg", "ct_mean_hu", "ct_std_hu")
_DOSE_STATS = ("dose_mean_gy", "dose_min_gy", "dose_max_gy", "dose_d95_gy")

#: Dose feature names (NaN when no RT dose is given).
DOSE_FEATURE_NAMES: tuple[str, ...] = tuple(f"{r}_{s}" for r in REGIONS for s in _DOSE_STATS)
#: Every imaging feature, in a fixed order.
IMAGING_FEATURE_NAMES: tuple[str, ...] = (
    *(f"{r}_{s}" for r in REGIONS for s in _REGION_STATS),
    "gtvp_sphericity",
    "gtvp_elongation",
    "gtvn_count",
    "gtvn_largest_ml",
    "gtvp_gtvn_dist_min_mm",
    "gtvp_gtvn_dist_max_mm",
    "lesions_spread_mm",
    "total_mtv_ml",
    "total_tlg",
    *DOSE_FEATURE_NAMES,
    "pet_background_suv",
    *(f"{r}_{s}" for r in REGIONS for s in ("tbr_max", "tbr_mean", "tbr_peak", "tlr")),
    "total_tlr",
)
#: Features in SUV (or SUV*ml), which a PET calibration shift moves.
SCALE_DEPENDENT_FEATURE_NAMES: tuple[str, ...] = (
    *(f"{r}_{s}" for r in REGIONS for s in ("suv_max", "suv_mean", "suv_peak", "tlg")),
    "total_tlg",
    "pet_background_suv",
)
#: What the Task 2/3 models are trained on: every imaging feature but the scale-dependent ones.
MODEL_IMAGING_FEATURE_NAMES: tuple[str, ...] = tuple(
    n for n in IMAGING_FEATURE_NAMES if n not in SCALE_DEPENDENT_FEATURE_NAMES
)
#: Below this background (SUV, or the stored unit) the ratios are undefined (NaN).
MIN_BACKGROUND = 1e-3


def empty_features() -> dict[str, float]:
    """All features NaN (what a case with no usable image gives)."""
    return dict.fromkeys(IMAGING_FEATURE_NAMES, math.nan)


@dataclass
class _RegionValues:
    """Voxel values of one region gathered lesion by lesion (SUV, HU, Gy), and its SUVpeak candidates."""

    suv: list[np.ndarray] = field(default_factory=list)
    hu: list[np.ndarray] = field(default_factory=list)
    dose: list[np.ndarray] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    n_voxels: int = 0
    centroid_sum_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def values(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)


def extract_features(
    ct: sitk.Image, pet: sitk.Image, label: sitk.Image, rt_dose: sitk.Image | None = None
) -> dict[str, float]:
    """Imaging features of one case (see the module table for names and units).

    Lesions (26-connected components of labels 1 and 2 together) are processed one at a time, each on
    its own crop of the label grid (bounding box + :data:`CROP_MARGIN_MM`), so memory and time follow
    the lesions' size, not the distance between them (scattered false positives in a whole-body scan).

    Args:
        ct: CT in HU.
        pet: PET in SUV, on its own grid.
        label: uint8 label on the CT grid (0 background, 1 GTVp, 2 GTVn); other values are ignored.
        rt_dose: planned dose in Gy on its own grid, or ``None``.

    Returns:
        A dict over :data:`IMAGING_FEATURE_NAMES` of Python floats (NaN where undefined).
    """
    feats = empty_features()
    feats.update({"gtvp_mtv_ml": 0.0, "gtvp_tlg": 0.0, "gtvn_mtv_ml": 0.0, "gtvn_tlg": 0.0})
    feats.update({"gtvn_count": 0.0, "gtvn_largest_ml": 0.0, "total_mtv_ml": 0.0, "total_tlg": 0.0})
    feats.update({"gtvp_tlr": 0.0, "gtvn_tlr": 0.0, "total_tlr": 0.0})
    lab_full = sitk.GetArrayViewFromImage(label)
    lesion = (lab_full == 1) | (lab_full == 2)
    union = _bounding_box(lesion, np.zeros(3, dtype=int))
    if union is None:
        return feats
    lesion = lesion[union]
    spacing_zyx = np.asarray(label.GetSpacing(), dtype=float)[::-1]
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    margin = np.ceil(CROP_MARGIN_MM / spacing_zyx).astype(int)
    ct_on_grid = same_grid(Grid.of(ct), Grid.of(label))

    regions = {value: _RegionValues() for value in REGIONS.values()}
    node_sizes: list[int] = []
    node_centroids: list[np.ndarray] = []
    background: list[np.ndarray] = []
    components = cc3d.connected_components(lesion, connectivity=26)
    for k, box in enumerate(ndimage.find_objects(components), 1):
        if box is None:
            continue
        # the lesion's box with margin, in full-image array indices (z, y, x)
        lo = [max(0, union[a].start + box[a].start - int(margin[a])) for a in range(3)]
        hi = [min(lab_full.shape[a], union[a].start + box[a].stop + int(margin[a])) for a in range(3)]
        sub_label = label[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]  # SimpleITK slicing is x, y, z
        lab = sitk.GetArrayFromImage(sub_label)
        own = np.zeros(lab.shape, dtype=bool)  # this lesion's voxels only (crops of near lesions overlap)
        inner = tuple(
            slice(union[a].start + box[a].start - lo[a], union[a].start + box[a].stop - lo[a]) for a in range(3)
        )
        own[inner] = components[box] == k
        pet_arr = _resample_onto(pet, sub_label)
        if ct_on_grid:
            ct_arr = sitk.GetArrayFromImage(ct[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]).astype(np.float64)
        else:
            ct_arr = _resample_onto(ct, sub_label)
        dose_arr = _resample_onto(rt_dose, sub_label) if rt_dose is not None else None
        around = pet_arr[(lab != 1) & (lab != 2)]
        background.append(around[np.isfinite(around)])
        for value, acc in regions.items():
            mask = own & (lab == value)
            n = int(mask.sum())
            if n == 0:
                continue
            acc.n_voxels += n
            acc.suv.append(pet_arr[mask])
            acc.hu.append(ct_arr[mask])
            if dose_arr is not None:
                acc.dose.append(dose_arr[mask])
            acc.peaks.append(suv_peak(pet_arr, mask, spacing_zyx))
            acc.centroid_sum_mm += n * _component_centroids_mm(mask.astype(np.int32), 1, sub_label)[0]
        nodes = cc3d.connected_components(own & (lab == 2), connectivity=26)
        n_nodes = int(nodes.max())
        if n_nodes:
            node_sizes.extend(np.bincount(nodes.ravel(), minlength=n_nodes + 1)[1:].tolist())
            node_centroids.extend(_component_centroids_mm(nodes, n_nodes, sub_label))

    for name, value in REGIONS.items():
        acc = regions[value]
        feats.update(
            region_statistics(
                name,
                acc.n_voxels * voxel_ml,
                acc.values(acc.suv),
                acc.values(acc.hu),
                acc.values(acc.dose) if rt_dose is not None else None,
                max((p for p in acc.peaks if math.isfinite(p)), default=math.nan),
            )
        )

    gtvp = regions[REGIONS["gtvp"]]
    if gtvp.n_voxels:
        feats.update(_shape_features(label, lab_full, union))
    if node_sizes:
        feats["gtvn_count"] = float(len(node_sizes))
        feats["gtvn_largest_ml"] = float(max(node_sizes) * voxel_ml)
    centroids = np.array(node_centroids).reshape(-1, 3)
    if gtvp.n_voxels:
        gtvp_centroid = gtvp.centroid_sum_mm / gtvp.n_voxels
        if len(node_centroids):
            dist = np.linalg.norm(centroids - gtvp_centroid, axis=1)
            feats["gtvp_gtvn_dist_min_mm"] = float(dist.min())
            feats["gtvp_gtvn_dist_max_mm"] = float(dist.max())
        centroids = np.vstack([gtvp_centroid[None, :], centroids])
    feats["lesions_spread_mm"] = _max_pairwise_distance(centroids)
    feats["total_mtv_ml"] = feats["gtvp_mtv_ml"] + feats["gtvn_mtv_ml"]
    feats["total_tlg"] = feats["gtvp_tlg"] + feats["gtvn_tlg"]  # NaN when a present region lacks PET
    feats.update(ratio_features(feats, np.concatenate(background) if background else np.zeros(0)))
    return {k: float(v) for k, v in feats.items()}


def ratio_features(feats: dict[str, float], background_suv: np.ndarray) -> dict[str, float]:
    """Calibration-free PET features from the SUV features and the lesions' surroundings (pure).

    Args:
        feats: the SUV and volume features (``{r}_suv_*``, ``{r}_mtv_ml``).
        background_suv: PET values (SUV) of the non-lesion voxels around the lesions.
    """
    out: dict[str, float] = {}
    bg = float(np.median(background_suv)) if background_suv.size else math.nan
    out["pet_background_suv"] = bg
    usable = math.isfinite(bg) and bg > MIN_BACKGROUND
    for r in REGIONS:
        for stat in ("max", "mean", "peak"):
            out[f"{r}_tbr_{stat}"] = feats[f"{r}_suv_{stat}"] / bg if usable else math.nan
        volume = feats[f"{r}_mtv_ml"]
        out[f"{r}_tlr"] = 0.0 if volume == 0 else out[f"{r}_tbr_mean"] * volume
    out["total_tlr"] = out["gtvp_tlr"] + out["gtvn_tlr"]
    return out


def region_statistics(
    region: str, volume_ml: float, suv: np.ndarray, hu: np.ndarray, dose: np.ndarray | None, peak: float
) -> dict[str, float]:
    """SUV, volume, HU and dose statistics of one region from its voxel values (pure).

    Args:
        region: name prefix (``"gtvp"`` or ``"gtvn"``).
        volume_ml: region volume (ml); 0 when the region is absent.
        suv: PET values (SUV) of the region's voxels, NaN outside the PET field of view.
        hu: CT values (HU) of the region's voxels.
        dose: dose values (Gy) of the region's voxels (NaN outside the dose grid), or ``None``.
        peak: SUVpeak of the region (see :func:`suv_peak`).
    """
    out = {f"{region}_{s}": math.nan for s in (*_REGION_STATS, *_DOSE_STATS)}
    out[f"{region}_mtv_ml"] = float(volume_ml)
    out[f"{region}_tlg"] = 0.0
    if suv.size == 0:
        return out
    finite = np.isfinite(suv)
    if finite.mean() >= MIN_PET_COVERAGE:
        values = suv[finite]
        out[f"{region}_suv_max"] = float(values.max())
        out[f"{region}_suv_mean"] = float(values.mean())
        out[f"{region}_tlg"] = out[f"{region}_suv_mean"] * out[f"{region}_mtv_ml"]
        out[f"{region}_suv_peak"] = float(peak)
    else:
        out[f"{region}_tlg"] = math.nan
    hu = hu[np.isfinite(hu)]
    if hu.size:
        out[f"{region}_ct_mean_hu"] = float(hu.mean())
        out[f"{region}_ct_std_hu"] = float(hu.std())
    if dose is not None and dose.size:
        ok = np.isfinite(dose)
        if ok.mean() >= MIN_DOSE_COVERAGE:
            gy = dose[ok]
            out[f"{region}_dose_mean_gy"] = float(gy.mean())
            out[f"{region}_dose_min_gy"] = float(gy.min())
            out[f"{region}_dose_max_gy"] = float(gy.max())
            out[f"{region}_dose_d95_gy"] = float(np.percentile(gy, 5.0))
    return out


def suv_peak(
    pet: np.ndarray, mask: np.ndarray, spacing_zyx: np.ndarray, radius_mm: float = SUV_PEAK_RADIUS_MM
) -> float:
    """Largest mean SUV over a sphere of ``radius_mm`` (default 1 cm^3) centred on a voxel of ``mask``.

    The sphere holds the voxels whose centres lie within ``radius_mm`` (mm) of its centre; it is not
    restricted to the region; NaN voxels (outside the PET) are left out of each mean. Computed by FFT
    convolution over the region's bounding box plus the radius.
    """
    reach = np.floor(radius_mm / np.asarray(spacing_zyx, dtype=float)).astype(int)
    where = np.nonzero(mask)
    lo = [max(0, int(w.min()) - r) for w, r in zip(where, reach, strict=True)]
    hi = [min(s, int(w.max()) + r + 1) for w, r, s in zip(where, reach, pet.shape, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    values, inside = pet[box], mask[box]
    finite = np.isfinite(values)
    axes = [np.arange(-r, r + 1) * float(sp) for r, sp in zip(reach, spacing_zyx, strict=True)]
    dz, dy, dx = np.meshgrid(*axes, indexing="ij")
    kernel = (dz**2 + dy**2 + dx**2 <= radius_mm**2 + 1e-9).astype(np.float64)
    total = fftconvolve(np.where(finite, values, 0.0), kernel, mode="same")
    count = fftconvolve(finite.astype(np.float64), kernel, mode="same")
    ok = inside & (count > 0.5)
    if not ok.any():
        return math.nan
    return float((total[ok] / np.rint(count[ok])).max())


def _bounding_box(mask: np.ndarray, margin: np.ndarray) -> tuple[slice, ...] | None:
    """Array slices (z, y, x) of the box holding ``mask``'s voxels plus ``margin`` voxels, or ``None``."""
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        if present.size == 0:
            return None
        box.append(
            slice(
                max(0, int(present[0]) - int(margin[axis])),
                min(mask.shape[axis], int(present[-1]) + int(margin[axis]) + 1),
            )
        )
    return tuple(box)


def _resample_onto(image: sitk.Image, reference: sitk.Image) -> np.ndarray:
    """``image`` linearly resampled onto ``reference``'s grid (physical space); NaN outside, float64 z, y, x."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        image = sitk.VectorIndexSelectionCast(image, 0)
    moving = sitk.Cast(image, sitk.sitkFloat32)
    out = sitk.Resample(moving, reference, sitk.Transform(), sitk.sitkLinear, math.nan, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out).astype(np.float64)


def _shape_features(label: sitk.Image, lab_full: np.ndarray, union: tuple[slice, ...]) -> dict[str, float]:
    """Sphericity (ITK roundness) and elongation of GTVp (all label-1 voxels as one object)."""
    box = _bounding_box(lab_full[union] == 1, np.ones(3, dtype=int))
    if box is None:
        return {}
    lo = [union[a].start + box[a].start for a in range(3)]
    hi = [union[a].start + box[a].stop for a in range(3)]
    binary = sitk.Cast(label[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]] == 1, sitk.sitkUInt8)
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.ComputePerimeterOn()
    shape.Execute(binary)
    if not shape.HasLabel(1):
        return {}
    out = {"gtvp_sphericity": float(shape.GetRoundness(1)), "gtvp_elongation": float(shape.GetElongation(1))}
    return {k: (v if math.isfinite(v) else math.nan) for k, v in out.items()}


def _component_centroids_mm(components: np.ndarray, n: int, grid: sitk.Image) -> np.ndarray:
    """Physical centroids (mm, LPS) of components 1..n of an integer array on ``grid``; shape (n, 3)."""
    idx = np.nonzero(components)
    labels = components[idx]
    counts = np.bincount(labels, minlength=n + 1)[1:].astype(float)
    cents = []
    for axis in range(3):
        sums = np.bincount(labels, weights=idx[axis].astype(float), minlength=n + 1)[1:]
        cents.append(sums / counts)
    zyx = np.stack(cents, axis=1)
    return np.array([grid.TransformContinuousIndexToPhysicalPoint((c[2], c[1], c[0])) for c in zyx])


def _max_pairwise_distance(points: np.ndarray) -> float:
    if len(points) == 0:
        return math.nan
    if len(points) == 1:
        return 0.0
    diff = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((diff**2).sum(axis=-1)).max())
