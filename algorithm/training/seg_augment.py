"""Training augmentation at the level of nnU-Net's default pipeline, built from MONAI transforms.

One :class:`monai.transforms.Compose` per sample over ``{"image": (C, z, y, x), "label": (1, z, y, x)}``
(numpy arrays or torch tensors, on the CPU or the GPU: MONAI's transforms run on the tensor's device).
Spatial transforms move image and label together (image trilinear, label nearest). Where a rotated,
scaled or deformed patch reaches beyond the sampled one, it is padded with **air** by default (``padding``
``"air"``: each channel's normalised value outside the scan, CT -1024 HU and PET 0 SUV, label background),
so that training shows the oblique cut through the field of view that a tilted or rotated scan has at
inference; ``"border"`` repeats the patch's border instead (the kit's behaviour before issue 16, which
never shows such a cut). Air padding is MONAI's zeros padding between two channel-wise shifts
(``NormalizeIntensityd`` with the outside values as subtrahend, then their negatives). Intensity
transforms act on the image only, each channel with its own random draw (as nnU-Net's per-channel
transforms).

The ``augmentation`` block of the training config names each transform with its probability (0 turns it
off) and its range; a transform not named keeps the default below, an unknown name or option is an error.
Defaults follow nnU-Net v2's ``nnUNetTrainer.get_training_transforms`` (probabilities and ranges), except
where stated:

=================  =====  ==========================================================  ==================
name               prob   options                                                     MONAI transform
=================  =====  ==========================================================  ==================
``rotation``       0.2    ``degrees`` 30 (each axis, U(-d, d));                       ``RandAffined``
                          ``padding`` ``"air"``
``scaling``        0.2    ``range`` [0.7, 1.4] (per axis; nnU-Net draws one factor);  ``RandAffined``
                          ``padding`` ``"air"``
``elastic``        0.0    ``sigma`` [5, 8], ``magnitude`` [50, 150] voxels (off, as   ``Rand3DElasticd``
                          in nnU-Net's default); ``padding`` ``"air"``
``field_of_view``  0.0    ``shift`` 0.5 (fraction of the patch edge, each axis,       ``RandAffined``
                          U(-s, s)), ``degrees`` 20 (each axis); always air (off
                          by default; not in nnU-Net): the scan ends inside the patch
``pet_scale``      0.8    ``range`` [0.5, 2.0], log-uniform factor on the PET channel  :class:`RandPetCalibrationd`
                          (an unseen centre's calibration; not in nnU-Net)
``noise``          0.1    ``std`` 0.1 (std drawn in U(0, std), normalised units)      ``RandGaussianNoised``
``blur``           0.2    ``sigma`` [0.5, 1.0] voxels                                 ``RandGaussianSmoothd``
``brightness``     0.15   ``range`` [0.75, 1.25] (multiplicative)                     ``RandScaleIntensityd``
``contrast``       0.15   ``range`` [0.75, 1.25] (around the mean, range preserved)   ``RandScaleIntensityFixedMeand``
``low_resolution`` 0.25   ``zoom`` [0.5, 1.0] (down nearest, up trilinear)            ``RandSimulateLowResolutiond``
``gamma_inverted`` 0.1    ``range`` [0.7, 1.5] (gamma of the inverted image)          ``RandAdjustContrastd``
``gamma``          0.3    ``range`` [0.7, 1.5] (statistics retained)                  ``RandAdjustContrastd``
``mirror``         0.5    per axis in the config's ``mirror_axes``                    ``RandFlipd``
=================  =====  ==========================================================  ==================

``padding`` (rotation, scaling, elastic): ``"air"`` (default; not nnU-Net's, which pads its z-scored
data with 0 and cuts the final patch from the middle of a larger one) or ``"border"``.

``field_of_view`` simulates a scan whose field of view ends inside the patch, at a plane tilted against the
working grid (a tilted or oblique acquisition, another centre's shorter axial or transaxial extent): the patch
content is shifted by up to ``shift`` x the patch edge along each axis and rotated by up to ``degrees`` about
each, and what comes in from beyond the patch is air (CT -1024 HU, PET 0 SUV) and background, which is what
inference puts outside such a scan on its working grid. It needs the patch size (``patch_zyx``). At the demo
model's fine-tuning budget it did not reduce the oblique-grid false nodes measurably (``bench/RESULTS.md``).

``"augmentation": {"preset": "light"}`` gives the kit's earlier light pipeline (mirroring, brightness,
PET scale and gamma only) for comparison runs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import (
    Compose,
    ConcatItemsd,
    DeleteItemsd,
    MapTransform,
    NormalizeIntensityd,
    Rand3DElasticd,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandomizableTransform,
    RandScaleIntensityd,
    RandScaleIntensityFixedMeand,
    RandSimulateLowResolutiond,
    SplitDimd,
)

from hecktor.errors import HecktorError

#: Default probability and options of each transform (see the module docstring).
DEFAULTS: dict[str, dict[str, Any]] = {
    "rotation": {"prob": 0.2, "degrees": 30.0, "padding": "air"},
    "scaling": {"prob": 0.2, "range": [0.7, 1.4], "padding": "air"},
    "elastic": {"prob": 0.0, "sigma": [5.0, 8.0], "magnitude": [50.0, 150.0], "padding": "air"},
    "field_of_view": {"prob": 0.0, "shift": 0.5, "degrees": 20.0},
    "pet_scale": {"prob": 0.8, "range": [0.5, 2.0]},
    "noise": {"prob": 0.1, "std": 0.1},
    "blur": {"prob": 0.2, "sigma": [0.5, 1.0]},
    "brightness": {"prob": 0.15, "range": [0.75, 1.25]},
    "contrast": {"prob": 0.15, "range": [0.75, 1.25]},
    "low_resolution": {"prob": 0.25, "zoom": [0.5, 1.0]},
    "gamma_inverted": {"prob": 0.1, "range": [0.7, 1.5]},
    "gamma": {"prob": 0.3, "range": [0.7, 1.5]},
    "mirror": {"prob": 0.5},
}
#: The earlier light pipeline, as overrides of :data:`DEFAULTS` (``"preset": "light"``).
LIGHT: dict[str, dict[str, Any]] = {
    **{name: {"prob": 0.0} for name in DEFAULTS},
    "mirror": {"prob": 0.5},
    "brightness": {"prob": 1.0, "range": [0.9, 1.1]},
    "pet_scale": {"prob": 0.8, "range": [0.5, 2.0]},
    "gamma": {"prob": 0.3, "range": [0.7, 1.5]},
}
PRESETS = {"nnunet": {}, "light": LIGHT}
#: The spatial transforms with a ``padding`` option, and what it may say (``field_of_view`` always pads with air).
SPATIAL = ("rotation", "scaling", "elastic")
PADDINGS = ("air", "border")


class RandPetCalibrationd(RandomizableTransform, MapTransform):
    """Multiply ``keys`` (the PET channel, linear in SUV) by ``exp(U(log low, log high))`` with probability ``prob``.

    A scanner or dose-calibration error of an unseen centre (x0.5..x2 by default); zero (no uptake) stays zero.
    """

    def __init__(self, keys: Sequence[Hashable], prob: float, scale_range: Sequence[float]) -> None:
        RandomizableTransform.__init__(self, prob)
        MapTransform.__init__(self, keys)
        low, high = float(scale_range[0]), float(scale_range[1])
        if not 0 < low <= high:
            raise HecktorError(f"augmentation pet_scale range must be 0 < low <= high, got {list(scale_range)}")
        self.log_range = (math.log(low), math.log(high))
        self.factor = 1.0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self.factor = float(np.exp(self.R.uniform(*self.log_range)))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        if self._do_transform:
            for key in self.key_iterator(d):
                d[key] = d[key] * self.factor
        return d


def resolve_settings(block: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The full settings of every transform: :data:`DEFAULTS`, then the preset, then the config's block.

    Raises:
        HecktorError: unknown transform, option, preset, or a probability outside [0, 1].
    """
    block = dict(block or {})
    preset = block.pop("preset", "nnunet")
    if preset not in PRESETS:
        raise HecktorError(f"unknown augmentation preset {preset!r}; known: {', '.join(PRESETS)}")
    settings = copy.deepcopy(DEFAULTS)
    for source in (PRESETS[preset], block):
        for name, options in source.items():
            if name not in settings:
                raise HecktorError(f"unknown augmentation {name!r}; known: {', '.join(DEFAULTS)}")
            if not isinstance(options, Mapping):
                raise HecktorError(f"augmentation {name!r} must be an object such as {DEFAULTS[name]}")
            unknown = sorted(set(options) - set(DEFAULTS[name]))
            if unknown:
                raise HecktorError(f"augmentation {name!r}: unknown option(s) {unknown}; known: {list(DEFAULTS[name])}")
            settings[name].update(options)
    for name, options in settings.items():
        if not 0.0 <= float(options["prob"]) <= 1.0:
            raise HecktorError(f"augmentation {name!r}: prob must be in [0, 1], got {options['prob']}")
        if name in SPATIAL and options["padding"] not in PADDINGS:
            raise HecktorError(
                f"augmentation {name!r}: padding must be one of {list(PADDINGS)}, got {options['padding']!r}"
            )
    fov = settings["field_of_view"]
    if not 0.0 <= float(fov["shift"]) <= 1.0 or not 0.0 <= float(fov["degrees"]) <= 90.0:
        raise HecktorError(
            f"augmentation 'field_of_view': shift must be in [0, 1] (fraction of the patch) and degrees in [0, 90],"
            f" got {fov['shift']} and {fov['degrees']}"
        )
    return settings


