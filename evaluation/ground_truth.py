"""Locate the ground truth: label maps (Task 1) and outcomes (Tasks 2 and 3).

Two layouts are read:

- **GT layout** (what the evaluation container gets, written by ``prepare-ground-truth``)::

      GT/labels/<PatientID>.mha        uint8 label on the CT grid: 0 background, 1 GTVp, 2 GTVn
                                       (any ITK format: .mha, .nii.gz, .nrrd ...)
      GT/outcomes.csv                  PatientID,CenterID,RFS,Relapse,HPV Status   (blank = unknown)

  A tarball holding one top folder is tolerated: when the root has neither ``labels/`` nor
  ``outcomes.csv`` but exactly one sub-folder, that folder is used.
- **Organisers' layout** (the training data as distributed): ``Task 1/<PatientID>/<PatientID>.nii.gz``
  labels and ``HECKTOR_2025_Training_Task_{1,2,3}.csv`` tables (anywhere up to two folders deep).
- **Organisers' 2026 layout** (:mod:`hecktor.dataset_layout`): ``<PatientID>/<PatientID>.nii.gz`` case
  folders next to ``HECKTOR_2026_Training.csv`` (at the root or one folder down).

HECKTOR 2026 adds the T and N stages (``T-stage``, ``N-stage`` columns of either CSV, any spelling;
normalised by :func:`hecktor.staging.normalise_stage`: ``N2b`` is ``N2``, ``Tx`` is unknown; a value outside
the 2026 sets is unknown with a ``gt_bad_value`` warning). They are the truth of the staging task
(:data:`hecktor.interface.STAGING_TASK`); ``outcomes.csv`` carries them only when some patient has one.

Only file locations and the outcome table are read here; label voxels are read per case when scoring.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.problems import Problem, StructuralError
from hecktor.dataset_layout import (
    CSV_GLOB,
    CSV_GLOB_2026,
    N_STAGE_COLUMN,
    T_STAGE_COLUMN,
    image_stem,
    is_blank,
    label_stem,
    parse_binary,
    parse_float,
    stage_column,
    task_dirs,
)
from hecktor.imageio import is_image_file, strip_image_suffix
from hecktor.interface import STAGING_TASK
from hecktor.staging import normalise_stage

LABELS_DIR = "labels"
OUTCOMES_CSV = "outcomes.csv"
OUTCOME_COLUMNS: tuple[str, ...] = ("PatientID", "CenterID", "RFS", "Relapse", "HPV Status")
#: ``outcomes.csv`` columns when some patient has a T or N stage (HECKTOR 2026).
OUTCOME_COLUMNS_2026: tuple[str, ...] = (*OUTCOME_COLUMNS, T_STAGE_COLUMN, N_STAGE_COLUMN)
#: Every task with a ground truth, in the order scored.
ALL_TASKS: tuple[int, ...] = (1, 2, 3, STAGING_TASK)
ORGANISER_CSV_GLOB = CSV_GLOB


@dataclass(frozen=True)
class Outcome:
    """Clinical targets of one patient; ``None`` = unknown.

    Attributes:
        rfs_days: recurrence-free survival time, days (> = 0).
        relapse: event indicator (True = relapse observed, False = censored).
        hpv: HPV status (True = positive).
        t_stage, n_stage: HECKTOR 2026 radiological stages (``"T1"``..``"T4"``, ``"N0"``..``"N3"``).
    """

    patient_id: str
    center_id: str | None = None
    rfs_days: float | None = None
    relapse: bool | None = None
    hpv: bool | None = None
    t_stage: str | None = None
    n_stage: str | None = None


#: The fields of :class:`Outcome` merged across tables.
OUTCOME_FIELDS: tuple[str, ...] = ("center_id", "rfs_days", "relapse", "hpv", "t_stage", "n_stage")


@dataclass
class GroundTruth:
    """Where each patient's ground truth is. ``problems`` are about the ground truth itself."""

    root: Path
    layout: str  # "gt" or "organisers"
    labels: dict[str, Path] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def patients(self, task: int) -> list[str]:
        """Sorted patients that can be scored for ``task`` (a label for Task 1, RFS and Relapse for
        Task 2, HPV status for Task 3, a T or an N stage for the 2026 staging)."""
        if task == 1:
            return sorted(self.labels)
        if task == 2:
            return sorted(p for p, o in self.outcomes.items() if o.rfs_days is not None and o.relapse is not None)
        if task == 3:
            return sorted(p for p, o in self.outcomes.items() if o.hpv is not None)
        if task == STAGING_TASK:
            return sorted(p for p, o in self.outcomes.items() if o.t_stage is not None or o.n_stage is not None)
        raise ValueError(f"unknown task {task}")

    def supported_tasks(self) -> list[int]:
        """Tasks for which at least one patient has ground truth."""
        return [t for t in (1, 2, 3) if self.patients(t)]

    def has_stages(self) -> bool:
        """True when some patient has a T or N stage (a HECKTOR 2026 ground truth)."""
        return bool(self.patients(STAGING_TASK))

    def center_id(self, patient_id: str) -> str | None:
        outcome = self.outcomes.get(patient_id)
        return outcome.center_id if outcome else None


