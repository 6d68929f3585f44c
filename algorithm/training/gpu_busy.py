"""How busy the GPU is during segmentation training: is an epoch bound by the device or by the CPU's data feed?

Two figures per epoch, both only on CUDA (``None`` on the CPU):

* **GPU busy** (``gpu_busy_pct``): the GPU time of the training steps divided by the epoch's wall time, in per
  cent. Each step's GPU work is bracketed by two CUDA events (``torch.cuda.Event(enable_timing=True)``,
  recorded after the batch is on the device and after the optimiser and scheduler steps); their elapsed times
  are summed once at the end of the epoch (one synchronisation, not one per step). 100 % means the GPU never
  waited for the loader or the host; the ``data wait`` share of the same log is where the rest went.
* **NVML utilisation** (``gpu_util_pct``): the driver's own "percent of time a kernel was running" over its last
  sample period, read with :func:`torch.cuda.utilization` at the end of the epoch; absent (``None``) when NVML
  (``pynvml`` / ``nvidia-ml-py``) is not installed, which is the case in a bare PyTorch image.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)


class GpuBusy:
    """Sum of the GPU time between :meth:`start` and :meth:`stop` of each step (:meth:`take_seconds`), or that sum as
    a share of a wall time (:meth:`share_pct`).

    On a non-CUDA device every call is a no-op and both figures are ``None``. ``event`` is the event
    factory (``torch.cuda.Event`` by default; tests pass a fake with ``record()`` and ``elapsed_time()``).
    """

    def __init__(self, device: torch.device, event: Any = None) -> None:
        self.enabled = device.type == "cuda"
        self.device = device
        self._event = event if event is not None else (torch.cuda.Event if self.enabled else None)
        self._pairs: list[tuple[Any, Any]] = []
        self._open: Any = None

    def start(self) -> None:
        """Mark the start of a step's GPU work (after its batch is on the device)."""
        if self.enabled:
            self._open = self._event(enable_timing=True)
            self._open.record()

    def stop(self) -> None:
        """Mark the end of the step's GPU work (after the optimiser and scheduler steps)."""
        if self.enabled and self._open is not None:
            end = self._event(enable_timing=True)
            end.record()
            self._pairs.append((self._open, end))
            self._open = None

    def take_seconds(self) -> float | None:
        """GPU seconds of the steps bracketed since the last call, then start afresh; ``None`` off CUDA or when no
        step was bracketed."""
        if not self.enabled or not self._pairs:
            self._pairs = []
            return None
        if self._event is torch.cuda.Event:
            torch.cuda.synchronize(self.device)
        busy_s = sum(a.elapsed_time(b) for a, b in self._pairs) / 1000.0  # elapsed_time is in ms
        self._pairs = []
        return busy_s

    def share_pct(self, wall_s: float) -> float | None:
        """:meth:`take_seconds` / ``wall_s`` x 100 (capped at 100); ``None`` off CUDA, before any step or for a
        non-positive ``wall_s``."""
        busy_s = self.take_seconds()
        return busy_percent(busy_s, wall_s)


def busy_percent(busy_s: float | None, wall_s: float) -> float | None:
    """``busy_s`` / ``wall_s`` x 100, capped at 100 (events and the wall clock are read at slightly different
    times); ``None`` when ``busy_s`` is ``None`` or ``wall_s`` is not positive."""
    if busy_s is None or wall_s <= 0:
        return None
    return min(100.0, 100.0 * busy_s / wall_s)


def nvml_utilisation_pct(device: torch.device) -> float | None:
    """The driver's kernel-busy percentage of ``device`` (NVML's last sample), or ``None`` off CUDA or
    without NVML (the reason logged at debug level)."""
    if device.type != "cuda":
        return None
    try:
        return float(torch.cuda.utilization(device))
    except Exception as exc:  # ModuleNotFoundError (no pynvml), or an NVML error: the figure is optional
        log.debug("no NVML utilisation for %s: %s", device, exc)
        return None
