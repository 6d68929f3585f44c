"""Out-of-fold predicted masks of ``train segmentation``: each held-out case segmented by its fold's model.

After fold ``k`` has trained, its best weights segment every case of fold ``k`` exactly as the container
would (:class:`algorithm.segmentation.Segmenter` on the case's CT and PET, the mask on the CT grid), and
the mask goes to ``RUN/oof/<PID>.nii.gz``; ``RUN/oof/folds.json`` maps each written case to its fold.
``train prognosis|hpv --masks oof:RUN`` then fits on features of these masks
(:mod:`algorithm.training.oof_masks`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import SimpleITK as sitk
import torch

from algorithm.intensity import harmonise_training_pair
from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.locate_net import NetworkLocator
from algorithm.segmentation.network import build_network, fold_path
from algorithm.segmentation.segmenter import Segmenter
from algorithm.training.oof_masks import OOF_DIR
from algorithm.training.seg_data import TrainingCase
from hecktor.imageio import read_image
from hecktor.progress import progress

log = logging.getLogger(__name__)


def write_oof_masks(
    fold: int,
    cases: list[TrainingCase],
    config: SegmentationConfig,
    run_dir: Path,
    device: torch.device,
    locator: NetworkLocator | None = None,
) -> list[Path]:
    """Segment ``cases`` (fold ``fold``'s held-out cases) with ``run_dir/fold_<fold>.pt``; the masks written."""
    if not cases:
        return []
    net = build_network(config)
    net.load_state_dict(torch.load(fold_path(run_dir, fold), map_location="cpu", weights_only=True))
    net = net.to(device).eval()
    segmenter = Segmenter(config, [net], device, [fold], locator=locator)
    folder = Path(run_dir) / OOF_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    stages = logging.getLogger("algorithm.segmentation")
    level = stages.level
    stages.setLevel(max(level, logging.WARNING))
    try:
        for case in progress(cases, f"fold {fold} out-of-fold masks: case", log, every_s=10.0):
            ct, pet = harmonise_training_pair(read_image(case.ct, "CT"), read_image(case.pet, "PET"), case.patient_id)
            mask = segmenter.segment(ct, pet)
            path = folder / f"{case.patient_id}.nii.gz"
            sitk.WriteImage(mask, str(path), useCompression=True)
            written.append(path)
    finally:
        stages.setLevel(level)
    index = folder / "folds.json"
    folds = json.loads(index.read_text()) if index.is_file() else {}
    folds.update({c.patient_id: fold for c in cases})
    index.write_text(json.dumps(folds, indent=1, sort_keys=True) + "\n")
    log.info("fold %d: %d out-of-fold masks in %s", fold, len(written), folder)
    return written
