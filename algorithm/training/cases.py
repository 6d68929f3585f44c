"""The training cases of Tasks 2 and 3 from the organisers' dataset layout: targets, clinical records, image paths.

Layout read (as distributed by the organisers; ``--data`` may be the dataset root or a task folder)::

    <root>/HECKTOR_2025_Training_Task_2.csv     PatientID, CenterID, clinical columns, RFS (days), Relapse (0/1)
    <root>/HECKTOR_2025_Training_Task_3.csv     ..., HPV Status (0/1)
    <root>/Task 2/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz[, <PID>__CTPlanning.nii.gz, <PID>__RTDOSE.nii.gz]
    <root>/Task 1/<PID>/<PID>.nii.gz            ground-truth label (0/1/2) on the CT grid

HECKTOR 2026 (``edition="2026"``, :mod:`hecktor.dataset_layout`): ``<root>/HECKTOR_2026_Training.csv`` (clinical
columns with ``HPV Status``, an input, T-stage, N-stage, RFS, Relapse) and ``<root>/<PID>/`` with the CT, PET and
label; the RFS targets are read as for Task 2, the stage columns are not model inputs.

The CSVs may also sit inside the task folders; a case's images are looked up in the task's own folder,
then in the other task folders. Masks are the ground truth by default, or ``<dir>/<PID>.{nii.gz,mha}``
(or ``<dir>/<PID>/<any one image>``) for predicted masks. Clinical columns go through
:func:`hecktor.clinical.parse_clinical` row by row. File names and the 0/1 parsing come from
:mod:`hecktor.dataset_layout`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from algorithm.training.oof_masks import resolve_masks
from hecktor.clinical import ClinicalRecord, parse_clinical
from hecktor.dataset_layout import (
    CSV_GLOB_2026,
    IMAGE_TAGS,
    csv_name,
    find_image,
    image_stem,
    label_stem,
    parse_binary,
    stage_column,
    task_dir,
    task_of_dir_name,
)
from hecktor.errors import HecktorError
from hecktor.imageio import is_image_file
from hecktor.patients import centre_of

log = logging.getLogger(__name__)

#: ``--masks`` value naming the organisers' Task 1 labels.
GROUND_TRUTH = "ground-truth"


class DatasetError(HecktorError):
    """The training dataset cannot be used (missing CSV, no usable case...)."""


@dataclass
class TrainingCase:
    """One patient of a training table: IDs, clinical record, image paths and targets."""

    patient_id: str
    centre: str
    clinical: ClinicalRecord
    ct: Path | None = None
    pet: Path | None = None
    label: Path | None = None
    rt_dose: Path | None = None
    planning_ct: Path | None = None
    targets: dict[str, float] = field(default_factory=dict)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def dataset_root(data: Path) -> Path:
    """The dataset root: ``data`` itself, or its parent when ``data`` is a ``Task N`` folder."""
    data = Path(data)
    if not data.is_dir():
        raise DatasetError(f"{data}: dataset folder is missing")
    if task_of_dir_name(data.name) is not None:
        return data.parent
    return data


def find_task_csv(data: Path, task: int) -> Path:
    """The organisers' CSV of ``task`` under the dataset (root, task folders, then one level down)."""
    root = dataset_root(data)
    wanted = _norm(csv_name(task))
    candidates: list[Path] = []
    for folder in (Path(data), root, task_dir(root, task), *sorted(p for p in root.iterdir() if p.is_dir())):
        if folder.is_dir():
            candidates.extend(sorted(folder.glob("*.csv")))
    for path in candidates:
        if _norm(path.name) == wanted:
            return path
    for path in candidates:  # another year or spelling: any CSV naming the task
        if re.search(rf"task[ _-]?{task}(?!\d)", path.name.lower()):
            return path
    raise DatasetError(f"{root}: no {csv_name(task)} found")


def find_table_2026(data: Path) -> Path:
    """The organisers' 2026 table (``HECKTOR_2026_*.csv``) in ``data`` or one folder down."""
    data = Path(data)
    tables = sorted(data.glob(CSV_GLOB_2026)) or sorted(data.glob(f"*/{CSV_GLOB_2026}"))
    if not tables:
        raise DatasetError(f"{data}: no HECKTOR_2026_*.csv (the organisers' 2026 table) here or one folder down")
    return tables[0]


def _column(df: pd.DataFrame, *names: str) -> str | None:
    norm = {_norm(c): c for c in df.columns}
    for n in names:
        if _norm(n) in norm:
            return norm[_norm(n)]
    return None