def load_ground_truth(root: str | Path) -> GroundTruth:
    """Read either layout (see the module docstring).

    Raises:
        StructuralError: the folder is missing or holds neither layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise StructuralError(f"ground truth folder {root} is missing")
    if not _is_gt_layout(root) and not _is_organiser_layout(root):
        subdirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(subdirs) == 1 and (_is_gt_layout(subdirs[0]) or _is_organiser_layout(subdirs[0])):
            root = subdirs[0]
    if _is_gt_layout(root):
        return _load_gt_layout(root)
    if _is_organiser_layout(root):
        return _load_organiser_layout(root)
    raise StructuralError(
        f"ground truth folder {root} holds neither {LABELS_DIR}/ nor {OUTCOMES_CSV} "
        "(nor the organisers' 'Task 1/' layout, nor their 2026 layout with HECKTOR_2026_Training.csv)"
    )


def _is_gt_layout(root: Path) -> bool:
    return (root / LABELS_DIR).is_dir() or (root / OUTCOMES_CSV).is_file()


def _is_organiser_layout(root: Path) -> bool:
    return bool(_organiser_task_dirs(root)) or bool(_organiser_csvs(root)) or bool(_organiser_2026_csvs(root))


def _organiser_2026_csvs(root: Path) -> list[Path]:
    return sorted(set(root.glob(CSV_GLOB_2026)) | set(root.glob(f"*/{CSV_GLOB_2026}")))


def _load_gt_layout(root: Path) -> GroundTruth:
    gt = GroundTruth(root=root, layout="gt")
    labels_dir = root / LABELS_DIR
    if labels_dir.is_dir():
        for path in sorted(p for p in labels_dir.iterdir() if is_image_file(p)):
            _add_label(gt, strip_image_suffix(path.name), path)
    csv_path = root / OUTCOMES_CSV
    if csv_path.is_file():
        _merge_outcomes(gt, csv_path)
    return gt


def _load_organiser_layout(root: Path) -> GroundTruth:
    gt = GroundTruth(root=root, layout="organisers")
    for _, task_dir in _organiser_task_dirs(root):
        for case_dir in sorted(p for p in task_dir.iterdir() if p.is_dir()):
            label = organiser_label_path(case_dir)
            if label is not None and case_dir.name not in gt.labels:
                _add_label(gt, case_dir.name, label)
    for csv_path in _organiser_2026_csvs(root):
        for case_dir in sorted(p for p in csv_path.parent.iterdir() if p.is_dir()):
            label = organiser_label_path(case_dir)
            if label is not None and case_dir.name not in gt.labels:
                _add_label(gt, case_dir.name, label)
    for csv_path in _organiser_csvs(root) + _organiser_2026_csvs(root):
        _merge_outcomes(gt, csv_path)
    return gt


def organiser_label_path(case_dir: Path) -> Path | None:
    """``<case_dir>/<PatientID>.nii.gz`` (any image suffix), the label of the organisers' layout."""
    for path in sorted(case_dir.iterdir()):
        if is_image_file(path) and strip_image_suffix(path.name) == label_stem(case_dir.name):
            return path
    return None


def organiser_ct_path(case_dir: Path) -> Path | None:
    """``<case_dir>/<PatientID>__CT.nii.gz`` (any image suffix) of the organisers' layout."""
    for path in sorted(case_dir.iterdir()):
        if is_image_file(path) and strip_image_suffix(path.name) == image_stem(case_dir.name, "ct"):
            return path
    return None


