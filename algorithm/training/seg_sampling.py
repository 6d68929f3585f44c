"""Class-balanced (foreground-oversampled) patch sampling for segmentation training.

Patches are cut from cached crop-grid cases (image (C, z, y, x), label (z, y, x)). For each patch a
class is drawn with probability proportional to ``class_ratios`` (background, GTVp, GTVn) among the
classes present in the case, a voxel of that class is drawn, and the patch is placed around it with a
random shift of up to a quarter patch, clamped to the image (padded with the normalised "outside"
value of each channel when the image is smaller than the patch). Augmentation is separate
(:mod:`algorithm.training.seg_augment`), run by the data loader (:mod:`algorithm.training.seg_loader`)
on the CPU or on the GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from algorithm.training.seg_data import CachedCase

#: Class voxels remembered per case and class (a random subset when there are more), for fast draws.
MAX_INDICES_PER_CLASS = 50_000


class PatchSampler:
    """Draws (image, label) patch batches from cached cases.

    Args:
        cases: cached training cases.
        patch_zyx: patch size (z, y, x), voxels.
        class_ratios: relative frequency of patches centred on background, GTVp, GTVn.
        pad_values: per-channel value for voxels outside an image (normalised units).
        rng: numpy random generator (seeded by the caller).
    """

    def __init__(
        self,
        cases: Sequence[CachedCase],
        patch_zyx: tuple[int, int, int],
        class_ratios: Sequence[float],
        pad_values: Sequence[float],
        rng: np.random.Generator,
    ) -> None:
        if not cases:
            raise ValueError("no training case to sample from")
        self.cases = list(cases)
        self.patch = tuple(int(p) for p in patch_zyx)
        self.ratios = np.asarray(class_ratios, dtype=float)
        self.pad_values = np.asarray(pad_values, dtype=np.float32)
        self.rng = rng
        self.indices = [self._class_indices(c.label) for c in self.cases]

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
            image, label = self.patch_of(i)
            images.append(image)
            labels.append(label[None])
        return np.stack(images), np.stack(labels).astype(np.int64)

    def patch_of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """One patch of case ``i``: image (C, z, y, x) float32, label (z, y, x) uint8."""
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
