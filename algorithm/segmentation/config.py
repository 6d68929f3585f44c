"""The segmentation model's configuration: one JSON file (``config.json``) next to the fold weights.

A model folder's ``model.json`` (format ``hecktor-kit/segmentation`` v1, kind ``monai``; see
:mod:`algorithm.model_files`) names this file and the fold weights (:func:`config_path`,
:func:`write_descriptor`); a folder with ``config.json`` alone (ensemble members, locators) loads too.

Every vector in the file is in ITK index order **(x, y, z)** = (left, posterior, superior) in LPS, the
same order as ``sitk.Image.GetSpacing()``; code that works on numpy arrays (z, y, x) reverses them
through the ``*_zyx`` properties. Units: mm for sizes and spacings, HU for the CT window, SUV for PET,
mm^3 for component volumes.

Example (the bundled demo model)::

    {
      "version": 1,
      "architecture": "SegResNet",
      "network_kwargs": {"init_filters": 8, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1]},
      "in_channels": 2, "num_classes": 3, "channels_order": ["CT", "PET"],
      "spacing_mm": [2.0, 2.0, 2.0], "patch_size": [96, 96, 96], "crop_size_mm": [192, 192, 192],
      "ct_window_hu": [-250, 250], "pet_transform": "linear", "pet_scale": 10.0, "pet_clip_suv": 40.0,
      "folds": [0], "min_component_mm3": 100.0, "sw_overlap": 0.25, "mirror_axes": ["x", "y"]
    }

Optional keys whose defaults reproduce the single-model, PET-heuristic behaviour: ``channels_order`` may
also name ``CT^2`` and ``cbrt(CT)`` (computed from the normalised CT) and ``in_channels`` may be left out
(derived); ``locate.method`` (``pet-heuristic`` | ``network`` | ``nnunet`` | ``whole-scan``); ``target`` (``labels`` |
``region``, the latter for a locator); ``members`` (a heterogeneous ensemble); ``description``.

Unknown keys are refused (a typo must not silently fall back to a default); the ``training`` block
holds training hyper-parameters (see :mod:`algorithm.training.segmentation`) and is ignored at inference.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from algorithm.model_files import (
    FORMAT_VERSION,
    MODEL_FILE,
    ModelError,
    created_stamp,
    read_kind,
    sibling_file,
    write_model_json,
)

#: Name of the configuration file inside a model folder.
CONFIG_FILENAME = "config.json"
#: ``format`` of the segmentation folder's descriptor ``model.json`` (:mod:`algorithm.model_files`).
FORMAT = "hecktor-kit/segmentation"
#: The descriptor's ``kind``: MONAI networks described by ``config.json``, one ``fold_<k>.pt`` per fold.
KIND = "monai"
#: Weight file of fold ``k`` inside a model folder (a ``state_dict`` saved with ``torch.save``).
FOLD_FILENAME = "fold_{fold}.pt"
#: Architectures the network factory knows (MONAI class names).
ARCHITECTURES = ("SegResNet", "UNet", "DynUNet", "SwinUNETR")
#: Input channels the preprocessing can produce (:func:`algorithm.segmentation.normalise.stack_channels`):
#: the normalised CT (clipped to ``ct_window_hu``, mapped to [-1, 1]), its square and its cube root (the
#: SJTU_lab426 "multi-channel CT enhancement"), and the normalised PET.
CHANNELS = ("CT", "CT^2", "cbrt(CT)", "PET")
#: What the network is trained to predict: ``labels`` (0 / GTVp / GTVn) or ``region`` (a binary
#: tumour-region mask, the dilated union of GTVp and GTVn: the learned locator's target).
TARGETS = ("labels", "region")
#: Head-and-neck box methods (``locate.method``).
LOCATE_METHODS = ("pet-heuristic", "network", "whole-scan", "nnunet")
#: SwinUNETR patches must be divisible by this (five 2x downsamplings).
SWIN_DIVISOR = 32
#: Axis names for ``mirror_axes`` and their position in an (x, y, z) vector.
AXES = {"x": 0, "y": 1, "z": 2}


#: Keys every config must state: the recipe that defines a trained model is never taken from defaults.
REQUIRED_KEYS: tuple[str, ...] = ("version", "architecture", "spacing_mm", "patch_size", "crop_size_mm")


def config_path(model_dir: str | Path) -> Path:
    """The config file of a model folder: the one ``model.json`` names (checked: format, version, kind),
    else ``config.json`` (a folder without descriptor: ensemble members, locators, older folders).

    Raises:
        ModelError: the descriptor is unusable (one line naming it).
    """
    model_dir = Path(model_dir)
    if not (model_dir / MODEL_FILE).is_file():
        return model_dir / CONFIG_FILENAME
    data = read_kind(model_dir, "segmentation", KIND)
    try:
        return sibling_file(model_dir, data.get("config", CONFIG_FILENAME), "config")
    except ValueError as exc:
        raise ModelError(f"{model_dir / MODEL_FILE}: {exc}") from None


def write_descriptor(model_dir: str | Path, folds: list[int]) -> Path:
    """``model_dir/model.json`` naming the config and the fold weight files; returns its path."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "created": created_stamp(),
        "config": CONFIG_FILENAME,
        "weights": [FOLD_FILENAME.format(fold=k) for k in folds],
    }
    return write_model_json(model_dir, payload)


