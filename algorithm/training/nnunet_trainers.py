"""nnU-Net trainer variants of the kit (importable by name at inference: the checkpoint records the class name).

``nnUNetTrainer_kitSmoke``: a handful of iterations, for the CPU smoke test of ``train segmentation --backend nnunet``
(nnU-Net's ``nnUNetTrainerNoMirroring``, so that validation and inference run one pass per window; its own
``nnUNetTrainer_1epoch`` still runs 250 training and 50 validation iterations). The iteration counts
come from the environment so a smoke run can be sized without a new class: ``HECKTOR_NNUNET_EPOCHS`` (default 2),
``HECKTOR_NNUNET_ITERATIONS`` (default 3), ``HECKTOR_NNUNET_VAL_ITERATIONS`` (default 1).
"""

from __future__ import annotations

import os

import torch
from nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoMirroring import (
    nnUNetTrainerNoMirroring,
)

_CUDA = torch.device("cuda")


class nnUNetTrainer_kitSmoke(nnUNetTrainerNoMirroring):
    """nnU-Net's trainer without mirroring (so its validation and inference make one pass per window) and with very
    few epochs and iterations (see the module docstring)."""

    def __init__(
        self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device = _CUDA
    ) -> None:  # nnU-Net records the named arguments of __init__: no *args here
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = int(os.environ.get("HECKTOR_NNUNET_EPOCHS", "2"))
        self.num_iterations_per_epoch = int(os.environ.get("HECKTOR_NNUNET_ITERATIONS", "3"))
        self.num_val_iterations_per_epoch = int(os.environ.get("HECKTOR_NNUNET_VAL_ITERATIONS", "1"))
