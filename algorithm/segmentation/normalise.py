"""Intensity normalisation of the resampled crop: CT (HU) and PET (SUV) to network-friendly ranges.

All functions take and return float32 arrays (z, y, x) on the crop grid and work in place where they can,
so no float64 copy is ever made.
"""

from __future__ import annotations

import numpy as np

from algorithm.segmentation.config import SegmentationConfig


def normalise_ct(ct_hu: np.ndarray, window_hu: list[float] | tuple[float, float]) -> np.ndarray:
    """CT clipped to ``window_hu`` (low, high), HU, and mapped linearly to [-1, 1] (in place, float32)."""
    low, high = float(window_hu[0]), float(window_hu[1])
    out = np.asarray(ct_hu, dtype=np.float32)
    np.clip(out, low, high, out=out)
    out -= (low + high) / 2
    out *= 2.0 / (high - low)
    return out


def normalise_pet(pet_suv: np.ndarray, transform: str, scale: float, clip_suv: float) -> np.ndarray:
    """PET clipped to [0, clip_suv] SUV, then ``"linear"``: SUV / scale, or ``"log1p"``: log1p(SUV) / log1p(scale)."""
    out = np.asarray(pet_suv, dtype=np.float32)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=clip_suv, neginf=0.0)
    np.clip(out, 0.0, clip_suv, out=out)
    if transform == "log1p":
        np.log1p(out, out=out)
        out /= np.float32(np.log1p(scale))
    else:
        out /= np.float32(scale)
    return out


def stack_channels(ct_hu: np.ndarray, pet_suv: np.ndarray, config: SegmentationConfig) -> np.ndarray:
    """Network input (C, z, y, x) float32, channels in ``config.channels_order``, each normalised.

    ``CT^2`` and ``cbrt(CT)`` are computed from the normalised CT (clipped to ``ct_window_hu`` and mapped
    to [-1, 1]), so they lie in [0, 1] and [-1, 1]. ``ct_hu`` and ``pet_suv`` may be normalised in place:
    pass copies when the raw arrays are needed again.
    """
    names = config.channels_order
    normalised: dict[str, np.ndarray] = {}
    if any(n != "PET" for n in names):
        normalised["CT"] = normalise_ct(ct_hu, config.ct_window_hu)
    if "CT^2" in names:
        normalised["CT^2"] = np.square(normalised["CT"])
    if "cbrt(CT)" in names:
        normalised["cbrt(CT)"] = np.cbrt(normalised["CT"])
    if "PET" in names:
        normalised["PET"] = normalise_pet(pet_suv, config.pet_transform, config.pet_scale, config.pet_clip_suv)
    return np.stack([normalised[name] for name in names], axis=0)