def _organiser_task_dirs(root: Path) -> list[tuple[int, Path]]:
    """``(task, folder)`` of ``Task 1/``-style folders, Task 1 first (it holds the labels)."""
    return task_dirs(root)


def _organiser_csvs(root: Path) -> list[Path]:
    found = list(root.glob(ORGANISER_CSV_GLOB)) + list(root.glob(f"*/{ORGANISER_CSV_GLOB}"))
    return sorted(set(found))


def _add_label(gt: GroundTruth, patient_id: str, path: Path) -> None:
    if patient_id in gt.labels:
        gt.problems.append(
            Problem(
                "warning",
                "gt_duplicate_label",
                f"two ground-truth labels for one patient: using {gt.labels[patient_id].name}, ignoring {path.name}",
                task=1,
                patient_id=patient_id,
            )
        )
        return
    gt.labels[patient_id] = path


def _merge_outcomes(gt: GroundTruth, csv_path: Path) -> None:
    """Add the rows of an outcome CSV; a value already known from an earlier file wins (conflicts noted)."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StructuralError(f"{csv_path}: cannot be read as CSV ({exc})") from None
    for row in rows:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        patient_id = row.get("PatientID", "")
        if not patient_id:
            continue
        parsed, bad = parse_outcome_row(row)
        for column in bad:
            gt.problems.append(
                Problem(
                    "warning",
                    "gt_bad_value",
                    f"{csv_path.name}: {column} value cannot be interpreted; treated as unknown",
                    patient_id=patient_id,
                )
            )
        old = gt.outcomes.get(patient_id)
        if old is None:
            gt.outcomes[patient_id] = parsed
            continue
        merged = {}
        for name in OUTCOME_FIELDS:
            a, b = getattr(old, name), getattr(parsed, name)
            if a is not None and b is not None and a != b:
                gt.problems.append(
                    Problem(
                        "warning",
                        "gt_conflict",
                        f"{csv_path.name}: {name} differs from an earlier table; keeping the earlier value",
                        patient_id=patient_id,
                    )
                )
            merged[name] = a if a is not None else b
        gt.outcomes[patient_id] = Outcome(patient_id, **merged)


def parse_outcome_row(row: dict[str, str]) -> tuple[Outcome, list[str]]:
    """Parse one CSV row (keys stripped). Returns the outcome and the columns whose value was unusable.

    Blank, ``NA``/``NaN``/``None`` cells are unknown (not a problem). ``RFS`` must be a finite number >= 0
    (days); ``Relapse`` and ``HPV Status`` must be 0/1 (``0.0``/``1.0``, ``true``/``false`` accepted); the
    T and N stages (HECKTOR 2026) go through :func:`hecktor.staging.normalise_stage` (``Tx`` = unknown).
    """
    bad: list[str] = []
    rfs_raw = row.get("RFS", "")
    rfs = parse_float(rfs_raw)
    if rfs is not None and rfs < 0:
        rfs = None
    if rfs is None and not is_blank(rfs_raw):
        bad.append("RFS")
    relapse_raw, hpv_raw = row.get("Relapse", ""), row.get("HPV Status", "")
    relapse, hpv = parse_binary(relapse_raw), parse_binary(hpv_raw)
    if relapse is None and not is_blank(relapse_raw):
        bad.append("Relapse")
    if hpv is None and not is_blank(hpv_raw):
        bad.append("HPV Status")
    center = row.get("CenterID", "")
    center_id = None if is_blank(center) else _tidy_number(center)
    stages: dict[str, str | None] = {}
    for kind in ("T", "N"):
        column = stage_column(list(row), kind)
        stage = normalise_stage(row.get(column, "") if column else None, kind)  # type: ignore[arg-type]
        if stage.invalid:
            bad.append(column or f"{kind}-stage")
        stages[kind] = stage.value
    return Outcome(row["PatientID"], center_id, rfs, relapse, hpv, stages["T"], stages["N"]), bad


def _tidy_number(text: str) -> str:
    """``"3.0"`` -> ``"3"`` (pandas writes integer columns with blanks as floats); other text unchanged."""
    value = parse_float(text)
    if value is not None and value.is_integer():
        return str(int(value))
    return text
