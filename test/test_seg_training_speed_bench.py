"""Smoke test of ``python -m bench.seg_training_speed`` (issue 16: steps/s of the augmentation, GPU-busy share)."""

from __future__ import annotations

import json

import pytest
import torch

from bench import seg_training_speed


def test_bench_prints_both_variants_and_no_gpu_figure_on_the_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    assert seg_training_speed.main(["--steps", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["light_steps_per_s"] > 0 and result["nnunet_steps_per_s"] > 0
    assert result["ratio_nnunet_vs_light"] == pytest.approx(
        result["nnunet_steps_per_s"] / result["light_steps_per_s"], abs=2e-3
    )
    assert result["light_gpu_busy_pct"] is None and result["nnunet_gpu_busy_pct"] is None
