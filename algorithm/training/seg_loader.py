"""The training data loader: foreground-oversampled patches streamed by a torch ``DataLoader``.

:class:`PatchStream` is an ``IterableDataset`` over one epoch: ``steps`` batches of ``batch_size``
patches cut by :class:`algorithm.training.seg_sampling.PatchSampler` from the memory-mapped cache, shared
out between the loader's workers in whole batches (so every batch comes from one worker and an epoch is
exactly ``steps`` batches). Each (epoch, worker, DDP rank) draws from its own seed, derived from the fold's
seed, so an epoch's patches are the same whether it runs straight on or after ``--resume`` (for a given
number of workers and processes).

Augmentation (:mod:`algorithm.training.seg_augment`) runs where the training settings' ``augment_on``
says: ``"loader"`` in the workers (the CPU default), ``"device"`` on the batch once it is on the GPU
(the CUDA default: resampling and filtering on the GPU keep the epoch from being bound by the CPU).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from algorithm.training.seg_augment import augment, build_augmentation
from algorithm.training.seg_sampling import PatchSampler

log = logging.getLogger(__name__)


def stream_seed(seed: int, epoch: int, worker: int, rank: int = 0) -> int:
    """A 32-bit seed of one (fold seed, epoch, loader worker, DDP rank)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(worker), int(rank)]).generate_state(1)[0])


class PatchStream(IterableDataset):
    """One epoch of patch samples ``(image (C, z, y, x) float32, label (1, z, y, x) int64)``.

    Args:
        sampler: the patch sampler (its generator is replaced per epoch and worker).
        steps: batches per epoch.
        batch_size: patches per batch.
        seed: the fold's seed.
        rank: the DDP rank (0 on one process).
        augmentation: the config's ``augmentation`` block, or None when augmentation runs elsewhere.
        channels: channel names (``config.channels_order``).
        mirror_dims: array dims flipped at random.
    """

    def __init__(
        self,
        sampler: PatchSampler,
        steps: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        augmentation: Mapping[str, Any] | None = None,
        channels: Sequence[str] = ("CT", "PET"),
        mirror_dims: Sequence[int] = (),
        augment_here: bool = True,
    ) -> None:
        self.sampler = sampler
        self.steps, self.batch_size = int(steps), int(batch_size)
        self.seed, self.rank, self.epoch = int(seed), int(rank), 0
        self.augmentation, self.augment_here = augmentation, augment_here
        self.channels, self.mirror_dims = list(channels), list(mirror_dims)

    def set_epoch(self, epoch: int) -> None:
        """Draw the next iteration's patches from epoch ``epoch``'s seeds."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        seed = stream_seed(self.seed, self.epoch, worker, self.rank)
        rng = np.random.default_rng(seed)
        self.sampler.rng = rng
        compose = None
        if self.augment_here:
            outside = [float(v) for v in self.sampler.pad_values]  # air padding of rotated/scaled patches
            compose = build_augmentation(
                self.augmentation,
                self.channels,
                self.mirror_dims,
                seed + 1,
                outside=outside,
                patch_zyx=self.sampler.patch,
            )
        batches = self.steps // workers + (1 if worker < self.steps % workers else 0)
        for _ in range(batches * self.batch_size):
            image, label = self.sampler.patch_of(int(rng.integers(len(self.sampler.cases))))
            x = torch.from_numpy(image)
            y = torch.from_numpy(label[None].astype(np.int64))
            if compose is not None:
                x, y = augment(compose, x, y)
                y = y.to(torch.int64)
            yield x.contiguous(), y.contiguous()


def default_workers(world_size: int = 1) -> int:
    """Loader workers per process when the settings say -1: one core per process kept for training, at most 8."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(8, cpus // max(world_size, 1) - 1))


def make_loader(stream: PatchStream, workers: int, pin_memory: bool) -> DataLoader:
    """A ``DataLoader`` batching ``stream`` (``workers`` processes, pinned memory for a CUDA device)."""
    return DataLoader(
        stream,
        batch_size=stream.batch_size,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers > 0 else None,
        persistent_workers=False,
    )
