"""Inference on the crop grid: sliding windows (Gaussian blending), mirror TTA, fold ensemble.

Input: the normalised image (C, z, y, x) float32 from :mod:`algorithm.segmentation.preprocess`.
Output: class probabilities (num_classes, z, y, x) float32 on the same crop grid, the softmax averaged
over folds and mirror passes. AMP autocast (float16) is used on CUDA when ``config.amp`` is true (default).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch import nn

from algorithm.segmentation.config import SegmentationConfig


def mirror_flips(config: SegmentationConfig, tta: bool) -> list[tuple[int, ...]]:
    """Spatial dims of a (N, C, z, y, x) tensor to flip for each pass: () only, or every subset of the mirror axes."""
    if not tta:
        return [()]
    dims = [d + 2 for d in config.mirror_dims_zyx]
    return [combo for r in range(len(dims) + 1) for combo in itertools.combinations(dims, r)]


def sliding_window_logits(
    net: nn.Module, x: torch.Tensor, config: SegmentationConfig, device: torch.device
) -> torch.Tensor:
    """Logits (1, K, z, y, x) of ``net`` over ``x`` (1, C, z, y, x) with Gaussian-blended sliding windows."""
    with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device.type == "cuda" and config.amp):
        out = sliding_window_inference(
            x,
            roi_size=config.patch_zyx,
            sw_batch_size=config.sw_batch_size,
            predictor=net,
            overlap=config.sw_overlap,
            mode="gaussian",
            padding_mode="constant",
            cval=0.0,
        )
    return out.float()


def predict_probabilities(
    nets: Sequence[nn.Module],
    image: np.ndarray,
    config: SegmentationConfig,
    device: torch.device,
    tta: bool = False,
) -> np.ndarray:
    """Softmax probabilities (K, z, y, x) float32, averaged over ``nets`` (folds) and mirror passes.

    Args:
        nets: one network per fold, in eval mode on ``device``.
        image: normalised input (C, z, y, x) float32.
        config: patch size, overlap, mirror axes.
        device: where the networks run.
        tta: also run every flip combination of ``config.mirror_axes`` and average.
    """
    dtype = next(nets[0].parameters()).dtype if nets else torch.float32  # float16 nets get float16 input
    x = torch.from_numpy(np.ascontiguousarray(image))[None].to(device=device, dtype=dtype)
    flips = mirror_flips(config, tta)
    total: torch.Tensor | None = None
    with torch.inference_mode():
        for net in nets:
            for dims in flips:
                xi = torch.flip(x, dims) if dims else x
                logits = sliding_window_logits(net, xi, config, device)
                if dims:
                    logits = torch.flip(logits, dims)
                probs = torch.softmax(logits, dim=1)[0]
                total = probs if total is None else total.add_(probs)
                del logits
        assert total is not None
        total /= len(nets) * len(flips)
        return total.cpu().numpy().astype(np.float32, copy=False)
