"""Rows of the organisers' CSVs and of our outcomes table, written with exact columns and blanks.

Missing values are blank cells; integers are written without a decimal point; ``M-stage`` as
"M0"/"M1"/"Mx"; RFS in whole days; 2026 ``T-stage``/``N-stage`` as "T1".."T4" (blank = Tx) / "N0".."N3".
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hecktor import clinical as ck
from hecktor.dataset_layout import COLUMNS_2026, N_STAGE_COLUMN, T_STAGE_COLUMN
from synthetic.case import SyntheticCase

PATIENT_ID = "PatientID"
RFS = "RFS"
RELAPSE = "Relapse"
HPV_STATUS = "HPV Status"
#: Columns of ``HECKTOR_2025_Training_Task_{1,2,3}.csv`` in the organisers' order.
CLINICAL_COLUMNS: tuple[str, ...] = (
    PATIENT_ID,
    ck.CENTER,
    ck.AGE,
    ck.GENDER,
    ck.TOBACCO,
    ck.ALCOHOL,
    ck.PERFORMANCE,
    ck.TREATMENT,
    ck.M_STAGE,
)
TASK_COLUMNS: dict[int, tuple[str, ...]] = {
    1: CLINICAL_COLUMNS,
    2: (*CLINICAL_COLUMNS, RFS, RELAPSE),
    3: (*CLINICAL_COLUMNS, HPV_STATUS),
}
#: Columns of the evaluation ground truth ``outcomes.csv``.
OUTCOME_COLUMNS: tuple[str, ...] = (PATIENT_ID, ck.CENTER, RFS, RELAPSE, HPV_STATUS)
#: HECKTOR 2026: ``HECKTOR_2026_Training.csv`` (no M-stage, HPV an input, T/N stages) and ``outcomes.csv``.
TRAINING_COLUMNS_2026: tuple[str, ...] = COLUMNS_2026
OUTCOME_COLUMNS_2026: tuple[str, ...] = (*OUTCOME_COLUMNS, T_STAGE_COLUMN, N_STAGE_COLUMN)


def case_row(case: SyntheticCase) -> dict[str, Any]:
    """All CSV values of a case (clinical record, targets), ``None`` where missing."""
    row: dict[str, Any] = {PATIENT_ID: case.patient_id}
    row.update({col: case.clinical.get(col) for col in CLINICAL_COLUMNS[1:]})
    row[RFS] = case.rfs_days
    row[RELAPSE] = case.relapse
    row[HPV_STATUS] = case.hpv
    row[T_STAGE_COLUMN] = case.t_stage
    row[N_STAGE_COLUMN] = case.n_stage
    return row


def format_cell(value: Any) -> str:
    """A CSV cell: blank for ``None``, integers (also whole floats) without a decimal point."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``rows`` with exactly ``columns`` (``\\n`` line ends, UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([format_cell(row.get(col)) for col in columns])
    return path


def in_task(row: Mapping[str, Any], task: int) -> bool:
    """Whether a case belongs to a task's training set: Task 3 only holds cases with a known HPV status."""
    return task != 3 or row.get(HPV_STATUS) is not None
