"""Memory trouble in the segmentation degrades step by step; only when every step fails is the mask empty."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
import torch

import algorithm.segmentation.segmenter as segmenter_module
from algorithm.pipeline import Algorithm, CaseResult
from algorithm.reading import CaseInputs
from algorithm.segmentation.memory import (
    InferencePlan,
    SegmentationOutOfMemory,
    degradation_steps,
    is_out_of_memory,
    run_degrading,
)
from hecktor.clinical import ClinicalRecord
from synthetic import generate_case


@pytest.fixture(scope="module")
def case() -> CaseInputs:
    synthetic = generate_case("CHUM-301", seed=5, size="small", with_primary=True)
    return CaseInputs(ct=synthetic.ct, pet=synthetic.pet, clinical=ClinicalRecord())


@pytest.fixture(scope="module")
def algorithm() -> Algorithm:
    return Algorithm({1}, device="cpu")


def test_out_of_memory_is_recognised() -> None:
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried"))
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_gpu_plan_degrades_through_every_step() -> None:
    first = InferencePlan(sw_batch_size=4, tta=True, max_folds=None, device=torch.device("cuda"))
    steps = degradation_steps(first, n_folds=5)
    names = [name for name, _ in steps[1:]]
    assert names == [
        "sliding-window batch 4 -> 1",
        "test-time augmentation off",
        "one fold instead of 5",
        "half precision on the GPU",
        "CPU instead of the GPU",
    ]
    last = steps[-1][1]
    assert (last.sw_batch_size, last.tta, last.max_folds, last.device.type, last.half) == (1, False, 1, "cpu", False)
    assert steps[-2][1].half and steps[-2][1].device.type == "cuda"
    with_window = [name for name, _ in degradation_steps(first, 5, patch=[48, 48, 48])[1:]]
    assert with_window[3] == "smaller sliding windows (48x48x48 -> 32x32x32 voxels)" and len(with_window) == 6


def test_other_errors_are_not_retried() -> None:
    calls = []

    def attempt(plan: InferencePlan) -> None:
        calls.append(plan)
        raise ValueError("not about memory")

    with pytest.raises(ValueError):
        run_degrading(attempt, InferencePlan(4, True, None, torch.device("cpu")), 2)
    assert len(calls) == 1


def _count_calls(monkeypatch, fail_while) -> list[tuple[int, bool, int]]:
    """Patch the segmenter's inference to raise MemoryError while ``fail_while(batch, tta, n_nets)``."""
    real = segmenter_module.predict_probabilities
    calls: list[tuple[int, bool, int]] = []

    def injected(nets, image, config, device, tta=False):
        calls.append((config.sw_batch_size, tta, len(nets)))
        if fail_while(config.sw_batch_size, tta, len(nets)):
            raise MemoryError("injected")
        return real(nets, image, config, device, tta)

    monkeypatch.setattr(segmenter_module, "predict_probabilities", injected)
    return calls


def test_memory_error_degrades_and_still_gives_a_real_mask(case, algorithm, monkeypatch, caplog) -> None:
    calls = _count_calls(monkeypatch, lambda batch, tta, n: batch > 1)
    result = CaseResult()
    with caplog.at_level(logging.WARNING):
        label = algorithm._segment(case, result)
    assert calls[0][0] == algorithm.segmenter.config.sw_batch_size > 1 and calls[-1][0] == 1
    assert result.fallbacks == []
    assert np.count_nonzero(sitk.GetArrayViewFromImage(label)) > 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("memory fallback 1/" in m and "batch" in m for m in messages)
    assert any("completed after memory fallback" in m for m in messages)


def test_memory_error_at_every_step_says_the_mask_is_empty_because_of_memory(
    case, algorithm, monkeypatch, caplog
) -> None:
    calls = _count_calls(monkeypatch, lambda batch, tta, n: True)
    result = CaseResult()
    with caplog.at_level(logging.WARNING):
        label = algorithm._segment(case, result)
    first = InferencePlan(4, False, None, torch.device("cpu"))
    assert len(calls) == len(degradation_steps(first, 1, algorithm.segmenter.config.patch_size)) == 3
    assert np.count_nonzero(sitk.GetArrayViewFromImage(label)) == 0
    assert label.GetSize() == case.ct.GetSize() and label.GetOrigin() == case.ct.GetOrigin()
    assert len(result.fallbacks) == 1 and "mask is EMPTY because the case ran out of memory" in result.fallbacks[0]
    assert "mask is EMPTY because the case ran out of memory" in caplog.records[-1].getMessage()


def test_all_steps_failing_raises_a_clear_error() -> None:
    def attempt(plan: InferencePlan) -> None:
        raise MemoryError

    with pytest.raises(SegmentationOutOfMemory, match="ran out of memory at every step"):
        run_degrading(attempt, InferencePlan(2, True, None, torch.device("cpu")), 3)
