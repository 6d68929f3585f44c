"""Check a case's CT and PET before anything is computed from them.

Refused (``InputError`` naming the file, one line): an image that is not a 3-D volume (a single slice
counts as not 3-D), one whose voxels are all NaN/inf, a constant image, and a PET that does not overlap
the CT in physical space.

Repaired (a note is returned and the image in ``case`` is replaced): a few NaN/inf voxels, set to
-1024 HU in the CT (air) and 0 SUV in the PET, since a readable case must still produce outputs; then
units and implausible values (:mod:`algorithm.intensity`): PET in SUV x 1000 or Bq/ml brought to SUV
(or normalised unit-free when no unit can be trusted), impossible SUVs repaired, CT stored with a
+1024 offset shifted back to HU, CT values outside [-1024, 3071] HU clipped.
Noted only: a PET that covers little of the CT, and a CT whose values do not look like HU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from algorithm.intensity import harmonise_ct, harmonise_pet
from algorithm.reading import CaseInputs
from hecktor.errors import InputError
from hecktor.geometry import Grid, overlap_fraction, overlap_volume_mm3

log = logging.getLogger(__name__)

#: Replacement for non-finite voxels: CT in HU (air), PET in SUV.
CT_FILL_HU = -1024.0
PET_FILL_SUV = 0.0
#: Below this fraction of the CT's extent covered by the PET, a note is added.
LOW_OVERLAP_FRACTION = 0.2


def validate_case(case: CaseInputs) -> list[str]:
    """Check ``case.ct`` and ``case.pet``; repair a few non-finite voxels in place; return notes.

    Raises:
        InputError: naming ``case.ct_path`` or ``case.pet_path`` for a non-3-D, all-non-finite or
            constant image, or when PET and CT do not overlap in physical space.
    """
    notes: list[str] = []
    case.ct, note = _check_image(case.ct, "CT", case.ct_path, CT_FILL_HU)
    notes += note
    case.pet, note = _check_image(case.pet, "PET", case.pet_path, PET_FILL_SUV)
    notes += note
    case.ct, note = harmonise_ct(case.ct)
    notes += note
    case.pet, note = harmonise_pet(case.pet)
    notes += note

    ct_grid, pet_grid = Grid.of(case.ct), Grid.of(case.pet)
    if overlap_volume_mm3(ct_grid, pet_grid) <= 0:
        raise InputError(case.pet_path, "PET does not overlap the CT in physical space (check origin and direction)")
    covered = overlap_fraction(ct_grid, pet_grid)
    if covered < LOW_OVERLAP_FRACTION:
        notes.append(f"PET covers only {covered:.0%} of the CT's extent; segmentation is limited to the overlap")

    for note in notes:
        log.warning("input check: %s", note)
    return notes


def _check_image(image: sitk.Image, what: str, path: Path | None, fill: float) -> tuple[sitk.Image, list[str]]:
    """The image (repaired when needed) and notes; raises InputError for unusable images."""
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, f"{what} is not a 3-D scalar volume")
    if min(image.GetSize()) < 2:
        raise InputError(path, f"{what} has size {image.GetSize()}: a single slice, expected a 3-D volume")
    view = sitk.GetArrayViewFromImage(image)
    notes: list[str] = []
    if np.issubdtype(view.dtype, np.floating):
        finite = np.isfinite(view)
        n_bad = int(finite.size - np.count_nonzero(finite))
        if n_bad == finite.size:
            raise InputError(path, f"{what} has no finite voxel (all NaN or infinite)")
        if n_bad:
            array = sitk.GetArrayFromImage(image)
            array[~finite] = fill
            repaired = sitk.GetImageFromArray(array)
            repaired.CopyInformation(image)
            image, view = repaired, array
            notes.append(f"{what}: {n_bad} NaN/inf voxel(s) ({n_bad / finite.size:.2%}) replaced by {fill:g}")
        del finite
    if float(view.min()) == float(view.max()):
        raise InputError(path, f"{what} is constant ({float(view.min()):g} everywhere)")
    return image, notes


#: Largest plausible total volumes (mL) of the predicted GTVp (label 1) and GTVn (label 2, all nodes). Our
#: choice (issue 19): well above the largest HECKTOR primaries and nodal burdens reported (a few hundred mL),
#: so a mask over them is a segmentation that went wrong (PET in other units, a whole-body field of view...).
PLAUSIBLE_MAX_ML: dict[int, float] = {1: 300.0, 2: 500.0}


def implausible_volumes(label: sitk.Image) -> list[str]:
    """One note per label (1 GTVp, 2 GTVn) whose total predicted volume exceeds :data:`PLAUSIBLE_MAX_ML`."""
    array = sitk.GetArrayViewFromImage(label)
    voxel_ml = float(np.prod(label.GetSpacing())) / 1000.0
    notes = []
    for value, name in ((1, "GTVp"), (2, "GTVn")):
        # count_nonzero over a boolean view: np.bincount would widen a whole-body mask to int64 (8 bytes a voxel)
        volume = float(np.count_nonzero(array == value)) * voxel_ml
        if volume > PLAUSIBLE_MAX_ML[value]:
            notes.append(
                f"implausible segmentation: {name} {volume:.0f} mL (plausible up to {PLAUSIBLE_MAX_ML[value]:.0f} mL);"
                " check the PET units and the field of view; the mask is written as predicted"
            )
    return notes
