"""Independent, reproducible random streams for one synthetic patient.

Every stream is keyed by (cohort seed, patient ID, role), so a patient's anatomy, lesions, clinical
record and outcome do not depend on the image size asked for, on other patients, or on the order of
generation; only the imaging streams also depend on the size (``small``/``realistic``).
"""

from __future__ import annotations

import zlib

import numpy as np

ROLES = ("structure", "anatomy", "lesions", "clinical", "outcome", "grids", "ct", "pet", "planning", "dose", "staging")


def stream(seed: int, patient_id: str, role: str, size: str = "") -> np.random.Generator:
    """A generator for one ``role`` of one patient (and image ``size`` for imaging roles)."""
    if role not in ROLES:
        raise ValueError(f"unknown random stream role {role!r}")
    key = [int(seed) & 0xFFFFFFFF, zlib.crc32(patient_id.encode()), ROLES.index(role), zlib.crc32(size.encode())]
    return np.random.default_rng(np.random.SeedSequence(key))