@dataclass
class SegmentationConfig:
    """Everything inference (and the shared preprocessing) needs to know about a trained model.

    Attributes:
        architecture: MONAI network class name, one of :data:`ARCHITECTURES`.
        network_kwargs: constructor arguments of that class besides spatial_dims/in/out channels.
        in_channels: number of input channels (= ``len(channels_order)``; derived when left out).
        num_classes: output classes: 0 background, 1 GTVp, 2 GTVn.
        channels_order: which image goes into which input channel.
        spacing_mm: model grid spacing (x, y, z), mm.
        patch_size: sliding-window / training patch (x, y, z), voxels of the model grid.
        crop_size_mm: head-and-neck box (x, y, z), mm; it extends inferiorly from near the top of the head.
        ct_window_hu: CT clip window (low, high), HU, mapped linearly to [-1, 1].
        pet_transform: ``"linear"`` (SUV / pet_scale) or ``"log1p"`` (log1p(SUV) / log1p(pet_scale)).
        pet_scale: SUV that maps to 1.0.
        pet_clip_suv: PET is clipped to [0, pet_clip_suv] SUV before scaling.
        pet_reference_suv: when set, the network's PET input is first scaled so that the case's uptake
            reference (:func:`algorithm.intensity.uptake_reference` of the whole PET: the body median)
            equals this many SUV, which makes the segmentation blind to the PET calibration (x0.5, x2,
            a unit-free Bq/ml conversion); ``None`` (default) feeds the SUV as it is.
        folds: fold weights to ensemble by default (``fold_<k>.pt``).
        min_component_mm3: connected components (26-connectivity) of label 1 or 2 smaller than this
            volume on the CT grid are set to background.
        gtvp_keep_largest: keep only the largest GTVp component (one primary tumour per patient).
        sw_overlap: sliding-window overlap fraction (0..1), Gaussian blending.
        sw_batch_size: windows per forward pass.
        amp: mixed precision (float16 autocast) for inference on CUDA; ignored on the CPU, which runs float32.
        mirror_axes: axes flipped by training augmentation and by mirror test-time augmentation.
        locate: head-and-neck locator settings (see :class:`LocateConfig`).
        target: ``labels`` (3 classes) or ``region`` (2 classes: the dilated lesion union, for a locator).
        target_dilation_mm: dilation of the lesion union for ``target = region``, mm.
        members: heterogeneous ensemble: member name -> weight. Each member is a full model folder
            ``members/<name>/`` (its own config.json + fold_<k>.pt, any architecture and input channels) on
            the SAME crop grid (spacing_mm, crop_size_mm) as this config; their softmax probabilities are
            averaged (weighted) over folds and members. A member may also be an nnU-Net trained-model folder:
            the folder is then an ensemble of kind ``ensemble`` (:mod:`algorithm.segmentation.ensemble`: each
            member's probabilities on the CT voxels of one box, no shared crop grid needed). Empty (default):
            this folder is a single model.
        description: free text (provenance of a published recipe); ignored by the code.
        version: configuration format version.
        training: training hyper-parameters (free-form, ignored at inference).
    """

    architecture: str = "SegResNet"
    network_kwargs: dict[str, Any] = field(default_factory=dict)
    in_channels: int | None = None
    num_classes: int = 3
    channels_order: list[str] = field(default_factory=lambda: ["CT", "PET"])
    spacing_mm: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    patch_size: list[int] = field(default_factory=lambda: [192, 192, 192])
    crop_size_mm: list[float] = field(default_factory=lambda: [200.0, 200.0, 310.0])
    ct_window_hu: list[float] = field(default_factory=lambda: [-250.0, 250.0])
    pet_transform: str = "linear"
    pet_scale: float = 10.0
    pet_clip_suv: float = 40.0
    pet_reference_suv: float | None = None
    folds: list[int] = field(default_factory=lambda: [0])
    min_component_mm3: float = 100.0
    gtvp_keep_largest: bool = False
    sw_overlap: float = 0.5
    sw_batch_size: int = 1
    amp: bool = True
    mirror_axes: list[str] = field(default_factory=lambda: ["x"])
    locate: LocateConfig = field(default_factory=lambda: LocateConfig())
    target: str = "labels"
    target_dilation_mm: float = 10.0
    members: dict[str, float] = field(default_factory=dict)
    description: str = ""
    version: int = 1
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.locate, dict):
            self.locate = LocateConfig.from_dict(self.locate)
        if self.in_channels is None:
            self.in_channels = len(self.channels_order)
        self.validate()

    # Array-order views (numpy arrays are z, y, x).
    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        return (float(self.spacing_mm[2]), float(self.spacing_mm[1]), float(self.spacing_mm[0]))

    @property
    def patch_zyx(self) -> tuple[int, int, int]:
        return (int(self.patch_size[2]), int(self.patch_size[1]), int(self.patch_size[0]))

    @property
    def mirror_dims_zyx(self) -> list[int]:
        """Spatial dimensions (0 = z, 1 = y, 2 = x) of an array (z, y, x) that ``mirror_axes`` flip."""
        return sorted(2 - AXES[a] for a in self.mirror_axes)

    def validate(self) -> None:
        """Raise :class:`ModelError` when a value cannot work."""
        problems: list[str] = []
        if self.architecture not in ARCHITECTURES:
            problems.append(f"architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        if self.in_channels != len(self.channels_order):
            problems.append(f"in_channels {self.in_channels} != len(channels_order) {len(self.channels_order)}")
        if any(c not in CHANNELS for c in self.channels_order):
            problems.append(f"channels_order {self.channels_order} may only name {', '.join(CHANNELS)}")
        for name in ("spacing_mm", "patch_size", "crop_size_mm"):
            values = getattr(self, name)
            if len(values) != 3 or any(v <= 0 for v in values):
                problems.append(f"{name} must be three positive numbers (x, y, z), got {values}")
        if len(self.ct_window_hu) != 2 or self.ct_window_hu[0] >= self.ct_window_hu[1]:
            problems.append(f"ct_window_hu must be [low, high] with low < high, got {self.ct_window_hu}")
        if self.pet_transform not in ("linear", "log1p"):
            problems.append(f"pet_transform must be 'linear' or 'log1p', got {self.pet_transform!r}")
        if self.pet_reference_suv is not None and not self.pet_reference_suv > 0:
            problems.append("pet_reference_suv must be positive (or null)")
        if self.pet_scale <= 0 or self.pet_clip_suv <= 0:
            problems.append("pet_scale and pet_clip_suv must be positive")
        if not 0 <= self.sw_overlap < 1:
            problems.append(f"sw_overlap must be in [0, 1), got {self.sw_overlap}")
        if any(a not in AXES for a in self.mirror_axes):
            problems.append(f"mirror_axes may only name x, y, z, got {self.mirror_axes}")
        if self.target not in TARGETS:
            problems.append(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        expected_classes = 3 if self.target == "labels" else 2
        if self.num_classes != expected_classes:
            problems.append(
                f"num_classes must be {expected_classes} for target {self.target!r}, got {self.num_classes}"
            )
        if self.architecture == "SwinUNETR" and any(int(p) % SWIN_DIVISOR for p in self.patch_size):
            problems.append(f"SwinUNETR needs a patch_size divisible by {SWIN_DIVISOR}, got {self.patch_size}")
        if any(w < 0 for w in self.members.values()) or (self.members and sum(self.members.values()) <= 0):
            problems.append(f"member weights must be >= 0 with a positive sum, got {self.members}")
        if problems:
            raise ModelError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentationConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown segmentation config keys: {', '.join(unknown)}")
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:  # a model's recipe is never silently replaced by defaults
            raise ModelError(f"segmentation config lacks required keys: {', '.join(missing)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> SegmentationConfig:
        """Read a config from a JSON file (or from ``<folder>/config.json`` when given a folder)."""
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_FILENAME
        if not path.is_file():
            raise ModelError(f"{path}: segmentation config file is missing")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: cannot be read as JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{path}: expected a JSON object")
        try:
            return cls.from_dict(data)
        except (TypeError, ModelError) as exc:
            raise ModelError(f"{path}: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Write the config as indented JSON (to ``<folder>/config.json`` when given a folder)."""
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


@dataclass
class LocateConfig:
    """Settings of the head-and-neck locator (:mod:`algorithm.segmentation.locate`); lengths in mm, PET in SUV.

    Attributes:
        grid_mm: isotropic spacing of the coarse LPS grid the locator works on.
        body_hu: CT voxels above this HU are body (for the body top and the CT fallback).
        head_search_mm: depth below the top of the body searched for the brain.
        brain_rel_thresholds: brain voxels exceed this fraction of the search region's 99.9th SUV
            percentile (tried in turn, highest first, until a large enough component appears) ...
        brain_min_suv: ... and this absolute SUV.
        brain_min_volume_mm3: the largest uptake component counts as the brain only above this volume.
        top_margin_mm: the box's top lies this far above the top of the brain (or of the body, for the
            CT fallback), but never above the top of the body found on CT.
        offset_mm: shift (x, y, z) added to the box centre after locating (LPS, mm).
        method: ``pet-heuristic`` (default: the PET brain / CT body rules above), ``network`` (a learned
            low-resolution locator in ``<model folder>/<network_dir>``; the box is centred on the bounding
            box of its mask, falling back to the heuristic when the mask is empty), ``nnunet`` (the same with an
            nnU-Net trained-model folder in ``<model folder>/<network_dir>``:
            :mod:`algorithm.segmentation.nnunet.locate`) or ``whole-scan`` (the box hangs from the top of the
            CT, centred in x/y: the learned locator's own input).
        network_dir: folder of the locator model, relative to the model folder (config.json + fold_<k>.pt, or
            an nnU-Net trained-model folder for ``nnunet``).
        network_threshold: locator probability above which a voxel belongs to the region.
    """

    grid_mm: float = 4.0
    body_hu: float = -500.0
    head_search_mm: float = 200.0
    brain_rel_thresholds: list[float] = field(default_factory=lambda: [0.5, 0.35, 0.2])
    brain_min_suv: float = 2.0
    brain_min_volume_mm3: float = 100_000.0
    top_margin_mm: float = 20.0
    offset_mm: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    method: str = "pet-heuristic"
    network_dir: str = "locator"
    network_threshold: float = 0.5

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocateConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown locate config keys: {', '.join(unknown)}")
        return cls(**data)

    def __post_init__(self) -> None:
        if self.method not in LOCATE_METHODS:
            raise ModelError(f"locate.method must be one of {', '.join(LOCATE_METHODS)}, got {self.method!r}")
