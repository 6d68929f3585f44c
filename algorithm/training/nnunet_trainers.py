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


def find_trainer_class(name: str) -> type | None:
    """An nnU-Net trainer class by name, or ``None``: the kit's, then nnU-Net's base and its ``variants`` package,
    then nnU-Net's own search (its other packages and ``nnUNet_extTrainer``).

    nnU-Net's own search (``recursive_find_trainer_class_by_name``) imports its ``primus`` package, which imports
    timm, before it reaches ``variants``: with timm not installed it fails with ``No module named 'timm'`` for
    every trainer but ``nnUNetTrainer`` (``nnUNetTrainerNoMirroring``, ``nnUNetTrainer_250epochs``, ...). The
    ``variants`` package imports neither timm nor torchvision. A module that needs a package not installed counts
    as not found.
    """
    import nnunetv2
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    if name in globals() and isinstance(globals()[name], type):
        return globals()[name]
    if name == nnUNetTrainer.__name__:
        return nnUNetTrainer
    variants = os.path.join(nnunetv2.__path__[0], "training", "nnUNetTrainer", "variants")
    found = recursive_find_python_class(variants, name, "nnunetv2.training.nnUNetTrainer.variants")
    if found is not None:
        return found
    try:
        return recursive_find_trainer_class_by_name(name)
    except (RuntimeError, AssertionError, ImportError):
        return None
