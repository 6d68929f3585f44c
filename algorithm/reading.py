"""Read one case from a Grand Challenge ``/input`` folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from hecktor import interface
from hecktor.clinical import ClinicalRecord, read_clinical_json
from hecktor.errors import InputError
from hecktor.imageio import find_single_image, read_image

log = logging.getLogger(__name__)


@dataclass
class CaseInputs:
    """One case as read from ``/input``: images in their own grids (LPS, mm), PET in SUV, CT in HU."""

    ct: sitk.Image
    pet: sitk.Image
    clinical: ClinicalRecord
    planning_ct: sitk.Image | None = None
    rt_dose: sitk.Image | None = None
    ct_path: Path | None = None
    pet_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def read_case(input_dir: str | Path, treatment_plan: bool = True) -> CaseInputs:
    """Read CT, PET (required), ``ehr.json`` and, with ``treatment_plan``, the optional planning CT and RT dose.

    ``treatment_plan=False`` (no task that uses them, e.g. ``--tasks 1,3``) leaves the planning CT and RT dose
    unread: a whole-body planning CT costs hundreds of MB and seconds for nothing.

    Raises:
        InputError: CT or PET missing or unreadable (the message names the file).

    A missing or unreadable ``ehr.json``, planning CT or RT dose is a documented fallback: the case is
    processed without it, and a note says why.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise InputError(input_dir, "input folder is missing")
    ct_path = find_single_image(input_dir / interface.CT.relative_path, "CT")
    pet_path = find_single_image(input_dir / interface.PET.relative_path, "PET")
    ct = read_image(ct_path, "CT")
    pet = read_image(pet_path, "PET")
    clinical = read_clinical_json(input_dir / interface.EHR.relative_path)
    case = CaseInputs(ct=ct, pet=pet, clinical=clinical, ct_path=ct_path, pet_path=pet_path)
    case.notes.extend(clinical.notes)
    if treatment_plan:
        case.planning_ct = _read_optional(input_dir / interface.PLANNING_CT.relative_path, "planning CT", case)
        case.rt_dose = _read_optional(input_dir / interface.RT_DOSE.relative_path, "RT dose", case)
    else:
        log.info("planning CT and RT dose not read: no requested task uses them")
    for note in case.notes:
        log.info("input note: %s", note)
    return case


def _read_optional(folder: Path, what: str, case: CaseInputs) -> sitk.Image | None:
    if not folder.exists():
        return None
    try:
        return read_image(find_single_image(folder, what), what)
    except InputError as exc:
        case.notes.append(f"{what} ignored: {exc}")
        return None
