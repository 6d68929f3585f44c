"""Write one case's outputs to a Grand Challenge ``/output`` folder.

Files are written to a temporary name and renamed, so a crash never leaves a half-written output.
JSON outputs are bare values; NaN and infinity are refused here (the platform turns them into null
and fails the job), so a non-finite value is a bug upstream, never a silent output.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from hecktor import interface
from hecktor.imageio import write_image


def write_segmentation(label: sitk.Image, output_dir: str | Path) -> Path:
    """Write the uint8 label map to ``images/tumor-lymph-node-segmentation/output.mha`` (compressed)."""
    if label.GetPixelID() != sitk.sitkUInt8:
        raise TypeError(f"segmentation must be uint8, got {label.GetPixelIDTypeAsString()}")
    folder = Path(output_dir) / interface.SEGMENTATION.relative_path
    target = folder / interface.SEGMENTATION_FILENAME
    tmp = folder / f".{interface.SEGMENTATION_FILENAME}.tmp.mha"
    write_image(label, tmp)
    os.replace(tmp, target)
    return target


def write_json_value(value: bool | float | Mapping[str, Any], output_dir: str | Path, socket: interface.Socket) -> Path:
    """Write a bare JSON value (a boolean, a finite float, or an object of finite numbers) at the socket's path."""
    if isinstance(value, bool):
        text = json.dumps(value)
    elif isinstance(value, Mapping):
        try:
            text = json.dumps(value, allow_nan=False)
        except ValueError:
            raise ValueError(f"refusing to write non-finite numbers to {socket.relative_path}") from None
    else:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"refusing to write non-finite value {number!r} to {socket.relative_path}")
        text = json.dumps(number)
    target = Path(output_dir) / socket.relative_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)
    return target
