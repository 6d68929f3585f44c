"""Run an nnU-Net v2 trained-model folder on a case, with the kit around it.

A case's journey: the kit's head-and-neck box (:mod:`algorithm.segmentation.locate`) -> the CT reoriented to LPS
without interpolation (``sitk.DICOMOrient``: a permutation/flip of its axes, so every nnU-Net input has the axis
order of an identity-direction HECKTOR CT) and cut to the index block that covers the box (CT voxels as they are)
-> PET resampled linearly onto that block (as nnU-Net needs one grid for all channels) -> nnU-Net's own
preprocessing from the plans (crop to non-zero, resampling to the plans' spacing, normalisation) and its
``nnUNetPredictor`` (sliding window, Gaussian, mirroring over the axes the checkpoint allows, folds averaged) ->
its segmentation, on the block's own voxels, post-processed, pasted into the CT and oriented back: the mask
lies on exactly the CT grid (uint8: 0, 1 GTVp, 2 GTVn).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from algorithm.segmentation.config import ModelError
from algorithm.segmentation.memory import run_steps
from algorithm.segmentation.nnunet.block import CaseBlock, cut_case, finish_on_ct, mask_on_ct
from algorithm.segmentation.nnunet.channels import stack_input
from algorithm.segmentation.nnunet.folder import CHECKPOINTS, dataset_info, fold_dirs
from algorithm.segmentation.nnunet.memory import NnUNetPlan, configure, nnunet_degradation_steps
from algorithm.segmentation.nnunet.options import NnUNetOptions
from hecktor.progress import stage

log = logging.getLogger(__name__)
#: The kind of this component in :data:`algorithm.model_files.KINDS`.
KIND = "nnunet"


def _trainer_class(name: str) -> type:
    """nnU-Net's trainer class by name (the kit's, nnU-Net's own or ``nnUNet_extTrainer``'s:
    :func:`~algorithm.training.nnunet_trainers.find_trainer_class`), else nnU-Net's base trainer, whose network is
    the plans' architecture (logged)."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from algorithm.training.nnunet_trainers import find_trainer_class

    found = find_trainer_class(name)
    if found is None:
        log.warning("nnU-Net trainer %s is not installed: the network is built from the plans alone", name)
        return nnUNetTrainer
    return found


