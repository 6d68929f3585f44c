"""The kit's crop for nnU-Net, shared by inference and the raw-dataset conversion of training.

The CT is reoriented to LPS without interpolation (``sitk.DICOMOrient`` permutes and flips axes only), then cut
to the block of its own voxels that covers the kit's head-and-neck box: nnU-Net sees CT voxels as scanned, in the
axis order of an identity-direction CT. The PET is resampled linearly onto that block (0 SUV outside the PET), so
all channels share one grid as nnU-Net requires; a label on the CT grid is cut the same way (no resampling).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from algorithm.segmentation.crop import IndexRegion, crop_to_region, region_covering
from algorithm.segmentation.locate import Box, locate_head_and_neck, whole_scan_box
from algorithm.segmentation.map_back import paste_on_ct
from algorithm.segmentation.nnunet.options import NnUNetOptions
from algorithm.segmentation.postprocess import remove_small_components
from algorithm.segmentation.resample import resample_onto
from hecktor.geometry import Grid, bounding_box_mm
from hecktor.progress import peak_rss_gib, stage

log = logging.getLogger(__name__)


@dataclass
class CaseBlock:
    """A case cut for nnU-Net: ``ct`` (HU) and ``pet`` (SUV) on one grid (the CT's voxels), and how to undo it."""

    ct: sitk.Image
    pet: sitk.Image
    region: IndexRegion
    ct_lps: sitk.Image
    orientation: str
    method: str


def orientation_of(image: sitk.Image) -> str:
    """The three-letter orientation code (``LPS`` for an identity direction) nearest to the image's direction."""
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())


def to_lps(image: sitk.Image) -> sitk.Image:
    """``image`` with its axes permuted/flipped to LPS (no interpolation; itself when already LPS)."""
    return image if orientation_of(image) == "LPS" else sitk.DICOMOrient(image, "LPS")


def cut_case(ct: sitk.Image, pet: sitk.Image, options: NnUNetOptions, box: Box | None = None) -> CaseBlock:
    """The CT block covering the head-and-neck box (the whole CT when ``options.crop`` is off), the PET on it.

    ``box``: a box located elsewhere (an ensemble's, a learned locator's) used instead of locating one here.
    """
    ct_lps = to_lps(ct)
    if box is not None:
        low, high, method = np.asarray(box.low), np.asarray(box.high), box.method
    elif options.crop:
        if options.locate.method == "whole-scan":  # the nnU-Net locator's input: no PET heuristic
            box = whole_scan_box(ct, options.crop_size_mm)
        else:
            box = locate_head_and_neck(ct, pet, options.crop_size_mm, options.locate)
        low, high, method = np.asarray(box.low), np.asarray(box.high), box.method
    else:
        (low, high), method = bounding_box_mm(Grid.of(ct_lps)), "whole CT"
    region = region_covering(ct_lps, low, high)
    block = crop_to_region(ct_lps, region) if not region.is_empty else ct_lps
    pet_block = resample_onto(pet, Grid.of(block), sitk.sitkLinear, 0.0)
    return CaseBlock(block, pet_block, region, ct_lps, orientation_of(ct), method)


def cut_label(label: sitk.Image, case: CaseBlock) -> sitk.Image:
    """A label on the CT grid cut to the case's block, voxel for voxel."""
    return crop_to_region(to_lps(label), case.region)


def mask_on_ct(labels: np.ndarray, case: CaseBlock, ct: sitk.Image) -> sitk.Image:
    """``labels`` (z, y, x) uint8 on the block, pasted into the CT and oriented back: exactly the CT grid."""
    out = paste_on_ct(labels, case.region, case.ct_lps)
    if case.ct_lps is not ct:
        out = sitk.DICOMOrient(out, case.orientation)
    if out.GetSize() != ct.GetSize():
        raise AssertionError(f"reoriented mask {out.GetSize()} != CT {ct.GetSize()}")
    out.CopyInformation(ct)
    return out


def finish_on_ct(
    labels: np.ndarray,
    case: CaseBlock,
    ct: sitk.Image,
    min_component_mm3: float,
    keep_largest_gtvp: bool,
    what: str,
    timings: dict[str, float] | None = None,
) -> sitk.Image:
    """The block's kit labels (z, y, x uint8) with components under ``min_component_mm3`` (mm^3) dropped, pasted
    onto the exact CT grid; logs the GTVp / GTVn volumes (ml) of the ``what`` backend and the peak RSS."""
    voxel_mm3 = float(np.prod(ct.GetSpacing()))  # the block is on the CT's own voxels
    with stage("postprocess", log, timings):
        labels = remove_small_components(labels, voxel_mm3, min_component_mm3, keep_largest_gtvp)
    with stage("map back", log, timings):
        out = mask_on_ct(labels, case, ct)
    gtvp_ml, gtvn_ml = (np.count_nonzero(labels == k) * voxel_mm3 / 1000 for k in (1, 2))
    log.info(
        "segmentation (%s): GTVp %.1f ml, GTVn %.1f ml (peak RSS %.2f GiB)", what, gtvp_ml, gtvn_ml, peak_rss_gib()
    )
    return out
