"""Class-balanced patch sampling and light augmentation for segmentation training.

Patches are cut from cached crop-grid cases (image (C, z, y, x), label (z, y, x)). For each patch a
class is drawn with probability proportional to ``class_ratios`` (background, GTVp, GTVn) among the
classes present in the case, a voxel of that class is drawn, and the patch is placed around it with a
random shift of up to a quarter patch, clamped to the image (padded with the normalised "outside"
value of each channel when the image is smaller than the patch). Augmentation: random flips along the
config's ``mirror_axes``, per-channel intensity scale (x U(0.9, 1.1)) and shift (+ U(-0.1, 0.1)) of the
non-PET channels, and a PET calibration shift (:class:`PetCalibrationShift`): the PET channel scaled by a
log-uniform factor in [0.5, 2] and, sometimes, gamma-adjusted (MONAI ``ScaleIntensity`` and
``RandAdjustContrast``), so that the network tolerates the PET calibration of an unseen centre.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.transforms import RandAdjustContrast, ScaleIntensity

from algorithm.training.seg_data import CachedCase

#: Class voxels remembered per case and class (a random subset when there are more), for fast draws.
MAX_INDICES_PER_CLASS = 50_000


class PetCalibrationShift:
    """Random PET calibration shift of a normalised PET channel (z, y, x), which is linear in SUV.

    With probability ``prob`` the channel is multiplied by ``exp(U(log low, log high))`` (a scanner or
    dose-calibration error: x0.5..x2 by default); with probability ``gamma_prob`` a MONAI
    ``RandAdjustContrast`` with gamma in ``gamma`` follows (a non-linear reconstruction difference).
    Zero (outside the scan, no uptake) stays zero.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        scale_range: tuple[float, float] = (0.5, 2.0),
        prob: float = 0.8,
        gamma: tuple[float, float] = (0.7, 1.5),
        gamma_prob: float = 0.3,
    ) -> None:
        self.rng = rng
        self.log_range = (float(np.log(scale_range[0])), float(np.log(scale_range[1])))
        self.prob = prob
        self.gamma = RandAdjustContrast(prob=gamma_prob, gamma=gamma)
        self.gamma.set_random_state(int(rng.integers(2**31 - 1)))

    def __call__(self, pet: np.ndarray) -> np.ndarray:
        out = np.asarray(pet, dtype=np.float32)
        if self.rng.random() < self.prob:
            factor = float(np.exp(self.rng.uniform(*self.log_range)))
            out = np.asarray(ScaleIntensity(minv=None, maxv=None, factor=factor - 1.0)(out[None]))[0]
        if float(out.max()) > float(out.min()):  # RandAdjustContrast divides by the range
            out = np.asarray(self.gamma(out[None]))[0]
        return out.astype(np.float32, copy=False)


class PatchSampler:
    """Draws (image, label) patch batches from cached cases.

    Args:
        cases: cached training cases.
        patch_zyx: patch size (z, y, x), voxels.
        class_ratios: relative frequency of patches centred on background, GTVp, GTVn.
        pad_values: per-channel value for voxels outside an image (normalised units).
        mirror_dims: array dims (0 = z, 1 = y, 2 = x) flipped at random.
        rng: numpy random generator (seeded by the caller).
        pet_channel: index of the PET channel (calibration-shift augmentation), or None for no PET.
    """

    def __init__(
        self,
        cases: Sequence[CachedCase],
        patch_zyx: tuple[int, int, int],
        class_ratios: Sequence[float],
        pad_values: Sequence[float],
        mirror_dims: Sequence[int],
        rng: np.random.Generator,
        pet_channel: int | None = None,
    ) -> None:
        if not cases:
            raise ValueError("no training case to sample from")
        self.cases = list(cases)
        self.patch = tuple(int(p) for p in patch_zyx)
        self.ratios = np.asarray(class_ratios, dtype=float)
        self.pad_values = np.asarray(pad_values, dtype=np.float32)
        self.mirror_dims = list(mirror_dims)
        self.rng = rng
        self.indices = [self._class_indices(c.label) for c in self.cases]
        self.pet_channel = pet_channel
        self.pet_shift = PetCalibrationShift(rng) if pet_channel is not None else None

    def _class_indices(self, label: np.ndarray) -> list[np.ndarray]:
        flat = label.ravel()
        out = []
        for k in range(len(self.ratios)):
            idx = np.flatnonzero(flat == k)
            if idx.size > MAX_INDICES_PER_CLASS:
                idx = self.rng.choice(idx, MAX_INDICES_PER_CLASS, replace=False)
            out.append(idx.astype(np.int64 if flat.size > np.iinfo(np.int32).max else np.int32))
        return out

    def sample(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch: images (B, C, z, y, x) float32 and labels (B, 1, z, y, x) int64."""
        images, labels = [], []
        for _ in range(batch_size):
            i = int(self.rng.integers(len(self.cases)))
            image, label = self._patch(i)
            image, label = self._augment(image, label)
            images.append(image)
            labels.append(label[None])
        return np.stack(images), np.stack(labels).astype(np.int64)

    def _patch(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        case, indices = self.cases[i], self.indices[i]
        present = np.array([idx.size > 0 for idx in indices])
        weights = self.ratios * present
        if weights.sum() <= 0:
            weights = present.astype(float)
        k = int(self.rng.choice(len(weights), p=weights / weights.sum()))
        flat = int(indices[k][self.rng.integers(indices[k].size)])
        centre = np.array(np.unravel_index(flat, case.label.shape))
        shape = np.array(case.label.shape)
        patch = np.array(self.patch)
        jitter = self.rng.integers(-(patch // 4), patch // 4 + 1)
        start = centre - patch // 2 + jitter
        start = np.clip(start, np.minimum(0, shape - patch), np.maximum(0, shape - patch))
        channels = case.image.shape[0]
        image = np.empty((channels, *self.patch), dtype=np.float32)  # cache float16 -> float32 on copy
        image[:] = self.pad_values[:, None, None, None]
        label = np.zeros(self.patch, dtype=np.uint8)
        src = tuple(slice(max(s, 0), min(s + p, n)) for s, p, n in zip(start, patch, shape, strict=True))
        dst = tuple(slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start, strict=True))
        image[(slice(None), *dst)] = case.image[(slice(None), *src)]
        label[dst] = case.label[src]
        return image, label

    def _augment(self, image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for d in self.mirror_dims:
            if self.rng.random() < 0.5:
                image = np.flip(image, axis=d + 1)
                label = np.flip(label, axis=d)
        scale = self.rng.uniform(0.9, 1.1, size=image.shape[0]).astype(np.float32)
        shift = self.rng.uniform(-0.1, 0.1, size=image.shape[0]).astype(np.float32)
        if self.pet_channel is not None:  # PET gets its own calibration shift instead
            scale[self.pet_channel], shift[self.pet_channel] = 1.0, 0.0
        image = image * scale[:, None, None, None] + shift[:, None, None, None]
        if self.pet_shift is not None:
            image[self.pet_channel] = self.pet_shift(image[self.pet_channel])
        return np.ascontiguousarray(image), np.ascontiguousarray(label)