def build_augmentation(
    block: Mapping[str, Any] | None,
    channels: Sequence[str],
    mirror_dims: Sequence[int],
    seed: int,
    device: torch.device | None = None,
    outside: Sequence[float] | None = None,
    patch_zyx: Sequence[int] | None = None,
) -> Compose:
    """The per-sample augmentation of ``{"image": (C, z, y, x), "label": (1, z, y, x)}``, seeded by ``seed``.

    Args:
        block: the config's ``augmentation`` block (see the module docstring), or None for the defaults.
        channels: channel names in image order (``config.channels_order``); ``"PET"`` gets ``pet_scale``.
        mirror_dims: array dims (0 = z, 1 = y, 2 = x) flipped at random.
        seed: random seed (the same seed and inputs give the same output).
        device: where spatial transforms build their grids (the tensors' device).
        outside: each channel's normalised value outside the scan
            (:func:`algorithm.training.seg_loop.pad_values`); needed when a spatial transform pads with air.
        patch_zyx: the patch size (z, y, x), voxels; needed by ``field_of_view``.

    Raises:
        HecktorError: a bad block, air padding without ``outside`` (one value per channel), or
            ``field_of_view`` without ``patch_zyx``.
    """
    s = resolve_settings(block)
    cuts_fov = s["field_of_view"]["prob"] > 0
    if cuts_fov and (patch_zyx is None or len(patch_zyx) != 3):
        raise HecktorError(f"augmentation 'field_of_view' needs the patch size (z, y, x), got {patch_zyx}")
    transforms: list[Any] = _spatial(s, device, patch_zyx)
    if cuts_fov or any(s[name]["padding"] == "air" for name in SPATIAL if s[name]["prob"] > 0):
        if outside is None or len(outside) != len(channels):
            raise HecktorError(f"air padding needs one outside value per channel {list(channels)}, got {outside}")
        shift, ones = [float(v) for v in outside], [1.0] * len(channels)  # air -> 0 (zeros padding), then back
        transforms = [
            NormalizeIntensityd("image", subtrahend=shift, divisor=ones, channel_wise=True),
            *transforms,
            NormalizeIntensityd("image", subtrahend=[-v for v in shift], divisor=ones, channel_wise=True),
        ]
    chans = [f"image_{i}" for i in range(len(channels))]
    spatial_keys = ("image", "label")
    transforms.append(SplitDimd("image", dim=0, keepdim=True, update_meta=False))
    if "PET" in channels and s["pet_scale"]["prob"] > 0:
        transforms.append(RandPetCalibrationd([chans[list(channels).index("PET")]], **_pet(s["pet_scale"])))
    for key in chans:  # one instance per channel: independent draws, as nnU-Net's per-channel transforms
        transforms.extend(_intensity(key, s, device))
    transforms += [ConcatItemsd(chans, "image", dim=0), DeleteItemsd(chans)]
    for d in mirror_dims:
        if s["mirror"]["prob"] > 0:
            transforms.append(RandFlipd(spatial_keys, prob=s["mirror"]["prob"], spatial_axis=int(d)))
    compose = Compose(transforms)
    compose.set_random_state(seed=int(seed) % (2**32))
    return compose


