"""The learned head-and-neck locators a segmentation config may name (``locate.method``), loaded by name."""

from __future__ import annotations

from pathlib import Path

import torch

from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.locate_net import NetworkLocator
from algorithm.segmentation.preprocess import BoxLocator


def load_locator(model_dir: Path, config: SegmentationConfig, device: torch.device) -> BoxLocator | None:
    """The learned locator ``config.locate`` names (``network``: the kit's MONAI one; ``nnunet``: an nnU-Net
    folder), from ``model_dir/<locate.network_dir>``; None for the other methods."""
    if config.locate.method == "network":
        return NetworkLocator.load(model_dir / config.locate.network_dir, device)
    if config.locate.method == "nnunet":
        from algorithm.segmentation.nnunet.locate import NnUNetLocator

        return NnUNetLocator.load(model_dir / config.locate.network_dir, device)
    return None
