"""Write one case's outputs to a Grand Challenge ``/output`` folder.

Files are written to a temporary name and renamed, so a crash never leaves a half-written output.
JSON outputs are bare values; NaN and infinity are refused here (the platform turns them into null
and fails the job), so a non-finite value is a bug upstream, never a silent output.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from hecktor import interface
from hecktor.errors import UsageError
from hecktor.imageio import write_image

log = logging.getLogger(__name__)


def prepare_output_dir(output_dir: str | Path) -> list[str]:
    """Make sure ``output_dir`` can take this run's outputs, before any work; return notes.

    Creates the folder when missing; removes outputs of this kit left by an earlier run (every task's
    sockets, e.g. ``rfs-survival-curve.json``), so none is mistaken for this run's; leaves other files alone.

    Raises:
        UsageError: the path is a file, or the folder cannot be created or written.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"output {output_dir}: is a file, not a folder")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"output {output_dir}: the folder cannot be created ({exc.strerror or exc})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"output {output_dir}: not writable ({exc.strerror or exc})") from None
    notes = []
    kit_outputs = {s for sockets in interface.TASK_OUTPUTS.values() for s in sockets}
    kit_outputs |= {s for sockets in interface.EDITION_OUTPUTS.values() for s in sockets}
    for socket in sorted(kit_outputs, key=lambda s: s.relative_path):
        stale = output_dir / socket.relative_path
        if not (stale.exists() or stale.is_symlink()):
            continue
        try:
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
        except OSError as exc:
            raise UsageError(f"output {stale}: left by an earlier run and cannot be removed ({exc.strerror})") from None
        notes.append(f"removed {socket.relative_path} left in {output_dir} by an earlier run")
    for note in notes:
        log.warning("output: %s", note)
    return notes


def write_segmentation(
    label: sitk.Image, output_dir: str | Path, socket: interface.Socket = interface.SEGMENTATION
) -> Path:
    """Write the uint8 label map to ``<socket folder>/output.mha`` (compressed): 2025
    ``images/tumor-lymph-node-segmentation``, 2026 ``images/head-neck-tumor-segmentation``."""
    if label.GetPixelID() != sitk.sitkUInt8:
        raise TypeError(f"segmentation must be uint8, got {label.GetPixelIDTypeAsString()}")
    folder = Path(output_dir) / socket.relative_path
    target = folder / interface.SEGMENTATION_FILENAME
    tmp = folder / f".{interface.SEGMENTATION_FILENAME}.tmp.mha"
    write_image(label, tmp)
    os.replace(tmp, target)
    return target


def write_json_value(
    value: bool | float | str | Mapping[str, Any], output_dir: str | Path, socket: interface.Socket
) -> Path:
    """Write a bare JSON value (a boolean, a string such as a 2026 stage, a finite float, or an object of
    finite numbers) at the socket's path."""
    if isinstance(value, bool | str):
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