def _spatial(
    s: Mapping[str, Mapping[str, Any]], device: torch.device | None, patch_zyx: Sequence[int] | None
) -> list[Any]:
    """Rotation, scaling, elastic deformation and the field-of-view cut of image (bilinear) and label (nearest);
    ``padding`` ``"air"`` pads both with zeros (the caller shifts the image so that zero is air), ``"border"``
    repeats the border."""
    keys, modes = ("image", "label"), ("bilinear", "nearest")

    def pad(name: str) -> str:
        return "zeros" if s[name]["padding"] == "air" else "border"

    out: list[Any] = []
    if s["rotation"]["prob"] > 0:
        r = math.radians(float(s["rotation"]["degrees"]))
        out.append(
            RandAffined(
                keys,
                prob=s["rotation"]["prob"],
                rotate_range=(r, r, r),
                mode=modes,
                padding_mode=pad("rotation"),
                device=device,
            )
        )
    if s["scaling"]["prob"] > 0:
        low, high = (float(v) - 1.0 for v in s["scaling"]["range"])
        out.append(
            RandAffined(
                keys,
                prob=s["scaling"]["prob"],
                scale_range=((low, high),) * 3,
                mode=modes,
                padding_mode=pad("scaling"),
                device=device,
            )
        )
    if s["elastic"]["prob"] > 0:
        out.append(
            Rand3DElasticd(
                keys,
                sigma_range=tuple(s["elastic"]["sigma"]),
                magnitude_range=tuple(s["elastic"]["magnitude"]),
                prob=s["elastic"]["prob"],
                mode=modes,
                padding_mode=pad("elastic"),
                device=device,
            )
        )
    if s["field_of_view"]["prob"] > 0 and patch_zyx is not None:
        fov = s["field_of_view"]
        r = math.radians(float(fov["degrees"]))
        out.append(
            RandAffined(
                keys,
                prob=fov["prob"],
                rotate_range=(r, r, r),
                translate_range=tuple(float(fov["shift"]) * int(n) for n in patch_zyx),
                mode=modes,
                padding_mode="zeros",
                device=device,
            )
        )
    return out


