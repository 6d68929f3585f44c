"""Where the networks run: CUDA when present, else the CPU (one choice for inference and training)."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; ``"cpu"``/``"cuda"``/``"cuda:N"`` as asked.

    An explicit CUDA request on a machine without CUDA falls back to CPU with a warning, so a case
    still gets an output.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        log.warning("device %r requested but CUDA is not available; using the CPU", device)
        return torch.device("cpu")
    return chosen