def read_task_table(csv: Path, task: int) -> tuple[pd.DataFrame, list[str]]:
    """The task's table with canonical target columns (``rfs_days``, ``relapse`` or ``hpv``), rows without
    a usable target dropped; returns the table and notes about what was dropped."""
    df = pd.read_csv(csv)
    notes: list[str] = []
    pid_col = _column(df, "PatientID", "Patient ID", "patient", "id")
    if pid_col is None:
        raise DatasetError(f"{csv}: no PatientID column")
    df = df.rename(columns={pid_col: "PatientID"})
    df["PatientID"] = df["PatientID"].astype(str).str.strip()
    if task == 2:
        rfs, relapse = _column(df, "RFS", "RFS (days)", "rfs_days"), _column(df, "Relapse", "event")
        if rfs is None or relapse is None:
            raise DatasetError(f"{csv}: needs RFS and Relapse columns, found {list(df.columns)}")
        df["rfs_days"] = pd.to_numeric(df[rfs], errors="coerce")
        df["relapse"] = pd.to_numeric(df[relapse], errors="coerce")
        ok = df["rfs_days"].gt(0) & df["relapse"].isin([0, 1])
    else:
        hpv = _column(df, "HPV Status", "HPV", "hpv_status")
        if hpv is None:
            raise DatasetError(f"{csv}: needs an HPV Status column, found {list(df.columns)}")
        df["hpv"] = df[hpv].map(_parse_hpv)
        ok = df["hpv"].isin([0, 1])
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} of {len(df)} rows have no usable target and were left out")
    return df[ok].reset_index(drop=True), notes


def _parse_hpv(value: Any) -> float:
    """1.0 / 0.0 / NaN: the tables' 0/1 parsing (:func:`hecktor.dataset_layout.parse_binary`), plus the words
    ``positive``/``pos``/``+`` and ``negative``/``neg``/``-`` some tables use for the HPV status."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"positive", "pos", "+"}:
            return 1.0
        if text in {"negative", "neg", "-"}:
            return 0.0
        parsed = parse_binary(text)
        return math.nan if parsed is None else float(parsed)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if number in (0.0, 1.0) else math.nan


def _mask_path(pid: str, root: Path, masks: str | Path, case_dirs: Sequence[Path]) -> Path | None:
    if str(masks) == GROUND_TRUTH:
        for folder in (task_dir(root, 1) / pid, *case_dirs):
            path = find_image(folder, label_stem(pid))
            if path is not None:
                return path
        return None
    mask_dir = Path(masks)
    path = find_image(mask_dir, label_stem(pid))
    if path is None and (mask_dir / pid).is_dir():
        images = sorted(p for p in (mask_dir / pid).iterdir() if is_image_file(p))
        path = images[0] if len(images) == 1 else find_image(mask_dir / pid, label_stem(pid))
    return path


def load_cases(
    data: Path, task: int, masks: str | Path = GROUND_TRUTH, edition: str = "2025"
) -> tuple[list[TrainingCase], list[str]]:
    """The cases of ``task`` (2 or 3; 2026: 2, the RFS) with targets, clinical records and image paths; plus notes."""
    if edition == "2026" and task != 2:
        raise DatasetError(f"{data}: the 2026 layout has no Task {task} (HPV status is an input there)")
    root = dataset_root(data)
    masks = resolve_masks(masks)  # --masks oof[:RUN]: the out-of-fold masks of train segmentation
    if str(masks) != GROUND_TRUTH and not Path(masks).is_dir():
        raise DatasetError(f"{masks}: folder of predicted masks is missing")
    csv = find_table_2026(root) if edition == "2026" else find_task_csv(data, task)
    table, notes = read_task_table(csv, task)
    log.info("read %s: %d cases with a target", csv, len(table))
    target_cols = ["rfs_days", "relapse"] if task == 2 else ["hpv"]
    skip_cols = {"PatientID", *target_cols, "RFS", "Relapse"}
    if edition == "2026":  # one folder per case; HPV Status stays in the record (an input), the stages do not
        task_dirs = [csv.parent, root]
        skip_cols |= {c for c in (stage_column(list(table.columns), k) for k in "TN") if c is not None}
    else:
        task_dirs = [task_dir(root, task), *(task_dir(root, t) for t in (2, 1, 3) if t != task), Path(data), root]
        skip_cols.add("HPV Status")
    cases = []
    for row in table.to_dict(orient="records"):
        pid = str(row["PatientID"])
        clinical = parse_clinical({k: v for k, v in row.items() if k not in skip_cols})
        case_dirs = [d / pid for d in task_dirs if (d / pid).is_dir()]
        case = TrainingCase(pid, centre_of(pid), clinical, targets={c: float(row[c]) for c in target_cols})
        if case.centre == "unknown" and clinical.get("CenterID") is not None:
            case.centre = f"center-{int(clinical.get('CenterID') or 0)}"
        for attr in IMAGE_TAGS:
            for folder in case_dirs:
                path = find_image(folder, image_stem(pid, attr))
                if path is not None:
                    setattr(case, attr, path)
                    break
        case.label = _mask_path(pid, root, masks, case_dirs)
        cases.append(case)
    missing = [c.patient_id for c in cases if c.ct is None or c.pet is None or c.label is None]
    if missing:
        notes.append(
            f"{len(missing)} cases lack a CT, PET or mask and get no imaging features (first: {', '.join(missing[:5])})"
        )
    return cases, notes


def synthetic_oracle(data: Path) -> dict[str, Any] | None:
    """The ``oracle`` block of a synthetic cohort's ``synthetic_metadata.json``, or ``None``."""
    path = dataset_root(Path(data)) / "synthetic_metadata.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    oracle = meta.get("oracle") if isinstance(meta, dict) else None
    if not isinstance(oracle, dict):
        return None
    return {**oracle, "seed": meta.get("seed"), "generator_version": meta.get("generator_version")}
