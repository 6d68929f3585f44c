"""Memory trouble in the nnU-Net path degrades step by step, as in the MONAI path (:mod:`..memory`).

When ``nnUNetPredictor`` runs out of memory, the inference is retried with a cheaper :class:`NnUNetPlan`, each step
logged with the MONAI path's lines (:func:`algorithm.segmentation.memory.run_steps`), in this order:

1. the sliding window's results off the GPU (``perform_everything_on_device=False``: the logits accumulate in host
   memory; what ``nnUNetv2_predict --not_on_device`` does), GPU only,
2. no mirroring (when the checkpoint allows any),
3. a single fold instead of the ensemble,
4. a larger sliding-window step (``tile_step_size`` doubled, at most 1: less overlap, fewer windows in flight),
5. the CPU instead of the GPU.

Only when the last step also runs out of memory is
:class:`~algorithm.segmentation.memory.SegmentationOutOfMemory` raised; the pipeline then writes the empty mask with
its log line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class NnUNetPlan:
    """How one nnU-Net inference attempt runs.

    Attributes:
        device: where the network runs.
        on_device: ``perform_everything_on_device`` (GPU only).
        tta: mirroring over the axes the checkpoint allows.
        max_folds: use at most this many folds (``None``: all).
        tile_step_size: sliding-window step as a fraction of the patch.
    """

    device: torch.device
    on_device: bool
    tta: bool
    max_folds: int | None
    tile_step_size: float


def nnunet_degradation_steps(first: NnUNetPlan, n_folds: int, mirroring: bool) -> list[tuple[str, NnUNetPlan]]:
    """The plans to try in order, each with the sentence that describes the step (the first: ``""``).

    ``mirroring``: whether the checkpoint allows any mirror axis (else the mirroring step is skipped).
    """
    steps = [("", first)]
    plan = first
    if plan.on_device:
        plan = dataclasses.replace(plan, on_device=False)
        steps.append(("sliding-window results in host memory (perform_everything_on_device off)", plan))
    if plan.tta and mirroring:
        plan = dataclasses.replace(plan, tta=False)
        steps.append(("test-time augmentation off", plan))
    if n_folds > 1 and (plan.max_folds is None or plan.max_folds > 1):
        plan = dataclasses.replace(plan, max_folds=1)
        steps.append((f"one fold instead of {n_folds}", plan))
    if plan.tile_step_size < 1.0:
        larger = min(1.0, 2 * plan.tile_step_size)
        plan = dataclasses.replace(plan, tile_step_size=larger)
        steps.append((f"larger sliding-window step ({first.tile_step_size:g} -> {larger:g} of the patch)", plan))
    if plan.device.type == "cuda":
        plan = dataclasses.replace(plan, device=torch.device("cpu"), on_device=False)
        steps.append(("CPU instead of the GPU", plan))
    return steps


def configure(predictor: Any, parameters: list[dict], plan: NnUNetPlan) -> None:
    """Set ``predictor`` (an ``nnUNetPredictor``) to run ``plan``; ``parameters``: every fold's weights.

    nnU-Net moves the network to ``predictor.device`` at each sliding window and loads each fold's weights in turn.
    """
    predictor.device = plan.device
    predictor.perform_everything_on_device = plan.on_device and plan.device.type == "cuda"
    predictor.use_mirroring = plan.tta
    predictor.tile_step_size = plan.tile_step_size
    predictor.list_of_parameters = parameters[: plan.max_folds] if plan.max_folds else list(parameters)
