"""PET and CT intensities from an unseen centre brought to what the models expect (SUV, HU).

Centres store PET in different units (SUV floats, SUV x 1000 integers, Bq/ml activity concentration)
and panimg passes voxel values through unchanged; CTs are sometimes stored with a +1024 offset
(unsigned, air = 0). The values themselves are checked, the image's metadata is used where present,
and each image gets at most a few logged notes saying what was found and done.

PET (:func:`harmonise_pet`), from the *uptake reference*: the median of the voxels above 5 % of the
99.9th percentile (the body, without air), which is scale-free and ignores a few outliers:

============================================  ==================================================
what the values say                           what is done
============================================  ==================================================
reference in [0.15, 5] SUV, p99.9 <= 150      SUV: kept (whatever the metadata claims)
integer values, reference in [150, 2000]      SUV x 1000 storage: divided by 1000 (unless the
                                              metadata says Bq/ml)
reference in [50, 1e5] (Bq/ml)                with patient weight and injected dose in the metadata
                                              (DICOM tags, decay-corrected when times are given):
                                              SUV = Bq/ml x weight (g) / dose (Bq); otherwise the
                                              unit-free normalisation below
anything else                                 unit-free normalisation: scaled so that the uptake
                                              reference is :data:`REFERENCE_BODY_SUV`
============================================  ==================================================

Then physically impossible values are repaired: voxels with \\|SUV\\| above :data:`PET_MAX_SUV` (no
tumour comes near it) take the median of their plausible 3 x 3 x 3 neighbours (clipped when there are
too many of them for that). CT (:func:`harmonise_ct`): a CT without air below -500 whose lowest values
sit near 0 and whose high percentile reaches soft tissue + 1024 is shifted by -1024 HU; values outside
[-1024, 3071] HU are clipped. Pure functions of the image: the caller's files are never touched.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import SimpleITK as sitk

log = logging.getLogger(__name__)

#: Physical HU range of a CT (12-bit scanners): air to dense bone / metal artefacts.
CT_RANGE_HU = (-1024.0, 3071.0)
#: Offset of unsigned CT storage (air = 0).
CT_STORAGE_OFFSET_HU = 1024.0
#: Above this |SUV| a voxel is physically impossible for FDG PET (tumours rarely exceed 50).
PET_MAX_SUV = 100.0
#: Uptake reference (SUV) that the unit-free normalisation maps to: the median body uptake of the
#: synthetic training cohorts (0.6-1.0) and of typical head-and-neck FDG scans.
REFERENCE_BODY_SUV = 0.8
#: Plausible uptake reference in SUV, and the largest plausible 99.9th percentile.
SUV_REFERENCE_RANGE = (0.15, 5.0)
SUV_P999_MAX = 150.0
#: Uptake reference range that reads as activity concentration (Bq/ml).
BQML_REFERENCE_RANGE = (50.0, 1e5)
#: Integer storage scale recognised (SUV x 1000), and the uptake reference (SUV) it must then give:
#: narrower than for floats, since integer Bq/ml of a low-dose scan (reference 2000+) looks alike.
SUV_INTEGER_SCALE = 1000.0
SUV_INTEGER_REFERENCE_RANGE = (0.15, 2.0)
#: Outlier voxels repaired one by one up to this count; beyond it they are clipped.
MAX_REPAIRED_VOXELS = 10_000
F18_HALF_LIFE_S = 6586.2

#: DICOM tags (as ITK stores them, ``gggg|eeee``) that may survive in the image's metadata.
TAG_UNITS = "0054|1001"
TAG_WEIGHT_KG = "0010|1030"
TAG_DOSE_BQ = "0018|1074"
TAG_HALF_LIFE_S = "0018|1075"
TAG_INJECTION_TIME = "0018|1072"
TAG_SERIES_TIME = "0008|0031"


def uptake_reference(values: np.ndarray) -> tuple[float, float]:
    """(uptake reference, 99.9th percentile) of finite PET values, in the stored unit.

    The reference is the median of the voxels above 5 % of the 99.9th percentile: the body without the
    surrounding air, invariant to any scale factor and unmoved by a few extreme voxels.
    """
    flat = np.asarray(values).ravel()
    flat = flat[np.isfinite(flat)] if np.issubdtype(flat.dtype, np.floating) else flat
    if flat.size == 0:
        return math.nan, math.nan
    p999 = float(np.percentile(flat, 99.9))
    if p999 <= 0:
        return math.nan, p999
    body = flat[flat > 0.05 * p999]
    return float(np.median(body)), p999


def _meta(image: sitk.Image, key: str) -> str | None:
    return image.GetMetaData(key).strip() if image.HasMetaDataKey(key) else None


def _meta_float(image: sitk.Image, key: str) -> float | None:
    text = _meta(image, key)
    try:
        value = float(text) if text else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def metadata_unit(image: sitk.Image) -> str | None:
    """The PET unit claimed by the metadata: ``"SUV"``, ``"BQML"``, another DICOM code, or ``None``."""
    for key in (TAG_UNITS, "Units", "units", "PET_Units"):
        text = _meta(image, key)
        if text:
            code = text.upper().replace(" ", "")
            if code in {"GML", "SUV", "SUVBW", "G/ML"}:
                return "SUV"
            if code in {"BQML", "BQ/ML", "BQ/CC", "BQ/CM3"}:
                return "BQML"
            return code
    return None


def _hhmmss_to_s(text: str | None) -> float | None:
    if not text:
        return None
    text = text.split(".")[0].strip()
    if len(text) < 6 or not text[:6].isdigit():
        return None
    return int(text[:2]) * 3600 + int(text[2:4]) * 60 + int(text[4:6])


def metadata_suv_factor(image: sitk.Image) -> float | None:
    """Bq/ml -> SUV factor weight (g) / dose (Bq) from DICOM metadata, decay-corrected when times are there."""
    weight_kg, dose_bq = _meta_float(image, TAG_WEIGHT_KG), _meta_float(image, TAG_DOSE_BQ)
    if weight_kg is None or dose_bq is None:
        return None
    injected, series = _hhmmss_to_s(_meta(image, TAG_INJECTION_TIME)), _hhmmss_to_s(_meta(image, TAG_SERIES_TIME))
    if injected is not None and series is not None:
        half_life = _meta_float(image, TAG_HALF_LIFE_S) or F18_HALF_LIFE_S
        elapsed = (series - injected) % 86400
        dose_bq *= 0.5 ** (elapsed / half_life)
    return weight_kg * 1000.0 / dose_bq


def _in(value: float, bounds: tuple[float, float]) -> bool:
    return math.isfinite(value) and bounds[0] <= value <= bounds[1]


def pet_scale_to_suv(
    values: np.ndarray, integer_storage: bool, claimed: str | None, metadata_factor: float | None
) -> tuple[float, str]:
    """Factor that brings the stored PET ``values`` to SUV, and the sentence saying why (pure).

    Args:
        values: the stored voxel values (any unit).
        integer_storage: the image is stored as integers.
        claimed: the unit named in the metadata (:func:`metadata_unit`), or ``None``.
        metadata_factor: Bq/ml -> SUV factor from the metadata (:func:`metadata_suv_factor`), or ``None``.
    """
    ref, p999 = uptake_reference(values)
    found = f"uptake reference {ref:.4g}, 99.9th percentile {p999:.4g}"
    if not math.isfinite(ref):
        return 1.0, f"PET has no positive uptake ({found}); left as is"
    if _in(ref, SUV_REFERENCE_RANGE) and p999 <= SUV_P999_MAX:
        if claimed not in (None, "SUV"):
            return 1.0, f"PET metadata says {claimed} but the values read as SUV ({found}); taken as SUV"
        return 1.0, ""
    if integer_storage and claimed != "BQML" and _in(ref / SUV_INTEGER_SCALE, SUV_INTEGER_REFERENCE_RANGE):
        return 1.0 / SUV_INTEGER_SCALE, f"PET stored as integer SUV x 1000 ({found}); divided by 1000"
    normalise = REFERENCE_BODY_SUV / ref
    if _in(ref, BQML_REFERENCE_RANGE) or claimed == "BQML":
        if metadata_factor is not None and _in(ref * metadata_factor, SUV_REFERENCE_RANGE):
            return metadata_factor, (
                f"PET in Bq/ml ({found}); converted to SUV with the metadata's weight and injected dose"
                f" (x {metadata_factor:.4g})"
            )
        why = "no usable patient weight / injected dose in the metadata"
        if metadata_factor is not None:
            why = f"the metadata's weight / dose give an implausible SUV (reference {ref * metadata_factor:.3g})"
        return normalise, (
            f"PET looks like Bq/ml ({found}) and {why}: unit-free normalisation, scaled by {normalise:.4g}"
            f" so that the uptake reference is {REFERENCE_BODY_SUV:g} SUV"
        )
    return normalise, (
        f"PET unit not recognised ({found}, metadata unit {claimed or 'none'}): unit-free normalisation,"
        f" scaled by {normalise:.4g} so that the uptake reference is {REFERENCE_BODY_SUV:g} SUV"
    )


def repair_outliers(array: np.ndarray, bad: np.ndarray, limit: float) -> None:
    """Replace the ``bad`` voxels of ``array`` (z, y, x) in place by the median of their good 3^3 neighbours.

    With more than :data:`MAX_REPAIRED_VOXELS` bad voxels, or no good neighbour, values are clipped to
    [-limit, limit] instead.
    """
    where = np.argwhere(bad)
    if len(where) <= MAX_REPAIRED_VOXELS:
        for z, y, x in where:
            box = tuple(slice(max(0, c - 1), c + 2) for c in (z, y, x))
            block, block_bad = array[box], bad[box]
            good = block[~block_bad]
            if good.size:
                array[z, y, x] = np.median(good)
    still = bad & ~(np.abs(array) <= limit)
    if still.any():
        array[still] = np.clip(np.nan_to_num(array[still], nan=0.0), -limit, limit)


def _with_array(image: sitk.Image, array: np.ndarray) -> sitk.Image:
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    for key in image.GetMetaDataKeys():
        out.SetMetaData(key, image.GetMetaData(key))
    return out


def harmonise_pet(image: sitk.Image) -> tuple[sitk.Image, list[str]]:
    """PET in SUV (float32) and the notes saying what was found and done (none for a plausible SUV PET)."""
    view = sitk.GetArrayViewFromImage(image)
    integer = np.issubdtype(view.dtype, np.integer)
    factor, note = pet_scale_to_suv(view, integer, metadata_unit(image), metadata_suv_factor(image))
    notes = [note] if note else []
    bad = ~(np.abs(view) <= PET_MAX_SUV / factor)  # NaN counts as bad too
    if factor == 1.0 and view.dtype == np.float32 and not bad.any():
        return image, notes
    with np.errstate(over="ignore", invalid="ignore"):
        array = view.astype(np.float32) * np.float32(factor)
    n_bad = int(bad.sum())
    if n_bad:
        repair_outliers(array, bad, PET_MAX_SUV)
        notes.append(
            f"PET: {n_bad} voxel(s) with |SUV| above {PET_MAX_SUV:g} (physically implausible) repaired"
            f" from their neighbours"
        )
    return _with_array(image, array), notes


def harmonise_ct(image: sitk.Image) -> tuple[sitk.Image, list[str]]:
    """CT in HU within [-1024, 3071], and notes: offset storage corrected, out-of-range values clipped."""
    view = sitk.GetArrayViewFromImage(image)
    notes: list[str] = []
    low, high = CT_RANGE_HU
    ct_min = float(view.min())
    shift = 0.0
    if ct_min > -500:
        p1, p99 = (float(v) for v in np.percentile(view[:: max(1, view.shape[0] // 32)], [1, 99]))
        if ct_min >= -50 and p1 <= 200 and p99 >= 900:
            shift = -CT_STORAGE_OFFSET_HU
            notes.append(
                f"CT has no value below {ct_min:.0f} and air near 0 (1st/99th percentile {p1:.0f}/{p99:.0f}):"
                f" read as HU + 1024 storage, shifted by -1024 HU"
            )
        else:
            notes.append(f"CT minimum is {ct_min:.0f}, no air below -500: the CT may not be in HU (left as is)")
    outside = _count_outside(view, low - shift, high - shift)
    if not shift and not outside:
        return image, notes
    dtype = view.dtype if np.issubdtype(view.dtype, np.floating) else np.int16
    array = view.astype(np.float32 if dtype != np.int16 else np.int32) + shift
    if outside:
        np.clip(array, low, high, out=array)
        notes.append(f"CT: {outside} voxel(s) outside [{low:g}, {high:g}] HU clipped")
    return _with_array(image, array.astype(dtype)), notes


def _count_outside(view: np.ndarray, low: float, high: float) -> int:
    return int(np.count_nonzero(view < low)) + int(np.count_nonzero(view > high))


def harmonise_training_pair(ct: sitk.Image, pet: sitk.Image, patient_id: str) -> tuple[sitk.Image, sitk.Image]:
    """CT and PET of a training case harmonised like inference's inputs; the notes are logged."""
    ct, ct_notes = harmonise_ct(ct)
    pet, pet_notes = harmonise_pet(pet)
    for note in ct_notes + pet_notes:
        log.info("%s: %s", patient_id, note)
    return ct, pet