def _pet(options: Mapping[str, Any]) -> dict[str, Any]:
    return {"prob": float(options["prob"]), "scale_range": options["range"]}


def _intensity(key: str, s: Mapping[str, Mapping[str, Any]], device: torch.device | None) -> list[Any]:
    out: list[Any] = []
    if s["noise"]["prob"] > 0:
        out.append(RandGaussianNoised(key, prob=s["noise"]["prob"], std=float(s["noise"]["std"])))
    if s["blur"]["prob"] > 0:
        sigma = tuple(float(v) for v in s["blur"]["sigma"])
        out.append(RandGaussianSmoothd(key, sigma_x=sigma, sigma_y=sigma, sigma_z=sigma, prob=s["blur"]["prob"]))
    if s["brightness"]["prob"] > 0:
        low, high = (float(v) - 1.0 for v in s["brightness"]["range"])
        out.append(RandScaleIntensityd(key, factors=(low, high), prob=s["brightness"]["prob"]))
    if s["contrast"]["prob"] > 0:
        low, high = (float(v) - 1.0 for v in s["contrast"]["range"])
        out.append(
            RandScaleIntensityFixedMeand(key, factors=(low, high), preserve_range=True, prob=s["contrast"]["prob"])
        )
    if s["low_resolution"]["prob"] > 0:
        out.append(
            RandSimulateLowResolutiond(
                key, prob=s["low_resolution"]["prob"], zoom_range=tuple(s["low_resolution"]["zoom"]), device=device
            )
        )
    for name, invert in (("gamma_inverted", True), ("gamma", False)):
        if s[name]["prob"] > 0:
            out.append(
                RandAdjustContrastd(
                    key, prob=s[name]["prob"], gamma=tuple(s[name]["range"]), invert_image=invert, retain_stats=True
                )
            )
    return out


def augment(compose: Compose, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``compose`` to one sample: image (C, z, y, x) float, label (1, z, y, x); plain tensors back."""
    out = compose({"image": image, "label": label})
    return _plain(out["image"]).float(), _plain(out["label"])


def augment_batch(compose: Compose, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`augment` on each sample of a batch (B, C, z, y, x) / (B, 1, z, y, x), on the tensors' device."""
    pairs = [augment(compose, x, y) for x, y in zip(images, labels, strict=True)]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs]).to(labels.dtype)


def _plain(x: Any) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x.as_tensor() if hasattr(x, "as_tensor") else x
