"""The nnU-Net model's input channels from the CT (HU) and PET (SUV) on one grid.

nnU-Net normalises each channel itself (plans: ``CTNormalization`` for a channel named CT, z-score otherwise),
so the kit feeds raw values: CT in HU, PET in SUV, and the SJTU_lab426 CT enhancements computed from HU:
``CT^2`` = (HU / 1000)^2 and ``cbrt(CT)`` = cbrt(HU / 1000) (training writes the same, :mod:`...training.nnunet`).
"""

from __future__ import annotations

import numpy as np


def channel_array(name: str, ct_hu: np.ndarray, pet_suv: np.ndarray) -> np.ndarray:
    """One channel (z, y, x) float32 by its kit name (``CT``, ``PET``, ``CT^2``, ``cbrt(CT)``)."""
    if name == "CT":
        return np.asarray(ct_hu, dtype=np.float32)
    if name == "PET":
        return np.nan_to_num(np.asarray(pet_suv, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    scaled = np.asarray(ct_hu, dtype=np.float32) / np.float32(1000.0)
    if name == "CT^2":
        return np.square(scaled)
    if name == "cbrt(CT)":
        return np.cbrt(scaled)
    raise ValueError(f"unknown channel {name!r}")


def stack_input(channels: tuple[str, ...], ct_hu: np.ndarray, pet_suv: np.ndarray) -> np.ndarray:
    """nnU-Net's input (C, z, y, x) float32, channels in the model's order."""
    return np.stack([channel_array(name, ct_hu, pet_suv) for name in channels], axis=0)
