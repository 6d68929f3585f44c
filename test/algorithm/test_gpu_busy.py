"""The GPU-busy share of a training epoch (algorithm/training/gpu_busy.py), with a fake CUDA event on the CPU."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from algorithm.training import seg_loop
from algorithm.training.gpu_busy import GpuBusy, nvml_utilisation_pct


class FakeEvent:
    """``torch.cuda.Event``'s timing API on a clock the test sets: ``record()`` stamps ``FakeEvent.now`` (ms)."""

    now = 0.0

    def __init__(self, enable_timing: bool = False) -> None:
        assert enable_timing
        self.t: float | None = None

    def record(self) -> None:
        self.t = FakeEvent.now

    def elapsed_time(self, end: FakeEvent) -> float:
        assert self.t is not None and end.t is not None
        return end.t - self.t


def test_busy_share_sums_the_bracketed_steps_over_the_wall_time() -> None:
    gpu = GpuBusy(torch.device("cuda"), event=FakeEvent)
    for start_ms, end_ms in ((0.0, 300.0), (500.0, 900.0), (1000.0, 1300.0)):  # 1.0 s of GPU work
        FakeEvent.now = start_ms
        gpu.start()
        FakeEvent.now = end_ms
        gpu.stop()
    assert gpu.share_pct(2.0) == pytest.approx(50.0)
    assert gpu.share_pct(2.0) is None  # the stretch was consumed: nothing bracketed since
    gpu.start()
    FakeEvent.now += 5000.0
    gpu.stop()
    assert gpu.share_pct(1.0) == 100.0  # capped: events and wall clock are read at slightly different times


def test_cpu_training_has_no_gpu_figures() -> None:
    gpu = GpuBusy(torch.device("cpu"))
    gpu.start()
    gpu.stop()
    assert gpu.share_pct(1.0) is None
    assert nvml_utilisation_pct(torch.device("cpu")) is None


def test_a_resumed_run_appends_in_its_older_logs_columns(tmp_path: Path) -> None:
    log = tmp_path / "training_log.csv"
    old = [f for f in seg_loop.LOG_FIELDS if not f.startswith("gpu_")]
    log.write_text(",".join(old) + "\n" + ",".join("1" for _ in old) + "\n")
    seg_loop._append_log(log, {"fold": 0, "epoch": 2, "gpu_busy_pct": 80.0})
    rows = list(csv.DictReader(log.open()))
    assert list(rows[1]) == old and rows[1]["epoch"] == "2"
    fresh = tmp_path / "new.csv"
    seg_loop._append_log(fresh, {"fold": 0, "epoch": 1, "gpu_busy_pct": 80.0})
    assert next(csv.DictReader(fresh.open()))["gpu_busy_pct"] == "80.0"


def test_seconds_add_up_across_stretches_into_one_epoch_share() -> None:
    from algorithm.training.gpu_busy import busy_percent

    gpu = GpuBusy(torch.device("cuda"), event=FakeEvent)
    total = 0.0
    for start_ms, end_ms in ((0.0, 600.0), (1000.0, 1400.0)):  # two stretches between progress lines
        FakeEvent.now = start_ms
        gpu.start()
        FakeEvent.now = end_ms
        gpu.stop()
        total += gpu.take_seconds()
    assert total == pytest.approx(1.0) and gpu.take_seconds() is None
    assert busy_percent(total, 4.0) == pytest.approx(25.0)
    assert busy_percent(None, 4.0) is None and busy_percent(1.0, 0.0) is None
