"""Task 1: primary tumour (GTVp = 1) and lymph node (GTVn = 2) segmentation from PET/CT.

Stages, one module each: :mod:`.locate` (head-and-neck box from PET brain uptake; or :mod:`.locate_net`,
a learned low-resolution locator, for ``locate.method = "network"``) -> :mod:`.crop`
(crop grid, index regions) -> :mod:`.resample` -> :mod:`.normalise` (the three together in
:mod:`.preprocess`, shared with training) -> :mod:`.infer` (sliding windows, TTA, fold ensemble) ->
:mod:`.map_back` (probabilities onto the CT grid) -> :mod:`.postprocess` (small components).
:class:`Segmenter` strings them together; :mod:`.config` describes the model folder's ``config.json``
and :mod:`.network` builds the MONAI network it names (SegResNet, UNet, DynUNet, SwinUNETR). A model
folder may also be a heterogeneous ensemble (``members/<name>/`` with their own architectures and input
channels on one crop grid). Published recipes live in ``configs/`` (``paper_*_1mm.json``,
``sjtu_coarse_to_fine/``).
"""

from algorithm.segmentation.config import ModelError, SegmentationConfig
from algorithm.segmentation.segmenter import Segmenter, resolve_device

__all__ = ["ModelError", "SegmentationConfig", "Segmenter", "resolve_device"]
