"""Task 1: primary tumour (GTVp = 1) and lymph node (GTVn = 2) segmentation from PET/CT.

Stages, one module each: :mod:`.locate` (head-and-neck box from PET brain uptake) -> :mod:`.crop`
(crop grid, index regions) -> :mod:`.resample` -> :mod:`.normalise` (the three together in
:mod:`.preprocess`, shared with training) -> :mod:`.infer` (sliding windows, TTA, fold ensemble) ->
:mod:`.map_back` (probabilities onto the CT grid) -> :mod:`.postprocess` (small components).
:class:`Segmenter` strings them together; :mod:`.config` describes the model folder's ``config.json``
and :mod:`.network` builds the MONAI network it names.
"""

from algorithm.segmentation.config import ModelError, SegmentationConfig
from algorithm.segmentation.segmenter import Segmenter, resolve_device

__all__ = ["ModelError", "SegmentationConfig", "Segmenter", "resolve_device"]
