"""The learned head-and-neck locator: a small low-resolution network whose mask places the fine crop box.

Coarse-to-fine (team SJTU_lab426, HECKTOR 2025): a locator network sees the CT alone at low resolution
(e.g. 2 x 2 x 3 mm, CT clipped to [-110, 190] HU) in a large box hanging from the top of the scan
(``locate.method = "whole-scan"`` in its own config) and predicts a tumour-region mask (``target =
"region"``: the dilated union of GTVp and GTVn). The fine box (the segmentation model's
``crop_size_mm``) is centred on the bounding box of the mask's largest connected component; an empty
mask returns None so that the caller falls back to the PET heuristic (and logs it).

The locator is a model folder of its own (``config.json`` + ``fold_<k>.pt``), by default
``<model folder>/locator/``, trained with ``python -m algorithm train segmentation --config
sjtu_coarse_to_fine/locator``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from algorithm.segmentation.config import ModelError, SegmentationConfig
from algorithm.segmentation.infer import predict_probabilities
from algorithm.segmentation.locate import Box, box_around, largest_component_extent
from algorithm.segmentation.network import load_fold
from algorithm.segmentation.preprocess import preprocess
from hecktor.geometry import Grid

log = logging.getLogger(__name__)


class NetworkLocator:
    """A loaded locator model: its config (``target = "region"``) and one network per fold."""

    def __init__(self, config: SegmentationConfig, nets: list[torch.nn.Module], device: torch.device) -> None:
        self.config = config
        self.nets = nets
        self.device = device

    @classmethod
    def load(cls, folder: str | Path, device: torch.device) -> NetworkLocator:
        """Load ``folder/config.json`` and its folds.

        Raises:
            ModelError: missing folder or weights, or a config that does not predict a region.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"{folder}: locator model folder is missing (locate.method is 'network')")
        config = SegmentationConfig.load(folder)
        if config.target != "region":
            raise ModelError(f"{folder}: a locator must have target 'region', got {config.target!r}")
        if config.locate.method == "network":
            raise ModelError(f"{folder}: a locator cannot itself use locate.method 'network'")
        nets = [load_fold(folder, k, config, device) for k in config.folds]
        log.info("locator %s (%s, folds %s)", folder, config.architecture, config.folds)
        return cls(config, nets, device)

    def mask(self, ct: sitk.Image, pet: sitk.Image) -> tuple[np.ndarray, Grid]:
        """The locator's binary mask (z, y, x) on its own crop grid, and that grid."""
        case = preprocess(ct, pet, self.config)
        probs = predict_probabilities(self.nets, case.image, self.config, self.device)
        return probs[1] > self.config.locate.network_threshold, case.grid

    def locate(self, ct: sitk.Image, pet: sitk.Image, crop_size_mm: list[float]) -> Box | None:
        """The fine box of ``crop_size_mm`` centred on the mask's largest component; None when it is empty."""
        mask, grid = self.mask(ct, pet)
        extent = largest_component_extent(mask)
        if extent is None:
            return None
        low_idx, high_idx, voxels = extent
        spacing, origin = np.asarray(grid.spacing), np.asarray(grid.origin)
        centre = origin + spacing * (low_idx + high_idx) / 2  # identity direction
        log.info("locator network: region of %d voxels", voxels)
        return box_around(centre, crop_size_mm, ct, "network")  # (it logs the box)
