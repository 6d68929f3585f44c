"""The Grand Challenge layout: algorithm ``/input`` folders per case and the evaluation ground truth.

::

    DIR/inputs/<PID>/images/ct/<uuid>.mha            CT (int16 HU)
    DIR/inputs/<PID>/images/pet/<uuid>.mha           PET (float32 SUV)
    DIR/inputs/<PID>/images/ct-planning/<uuid>.mha   planning CT   } Task 2 subset only
    DIR/inputs/<PID>/images/rt-dose/<uuid>.mha       RT dose (Gy)  }
    DIR/inputs/<PID>/ehr.json                        clinical record; missing values are ABSENT keys
    DIR/inputs/<PID>/inputs.json                     socket values (image.name = original name)
    DIR/ground_truth/labels/<PID>.mha                uint8 label on the CT grid
    DIR/ground_truth/outcomes.csv                    PatientID,CenterID,RFS,Relapse,HPV Status (blank = unknown)
    DIR/synthetic_metadata.json

HECKTOR 2026 (``edition="2026"``): the inputs are ``images/ct``, ``images/pet`` and ``ehr.json`` only, the record
carries ``HPV Status`` (when known) and no M-stage, and ``outcomes.csv`` adds ``T-stage`` and ``N-stage``.

File names in image folders are uuid5 of (patient ID, socket slug), so reruns give the same names.
Folder paths come from :mod:`hecktor.interface`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from hecktor import clinical as ck
from hecktor import interface
from hecktor.imageio import write_image
from hecktor.interface import Socket
from hecktor.payloads import socket_value
from synthetic.case import SyntheticCase
from synthetic.metadata import case_summary, write_metadata
from synthetic.tables import OUTCOME_COLUMNS, OUTCOME_COLUMNS_2026, case_row, write_csv

log = logging.getLogger(__name__)

INPUTS_DIR = "inputs"
GROUND_TRUTH_DIR = "ground_truth"
LABELS_DIR = "labels"
OUTCOMES_CSV = "outcomes.csv"
INPUTS_JSON = "inputs.json"

#: Original (organisers') file name suffix of each image socket.
ORIGINAL_SUFFIX: dict[Socket, str] = {
    interface.CT: "__CT.nii.gz",
    interface.PET: "__PT.nii.gz",
    interface.PLANNING_CT: "__CTPlanning.nii.gz",
    interface.RT_DOSE: "__RTDOSE.nii.gz",
}


def image_uuid(patient_id: str, socket: Socket) -> str:
    """Stable file stem of a case's image for ``socket``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hecktor-synthetic/{patient_id}/{socket.slug}"))


def original_name(patient_id: str, socket: Socket) -> str:
    """The organisers' file name of a case's image, e.g. ``CHUM-001__CT.nii.gz``."""
    return f"{patient_id}{ORIGINAL_SUFFIX[socket]}"


def ehr_record(case: SyntheticCase, edition: str = "2025") -> dict[str, Any]:
    """``ehr.json`` content: the clinical record without its missing values (absent keys); in 2026 without
    M-stage and with ``HPV Status`` (0/1) when known."""
    record = dict(case.clinical)
    if edition == "2026":
        record.pop(ck.M_STAGE, None)
        record[ck.HPV] = case.hpv
    return {key: value for key, value in record.items() if value is not None}


def write_case_inputs(case: SyntheticCase, inputs_root: str | Path, edition: str = "2025") -> Path:
    """Write one case's algorithm ``/input`` folder under ``inputs_root/<PID>``; returns that folder."""
    pid = case.patient_id
    folder = Path(inputs_root) / pid
    images: list[tuple[Socket, sitk.Image | None]] = [(interface.CT, case.ct), (interface.PET, case.pet)]
    if edition != "2026":
        images += [(interface.PLANNING_CT, case.planning_ct), (interface.RT_DOSE, case.rt_dose)]
    values = []
    for socket, image in images:
        if image is None:
            continue
        write_image(image, folder / socket.relative_path / f"{image_uuid(pid, socket)}.mha")
        values.append(socket_value(socket, image_name=original_name(pid, socket)))
    ehr = ehr_record(case, edition)
    (folder / interface.EHR.relative_path).write_text(json.dumps(ehr, indent=2) + "\n", encoding="utf-8")
    values.insert(2, socket_value(interface.EHR, value=ehr))
    (folder / INPUTS_JSON).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    return folder


class GrandChallengeLayoutWriter:
    """Write cases one at a time (bounded memory), then outcomes and metadata with :meth:`finish`."""

    def __init__(self, out_dir: str | Path, edition: str = "2025") -> None:
        self.out_dir = Path(out_dir)
        self.edition = edition
        self.rows: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []

    def add(self, case: SyntheticCase) -> None:
        write_case_inputs(case, self.out_dir / INPUTS_DIR, self.edition)
        write_image(case.label, self.out_dir / GROUND_TRUTH_DIR / LABELS_DIR / f"{case.patient_id}.mha")
        self.rows.append(case_row(case))
        self.summaries.append(case_summary(case, self.edition))

    def finish(self) -> Path:
        columns = OUTCOME_COLUMNS_2026 if self.edition == "2026" else OUTCOME_COLUMNS
        write_csv(self.out_dir / GROUND_TRUTH_DIR / OUTCOMES_CSV, columns, self.rows)
        write_metadata(self.out_dir, self.summaries, "grand-challenge", self.edition)
        log.info("grand-challenge layout: %d cases written to %s", len(self.rows), self.out_dir)
        return self.out_dir


def write_grand_challenge_layout(cases: Iterable[SyntheticCase], out_dir: str | Path, edition: str = "2025") -> Path:
    """Write ``cases`` as Grand Challenge inputs of ``edition`` plus evaluation ground truth under ``out_dir``."""
    writer = GrandChallengeLayoutWriter(out_dir, edition)
    for case in cases:
        writer.add(case)
    return writer.finish()
