"""Recognise an nnU-Net v2 trained-model folder and read what the kit needs from its ``dataset.json``.

An nnU-Net v2 trained-model folder (``nnUNet_results/<Dataset>/<Trainer>__<Plans>__<configuration>/``) holds
``dataset.json``, ``plans.json`` and one ``fold_<k>/`` (``k`` an integer or ``all``) per trained fold with
``checkpoint_final.pth`` (or only ``checkpoint_best.pth`` while training runs). Nothing else is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithm.segmentation.config import ModelError

DATASET_JSON = "dataset.json"
PLANS_JSON = "plans.json"
CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_best.pth")
#: Input channels the kit can feed, by their lower-case ``channel_names`` spelling: CT in HU, PET in SUV, and
#: the SJTU_lab426 CT enhancements computed from the CT in HU (:func:`algorithm.segmentation.nnunet.channels`).
CHANNEL_ALIASES = {
    "ct": "CT",
    "pet": "PET",
    "pt": "PET",
    "fdg-pet": "PET",
    "ct^2": "CT^2",
    "ct2": "CT^2",
    "cbrt(ct)": "cbrt(CT)",
    "cbrt_ct": "cbrt(CT)",
}
#: Label names (lower case) that mean GTVp (1) and GTVn (2) in the kit's output.
LABEL_ALIASES = {"gtvp": 1, "tumour": 1, "tumor": 1, "primary": 1, "gtvn": 2, "node": 2, "nodes": 2, "lymph node": 2}


def fold_dirs(model_dir: Path) -> dict[str, Path]:
    """The ``fold_<k>`` folders with a checkpoint: fold name (``"0"``, ``"all"``) -> folder."""
    found: dict[str, Path] = {}
    for child in sorted(Path(model_dir).glob("fold_*")):
        match = re.fullmatch(r"fold_(\d+|all)", child.name)
        if match and child.is_dir() and any((child / c).is_file() for c in CHECKPOINTS):
            found[match.group(1)] = child
    return found


def is_nnunet_model_dir(model_dir: str | Path) -> bool:
    """True when ``model_dir`` holds ``dataset.json``, ``plans.json`` and at least one fold checkpoint."""
    model_dir = Path(model_dir)
    return (model_dir / DATASET_JSON).is_file() and (model_dir / PLANS_JSON).is_file() and bool(fold_dirs(model_dir))


@dataclass(frozen=True)
class DatasetInfo:
    """What the kit reads from ``dataset.json``.

    Attributes:
        channels: the kit's name of each input channel, in nnU-Net's channel order (``CT``, ``PET``, ...).
        label_map: nnU-Net's label value -> the kit's label (0 background, 1 GTVp, 2 GTVn).
        file_ending: the dataset's image file ending (``.nii.gz``), for the raw dataset the trainer writes.
    """

    channels: tuple[str, ...]
    label_map: dict[int, int]
    file_ending: str


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def dataset_info(model_dir: Path) -> DatasetInfo:
    """Channels and labels of the model, from ``dataset.json`` (``channel_names``, or v1's ``modality``).

    Raises:
        ModelError: a channel the kit cannot provide, or labels that are not background/GTVp/GTVn.
    """
    path = Path(model_dir) / DATASET_JSON
    data = read_json(path)
    names = data.get("channel_names", data.get("modality"))
    if not isinstance(names, dict) or not names:
        raise ModelError(f"{path}: no channel_names")
    channels: list[str] = []
    for key in sorted(names, key=lambda k: int(k)):
        name = str(names[key])
        kit = CHANNEL_ALIASES.get(name.strip().lower())
        if kit is None:
            raise ModelError(
                f"{path}: channel {key} is {name!r}; the kit feeds only {', '.join(sorted(set(CHANNEL_ALIASES)))}"
                " (case-insensitive)"
            )
        channels.append(kit)
    return DatasetInfo(tuple(channels), label_map(path, data.get("labels")), str(data.get("file_ending", ".nii.gz")))


def label_map(path: Path, labels: Any) -> dict[int, int]:
    """nnU-Net label value -> kit label: by name (GTVp/GTVn, case-insensitive), else values 0/1/2 kept as they are."""
    if not isinstance(labels, dict) or not labels:
        raise ModelError(f"{path}: no labels")
    if any(not isinstance(v, int) for v in labels.values()):
        raise ModelError(f"{path}: region-based labels (lists of values) are not supported; expected integer labels")
    mapping: dict[int, int] = {}
    for name, value in labels.items():
        if value == 0:
            mapping[0] = 0
            continue
        kit = LABEL_ALIASES.get(str(name).strip().lower())
        if kit is None and value in (1, 2):
            kit = value
        if kit is None:
            raise ModelError(f"{path}: label {name!r} = {value} is neither GTVp nor GTVn")
        mapping[int(value)] = kit
    return mapping


#: Sub-folder of a model folder holding ensemble members (``members/<name>/``).
MEMBERS_DIRNAME = "members"


def has_nnunet_member(model_dir: str | Path, members: Iterable[str]) -> bool:
    """True when one of the ensemble's ``members`` (names) is an nnU-Net trained-model folder under
    ``model_dir/members/`` (the ensemble is then of kind ``ensemble``: members of different kinds)."""
    return any(is_nnunet_model_dir(Path(model_dir) / MEMBERS_DIRNAME / name) for name in members)
