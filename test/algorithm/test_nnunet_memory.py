"""Memory trouble in the nnU-Net path degrades step by step (as the MONAI path's, test_memory_fallback.py); only when
every step fails is the mask empty, with the MONAI path's log line. The injected out-of-memory errors hit nnU-Net's
own ``nnUNetPredictor`` running a folder nnU-Net trained (the session's smoke training, test/conftest.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from algorithm.pipeline import Algorithm, CaseResult
from algorithm.reading import CaseInputs
from algorithm.segmentation.nnunet.memory import NnUNetPlan, nnunet_degradation_steps
from hecktor.clinical import ClinicalRecord
from synthetic import generate_case


def test_gpu_plan_degrades_through_every_nnunet_step() -> None:
    first = NnUNetPlan(torch.device("cuda"), on_device=True, tta=True, max_folds=None, tile_step_size=0.5)
    steps = nnunet_degradation_steps(first, n_folds=5, mirroring=True)
    assert [name for name, _ in steps[1:]] == [
        "sliding-window results in host memory (perform_everything_on_device off)",
        "test-time augmentation off",
        "one fold instead of 5",
        "larger sliding-window step (0.5 -> 1 of the patch)",
        "CPU instead of the GPU",
    ]
    last = steps[-1][1]
    assert (last.device.type, last.on_device, last.tta, last.max_folds, last.tile_step_size) == ("cpu", False, False,
                                                                                                 1, 1.0)  # fmt: skip
    cpu = NnUNetPlan(torch.device("cpu"), on_device=False, tta=True, max_folds=None, tile_step_size=1.0)
    assert nnunet_degradation_steps(cpu, n_folds=1, mirroring=False) == [("", cpu)]  # nothing cheaper


@pytest.fixture(scope="module")
def nnunet_algorithm(nnunet_trained: Path) -> Algorithm:
    return Algorithm({1}, model_dir=nnunet_trained, device="cpu")


@pytest.fixture(scope="module")
def case() -> CaseInputs:
    synthetic = generate_case("CHUM-301", seed=5, size="small", with_primary=True)
    return CaseInputs(ct=synthetic.ct, pet=synthetic.pet, clinical=ClinicalRecord())


def _inject(monkeypatch, fail_while) -> list[tuple[float, int]]:
    """nnU-Net's sliding window raises MemoryError while ``fail_while(predictor)``; (step, folds) per attempt."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    real = nnUNetPredictor.predict_logits_from_preprocessed_data
    calls: list[tuple[float, int]] = []

    def injected(self, data):
        calls.append((self.tile_step_size, len(self.list_of_parameters)))
        if fail_while(self):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123 bytes")
        return real(self, data)

    monkeypatch.setattr(nnUNetPredictor, "predict_logits_from_preprocessed_data", injected)
    return calls


@pytest.mark.slow  # the session's nnU-Net smoke training
def test_nnunet_out_of_memory_degrades_and_still_gives_a_real_mask(nnunet_algorithm, case, monkeypatch, caplog):
    assert nnunet_algorithm.segmenter.describe()["kind"] == "nnunet"
    calls = _inject(monkeypatch, lambda predictor: predictor.tile_step_size < 1.0)
    result = CaseResult()
    with caplog.at_level(logging.WARNING):
        label = nnunet_algorithm._segment(case, result)
    assert calls == [(0.5, 1), (1.0, 1)]
    assert result.fallbacks == []
    assert label.GetPixelID() == sitk.sitkUInt8 and label.GetSize() == case.ct.GetSize()
    messages = [r.getMessage() for r in caplog.records]
    assert "segmentation memory fallback 1/1: larger sliding-window step (0.5 -> 1 of the patch)" in messages
    assert any("completed after memory fallback" in m for m in messages)
    # the next case starts again from the configured plan
    calls.clear()
    nnunet_algorithm._segment(case, CaseResult())
    assert calls[0] == (0.5, 1)


@pytest.mark.slow
def test_nnunet_out_of_memory_at_every_step_gives_the_empty_mask_line(nnunet_algorithm, case, monkeypatch, caplog):
    calls = _inject(monkeypatch, lambda predictor: True)
    result = CaseResult()
    with caplog.at_level(logging.WARNING):
        label = nnunet_algorithm._segment(case, result)
    assert len(calls) == 2
    assert np.count_nonzero(sitk.GetArrayViewFromImage(label)) == 0
    assert label.GetSize() == case.ct.GetSize() and label.GetOrigin() == case.ct.GetOrigin()
    assert len(result.fallbacks) == 1 and "mask is EMPTY because the case ran out of memory" in result.fallbacks[0]
    assert "mask is EMPTY because the case ran out of memory" in caplog.records[-1].getMessage()
