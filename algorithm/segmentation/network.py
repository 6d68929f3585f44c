"""Network factory: build the MONAI network named by the config; load fold weights.

The architecture is named only in ``config.json`` (``architecture`` + ``network_kwargs``); nothing
else in the project hard-codes one. Networks take (N, C, z, y, x) float32 and return logits
(N, num_classes, z, y, x).
"""

from __future__ import annotations

from pathlib import Path

import torch
from monai.networks.nets import DynUNet, SegResNet, SwinUNETR, UNet
from torch import nn

from algorithm.segmentation.config import FOLD_FILENAME, ModelError, SegmentationConfig

_FACTORIES: dict[str, type[nn.Module]] = {
    "SegResNet": SegResNet,
    "UNet": UNet,
    "DynUNet": DynUNet,
    # monai >= 1.5 SwinUNETR takes no img_size; the patch must be divisible by 32 (checked by the config).
    "SwinUNETR": SwinUNETR,
}


def build_network(config: SegmentationConfig) -> nn.Module:
    """A freshly initialised network as described by ``config`` (3-D, in_channels -> num_classes)."""
    factory = _FACTORIES.get(config.architecture)
    if factory is None:
        raise ModelError(f"unknown architecture {config.architecture!r}")
    try:
        return factory(
            spatial_dims=3,
            in_channels=config.in_channels,
            out_channels=config.num_classes,
            **config.network_kwargs,
        )
    except TypeError as exc:
        raise ModelError(f"{config.architecture}: bad network_kwargs ({exc})") from None


def fold_path(model_dir: Path, fold: int) -> Path:
    """Weight file of ``fold`` in ``model_dir``."""
    return Path(model_dir) / FOLD_FILENAME.format(fold=fold)


def load_fold(model_dir: Path, fold: int, config: SegmentationConfig, device: torch.device) -> nn.Module:
    """The network of ``fold`` with its weights (``torch.load(weights_only=True)``), in eval mode on ``device``."""
    path = fold_path(model_dir, fold)
    if not path.is_file():
        raise ModelError(f"{path}: weight file of fold {fold} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which one
        raise ModelError(f"{path}: cannot be loaded as a state_dict ({exc})") from None
    net = build_network(config)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:200]
        raise ModelError(f"{path}: weights do not fit {config.architecture} as configured ({first})") from None
    return net.to(device).eval()


def state_dict_cpu(net: nn.Module) -> dict[str, torch.Tensor]:
    """The network's weights as CPU tensors (what ``fold_<k>.pt`` holds)."""
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
