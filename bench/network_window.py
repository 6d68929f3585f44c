"""One sliding window of a segmentation network, in this process alone: seconds, CPU seconds, peak RSS, as JSON.

``python -m bench.network_window [--config algorithm/segmentation/configs/hecktor_1mm_segresnet.json]
[--device cpu|cuda] [--windows 1] [--json-out FILE]``

Where a whole case would take far longer than the benchmark's budget (the full-size 1 mm production network on
2 CPU cores), this measures the network's forward pass on one ``patch_size`` window (random weights, random
input: the cost does not depend on either) and counts the windows MONAI's sliding-window inference visits on the
config's crop (``crop_size_mm / spacing_mm`` voxels, ``sw_overlap``), so that a per-case time can be
*extrapolated*: windows per pass x passes (folds x mirror-TTA flips) x seconds per window. Blending, resampling,
reading and writing are not included (the full pipeline figures of the bundled model show them: a few seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "algorithm" / "segmentation" / "configs" / "hecktor_1mm_segresnet.json"


def windows_per_pass(crop_zyx: tuple[int, ...], patch_zyx: tuple[int, ...], overlap: float) -> int:
    """How many windows :func:`monai.inferers.sliding_window_inference` runs over an image of ``crop_zyx`` voxels."""
    from monai.data.utils import dense_patch_slices

    image = tuple(max(c, p) for c, p in zip(crop_zyx, patch_zyx, strict=True))  # MONAI pads up to the patch
    interval = tuple(p if p == s else max(int(p * (1 - overlap)), 1) for p, s in zip(patch_zyx, image, strict=True))
    return len(dense_patch_slices(image, patch_zyx, interval))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--windows", type=int, default=1, help="forward passes to time (the fastest is kept)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from algorithm.segmentation.config import SegmentationConfig
    from algorithm.segmentation.network import build_network

    if args.threads:
        torch.set_num_threads(args.threads)
    config = SegmentationConfig.load(args.config)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = build_network(config).to(device).eval()
    patch = config.patch_zyx
    crop = tuple(
        max(math.ceil(mm / sp - 1e-6), 1)
        for mm, sp in zip(reversed(config.crop_size_mm), reversed(config.spacing_mm), strict=True)
    )
    x = torch.randn(config.sw_batch_size, config.in_channels, *patch, device=device)
    seconds, cpu_seconds = [], []
    with torch.inference_mode():
        for _ in range(max(args.windows, 1)):
            start, cpu = time.perf_counter(), time.process_time()
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device.type == "cuda"):
                net(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu)
    n = windows_per_pass(crop, patch, config.sw_overlap)
    batches = math.ceil(n / config.sw_batch_size)
    window_s = min(seconds)
    flips = 2 ** len(config.mirror_axes)
    report: dict[str, Any] = {
        "config": str(args.config),
        "architecture": config.architecture,
        "network_kwargs": config.network_kwargs,
        "parameters_m": sum(p.numel() for p in net.parameters()) / 1e6,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "patch_zyx": list(patch),
        "crop_zyx": list(crop),
        "sw_overlap": config.sw_overlap,
        "sw_batch_size": config.sw_batch_size,
        "windows_per_pass": n,
        "forward_s": seconds,
        "forward_cpu_s": cpu_seconds,
        "tta_flips": flips,
        "config_folds": len(config.folds),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "extrapolated_infer_s": {
            f"TTA {'on' if tta else 'off'}, {folds} fold{'s' if folds > 1 else ''}": batches
            * window_s
            * folds
            * (flips if tta else 1)
            for tta in (False, True)
            for folds in (1, 5)
        },
    }
    text = json.dumps(report, indent=2)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
