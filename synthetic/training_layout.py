"""The organisers' training layout (NIfTI images, one CSV per task).

::

    DIR/Task 1/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz, <PID>.nii.gz (label on the CT grid)
    DIR/Task 2/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz [, <PID>__CTPlanning.nii.gz, <PID>__RTDOSE.nii.gz]
    DIR/Task 3/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz          (cases with a known HPV status)
    DIR/HECKTOR_2025_Training_Task_{1,2,3}.csv
    DIR/synthetic_metadata.json

HECKTOR 2026 (:class:`TrainingLayout2026Writer`, :mod:`hecktor.dataset_layout`)::

    DIR/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz, <PID>.nii.gz (label on the CT grid)
    DIR/HECKTOR_2026_Training.csv   clinical record with HPV Status (no M-stage), T-stage, N-stage, RFS, Relapse
    DIR/synthetic_metadata.json     with the staging oracle
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hecktor.dataset_layout import CSV_NAME_2026, NIFTI, TASKS, csv_path, image_stem, label_stem, task_dir
from hecktor.imageio import write_image
from synthetic.case import SyntheticCase
from synthetic.metadata import case_summary, write_metadata
from synthetic.tables import TASK_COLUMNS, TRAINING_COLUMNS_2026, case_row, in_task, write_csv

log = logging.getLogger(__name__)


class TrainingLayoutWriter:
    """Write cases one at a time (bounded memory), then the CSVs and metadata with :meth:`finish`."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.rows: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []

    def add(self, case: SyntheticCase) -> None:
        pid = case.patient_id
        row = case_row(case)
        first = task_dir(self.out_dir, 1) / pid
        ct = write_image(case.ct, first / f"{image_stem(pid, 'ct')}{NIFTI}")
        pet = write_image(case.pet, first / f"{image_stem(pid, 'pet')}{NIFTI}")
        write_image(case.label, first / f"{label_stem(pid)}{NIFTI}")
        for task in TASKS[1:]:
            if not in_task(row, task):
                continue
            folder = task_dir(self.out_dir, task) / pid
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ct, folder / ct.name)
            shutil.copyfile(pet, folder / pet.name)
            if task == 2 and case.planning_ct is not None and case.rt_dose is not None:
                write_image(case.planning_ct, folder / f"{image_stem(pid, 'planning_ct')}{NIFTI}")
                write_image(case.rt_dose, folder / f"{image_stem(pid, 'rt_dose')}{NIFTI}")
        self.rows.append(row)
        self.summaries.append(case_summary(case))

    def finish(self) -> Path:
        for task in TASKS:
            rows = [r for r in self.rows if in_task(r, task)]
            write_csv(csv_path(self.out_dir, task), TASK_COLUMNS[task], rows)
        write_metadata(self.out_dir, self.summaries, "training")
        log.info("training layout: %d cases written to %s", len(self.rows), self.out_dir)
        return self.out_dir


class TrainingLayout2026Writer(TrainingLayoutWriter):
    """The HECKTOR 2026 training layout: one folder per case, one table (module docstring)."""

    def add(self, case: SyntheticCase) -> None:
        pid = case.patient_id
        folder = self.out_dir / pid
        write_image(case.ct, folder / f"{image_stem(pid, 'ct')}{NIFTI}")
        write_image(case.pet, folder / f"{image_stem(pid, 'pet')}{NIFTI}")
        write_image(case.label, folder / f"{label_stem(pid)}{NIFTI}")
        self.rows.append(case_row(case))
        self.summaries.append(case_summary(case, "2026"))

    def finish(self) -> Path:
        write_csv(self.out_dir / CSV_NAME_2026, TRAINING_COLUMNS_2026, self.rows)
        write_metadata(self.out_dir, self.summaries, "training", "2026")
        log.info("2026 training layout: %d cases written to %s", len(self.rows), self.out_dir)
        return self.out_dir


def write_training_layout(cases: Iterable[SyntheticCase], out_dir: str | Path, edition: str = "2025") -> Path:
    """Write ``cases`` in the organisers' training layout of ``edition`` under ``out_dir``; returns ``out_dir``."""
    writer = TrainingLayout2026Writer(out_dir) if edition == "2026" else TrainingLayoutWriter(out_dir)
    for case in cases:
        writer.add(case)
    return writer.finish()
