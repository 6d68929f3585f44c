"""Patient identifiers: from an image's original name, and the centre a patient comes from."""

from __future__ import annotations

import re

#: Default pattern mapping an original CT image name to its patient: extensions and a trailing
#: ``__CT``/``_CT`` (any case) are stripped, e.g. ``CHUM-001__CT.nii.gz`` and ``CHUM-001.mha`` ->
#: ``CHUM-001``. Override with a regular expression that has a named group ``patient``.
DEFAULT_CT_NAME_PATTERN = r"^(?P<patient>.+?)(?:_{1,2}(?i:ct))?(?:\.(?i:nii\.gz|nii|mha|mhd|nrrd|tiff?))?$"

_CENTRE_RE = re.compile(r"^(?P<centre>[A-Za-z]+)[-_]?\d+$")


def patient_id_from_image_name(name: str, pattern: str = DEFAULT_CT_NAME_PATTERN) -> str | None:
    """The patient ID encoded in an image's original name, or ``None`` when the pattern fails."""
    match = re.match(pattern, name.strip())
    if not match:
        return None
    patient = match.group("patient")
    return patient or None


def centre_of(patient_id: str) -> str:
    """Centre acronym from a patient ID (``"CHUM-001"`` -> ``"CHUM"``); ``"unknown"`` when absent."""
    match = _CENTRE_RE.match(patient_id.strip())
    return match.group("centre").upper() if match else "unknown"
