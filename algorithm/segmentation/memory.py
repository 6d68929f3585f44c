"""Memory trouble during segmentation inference degrades step by step instead of blanking the mask.

When the sliding-window inference runs out of memory (``MemoryError``, ``torch.OutOfMemoryError`` on a
GPU, or an allocator ``RuntimeError`` such as "DefaultCPUAllocator: can't allocate memory" under
``ulimit -v``), it is retried with a cheaper :class:`InferencePlan`, each step logged, in this order:

1. sliding-window batch 1 (fewer windows in flight),
2. no mirror test-time augmentation,
3. a single fold instead of the ensemble,
4. sliding windows of 2/3 the edge (48^3 -> 32^3; multiples of 16): CPU 3-D convolutions unfold
   each window (im2col), so the window size, not the batch, sets their peak,
5. half precision (float16 weights and inputs), GPU only,
6. the CPU instead of the GPU.

Only when the last step also runs out of memory is :class:`SegmentationOutOfMemory` raised; the
pipeline then writes the empty-mask fallback with a log line saying so plainly. :func:`run_steps` is the
mechanism, whatever the steps: the nnU-Net path has its own (:mod:`algorithm.segmentation.nnunet.memory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from hecktor.errors import HecktorError

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")

#: Lower-cased fragments of the messages torch, numpy and the allocators give when memory runs out.
OOM_MESSAGES = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "std::bad_alloc",
    "failed to allocate",
)


class SegmentationOutOfMemory(HecktorError):
    """Every degradation step of the segmentation inference ran out of memory."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that memory (host or GPU) ran out."""
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in OOM_MESSAGES)


@dataclass(frozen=True)
class InferencePlan:
    """How one inference attempt runs.

    Attributes:
        sw_batch_size: sliding windows per forward pass.
        tta: mirror test-time augmentation.
        max_folds: use at most this many folds per member (``None``: all).
        device: where the networks run.
        half: float16 weights and inputs (GPU only).
        patch_scale: sliding-window edge as a fraction of the configured patch (rounded down to 16).
    """

    sw_batch_size: int
    tta: bool
    max_folds: int | None
    device: torch.device
    half: bool = False
    patch_scale: float = 1.0


#: Fraction of the configured window edge used by the smaller-window step.
SMALLER_WINDOW_SCALE = 2.0 / 3.0


def scaled_patch(patch: Sequence[int], scale: float) -> list[int]:
    """``patch`` (voxels) times ``scale``, each edge rounded down to a multiple of 16 (at least 16)."""
    if scale >= 1.0:
        return [int(p) for p in patch]
    return [max(16, int(p * scale) // 16 * 16) for p in patch]


def degradation_steps(
    first: InferencePlan, n_folds: int, patch: Sequence[int] | None = None
) -> list[tuple[str, InferencePlan]]:
    """The plans to try in order, each with the sentence that describes the step (the first: ``""``).

    ``patch``: the configured window (voxels); the smaller-window step is skipped when it would not shrink.
    """
    steps = [("", first)]
    plan = first
    if plan.sw_batch_size > 1:
        plan = dataclasses.replace(plan, sw_batch_size=1)
        steps.append((f"sliding-window batch {first.sw_batch_size} -> 1", plan))
    if plan.tta:
        plan = dataclasses.replace(plan, tta=False)
        steps.append(("test-time augmentation off", plan))
    if n_folds > 1 and (plan.max_folds is None or plan.max_folds > 1):
        plan = dataclasses.replace(plan, max_folds=1)
        steps.append((f"one fold instead of {n_folds}", plan))
    if patch is not None and scaled_patch(patch, SMALLER_WINDOW_SCALE) != [int(p) for p in patch]:
        plan = dataclasses.replace(plan, patch_scale=SMALLER_WINDOW_SCALE)
        small = "x".join(map(str, scaled_patch(patch, SMALLER_WINDOW_SCALE)))
        steps.append((f"smaller sliding windows ({'x'.join(map(str, patch))} -> {small} voxels)", plan))
    if plan.device.type == "cuda":
        plan = dataclasses.replace(plan, half=True)
        steps.append(("half precision on the GPU", plan))
        plan = dataclasses.replace(plan, device=torch.device("cpu"), half=False)
        steps.append(("CPU instead of the GPU", plan))
    return steps


def run_degrading(
    attempt: Callable[[InferencePlan], T], first: InferencePlan, n_folds: int, patch: Sequence[int] | None = None
) -> T:
    """``attempt(plan)`` for each plan of :func:`degradation_steps` until one does not run out of memory
    (:func:`run_steps`)."""
    return run_steps(attempt, degradation_steps(first, n_folds, patch))


def run_steps(attempt: Callable[[P], T], steps: Sequence[tuple[str, P]]) -> T:
    """``attempt(plan)`` for each ``(sentence, plan)`` of ``steps`` (the first sentence ``""``) until one does not run
    out of memory, each step logged; any plan with a ``device`` attribute (the MONAI path's
    :class:`InferencePlan`, the nnU-Net path's plan).

    Raises:
        SegmentationOutOfMemory: every step ran out of memory (the message lists the steps tried).
        Exception: anything ``attempt`` raises that is not about memory, unchanged.
    """
    tried: list[str] = []
    for k, (step, plan) in enumerate(steps):
        if step:
            log.warning("segmentation memory fallback %d/%d: %s", k, len(steps) - 1, step)
            tried.append(step)
        try:
            result = attempt(plan)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else 'no message'}"
            log.warning("segmentation inference ran out of memory (%s)", reason)
            _release(plan.device)
            continue
        if tried:
            log.warning("segmentation completed after memory fallback(s): %s", "; ".join(tried))
        return result
    raise SegmentationOutOfMemory(
        "segmentation inference ran out of memory at every step"
        + (f" (tried: {'; '.join(tried)})" if tried else " (no cheaper step available)")
    )


def _release(device: torch.device) -> None:
    """Free what the failed attempt held: Python garbage, glibc's free heap (address space counts under
    ``ulimit -v``), and the CUDA cache."""
    gc.collect()
    with contextlib.suppress(Exception):  # glibc only; elsewhere nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def networks_for(nets: Sequence[nn.Module], plan: InferencePlan) -> Iterator[list[nn.Module]]:
    """The networks on ``plan.device`` (float16 when ``plan.half``), put back where they were afterwards."""
    nets = list(nets[: plan.max_folds] if plan.max_folds else nets)
    before = [(next(n.parameters()).device, next(n.parameters()).dtype) for n in nets]
    changed = any(d != plan.device or (plan.half and t != torch.float16) for d, t in before)
    if changed:
        for net in nets:
            net.to(device=plan.device, dtype=torch.float16 if plan.half else torch.float32)
    try:
        yield nets
    finally:
        if changed:
            for net, (device, dtype) in zip(nets, before, strict=True):
                with contextlib.suppress(Exception):  # never mask the attempt's own error
                    net.to(device=device, dtype=dtype)
