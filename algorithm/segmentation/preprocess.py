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
from typing import Protocol

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from algorithm.intensity import uptake_reference
from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.crop import crop_grid
from algorithm.segmentation.locate import Box, locate_head_and_neck, whole_scan_box
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
        label: reference labels (z, y, x) uint8 on the crop grid when a label was given, else None
            (for ``target = region``: the 0/1 dilated lesion union).
    """

    image: np.ndarray
    grid: Grid
    box: Box
    label: np.ndarray | None = None


class BoxLocator(Protocol):
    """A learned locator (:class:`algorithm.segmentation.locate_net.NetworkLocator`)."""

    def locate(self, ct: sitk.Image, pet: sitk.Image, crop_size_mm: list[float]) -> Box | None: ...


@dataclass
class Resampled:
    """CT (HU) and PET (SUV) float32 (z, y, x) on the crop grid, before normalisation, and the label."""

    ct: np.ndarray
    pet: np.ndarray
    grid: Grid
    box: Box
    label: np.ndarray | None = None


def locate_box(ct: sitk.Image, pet: sitk.Image, config: SegmentationConfig, locator: BoxLocator | None = None) -> Box:
    """The crop box by ``config.locate.method``; a learned locator (``network``, ``nnunet``) that finds nothing falls
    back to the PET heuristic (logged)."""
    method = config.locate.method
    if method == "whole-scan":
        return whole_scan_box(ct, config.crop_size_mm)
    if method in ("network", "nnunet"):
        if locator is None:
            log.warning("locate.method is %r but no locator is loaded; using the PET heuristic", method)
        else:
            box = locator.locate(ct, pet, config.crop_size_mm)
            if box is not None:
                return box
            log.warning("the locator network found no head-and-neck region; using the PET heuristic")
    return locate_head_and_neck(ct, pet, config.crop_size_mm, config.locate)


#: Bounds of the calibration factor (beyond them the PET is not a plausible SUV image anyway).
CALIBRATION_FACTOR_RANGE = (0.2, 5.0)


def calibration_factor(pet: sitk.Image, reference_suv: float | None) -> float:
    """Factor on the network's PET input that brings the case's uptake reference to ``reference_suv`` (1.0: off)."""
    if reference_suv is None:
        return 1.0
    ref, _ = uptake_reference(sitk.GetArrayViewFromImage(pet))
    if not (np.isfinite(ref) and ref > 0):
        return 1.0
    factor = float(np.clip(reference_suv / ref, *CALIBRATION_FACTOR_RANGE))
    log.info("PET uptake reference %.3g SUV: network input scaled by %.3g (calibration-free input)", ref, factor)
    return factor


def calibrate_pet(pet_arr: np.ndarray, pet: sitk.Image, reference_suv: float | None) -> np.ndarray:
    """``pet_arr`` (SUV, the crop of ``pet``) scaled in place by :func:`calibration_factor` of the whole ``pet``.

    The same step for training (the cached crops) and inference, so that a model with ``pet_reference_suv``
    is trained on the input it will see.
    """
    factor = calibration_factor(pet, reference_suv)
    if factor != 1.0:
        pet_arr *= np.float32(factor)
    return pet_arr


def region_target(label: np.ndarray, spacing_zyx: tuple[float, float, float], dilation_mm: float) -> np.ndarray:
    """Binary (0/1 uint8) tumour-region target: the union of GTVp and GTVn dilated by ``dilation_mm``."""
    lesion = label > 0
    if not lesion.any() or dilation_mm <= 0:
        return lesion.astype(np.uint8)
    distance = ndimage.distance_transform_edt(~lesion, sampling=spacing_zyx)
    return (distance <= dilation_mm).astype(np.uint8)


def locate_and_resample(
    ct: sitk.Image,
    pet: sitk.Image,
    config: SegmentationConfig,
    label: sitk.Image | None = None,
    timings: dict[str, float] | None = None,
    locator: BoxLocator | None = None,
) -> Resampled:
    """Locate the box and resample CT, PET (and label) onto the crop grid; no normalisation."""
    with stage("locate", log, timings):
        box = locate_box(ct, pet, config, locator)
        grid = crop_grid(box, config.spacing_mm)
    with stage("crop+resample", log, timings):
        ct_arr = array_on(ct, grid, sitk.sitkLinear, CT_OUTSIDE_HU)
        pet_arr = array_on(pet, grid, sitk.sitkLinear, 0.0)
        label_arr = None
        if label is not None:
            label_img = resample_onto(label, grid, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
            label_arr = sitk.GetArrayFromImage(label_img)
            if config.target == "region":
                label_arr = region_target(label_arr, config.spacing_zyx, config.target_dilation_mm)
        log.info("crop grid %s voxels at %s mm", list(grid.size), list(grid.spacing))
    return Resampled(ct_arr, pet_arr, grid, box, label_arr)


def preprocess(
    ct: sitk.Image,
    pet: sitk.Image,
    config: SegmentationConfig,
    label: sitk.Image | None = None,
    timings: dict[str, float] | None = None,
    locator: BoxLocator | None = None,
) -> Preprocessed:
    """Locate the head-and-neck box, resample CT and PET (and label) onto the crop grid, calibrate the PET
    (``pet_reference_suv``), normalise.

    Args:
        ct: CT in HU, any grid/direction.
        pet: PET in SUV, any grid/direction, need not match the CT.
        config: the model's configuration (spacing, box size, windows, locator settings).
        label: optional reference label map (0/1/2) on the CT grid, for training.
        timings: stage seconds are added under ``locate``, ``crop+resample``, ``normalise``.
        locator: the learned locator, used when ``config.locate.method`` is ``network``.
    """
    raw = locate_and_resample(ct, pet, config, label, timings, locator)
    with stage("normalise", log, timings):
        calibrate_pet(raw.pet, pet, config.pet_reference_suv)
        image = stack_channels(raw.ct, raw.pet, config)
    return Preprocessed(image=image, grid=raw.grid, box=raw.box, label=raw.label)
