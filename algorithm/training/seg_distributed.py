"""Multi-process training (DDP) under ``torchrun``; the same code runs as one plain process.

``torchrun --nproc-per-node N -m algorithm train segmentation ...`` starts N processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` in their environment: :func:`start` then joins the process group
(NCCL on CUDA, one GPU per process by ``LOCAL_RANK``; gloo on the CPU). Without those variables (or with
``WORLD_SIZE`` 1) nothing is initialised and :class:`Dist` says rank 0 of 1.

Conventions: every process trains on its own patches (``steps_per_epoch`` batches each, so the global
batch is N x ``batch_size``); gradients are averaged by ``DistributedDataParallel``; rank 0 alone
preprocesses the cache, validates, writes files and logs at INFO level; the others wait at barriers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dist:
    """This process's place: ``rank`` of ``world_size`` (``local_rank`` on its machine)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op on one process)."""
        if self.enabled:
            dist.barrier()


def from_env() -> Dist:
    """The process's place from torchrun's environment variables (rank 0 of 1 without them)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def start(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group when started by torchrun; the process's place and its device.

    On CUDA each process takes GPU ``LOCAL_RANK`` (NCCL); on the CPU the gloo backend is used.
    """
    place = from_env()
    if not place.enabled:
        return place, device
    if device.type == "cuda":
        device = torch.device("cuda", place.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if not place.is_main:  # one voice in the log: the others only warn
        logging.getLogger().setLevel(logging.WARNING)
    log.info(
        "DDP: %d processes (%s backend), this is rank %d on %s",
        place.world_size,
        dist.get_backend(),
        place.rank,
        device,
    )
    return place, device


def stop(place: Dist) -> None:
    """Leave the process group (no-op on one process)."""
    if place.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
