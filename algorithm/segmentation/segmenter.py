"""The Task 1 segmenter: a trained model folder in, a label image on the exact CT grid out.

A case's journey: locate -> crop+resample -> normalise (:mod:`~algorithm.segmentation.preprocess`) ->
infer (:mod:`~algorithm.segmentation.infer`) -> map back (:mod:`~algorithm.segmentation.map_back`) ->
postprocess (:mod:`~algorithm.segmentation.postprocess`, on the CT grid so that component volumes are
the ones the metrics see) -> paste onto the full CT grid.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from algorithm.segmentation.config import ModelError, SegmentationConfig
from algorithm.segmentation.infer import mirror_flips, predict_probabilities
from algorithm.segmentation.map_back import paste_on_ct, probabilities_on_ct_block
from algorithm.segmentation.network import load_fold
from algorithm.segmentation.postprocess import remove_small_components
from algorithm.segmentation.preprocess import preprocess
from hecktor.progress import peak_rss_gib, stage

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


class Segmenter:
    """A loaded segmentation model (one network per fold) and its configuration.

    Attributes:
        config: the parsed ``config.json``.
        device: where the networks run.
        folds: the folds ensembled.
        tta: whether mirror test-time augmentation is on.
    """

    def __init__(
        self,
        config: SegmentationConfig,
        nets: list[torch.nn.Module],
        device: torch.device,
        folds: list[int],
        tta: bool = False,
        model_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.nets = nets
        self.device = device
        self.folds = folds
        self.tta = tta
        self.model_dir = model_dir

    @classmethod
    def load(
        cls, model_dir: str | Path, device: str = "auto", tta: bool = False, folds: list[int] | None = None
    ) -> Segmenter:
        """Load ``config.json`` and ``fold_<k>.pt`` for each fold (default: the config's ``folds``).

        Raises:
            ModelError: the folder, config or a weight file is missing or does not fit.
        """
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelError(f"{model_dir}: segmentation model folder is missing")
        config = SegmentationConfig.load(model_dir)
        folds = list(config.folds if folds is None else folds)
        if not folds:
            raise ModelError(f"{model_dir}: no folds to load")
        chosen = resolve_device(device)
        if chosen.type == "cuda":
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        nets = [load_fold(model_dir, k, config, chosen) for k in folds]
        passes = len(mirror_flips(config, tta))
        log.info(
            "segmentation model %s (%s, folds %s, %d pass(es) per fold) on %s",
            model_dir,
            config.architecture,
            folds,
            passes,
            chosen,
        )
        return cls(config, nets, chosen, folds, tta, model_dir)

    def segment(self, ct: sitk.Image, pet: sitk.Image, timings: dict[str, float] | None = None) -> sitk.Image:
        """Label image (uint8: 0 background, 1 GTVp, 2 GTVn) on exactly the CT grid.

        Args:
            ct: CT in HU.
            pet: PET in SUV, on any grid overlapping the CT.
            timings: per-stage seconds are added under ``locate``, ``crop+resample``, ``normalise``,
                ``infer``, ``map back`` and ``postprocess``.
        """
        timings = {} if timings is None else timings
        case = preprocess(ct, pet, self.config, timings=timings)
        with stage("infer", log, timings):
            probs = predict_probabilities(self.nets, case.image, self.config, self.device, self.tta)
        del case.image
        with stage("map back", log, timings):
            region, labels = probabilities_on_ct_block(probs, case.grid, ct)
        del probs
        with stage("postprocess", log, timings):
            voxel_mm3 = float(np.prod(ct.GetSpacing()))
            labels = remove_small_components(
                labels, voxel_mm3, self.config.min_component_mm3, self.config.gtvp_keep_largest
            )
        with stage("map back", log, timings):
            out = paste_on_ct(labels, region, ct)
        counts = np.bincount(labels.ravel(), minlength=3) if labels.size else np.zeros(3, dtype=int)
        log.info(
            "segmentation: GTVp %.1f ml, GTVn %.1f ml (peak RSS %.2f GiB)",
            counts[1] * voxel_mm3 / 1000,
            counts[2] * voxel_mm3 / 1000,
            peak_rss_gib(),
        )
        return out
