"""Training steps per second of a segmentation config with the nnU-Net-level augmentation vs the light one.

``python -m bench.seg_training_speed [--config synthetic_2mm_segresnet] [--steps 20] [--workers 0]
[--device cpu|cuda]``

Both variants run in the same process on the same synthetic crop (random weights; the cost of a step does
not depend on them): patch sampling, augmentation (``{"preset": "light"}``: the kit's earlier flips and
intensity jitter, then the default pipeline of :mod:`algorithm.training.seg_augment`), forward, DiceCE loss,
backward and AdamW step, ``batch_size`` patches per step, through the real data loader. Prints each
variant's steps/s and the ratio (target: >= 0.9 on the CPU). On CUDA the augmentation runs on the GPU, and each
variant's GPU-busy share (GPU time of the steps over their wall time, :mod:`algorithm.training.gpu_busy`, as the
trainer logs it) says whether the step is bound by the device or by the data feed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from monai.losses import DiceCELoss

from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.network import build_network
from algorithm.training.gpu_busy import GpuBusy
from algorithm.training.seg_augment import augment_batch, build_augmentation
from algorithm.training.seg_data import CachedCase
from algorithm.training.seg_loader import PatchStream, make_loader
from algorithm.training.seg_sampling import PatchSampler
from algorithm.training.segmentation import resolve_config


def _case(config: SegmentationConfig, seed: int = 0) -> CachedCase:
    rng = np.random.default_rng(seed)
    shape = tuple(round(c / s) for c, s in zip(config.crop_size_mm[::-1], config.spacing_zyx, strict=True))
    label = np.zeros(shape, dtype=np.uint8)
    z, y, x = (n // 2 for n in shape)
    label[z - 6 : z + 6, y - 6 : y + 6, x - 6 : x + 6] = 1
    label[z - 4 : z + 2, y + 10 : y + 16, x - 12 : x - 6] = 2
    image = rng.normal(0, 0.3, (config.in_channels, *shape)).astype(np.float16)
    return CachedCase("CHUM-001", image, label, tuple(config.spacing_mm))  # type: ignore[arg-type]


def steps_per_s(
    config: SegmentationConfig, block: dict, steps: int, workers: int, device: torch.device
) -> tuple[float, float | None]:
    """Training steps per second with augmentation ``block`` (one warm-up step not counted), and the GPU-busy share
    of those steps (per cent; ``None`` off CUDA)."""
    torch.manual_seed(0)
    net = build_network(config).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    batch = int(config.training.get("batch_size", 2))
    sampler = PatchSampler([_case(config)], config.patch_zyx, [1, 1, 1], [-1.0, 0.0], np.random.default_rng(0))
    on_device = device.type == "cuda"
    stream = PatchStream(
        sampler,
        steps + 1,
        batch,
        0,
        0,
        block,
        config.channels_order,
        config.mirror_dims_zyx,
        augment_here=not on_device,
    )
    gpu_aug = None
    if on_device:
        gpu_aug = build_augmentation(
            block, config.channels_order, config.mirror_dims_zyx, 1, device, list(sampler.pad_values), config.patch_zyx
        )
    start = 0.0
    gpu = GpuBusy(device)
    for k, (x, y) in enumerate(make_loader(stream, workers, pin_memory=on_device)):
        if k == 1:
            if on_device:
                torch.cuda.synchronize()
            start = time.perf_counter()
        x, y = x.to(device), y.to(device)
        if gpu_aug is not None:
            x, y = augment_batch(gpu_aug, x, y)
        if k >= 1:
            gpu.start()
        opt.zero_grad()
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=on_device):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        if k >= 1:
            gpu.stop()
    if on_device:
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return steps / wall, gpu.share_pct(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="synthetic_2mm_segresnet")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    config = SegmentationConfig.load(resolve_config(args.config))
    device = torch.device(args.device)
    light, light_busy = steps_per_s(config, {"preset": "light"}, args.steps, args.workers, device)
    full, full_busy = steps_per_s(config, {}, args.steps, args.workers, device)
    result = {
        "config": args.config,
        "device": str(device),
        "workers": args.workers,
        "steps": args.steps,
        "light_steps_per_s": round(light, 3),
        "nnunet_steps_per_s": round(full, 3),
        "ratio_nnunet_vs_light": round(full / light, 3),
        "light_gpu_busy_pct": None if light_busy is None else round(light_busy, 1),
        "nnunet_gpu_busy_pct": None if full_busy is None else round(full_busy, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
