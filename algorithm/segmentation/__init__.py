"""Task 1: primary tumour (GTVp = 1) and lymph node (GTVn = 2) segmentation from PET/CT.

Stages, one module each: :mod:`.locate` (head-and-neck box from PET brain uptake; or :mod:`.locate_net`,
a learned low-resolution locator, for ``locate.method = "network"``) -> :mod:`.crop`
(crop grid, index regions) -> :mod:`.resample` -> :mod:`.normalise` (the three together in
:mod:`.preprocess`, shared with training) -> :mod:`.infer` (sliding windows, TTA, fold ensemble) ->
:mod:`.map_back` (probabilities onto the CT grid) -> :mod:`.postprocess` (small components).
:class:`Segmenter` strings them together; :mod:`.config` describes the model folder's ``config.json``
and :mod:`.network` builds the MONAI network it names (SegResNet, UNet, DynUNet, SwinUNETR). A model
folder may also be a heterogeneous ensemble (``members/<name>/`` with their own architectures and input
channels on one crop grid), or, with :mod:`.ensemble`, of members of different kinds (nnU-Net folders
and kit MONAI folders, averaged on the CT block; the nnU-Net head locator is :mod:`.nnunet.locate`).
Published recipes live in ``configs/`` (``paper_*_1mm.json``, ``sjtu_coarse_to_fine/``).
``load_segmentation_model(dir, device=..., tta=...)`` is the task's loader
(:mod:`algorithm.model_files`: ``model.json`` names the kind, ``monai``, ``nnunet`` or ``ensemble``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algorithm.model_files import load_model
from algorithm.segmentation.config import ModelError, SegmentationConfig
from algorithm.segmentation.device import resolve_device
from algorithm.segmentation.segmenter import Segmenter


def load_segmentation_model(model_dir: str | Path, **options: Any) -> Segmenter:
    """The Task 1 model in ``model_dir`` as its kind's class; ``options``: ``device``, ``tta``, ``folds``.

    Raises:
        ModelError: missing, invalid, of another format/version/kind, or inconsistent (one line).
    """
    return load_model("segmentation", model_dir, **options)


__all__ = ["ModelError", "SegmentationConfig", "Segmenter", "load_segmentation_model", "resolve_device"]
