"""The nnU-Net head locator (``locate.method = "nnunet"``): a coarse nnU-Net model whose mask places the crop box.

Coarse-to-fine as team SJTU_lab426 (HECKTOR 2025) ran it: a low-resolution nnU-Net sees a large block of the CT
and predicts the tumour region; the fine box (the model's ``crop_size_mm``) is centred on the bounding box of the
mask's largest connected component. An empty mask returns None, so the caller falls back to the PET heuristic
(and logs it).

The locator is an nnU-Net trained-model folder (by default ``<model folder>/locator/``), e.g. the one
``python -m algorithm train segmentation --backend nnunet --target region`` writes. Its input block is set by the
kit's ``config.json`` beside it: ``locate.method = "whole-scan"`` (what that training writes) gives the box of
``crop_size_mm`` hanging from the top of the CT (no PET needed), ``crop: false`` the whole CT, anything else the
PET-heuristic box. Any foreground label of the locator counts as the region (a region model, or a GTVp/GTVn model).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from algorithm.segmentation.config import ModelError
from algorithm.segmentation.locate import Box, box_around, largest_component_extent
from algorithm.segmentation.nnunet.block import cut_case
from algorithm.segmentation.nnunet.folder import is_nnunet_model_dir

log = logging.getLogger(__name__)


class NnUNetLocator:
    """A loaded nnU-Net locator (:class:`~algorithm.segmentation.nnunet.segmenter.NnUNetSegmenter`)."""

    def __init__(self, model: Any) -> None:  # an NnUNetSegmenter (imported lazily: nnU-Net only when used)
        self.model = model

    @classmethod
    def load(cls, folder: str | Path, device: torch.device | str = "cpu") -> NnUNetLocator:
        """Load the nnU-Net folder (all its folds, no mirroring unless its config asks).

        Raises:
            ModelError: the folder is missing or is not an nnU-Net trained-model folder.
        """
        folder = Path(folder)
        if not is_nnunet_model_dir(folder):
            raise ModelError(
                f"{folder}: locator is not an nnU-Net trained-model folder (dataset.json, plans.json,"
                " fold_<k>/checkpoint_final.pth), as locate.method 'nnunet' needs"
            )
        from algorithm.segmentation.nnunet.segmenter import NnUNetSegmenter

        model = NnUNetSegmenter.load(folder, device)
        log.info("locator %s: nnU-Net (folds %s, channels %s)", folder, model.folds, list(model.channels))
        return cls(model)

    def fingerprint(self) -> list[object]:
        """What identifies the locator for a training cache: its folder, folds, options and checkpoint files."""
        from algorithm.segmentation.nnunet.folder import fold_dirs

        folds = fold_dirs(self.model.model_dir)
        files = sorted(
            (k, c.name, c.stat().st_size, c.stat().st_mtime_ns)
            for k, folder in folds.items()
            if k in self.model.folds
            for c in folder.glob("checkpoint_*.pth")
        )
        return [str(self.model.model_dir), list(self.model.folds), repr(self.model.options), files]

    def mask(self, ct: sitk.Image, pet: sitk.Image) -> tuple[np.ndarray, sitk.Image]:
        """The locator's binary mask (z, y, x) on its block of CT voxels (LPS), and that block."""
        case = cut_case(ct, pet, self.model.options)
        if case.region.is_empty:
            return np.zeros((0, 0, 0), dtype=bool), case.ct
        probs = self.model.block_probabilities(case)
        return probs[0] < 0.5, case.ct

    def locate(self, ct: sitk.Image, pet: sitk.Image, crop_size_mm: list[float]) -> Box | None:
        """The fine box of ``crop_size_mm`` centred on the mask's largest component; None when it is empty."""
        mask, block = self.mask(ct, pet)
        extent = largest_component_extent(mask)
        if extent is None:
            return None
        low_idx, high_idx, voxels = extent
        middle = ((low_idx + high_idx) / 2).tolist()
        centre = np.asarray(block.TransformContinuousIndexToPhysicalPoint(middle))
        log.info("nnU-Net locator: region of %d voxels", voxels)
        return box_around(centre, crop_size_mm, ct, "nnunet")  # (it logs the box)
