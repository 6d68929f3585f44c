"""nnU-Net v2 as a segmentation backend (issue 15).

A ``segmentation/`` model folder that is an nnU-Net v2 trained-model folder as nnU-Net writes it
(``dataset.json``, ``plans.json``, ``fold_<k>/checkpoint_final.pth`` or ``checkpoint_best.pth``) runs as it is:
:func:`~algorithm.segmentation.nnunet.folder.is_nnunet_model_dir` recognises it and
:class:`~algorithm.segmentation.nnunet.segmenter.NnUNetSegmenter` runs it around the kit's head crop.

This package's own modules import nnU-Net only where they need it (``segmenter``); ``folder`` and ``options``
are light (no torch), so the MONAI path never imports nnU-Net.
"""

from algorithm.segmentation.nnunet.folder import is_nnunet_model_dir

__all__ = ["is_nnunet_model_dir"]
