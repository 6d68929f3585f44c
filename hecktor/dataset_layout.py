"""The organisers' dataset layout (the HECKTOR 2025 training data as distributed): its names, read and written here.

::

    ROOT/Task 1/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz, <PID>.nii.gz   (label on the CT grid: 0, 1 GTVp, 2 GTVn)
    ROOT/Task 2/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz [, <PID>__CTPlanning.nii.gz, <PID>__RTDOSE.nii.gz]
    ROOT/Task 3/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz
    ROOT/HECKTOR_2025_Training_Task_{1,2,3}.csv     PatientID, CenterID, clinical columns,
                                                    RFS (days), Relapse (0/1), HPV Status (0/1); blank = unknown

HECKTOR 2026 (one unified task; 781 training cases) [our assumption: the organisers' template repository
``BioMedIA-MBZUAI/HECKTOR2026`` publishes no training table, so the names follow the 2025 ones and the
HECKTOR 2022 ``T-stage``/``N-stage``/``M-stage`` columns; any spelling of the stage columns is read,
:func:`stage_column`]::

    ROOT/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz, <PID>.nii.gz        (no task folders)
    ROOT/HECKTOR_2026_Training.csv     PatientID, CenterID, Age, Gender, Tobacco Consumption, Alcohol Consumption,
                                       Performance Status, Treatment, HPV Status (0/1, an input in 2026),
                                       T-stage (T1..T4), N-stage (N0..N3), RFS (days), Relapse (0/1)

Readers accept any spelling of a task folder (``Task 1``, ``Task_1``, ``task-1``, ``TASK1``) and any ITK
image suffix (:data:`hecktor.imageio.IMAGE_SUFFIXES`); writers use the canonical names below. The
training data (``algorithm.training``), the evaluation's ground truth (``evaluation.ground_truth``) and
the synthetic generator (``synthetic.training_layout``) all go through these functions.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from hecktor.clinical import CENTER, FEATURE_FIELDS_2026
from hecktor.imageio import IMAGE_SUFFIXES

TASKS: tuple[int, ...] = (1, 2, 3)
#: Suffix the organisers (and our generator) write.
NIFTI = ".nii.gz"
#: Image kinds of a case folder and the tag after ``<PID>__`` in their file names.
IMAGE_TAGS: dict[str, str] = {"ct": "CT", "pet": "PT", "planning_ct": "CTPlanning", "rt_dose": "RTDOSE"}
#: The per-task tables, any year or spelling (``HECKTOR_2025_Training_Task_2.csv``).
CSV_GLOB = "HECKTOR_*Task_*.csv"
#: The 2026 table, any suffix after the year (``HECKTOR_2026_Training.csv``).
CSV_GLOB_2026 = "HECKTOR_2026*.csv"
CSV_NAME_2026 = "HECKTOR_2026_Training.csv"
#: Column names of the 2026 table written by our tools (readers accept other spellings).
T_STAGE_COLUMN = "T-stage"
N_STAGE_COLUMN = "N-stage"
COLUMNS_2026: tuple[str, ...] = (
    "PatientID",
    CENTER,
    *FEATURE_FIELDS_2026,
    T_STAGE_COLUMN,
    N_STAGE_COLUMN,
    "RFS",
    "Relapse",
)
_STAGE_KEYS: dict[str, frozenset[str]] = {
    "T": frozenset({"tstage", "t", "tcategory", "clinicaltstage", "ctstage", "ajcct"}),
    "N": frozenset({"nstage", "n", "ncategory", "clinicalnstage", "cnstage", "ajccn"}),
}
_TASK_DIR = re.compile(r"task[\s_-]*(\d)")


def task_dir_name(task: int) -> str:
    """``Task <n>``, the canonical folder name of ``task``."""
    return f"Task {task}"


def task_dir(root: str | Path, task: int) -> Path:
    """``ROOT/Task <n>``."""
    return Path(root) / task_dir_name(task)


def task_of_dir_name(name: str) -> int | None:
    """The task number of a task folder's name (``Task 1``, ``Task_1``, ``task-1`` ...), or ``None``."""
    match = _TASK_DIR.fullmatch(name.strip().lower())
    return int(match.group(1)) if match else None


def task_dirs(root: str | Path) -> list[tuple[int, Path]]:
    """``(task, folder)`` of the task folders directly under ``root``, sorted (Task 1, holding the labels, first)."""
    found = []
    for path in Path(root).iterdir():
        task = task_of_dir_name(path.name)
        if task is not None and path.is_dir():
            found.append((task, path))
    return sorted(found)


def csv_name(task: int) -> str:
    """``HECKTOR_2025_Training_Task_<n>.csv``."""
    return f"HECKTOR_2025_Training_Task_{task}.csv"


def csv_path(root: str | Path, task: int) -> Path:
    """``ROOT/HECKTOR_2025_Training_Task_<n>.csv``."""
    return Path(root) / csv_name(task)


def stage_column(columns: list[str] | tuple[str, ...], kind: str) -> str | None:
    """The column of a table holding the ``kind`` (``"T"``/``"N"``) stage: ``T-stage``, ``T stage``,
    ``T_Stage``, ``TStage``, ``T`` ... (case, spaces, ``-`` and ``_`` ignored), or ``None``."""
    wanted = _STAGE_KEYS[kind]
    for column in columns:
        if re.sub(r"[^a-z0-9]", "", column.lower()) in wanted:
            return column
    return None


def image_stem(patient_id: str, kind: str) -> str:
    """``<PID>__CT`` / ``__PT`` / ``__CTPlanning`` / ``__RTDOSE`` for ``kind`` in :data:`IMAGE_TAGS`."""
    return f"{patient_id}__{IMAGE_TAGS[kind]}"


def label_stem(patient_id: str) -> str:
    """``<PID>``: the Task 1 label's file name without suffix."""
    return patient_id


def find_image(folder: Path, stem: str) -> Path | None:
    """``folder/<stem><suffix>`` for the first ITK suffix that exists, or ``None``."""
    for suffix in IMAGE_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


# --- cell values of the tables: blank = unknown, 0/1 binaries -------------------------------------------


def is_blank(text: str) -> bool:
    """An unknown cell: empty, ``NA``, ``NaN``, ``None``, ``null`` or ``n/a`` (any case, spaces ignored)."""
    return text.strip().lower() in {"", "na", "nan", "none", "null", "n/a"}


def parse_float(text: str) -> float | None:
    """A finite float, or ``None``."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_binary(text: str) -> bool | None:
    """``1``/``1.0``/``true``/``yes`` -> True, ``0``/``0.0``/``false``/``no`` -> False, anything else -> None."""
    lowered = text.strip().lower()
    if lowered in {"true", "yes"}:
        return True
    if lowered in {"false", "no"}:
        return False
    value = parse_float(lowered)
    if value == 1.0:
        return True
    if value == 0.0:
        return False
    return None
