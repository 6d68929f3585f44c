"""Build a Grand Challenge evaluation ``/input`` tree from algorithm output folders.

The platform gives the evaluation container ``/input/predictions.json`` (a list of jobs) and each
job's outputs at ``/input/<pk>/output/<relative_path>``. This module writes exactly that from local
``/output`` folders, for examples, the demo and tests.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hecktor import interface
from hecktor.imageio import is_image_file
from hecktor.payloads import job_entry, socket_value


@dataclass(frozen=True)
class JobSpec:
    """One algorithm job: the case's original CT/PET names and the folder its outputs were written to."""

    patient_id: str
    outputs_dir: Path | None
    ct_image_name: str | None = None
    pet_image_name: str | None = None
    status: str = "Succeeded"
    pk: str | None = None

    def job_pk(self) -> str:
        return self.pk or str(uuid.uuid5(uuid.NAMESPACE_URL, f"hecktor-job/{self.patient_id}"))


def write_predictions_tree(
    root: str | Path, jobs: Iterable[JobSpec], task: int | None = None, *, edition: str = interface.DEFAULT_EDITION
) -> Path:
    """Write ``root/predictions.json`` and ``root/<pk>/output/...`` for ``task``'s output sockets (2025), or
    for every output of a 2026 job (``edition="2026"``, ``task`` unused).

    Outputs missing from a job's ``outputs_dir`` are left out of that job (as the platform does for a
    job that wrote nothing there). Returns the path of ``predictions.json``.
    """
    if edition != "2026" and task not in interface.TASK_OUTPUTS:
        raise ValueError(f"a 2025 predictions tree needs task 1, 2 or 3, got {task!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for job in jobs:
        pk = job.job_pk()
        ct_name = job.ct_image_name or f"{job.patient_id}__CT.nii.gz"
        pet_name = job.pet_image_name or f"{job.patient_id}__PT.nii.gz"
        inputs = [
            socket_value(interface.CT, image_name=ct_name),
            socket_value(interface.PET, image_name=pet_name),
            socket_value(interface.EHR, value={}),
        ]
        outputs = []
        sockets = interface.EDITION_OUTPUTS["2026"] if edition == "2026" else interface.TASK_OUTPUTS[task]  # type: ignore[index]
        for socket in sockets:
            source = None if job.outputs_dir is None else Path(job.outputs_dir) / socket.relative_path
            if source is None or not source.exists():
                continue
            target = root / pk / "output" / socket.relative_path
            target.parent.mkdir(parents=True, exist_ok=True)
            if socket.is_image:
                target.mkdir(parents=True, exist_ok=True)
                images = sorted(p for p in source.iterdir() if is_image_file(p))
                for image in images:
                    shutil.copyfile(image, target / image.name)
                outputs.append(socket_value(socket, image_name=images[0].name if images else None))
            else:
                shutil.copyfile(source, target)
                try:
                    value = json.loads(source.read_text())
                except json.JSONDecodeError:
                    value = None
                outputs.append(socket_value(socket, value=value))
        entries.append(job_entry(pk, inputs, outputs, status=job.status))
    path = root / "predictions.json"
    path.write_text(json.dumps(entries, indent=2, sort_keys=True))
    return path
