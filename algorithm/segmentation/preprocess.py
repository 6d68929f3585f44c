"""The one preprocessing of a case, shared by inference and training: locate -> crop+resample -> normalise.

Input: CT (HU) and PET (SUV) on their own grids (and, for training, a label map on the CT grid).
Output: a :class:`Preprocessed` case on the model's crop grid (identity direction, LPS, spacing from
the config): the normalised input (C, z, y, x) float32 and the label (z, y, x) uint8.
CT and PET are resampled linearly onto the *same* physical crop grid (CT outside the scan = -1024 HU,
PET outside = 0 SUV); labels with nearest neighbour (0 outside).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.crop import crop_grid
from algorithm.segmentation.locate import Box, locate_head_and_neck
from algorithm.segmentation.normalise import stack_channels
from algorithm.segmentation.resample import array_on, resample_onto
from hecktor.geometry import Grid
from hecktor.progress import stage

log = logging.getLogger(__name__)

#: CT value (HU) outside the scan: air.
CT_OUTSIDE_HU = -1024.0


@dataclass
class Preprocessed:
    """A case on the model's crop grid.

    Attributes:
        image: normalised network input (C, z, y, x) float32, channels in ``config.channels_order``.
        grid: the crop grid (size x, y, z; spacing mm; origin mm; identity direction).
        box: the located head-and-neck box (LPS, mm) and how it was found.
        label: reference labels (z, y, x) uint8 on the crop grid when a label was given, else None.
    """

    image: np.ndarray
    grid: Grid
    box: Box
    label: np.ndarray | None = None


def preprocess(
    ct: sitk.Image,
    pet: sitk.Image,
    config: SegmentationConfig,
    label: sitk.Image | None = None,
    timings: dict[str, float] | None = None,
) -> Preprocessed:
    """Locate the head-and-neck box, resample CT and PET (and label) onto the crop grid, normalise.

    Args:
        ct: CT in HU, any grid/direction.
        pet: PET in SUV, any grid/direction, need not match the CT.
        config: the model's configuration (spacing, box size, windows, locator settings).
        label: optional reference label map (0/1/2) on the CT grid, for training.
        timings: stage seconds are added under ``locate``, ``crop+resample``, ``normalise``.
    """
    with stage("locate", log, timings):
        box = locate_head_and_neck(ct, pet, config.crop_size_mm, config.locate)
        grid = crop_grid(box, config.spacing_mm)
    with stage("crop+resample", log, timings):
        ct_arr = array_on(ct, grid, sitk.sitkLinear, CT_OUTSIDE_HU)
        pet_arr = array_on(pet, grid, sitk.sitkLinear, 0.0)
        label_arr = None
        if label is not None:
            label_img = resample_onto(label, grid, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
            label_arr = sitk.GetArrayFromImage(label_img)
        log.info("crop grid %s voxels at %s mm", list(grid.size), list(grid.spacing))
    with stage("normalise", log, timings):
        image = stack_channels(ct_arr, pet_arr, config)
    return Preprocessed(image=image, grid=grid, box=box, label=label_arr)
