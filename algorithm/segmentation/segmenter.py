"""The Task 1 segmenter: a trained model folder in, a label image on the exact CT grid out.

A case's journey: locate -> crop+resample -> normalise (:mod:`~algorithm.segmentation.preprocess`) ->
infer (:mod:`~algorithm.segmentation.infer`) -> map back (:mod:`~algorithm.segmentation.map_back`) ->
postprocess (:mod:`~algorithm.segmentation.postprocess`, on the CT grid so that component volumes are
the ones the metrics see) -> paste onto the full CT grid.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from algorithm.segmentation.config import KIND, ModelError, SegmentationConfig, config_path
from algorithm.segmentation.crop import crop_grid
from algorithm.segmentation.device import resolve_device
from algorithm.segmentation.infer import mirror_flips, predict_probabilities
from algorithm.segmentation.locate import Box
from algorithm.segmentation.locators import load_locator
from algorithm.segmentation.map_back import paste_on_ct, probabilities_on_ct_block
from algorithm.segmentation.memory import InferencePlan, networks_for, run_degrading, scaled_patch
from algorithm.segmentation.network import load_fold
from algorithm.segmentation.nnunet.folder import MEMBERS_DIRNAME, has_nnunet_member, is_nnunet_model_dir
from algorithm.segmentation.normalise import stack_channels
from algorithm.segmentation.postprocess import remove_small_components
from algorithm.segmentation.preprocess import CT_OUTSIDE_HU, BoxLocator, calibrate_pet, locate_and_resample
from algorithm.segmentation.resample import array_on
from hecktor.geometry import Grid
from hecktor.progress import peak_rss_gib, stage

log = logging.getLogger(__name__)


@dataclass
class Member:
    """One member of the ensemble: its own config (architecture, input channels, patch) and fold networks."""

    name: str
    config: SegmentationConfig
    nets: list[torch.nn.Module]
    weight: float = 1.0
    folds: list[int] = field(default_factory=list)


class Segmenter:
    """A loaded segmentation model (one network per fold, or several members) and its configuration.

    Attributes:
        config: the parsed ``config.json`` (crop grid, locator, post-processing; the model itself when
            the folder has no ``members``).
        device: where the networks run.
        folds: the folds ensembled (of the single model, or of the first member).
        tta: whether mirror test-time augmentation is on.
        members: the ensemble members (one, named ``""``, for a single-model folder).
        locator: the learned locator when ``locate.method`` is ``network`` or ``nnunet``.
    """

    def __init__(
        self,
        config: SegmentationConfig,
        nets: list[torch.nn.Module],
        device: torch.device,
        folds: list[int],
        tta: bool = False,
        model_dir: Path | None = None,
        members: list[Member] | None = None,
        locator: BoxLocator | None = None,
    ) -> None:
        self.config = config
        self.nets = nets
        self.device = device
        self.folds = folds
        self.tta = tta
        self.model_dir = model_dir
        self.members = members if members else [Member("", config, nets, 1.0, folds)]
        self.locator = locator

    @classmethod
    def load(
        cls, model_dir: str | Path, device: str = "auto", tta: bool = False, folds: list[int] | None = None
    ) -> Segmenter:
        """Load the config (named by ``model.json``, else ``config.json``) and ``fold_<k>.pt`` for each fold
        (default: the config's ``folds``).

        Raises:
            ModelError: the folder, config or a weight file is missing or does not fit.
        """
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelError(f"{model_dir}: segmentation model folder is missing")
        if is_nnunet_model_dir(model_dir):  # (issue 15) an nnU-Net v2 trained-model folder, run as it is
            from algorithm.segmentation.nnunet.segmenter import NnUNetSegmenter

            return NnUNetSegmenter.load(model_dir, device, tta, folds)  # type: ignore[return-value]
        config = SegmentationConfig.load(config_path(model_dir))
        if has_nnunet_member(model_dir, config.members):  # members of different kinds: averaged on the CT block
            from algorithm.model_files import component_class

            ensemble = component_class("segmentation", "ensemble", model_dir)  # the registry: no import cycle
            return ensemble.load(model_dir, device, tta, folds)  # type: ignore[no-any-return]
        folds_override = folds
        folds = list(config.folds if folds is None else folds)
        if not folds:
            raise ModelError(f"{model_dir}: no folds to load")
        chosen = resolve_device(device)
        if chosen.type == "cuda":
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        members = (
            _load_members(model_dir, config, chosen, folds_override)
            if config.members
            else [Member("", config, [load_fold(model_dir, k, config, chosen) for k in folds], 1.0, folds)]
        )
        locator = load_locator(model_dir, config, chosen)
        for m in members:
            log.info(
                "segmentation model %s%s (%s, channels %s, folds %s, weight %g, %d pass(es) per fold) on %s",
                model_dir,
                f" member {m.name}" if m.name else "",
                m.config.architecture,
                m.config.channels_order,
                m.folds,
                m.weight,
                len(mirror_flips(m.config, tta)),
                chosen,
            )
        first = members[0]
        return cls(config, first.nets, chosen, first.folds, tta, model_dir, members, locator)

    def predict(self, ct: sitk.Image, pet: sitk.Image, timings: dict[str, float] | None = None) -> sitk.Image:
        """The component contract's prediction: :meth:`segment`."""
        return self.segment(ct, pet, timings)

    def describe(self) -> dict[str, Any]:
        """Task, kind, architecture(s), folds, grid and device, for logs."""
        return {
            "task": "segmentation",
            "kind": KIND,
            "members": {
                m.name or "model": {"architecture": m.config.architecture, "folds": m.folds} for m in self.members
            },
            "spacing_mm": list(self.config.spacing_mm),
            "locate": self.config.locate.method,
            "tta": self.tta,
            "device": str(self.device),
        }

    def segment(self, ct: sitk.Image, pet: sitk.Image, timings: dict[str, float] | None = None) -> sitk.Image:
        """Label image (uint8: 0 background, 1 GTVp, 2 GTVn) on exactly the CT grid.

        Args:
            ct: CT in HU.
            pet: PET in SUV, on any grid overlapping the CT.
            timings: per-stage seconds are added under ``locate``, ``crop+resample``, ``normalise``,
                ``infer``, ``map back`` and ``postprocess``.
        """
        timings = {} if timings is None else timings
        case = locate_and_resample(ct, pet, self.config, timings=timings, locator=self.locator)
        calibrate_pet(case.pet, pet, self.config.pet_reference_suv)
        probs = self._ensemble_probabilities(case.ct, case.pet, timings)
        del case.ct, case.pet
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

    def box_probabilities(
        self, ct: sitk.Image, pet: sitk.Image, box: Box, timings: dict[str, float] | None = None
    ) -> tuple[np.ndarray, Grid]:
        """Softmax (K, z, y, x) on this model's crop grid over a box located elsewhere (an ensemble's), and the grid.

        The same steps as :meth:`segment` up to the probabilities (resampling, PET calibration, normalisation,
        folds, mirror passes, members), for :class:`algorithm.segmentation.ensemble.EnsembleSegmenter`.
        """
        timings = {} if timings is None else timings
        grid = crop_grid(box, self.config.spacing_mm)
        with stage("crop+resample", log, timings):
            ct_arr = array_on(ct, grid, sitk.sitkLinear, CT_OUTSIDE_HU)
            pet_arr = array_on(pet, grid, sitk.sitkLinear, 0.0)
        calibrate_pet(pet_arr, pet, self.config.pet_reference_suv)
        return self._ensemble_probabilities(ct_arr, pet_arr, timings), grid

    def _ensemble_probabilities(self, ct_arr: np.ndarray, pet_arr: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        """Softmax (K, z, y, x) averaged over folds and mirror passes per member, then weighted over members.

        Inference that runs out of memory is retried with cheaper plans (:mod:`.memory`).
        """
        first = InferencePlan(
            sw_batch_size=max(m.config.sw_batch_size for m in self.members),
            tta=self.tta,
            max_folds=None,
            device=self.device,
        )
        n_folds = max(len(m.nets) for m in self.members)
        patch = self.members[0].config.patch_size
        if len(self.members) == 1:  # the single-model path: normalise once, in place
            member = self.members[0]
            with stage("normalise", log, timings):
                image = stack_channels(ct_arr, pet_arr, member.config)
            with stage("infer", log, timings):
                return run_degrading(
                    lambda plan: self._member_probabilities(member, image, plan), first, n_folds, patch
                )
        return run_degrading(
            lambda plan: self._members_probabilities(ct_arr, pet_arr, timings, plan), first, n_folds, patch
        )

    @staticmethod
    def _member_probabilities(member: Member, image: np.ndarray, plan: InferencePlan) -> np.ndarray:
        config = member.config
        if config.sw_batch_size > plan.sw_batch_size:
            config = dataclasses.replace(config, sw_batch_size=plan.sw_batch_size)
        if plan.patch_scale < 1.0:
            config = dataclasses.replace(config, patch_size=scaled_patch(config.patch_size, plan.patch_scale))
        with networks_for(member.nets, plan) as nets:
            return predict_probabilities(nets, image, config, plan.device, plan.tta)

    def _members_probabilities(
        self, ct_arr: np.ndarray, pet_arr: np.ndarray, timings: dict[str, float], plan: InferencePlan
    ) -> np.ndarray:
        total: np.ndarray | None = None
        weight_sum = float(sum(m.weight for m in self.members))
        for m in self.members:
            if m.weight <= 0:
                continue
            with stage("normalise", log, timings):  # normalisation works in place: give each member copies
                image = stack_channels(ct_arr.copy(), pet_arr.copy(), m.config)
            with stage("infer", log, timings):
                probs = self._member_probabilities(m, image, plan)
            del image
            probs *= np.float32(m.weight / weight_sum)
            total = probs if total is None else np.add(total, probs, out=total)
        assert total is not None
        return total


def _load_members(
    model_dir: Path, config: SegmentationConfig, device: torch.device, folds: list[int] | None
) -> list[Member]:
    """The members named in ``config.members`` from ``model_dir/members/<name>/``, checked to share the crop grid."""
    members: list[Member] = []
    for name, weight in config.members.items():
        folder = model_dir / MEMBERS_DIRNAME / name
        if not folder.is_dir():
            raise ModelError(f"{folder}: ensemble member {name!r} is missing")
        sub = SegmentationConfig.load(folder)
        for key in ("spacing_mm", "crop_size_mm", "num_classes", "target"):
            if getattr(sub, key) != getattr(config, key):
                raise ModelError(
                    f"{folder}: member {name!r} has {key} {getattr(sub, key)}, the ensemble {getattr(config, key)}"
                    " (members must share the crop grid)"
                )
        if sub.members:
            raise ModelError(f"{folder}: a member cannot itself be an ensemble")
        member_folds = list(sub.folds if folds is None else folds)
        nets = [load_fold(folder, k, sub, device) for k in member_folds]
        members.append(Member(name, sub, nets, float(weight), member_folds))
    return members
