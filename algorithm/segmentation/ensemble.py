"""An ensemble of segmentation models of different kinds (kind ``ensemble``): nnU-Net folders and kit MONAI folders.

The SJTU_lab426 recipe (HECKTOR 2025, 5th on test): nnU-Net ResEnc-L on [CT, CT^2, cbrt(CT), PET] plus a MONAI
SegResNet, softmax probabilities averaged, argmax. The folder::

    model.json        {"format": "hecktor-kit/segmentation", "format_version": 1, "kind": "ensemble",
                       "config": "config.json"}   (optional: a config.json whose members include an nnU-Net
                       folder is read as this kind without it)
    config.json       a segmentation config (:class:`~.config.SegmentationConfig`): ``members`` (name -> weight),
                      ``crop_size_mm`` and ``locate`` (the one head-and-neck box of every member),
                      ``min_component_mm3`` / ``gtvp_keep_largest`` (post-processing of the averaged labels)
    members/<name>/   each an nnU-Net v2 trained-model folder as nnU-Net writes it (kind ``nnunet``) or a kit
                      model folder (kind ``monai``, a single model)
    locator/          optional: the learned locator of ``locate.method`` ``nnunet`` or ``network``

A case's journey: one box for all (``locate``; a learned locator that finds nothing falls back to the PET
heuristic, logged) -> the common grid: the CT's own voxels in that box (reoriented to LPS without interpolation,
as the nnU-Net backend cuts them, :mod:`.nnunet.block`) -> each member's class probabilities (0, GTVp, GTVn) on
that block: an nnU-Net member's softmax comes back on it from nnU-Net's own preprocessing and predictor; a MONAI
member's is computed on its crop grid over the same box and resampled linearly onto the block (background 1
outside its grid) -> the weighted mean (weights / their sum) -> argmax -> the kit's post-processing (volumes on
the CT grid) -> the block pasted into the CT and oriented back: uint8 on exactly the CT grid.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from algorithm.model_files import (
    FORMAT_VERSION,
    MODEL_FILE,
    ModelError,
    created_stamp,
    read_kind,
    sibling_file,
    write_model_json,
)
from algorithm.segmentation.config import CONFIG_FILENAME, SegmentationConfig
from algorithm.segmentation.device import resolve_device
from algorithm.segmentation.locate import Box
from algorithm.segmentation.locators import load_locator
from algorithm.segmentation.map_back import probabilities_on_grid
from algorithm.segmentation.nnunet.block import CaseBlock, cut_case, finish_on_ct, mask_on_ct
from algorithm.segmentation.nnunet.folder import MEMBERS_DIRNAME, is_nnunet_model_dir
from algorithm.segmentation.nnunet.options import NnUNetOptions
from algorithm.segmentation.postprocess import argmax_labels
from algorithm.segmentation.preprocess import BoxLocator, locate_box
from hecktor.geometry import Grid
from hecktor.progress import stage

log = logging.getLogger(__name__)

#: The kind of this component in :data:`algorithm.model_files.KINDS`.
KIND = "ensemble"


def ensemble_config_path(model_dir: Path) -> Path:
    """The config ``model.json`` names (checked: format, version, kind ``ensemble``), else ``config.json``."""
    if not (model_dir / MODEL_FILE).is_file():
        return model_dir / CONFIG_FILENAME
    data = read_kind(model_dir, "segmentation", KIND)
    try:
        return sibling_file(model_dir, data.get("config", CONFIG_FILENAME), "config")
    except ValueError as exc:
        raise ModelError(f"{model_dir / MODEL_FILE}: {exc}") from None


def write_descriptor(model_dir: str | Path) -> Path:
    """``model_dir/model.json`` of kind ``ensemble`` naming ``config.json``; returns its path."""
    payload = {
        "format": "hecktor-kit/segmentation",
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "created": created_stamp(),
        "config": CONFIG_FILENAME,
    }
    return write_model_json(model_dir, payload)


def weighted_mean(members: Iterable[tuple[np.ndarray, float]]) -> np.ndarray:
    """The weighted mean of class probabilities, ``sum(w_i p_i) / sum(w_i)``, accumulated one member at a time.

    Args:
        members: (probabilities (K, z, y, x), weight >= 0) pairs on one grid; members of weight 0 are skipped
            (and may be produced lazily, so only two arrays are alive at a time).

    Raises:
        ValueError: no member of positive weight, or members of different shapes.
    """
    total: np.ndarray | None = None
    weight_sum = 0.0
    for probs, weight in members:
        if weight <= 0:
            continue
        if total is not None and probs.shape != total.shape:
            raise ValueError(f"member probabilities of shape {probs.shape}, the others {total.shape}")
        scaled = np.asarray(probs, dtype=np.float32) * np.float32(weight)
        total = scaled if total is None else np.add(total, scaled, out=total)
        weight_sum += float(weight)
    if total is None:
        raise ValueError("no ensemble member with a positive weight")
    total /= np.float32(weight_sum)
    return total


@dataclass
class EnsembleMember:
    """One loaded member: its name, kind (``nnunet`` | ``monai``), weight, folder and model."""

    name: str
    kind: str
    weight: float
    folder: Path
    model: Any

    def probabilities(
        self, ct: sitk.Image, pet: sitk.Image, case: CaseBlock, box: Box, timings: dict[str, float]
    ) -> np.ndarray:
        """The member's class probabilities (3, z, y, x) float32 on the case's block (the common grid), which was
        cut from ``box``."""
        if self.kind == "nnunet":
            return self.model.block_probabilities(case, timings)
        probs, grid = self.model.box_probabilities(ct, pet, box, timings)
        with stage("map back", log, timings):
            return probabilities_on_grid(probs, grid, Grid.of(case.ct))


class EnsembleSegmenter:
    """A loaded ensemble (see the module docstring): :meth:`segment` as every segmentation kind's."""

    def __init__(
        self,
        config: SegmentationConfig,
        members: list[EnsembleMember],
        device: Any,
        model_dir: Path | None = None,
        locator: BoxLocator | None = None,
        tta: bool = False,
    ) -> None:
        self.config = config
        self.members = members
        self.device = device
        self.model_dir = model_dir
        self.locator = locator
        self.tta = tta

    @classmethod
    def load(
        cls, model_dir: str | Path, device: str = "auto", tta: bool = False, folds: list[int] | None = None
    ) -> EnsembleSegmenter:
        """Load the config, every member of positive weight (each by its own kind's loader) and the locator.

        Raises:
            ModelError: the folder, config, a member (one line naming its folder) or the locator is unusable.
        """
        from algorithm.model_files import load_model

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelError(f"{model_dir}: segmentation model folder is missing")
        config = SegmentationConfig.load(ensemble_config_path(model_dir))
        if not config.members:
            raise ModelError(f"{model_dir}: an ensemble config needs members (name -> weight)")
        chosen = resolve_device(device)
        members: list[EnsembleMember] = []
        for name, weight in config.members.items():
            folder = model_dir / MEMBERS_DIRNAME / name
            if not folder.is_dir():
                raise ModelError(f"{folder}: ensemble member {name!r} is missing")
            if weight <= 0:
                log.info("ensemble member %s has weight 0: not loaded", name)
                continue
            try:
                model = load_model("segmentation", folder, device=str(chosen), tta=tta, folds=folds)
            except ModelError as exc:
                raise ModelError(f"ensemble member {name!r} ({folder}): {exc}") from None
            if isinstance(model, EnsembleSegmenter) or len(getattr(model, "members", ())) > 1:  # MONAI ensemble
                raise ModelError(f"{folder}: ensemble member {name!r} is itself an ensemble")
            kind = "nnunet" if is_nnunet_model_dir(folder) else "monai"
            members.append(EnsembleMember(name, kind, float(weight), folder, model))
        locator = load_locator(model_dir, config, chosen)
        total = sum(m.weight for m in members)
        log.info(
            "segmentation model %s: ensemble of %d member(s) (%s), probabilities averaged on the CT block of a %s mm"
            " box (locate %s), then argmax and components < %g mm^3 dropped",
            model_dir,
            len(members),
            ", ".join(f"{m.name} [{m.kind}, weight {m.weight:g} = {m.weight / total:.3f}]" for m in members),
            config.crop_size_mm,
            config.locate.method,
            config.min_component_mm3,
        )
        return cls(config, members, chosen, model_dir, locator, tta)

    def predict(self, ct: sitk.Image, pet: sitk.Image, timings: dict[str, float] | None = None) -> sitk.Image:
        """The component contract's prediction: :meth:`segment`."""
        return self.segment(ct, pet, timings)

    def describe(self) -> dict[str, Any]:
        """Task, kind, members (kind, weight), box and device, for logs."""
        return {
            "task": "segmentation",
            "kind": KIND,
            "members": {m.name: {"kind": m.kind, "weight": m.weight} for m in self.members},
            "crop_size_mm": list(self.config.crop_size_mm),
            "locate": self.config.locate.method,
            "tta": self.tta,
            "device": str(self.device),
        }

    def segment(self, ct: sitk.Image, pet: sitk.Image, timings: dict[str, float] | None = None) -> sitk.Image:
        """Label image (uint8: 0 background, 1 GTVp, 2 GTVn) on exactly the CT grid.

        Args:
            ct: CT in HU, any grid and direction.
            pet: PET in SUV, on any grid overlapping the CT.
            timings: per-stage seconds are added under ``locate``, ``crop+resample``, ``normalise``, ``infer``,
                ``map back`` and ``postprocess`` (summed over members).
        """
        timings = {} if timings is None else timings
        with stage("locate", log, timings):
            box = locate_box(ct, pet, self.config, self.locator)
            case = cut_case(ct, pet, NnUNetOptions(crop_size_mm=list(self.config.crop_size_mm)), box=box)
        if case.region.is_empty:
            log.warning("the head-and-neck box misses the CT: empty mask")
            return mask_on_ct(np.zeros((0, 0, 0), np.uint8), case, ct)
        log.info(
            "ensemble grid: CT block %s voxels at %s mm (%s)",
            list(case.ct.GetSize()),
            [round(s, 3) for s in case.ct.GetSpacing()],
            box.method,
        )

        def each() -> Iterable[tuple[np.ndarray, float]]:
            for k, member in enumerate(self.members, 1):
                with stage(f"member {member.name} ({k} of {len(self.members)})", log):
                    yield member.probabilities(ct, pet, case, box, timings), member.weight

        probs = weighted_mean(each())
        with stage("postprocess", log, timings):
            labels = argmax_labels(probs)
        del probs
        config = self.config
        return finish_on_ct(labels, case, ct, config.min_component_mm3, config.gtvp_keep_largest, "ensemble", timings)
