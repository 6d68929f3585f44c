"""Builders of small evaluation inputs for the tests: label images, ground-truth folders, job trees.

Arrays are z, y, x; boxes are ``(z0, z1, y0, y1, x0, x1)`` half-open voxel ranges; spacing and origin
are x, y, z in mm as in SimpleITK.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from hecktor import interface
from hecktor.predictions_tree import JobSpec, write_predictions_tree

Box = tuple[int, int, int, int, int, int]
SHAPE_ZYX = (10, 20, 20)


def label_array(
    boxes: Iterable[tuple[Box, int]], shape: Sequence[int] = SHAPE_ZYX, dtype: Any = np.uint8
) -> np.ndarray:
    """A label array with each box filled with its label (later boxes overwrite earlier ones)."""
    array = np.zeros(tuple(shape), dtype=dtype)
    for (z0, z1, y0, y1, x0, x1), value in boxes:
        array[z0:z1, y0:y1, x0:x1] = value
    return array


def image(
    array: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 2.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
) -> sitk.Image:
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(tuple(float(s) for s in spacing))
    img.SetOrigin(tuple(float(o) for o in origin))
    return img


def write(img: sitk.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path), useCompression=True)
    return path


def write_outcomes(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["PatientID", "CenterID", "RFS", "Relapse", "HPV Status"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path


@dataclass
class Job:
    """A job to put in predictions.json.

    ``segmentation``: an image to write as the Task 1 output (or raw bytes for a corrupt file);
    ``rfs``/``rfs_curve``/``hpv``/``hpv_probability``: raw JSON text of the Task 2/3 outputs (``None`` = not written).
    """

    patient_id: str
    segmentation: sitk.Image | bytes | None = None
    rfs: str | None = None
    hpv: str | None = None
    hpv_probability: str | None = None
    rfs_curve: str | None = None
    status: str = "Succeeded"
    pk: str | None = None
    ct_name: str | None = None
    extra_files: dict[str, bytes] = field(default_factory=dict)


def write_jobs(root: Path, jobs: Iterable[Job], task: int, payload_keys: str = "both") -> Path:
    """Write ``root/predictions.json`` and the jobs' outputs with the shared tree builder.

    ``payload_keys``: ``"both"`` (Dec 2025+), ``"interface"`` (2025) or ``"socket"`` (2026 only).
    """
    specs = []
    staging = root.parent / f"{root.name}_staging"
    for k, job in enumerate(jobs):
        out = staging / f"{k:03d}"
        out.mkdir(parents=True, exist_ok=True)
        if job.segmentation is not None:
            folder = out / interface.SEGMENTATION.relative_path
            folder.mkdir(parents=True, exist_ok=True)
            if isinstance(job.segmentation, bytes):
                (folder / interface.SEGMENTATION_FILENAME).write_bytes(job.segmentation)
            else:
                write(job.segmentation, folder / interface.SEGMENTATION_FILENAME)
        for socket, text in (
            (interface.RFS, job.rfs),
            (interface.HPV_STATUS, job.hpv),
            (interface.HPV_PROBABILITY, job.hpv_probability),
            (interface.RFS_SURVIVAL_CURVE, job.rfs_curve),
        ):
            if text is not None:
                (out / socket.relative_path).write_text(text)
        for name, data in job.extra_files.items():
            target = out / interface.SEGMENTATION.relative_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        specs.append(
            JobSpec(
                patient_id=job.patient_id,
                outputs_dir=out,
                ct_image_name=job.ct_name,
                status=job.status,
                pk=job.pk or f"pk-{k:03d}-{job.patient_id}",
            )
        )
    path = write_predictions_tree(root, specs, task)
    if payload_keys != "both":
        drop = "socket" if payload_keys == "interface" else "interface"
        data = json.loads(path.read_text())
        for entry in data:
            for value in entry["inputs"] + entry["outputs"]:
                value.pop(drop, None)
        path.write_text(json.dumps(data, indent=2))
    return path
