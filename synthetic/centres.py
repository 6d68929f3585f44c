"""The HECKTOR centres, their integer ``CenterID`` and per-centre habits of the synthetic data.

**[our choice]** ``CenterID`` numbers the centres of the reference in its order (CHUM = 1 ...
CHUN = 11); the organisers' own numbering is not public. Each centre gets fixed habits (not drawn
from the cohort seed): CT noise, PET calibration and how often it leaves clinical fields blank.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

CENTRES: tuple[str, ...] = ("CHUM", "CHUS", "HGJ", "HMR", "CHUP", "CHUV", "MDA", "USZ", "CHB", "CHUB", "CHUN")
CENTER_IDS: dict[str, int] = {c: i + 1 for i, c in enumerate(CENTRES)}


@dataclass(frozen=True)
class CentreHabits:
    """Per-centre acquisition and recording habits.

    ``ct_noise_hu``: standard deviation of CT noise (HU); ``pet_calibration``: factor on every SUV;
    ``pet_fwhm_mm``: PET resolution; ``missing_boost``: added to every field's missing-value rate.
    """

    ct_noise_hu: float
    pet_calibration: float
    pet_fwhm_mm: float
    missing_boost: float


def centre_habits(centre: str) -> CentreHabits:
    """Fixed habits of a centre (deterministic from its name)."""
    rng = np.random.default_rng(zlib.crc32(centre.encode()))
    return CentreHabits(
        ct_noise_hu=float(rng.uniform(6.0, 16.0)),
        pet_calibration=float(rng.uniform(0.85, 1.15)),
        pet_fwhm_mm=float(rng.uniform(5.0, 8.0)),
        missing_boost=float(rng.uniform(0.0, 0.15)),
    )


def center_id(centre: str) -> int | None:
    """The ``CenterID`` of a centre acronym; ``None`` for an unknown centre."""
    return CENTER_IDS.get(centre.upper())
