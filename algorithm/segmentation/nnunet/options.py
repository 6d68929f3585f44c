"""The kit's optional ``config.json`` beside an nnU-Net model folder: head crop, TTA, folds, post-processing.

Without it an nnU-Net folder runs with the defaults below. Example::

    {"crop_size_mm": [200, 200, 310], "tta": true, "folds": [0, 1, 2, 3, 4], "min_component_mm3": 100}

Keys (every vector in ITK order x, y, z; mm):
- ``crop``: apply the kit's head-and-neck crop first (default true; false gives nnU-Net the whole CT).
- ``crop_size_mm`` (default [200, 200, 310], the kit's) and ``locate`` (:class:`~..config.LocateConfig`; method
  ``pet-heuristic`` or ``whole-scan``, the box hanging from the top of the CT, as the nnU-Net locator's input).
- ``tta``: nnU-Net's mirroring over the axes the checkpoint allows (default true, nnU-Net's own default).
- ``folds``: folds to average (default every ``fold_<k>`` with a checkpoint); ``checkpoint``: file name
  (default ``checkpoint_final.pth``, falling back to ``checkpoint_best.pth``).
- ``tile_step_size`` (default 0.5, nnU-Net's): sliding-window step as a fraction of the patch.
- ``min_component_mm3`` (default 0: nnU-Net's output as it is) and ``gtvp_keep_largest`` (default false).
Unknown keys are refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from algorithm.segmentation.config import CONFIG_FILENAME, LocateConfig, ModelError
from algorithm.segmentation.nnunet.folder import read_json

DEFAULT_CROP_SIZE_MM = [200.0, 200.0, 310.0]


@dataclass
class NnUNetOptions:
    """The kit's settings around an nnU-Net model (see the module docstring)."""

    crop: bool = True
    crop_size_mm: list[float] = field(default_factory=lambda: list(DEFAULT_CROP_SIZE_MM))
    locate: LocateConfig = field(default_factory=LocateConfig)
    tta: bool = True
    folds: list[int | str] | None = None
    checkpoint: str = "checkpoint_final.pth"
    tile_step_size: float = 0.5
    min_component_mm3: float = 0.0
    gtvp_keep_largest: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.locate, dict):
            self.locate = LocateConfig.from_dict(self.locate)
        if self.locate.method in ("network", "nnunet"):  # cut_case places the box itself: never silently ignored
            raise ModelError(
                f"locate.method {self.locate.method!r} is not available beside a single nnU-Net folder (pet-heuristic"
                " or whole-scan); for a learned locator, make the folder the one member of an ensemble"
                " (algorithm/segmentation/ensemble.py)"
            )
        if len(self.crop_size_mm) != 3 or any(v <= 0 for v in self.crop_size_mm):
            raise ModelError(f"crop_size_mm must be three positive numbers (x, y, z), got {self.crop_size_mm}")
        if not 0 < self.tile_step_size <= 1:
            raise ModelError(f"tile_step_size must be in (0, 1], got {self.tile_step_size}")
        if self.min_component_mm3 < 0:
            raise ModelError("min_component_mm3 must be >= 0")

    @classmethod
    def load(cls, model_dir: Path) -> NnUNetOptions:
        """``model_dir/config.json`` when present, else the defaults.

        Raises:
            ModelError: unreadable file, unknown key or bad value (naming the file).
        """
        path = Path(model_dir) / CONFIG_FILENAME
        if not path.is_file():
            return cls()
        data: dict[str, Any] = read_json(path)
        data.pop("backend", None)
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ModelError(f"{path}: unknown keys for an nnU-Net model folder: {', '.join(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ModelError) as exc:
            raise ModelError(f"{path}: {exc}") from None