@dataclass
class NnUNetSegmenter:
    """A loaded nnU-Net v2 model folder (all its folds) with the kit's options; :meth:`segment` as the kit's.

    Attributes:
        model_dir: the nnU-Net trained-model folder.
        options: the kit's ``config.json`` beside it (defaults when absent).
        device: where the network runs.
        folds: the folds averaged.
        channels: the kit's name of each input channel, in the model's order.
        label_lut: nnU-Net's label value -> the kit's label (uint8 lookup table).
        parameters: every fold's weights, and ``mirroring``: the requested mirroring (the memory fallbacks of
            :mod:`algorithm.segmentation.nnunet.memory` change the predictor per attempt, these do not change).
    """

    model_dir: Path
    options: NnUNetOptions
    predictor: Any
    device: torch.device
    folds: list[str]
    channels: tuple[str, ...]
    label_lut: np.ndarray
    parameters: list[dict] = field(init=False)
    mirroring: bool = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = list(self.predictor.list_of_parameters)
        self.mirroring = bool(self.predictor.use_mirroring)

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        device: str | torch.device = "auto",
        tta: bool = False,
        folds: list[int] | None = None,
    ) -> NnUNetSegmenter:
        """Load every requested fold's checkpoint into one ``nnUNetPredictor`` (the component contract's ``load``;
        ``device`` as :func:`algorithm.segmentation.segmenter.resolve_device` takes it).

        Raises:
            ModelError: a requested fold or its checkpoint is missing, or the folder does not fit the kit.
        """
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        from algorithm.segmentation.device import resolve_device
        from algorithm.segmentation.nnunet.folder import read_json

        device = resolve_device(device)
        model_dir = Path(model_dir)
        options = NnUNetOptions.load(model_dir)
        info = dataset_info(model_dir)
        available = fold_dirs(model_dir)
        wanted = [str(k) for k in (folds if folds is not None else options.folds or list(available))]
        missing = [k for k in wanted if k not in available]
        if missing:
            raise ModelError(f"{model_dir}: no checkpoint for fold(s) {', '.join(missing)} (has {list(available)})")
        names = (options.checkpoint, *[c for c in CHECKPOINTS if c != options.checkpoint])
        checkpoints = []
        for k in wanted:
            path = next((available[k] / n for n in names if (available[k] / n).is_file()), None)
            if path is None:
                raise ModelError(f"{available[k]}: no {' or '.join(names)}")
            try:
                checkpoints.append(torch.load(path, map_location="cpu", weights_only=False))
            except Exception as exc:
                raise ModelError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from None
        first = checkpoints[0]
        plans = PlansManager(read_json(model_dir / "plans.json"))
        dataset_json = read_json(model_dir / "dataset.json")
        configuration_name = first["init_args"]["configuration"]
        try:
            configuration = plans.get_configuration(configuration_name)
        except Exception as exc:
            raise ModelError(f"{model_dir}: plans.json has no configuration {configuration_name!r} ({exc})") from None
        n_in = determine_num_input_channels(plans, configuration, dataset_json)
        if n_in != len(info.channels):
            raise ModelError(f"{model_dir}: the network takes {n_in} channels, dataset.json names {info.channels}")
        label_manager = plans.get_label_manager(dataset_json)
        network = _trainer_class(first["trainer_name"]).build_network_architecture(
            plans, configuration, n_in, label_manager.num_segmentation_heads, enable_deep_supervision=False
        )
        mirroring = bool(options.tta or tta)
        predictor = nnUNetPredictor(
            tile_step_size=options.tile_step_size,
            use_gaussian=True,
            use_mirroring=mirroring,
            perform_everything_on_device=device.type == "cuda",
            device=device,
            verbose=False,
            allow_tqdm=False,
        )
        predictor.manual_initialization(
            network,
            plans,
            configuration,
            [c["network_weights"] for c in checkpoints],
            dataset_json,
            first["trainer_name"],
            first.get("inference_allowed_mirroring_axes"),
        )
        network.load_state_dict(checkpoints[0]["network_weights"])
        lut = np.zeros(max(info.label_map) + 1, dtype=np.uint8)
        for value, kit in info.label_map.items():
            lut[value] = kit
        log.info(
            "segmentation model %s: backend nnU-Net v2 (%s, plans %s, configuration %s, folds %s, patch %s at %s mm,"
            " channels %s, mirroring %s, crop %s) on %s",
            model_dir,
            first["trainer_name"],
            plans.plans_name,
            configuration_name,
            wanted,
            list(configuration.patch_size),
            [round(float(s), 3) for s in configuration.spacing],
            list(info.channels),
            first.get("inference_allowed_mirroring_axes") if mirroring else "off",
            options.crop_size_mm if options.crop else "off (whole CT)",
            device,
        )
        return cls(model_dir, options, predictor, device, wanted, info.channels, lut)

    def predict(self, ct: sitk.Image, pet: sitk.Image, timings: dict[str, float] | None = None) -> sitk.Image:
        """The component contract's prediction: :meth:`segment`."""
        return self.segment(ct, pet, timings)

    def describe(self) -> dict[str, Any]:
        """Task, kind, folds, channels, crop and device, for logs."""
        return {
            "task": "segmentation",
            "kind": KIND,
            "model_dir": str(self.model_dir),
            "folds": list(self.folds),
            "channels": list(self.channels),
            "crop_mm": list(self.options.crop_size_mm) if self.options.crop else None,
            "device": str(self.device),
        }

    def _infer(self, image: np.ndarray, spacing_zyx: list[float], probabilities: bool = False) -> Any:
        """nnU-Net's segmentation of ``image`` (C, z, y, x) on its own voxels, with the memory fallbacks.

        ``probabilities``: also nnU-Net's softmax, as ``(segmentation, probabilities)``.
        """
        first = NnUNetPlan(self.device, self.device.type == "cuda", self.mirroring, None, self.options.tile_step_size)
        mirror_axes = bool(self.predictor.allowed_mirroring_axes)

        def attempt(plan: NnUNetPlan) -> np.ndarray:
            configure(self.predictor, self.parameters, plan)
            return self.predictor.predict_single_npy_array(image, {"spacing": spacing_zyx}, None, None, probabilities)

        return run_steps(attempt, nnunet_degradation_steps(first, len(self.parameters), mirror_axes))

    def segment(self, ct: sitk.Image, pet: sitk.Image, timings: dict[str, float] | None = None) -> sitk.Image:
        """Label image (uint8: 0 background, 1 GTVp, 2 GTVn) on exactly the CT grid.

        Args:
            ct: CT in HU, any grid and direction.
            pet: PET in SUV, on any grid overlapping the CT.
            timings: per-stage seconds are added under ``locate``, ``crop+resample``, ``infer``, ``postprocess``
                and ``map back``.
        """
        timings = {} if timings is None else timings
        with stage("locate", log, timings):
            case = cut_case(ct, pet, self.options)
        if case.region.is_empty:
            log.warning("the head-and-neck box misses the CT: empty mask")
            return mask_on_ct(np.zeros((0, 0, 0), np.uint8), case, ct)
        with stage("crop+resample", log, timings):
            image = stack_input(
                self.channels, sitk.GetArrayViewFromImage(case.ct), sitk.GetArrayViewFromImage(case.pet)
            )
            log.info(
                "nnU-Net input: CT block %s voxels at %s mm (%s)",
                list(case.ct.GetSize()),
                [round(s, 3) for s in case.ct.GetSpacing()],
                case.method,
            )
        with stage("infer", log, timings):
            spacing_zyx = [float(s) for s in case.ct.GetSpacing()[::-1]]
            seg = self._infer(image, spacing_zyx)
        del image
        with stage("postprocess", log, timings):
            labels = self.label_lut[np.asarray(seg, dtype=np.int64)]
        options = self.options
        return finish_on_ct(labels, case, ct, options.min_component_mm3, options.gtvp_keep_largest, "nnU-Net", timings)

    def block_probabilities(self, case: CaseBlock, timings: dict[str, float] | None = None) -> np.ndarray:
        """nnU-Net's softmax on the case's block, as the kit's classes (3, z, y, x) float32 (0, GTVp, GTVn).

        The same preprocessing, predictor and memory fallbacks as :meth:`segment` (nnU-Net resamples its
        probabilities back onto the block's own voxels); probabilities of nnU-Net labels that map to one kit label
        are summed. For ensembles (:mod:`algorithm.segmentation.ensemble`) and the nnU-Net locator.
        """
        with stage("crop+resample", log, timings):
            image = stack_input(
                self.channels, sitk.GetArrayViewFromImage(case.ct), sitk.GetArrayViewFromImage(case.pet)
            )
        with stage("infer", log, timings):
            spacing_zyx = [float(s) for s in case.ct.GetSpacing()[::-1]]
            _, probs = self._infer(image, spacing_zyx, probabilities=True)
        del image
        probs = np.asarray(probs, dtype=np.float32)
        out = np.zeros((3, *probs.shape[1:]), dtype=np.float32)
        for value in range(probs.shape[0]):
            out[self.label_lut[value]] += probs[value]
        return out
