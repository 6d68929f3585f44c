"""Tools outside Grand Challenge: build the ground-truth archive, score a folder of predictions.

- :func:`prepare_ground_truth` (organisers): the distributed layout (``Task 1/<PID>/<PID>.nii.gz``
  labels next to ``<PID>__CT.nii.gz``, ``HECKTOR_2025_Training_Task_{1,2,3}.csv``) -> the GT layout of
  :mod:`evaluation.ground_truth` (``labels/<PID>.mha`` uint8 + ``outcomes.csv``). Each label is checked
  to lie on its CT grid (header only) and to hold only the values {0, 1, 2}; refused labels are listed.
  The organisers' 2026 layout (``<PID>/<PID>.nii.gz`` case folders, ``HECKTOR_2026_Training.csv`` with the
  T and N stages) is converted the same way; ``outcomes.csv`` then has the ``T-stage``/``N-stage`` columns.
- :func:`score_folder` (participants' cross-validation): predictions named by PatientID, scored with
  exactly the code and conventions of the Grand Challenge mode; 2026 folds with
  :func:`read_folder_predictions_2026`.
"""

from __future__ import annotations

import csv
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from evaluation.config import Conventions
from evaluation.evaluate import log_summary, report_safely, require_ground_truth, score_tasks
from evaluation.ground_truth import (
    LABELS_DIR,
    OUTCOME_COLUMNS,
    OUTCOME_COLUMNS_2026,
    OUTCOMES_CSV,
    load_ground_truth,
    organiser_ct_path,
)
from evaluation.parallel import map_cases
from evaluation.problems import Problem, StructuralError
from evaluation.results import build_metrics, check_writable, write_metrics
from evaluation.segmentation import bad_label_values
from evaluation.submission import CaseSubmission
from hecktor.dataset_layout import is_blank, parse_binary
from hecktor.errors import InputError
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import is_image_file, read_image, read_image_header, strip_image_suffix, write_image
from hecktor.interface import PHASE_2026_TASKS, STAGING_TASK, task_name

log = logging.getLogger("evaluation")


# ----------------------------------------------------------------------------- prepare-ground-truth


@dataclass(frozen=True)
class LabelJob:
    """One label to convert: source label, its CT, and the target ``.mha``."""

    patient_id: str
    label: Path
    ct: Path | None
    target: Path


def convert_label(job: LabelJob) -> str | None:
    """Check one label and write it as uint8 ``.mha``; returns the reason it was refused, or ``None``."""
    try:
        if job.ct is None:
            return "no <PatientID>__CT image next to the label: cannot check the grid"
        ct_grid = Grid.of(read_image_header(job.ct))
        label = read_image(job.label, "label")
        differences = grid_differences(Grid.of(label), ct_grid)
        if differences:
            return "label is not on the CT grid: " + "; ".join(differences)
        array = sitk.GetArrayViewFromImage(label)
        if array.dtype.kind == "f" and not (np.all(np.isfinite(array)) and np.array_equal(array, np.round(array))):
            return "label holds non-integer values"
        bad = bad_label_values(array)
        if bad:
            return f"label holds values outside {{0, 1, 2}}: {', '.join(str(v) for v in bad[:5])}"
        write_image(sitk.Cast(label, sitk.sitkUInt8), job.target, compress=True)
    except InputError as exc:
        return str(exc)
    return None


def _refuse(job: LabelJob, reason: str) -> str:
    return f"conversion crashed ({reason})"


def prepare_ground_truth(data: Path, out: Path, workers: int = 1, overwrite: bool = False) -> list[str]:
    """Write the GT layout from the organisers' dataset folder. Returns one line per refused label.

    Raises:
        StructuralError: ``data`` holds no organisers' layout, or ``out`` is not empty (without ``overwrite``).
    """
    gt = load_ground_truth(data)
    if gt.layout != "organisers":
        raise StructuralError(
            f"{data} is not an organisers' layout ('Task 1/<PID>/...' and HECKTOR_*Task_*.csv, "
            "or 2026: '<PID>/<PID>.nii.gz' and HECKTOR_2026_Training.csv)"
        )
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise StructuralError(f"{out} is not empty (pass --overwrite to replace it)")
        shutil.rmtree(out)
    (out / LABELS_DIR).mkdir(parents=True, exist_ok=True)
    jobs = [
        LabelJob(pid, path, organiser_ct_path(path.parent), out / LABELS_DIR / f"{pid}.mha")
        for pid, path in sorted(gt.labels.items())
    ]
    reasons = map_cases(convert_label, jobs, workers, log, "label", _refuse)
    refused = [f"{job.patient_id}: {reason}" for job, reason in zip(jobs, reasons, strict=True) if reason]
    write_outcomes_csv(gt.outcomes.values(), out / OUTCOMES_CSV)
    for problem in gt.problems:
        log.warning("%s: %s", problem.patient_id or "-", problem.message)
    log.info(
        "wrote %d labels and %d outcome rows to %s; %d label(s) refused",
        len(jobs) - len(refused),
        len(gt.outcomes),
        out,
        len(refused),
    )
    return refused


def write_outcomes_csv(outcomes: Any, path: Path) -> Path:
    """``outcomes.csv`` with :data:`OUTCOME_COLUMNS` (and the T/N stages of :data:`OUTCOME_COLUMNS_2026` when
    some patient has one), rows sorted by PatientID, blank = unknown."""
    rows = sorted(outcomes, key=lambda o: o.patient_id)
    staged = any(o.t_stage is not None or o.n_stage is not None for o in rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(OUTCOME_COLUMNS_2026 if staged else OUTCOME_COLUMNS)
        for o in rows:
            cells = [o.patient_id, o.center_id or "", _fmt_number(o.rfs_days), _fmt_bool(o.relapse), _fmt_bool(o.hpv)]
            if staged:
                cells += [o.t_stage or "", o.n_stage or ""]
            writer.writerow(cells)
    return path


def _fmt_number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _fmt_bool(value: bool | None) -> str:
    return "" if value is None else str(int(value))


# ----------------------------------------------------------------------------- score-folder


def read_folder_predictions(predictions: Path, task: int) -> tuple[dict[str, CaseSubmission], list[Problem]]:
    """Predictions named by PatientID.

    Task 1: ``<PID>.nii.gz`` / ``<PID>.mha`` (any ITK format) label maps in the folder.
    Task 2: a CSV (the file itself, or the only ``.csv`` in the folder) with columns ``PatientID,risk``.
    Task 3: a CSV with ``PatientID,hpv`` and optionally ``probability``; ``hpv`` is 0/1 or true/false.
    Blank cells are missing predictions. The HPV trainer's ``positive`` column is read as ``hpv``.
    Any task: a folder of the algorithm's own output folders, ``<PID>/...`` (:mod:`evaluation.output_folders`).
    """
    from evaluation.output_folders import is_output_folders, read_output_folders

    if is_output_folders(predictions):
        return read_output_folders(predictions, task)
    problems: list[Problem] = []
    subs: dict[str, CaseSubmission] = {}
    if task == 1:
        if not predictions.is_dir():
            raise StructuralError(f"{predictions} is not a folder of label maps")
        for path in sorted(p for p in predictions.iterdir() if is_image_file(p)):
            pid = strip_image_suffix(path.name)
            if pid in subs:
                problems.append(
                    Problem("warning", "duplicate_prediction", f"{path.name} ignored (another file for it)", task, pid)
                )
                continue
            subs[pid] = CaseSubmission(pid, image_path=path)
        return subs, problems
    for pid, row in _prediction_rows(predictions, ("risk",) if task == 2 else ("hpv",), task, problems):
        sub = CaseSubmission(pid)
        if task == 2:
            sub.value = _csv_number(row.get("risk", ""))
        else:
            raw = row.get("hpv", "")
            call = parse_binary(raw)
            sub.value = call if call is not None else (None if is_blank(raw) else raw)
            if "probability" in row:
                sub.probability = _csv_number(row["probability"])
        subs[pid] = sub
    return subs, problems


def _prediction_rows(
    predictions: Path, columns: tuple[str, ...], task: int, problems: list[Problem]
) -> list[tuple[str, dict[str, str]]]:
    """``(PatientID, row)`` of the predictions CSV (cells stripped), first row per patient (a warning for
    each later one), rows without a PatientID skipped.

    Raises:
        StructuralError: no single CSV, or one of ``columns`` is absent.
    """
    csv_path = _single_csv(predictions)
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(handle)]
    if "hpv" in columns and rows and "hpv" not in rows[0] and "positive" in rows[0]:  # cv_predictions.csv before 0.2
        rows = [{**r, "hpv": r["positive"]} for r in rows]
    absent = [f"'{c}'" for c in columns if rows and c not in rows[0]]
    if absent:
        what = "column" if len(absent) == 1 else "columns"
        raise StructuralError(f"{csv_path} has no {', '.join(absent)} {what} (columns: {', '.join(rows[0])})")
    seen: set[str] = set()
    out = []
    for row in rows:
        pid = row.get("PatientID", "")
        if not pid:
            continue
        if pid in seen:
            problems.append(Problem("warning", "duplicate_prediction", "second row ignored", task, pid))
            continue
        seen.add(pid)
        out.append((pid, row))
    return out


def _single_csv(predictions: Path) -> Path:
    if predictions.is_file():
        return predictions
    if predictions.is_dir():
        found = sorted(predictions.glob("*.csv"))
        if len(found) == 1:
            return found[0]
        raise StructuralError(f"{predictions} must hold exactly one .csv file, found {len(found)}")
    raise StructuralError(f"{predictions} is missing")


def _csv_number(text: str) -> Any:
    """A CSV cell as a JSON-like value: float when numeric (NaN/inf kept), None when blank, else the text."""
    if text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


#: Columns of the 2026 score-folder CSV (besides ``PatientID``): the outputs of one job.
FOLDER_COLUMNS_2026: tuple[str, ...] = ("t_stage", "n_stage", "rfs")


def read_folder_predictions_2026(predictions: Path) -> tuple[dict[int, dict[str, CaseSubmission]], list[Problem]]:
    """HECKTOR 2026 predictions named by PatientID: ``<PID>.nii.gz`` / ``<PID>.mha`` label maps in the folder
    and its only CSV with ``PatientID,t_stage,n_stage,rfs`` (``rfs`` read as ``--rfs-output``; blank = missing).

    Returns the submissions of tasks 1, 2 and :data:`hecktor.interface.STAGING_TASK`.
    """
    segmentation, problems = read_folder_predictions(predictions, 1)
    rfs: dict[str, CaseSubmission] = {}
    staging: dict[str, CaseSubmission] = {}
    for pid, row in _prediction_rows(predictions, FOLDER_COLUMNS_2026, STAGING_TASK, problems):
        rfs[pid] = CaseSubmission(pid, value=_csv_number(row["rfs"]))
        staging[pid] = CaseSubmission(pid, value=row["t_stage"] or None, n_stage=row["n_stage"] or None)
    return {1: segmentation, 2: rfs, STAGING_TASK: staging}, problems


def score_folder(
    predictions: Path,
    data: Path,
    task: int | None,
    output: Path | None,
    conventions: Conventions,
    workers: int = 1,
    all_patients: bool = False,
    report: Path | None = None,
    edition: str = "2025",
) -> dict[str, Any]:
    """Score a folder of predictions against ``data`` (organisers' layout or GT layout).

    Only patients with a prediction are scored (cross-validation folds), unless ``all_patients``: then
    every ground-truth patient without a prediction counts as a missing prediction. Result rows include
    the ground truth (participants own the training data). ``edition="2026"`` scores a 2026 fold
    (:func:`read_folder_predictions_2026`; ``task`` unused) with the final score.
    """
    start = time.perf_counter()
    gt = load_ground_truth(data)
    tasks = list(PHASE_2026_TASKS) if edition == "2026" else [task]
    for t in tasks:
        require_ground_truth(gt, t)  # type: ignore[arg-type]
    if output is not None:
        check_writable(output)
    if edition == "2026":
        subs_by_task, problems = read_folder_predictions_2026(predictions)
    else:
        subs, problems = read_folder_predictions(predictions, task)  # type: ignore[arg-type]
        subs_by_task = {task: subs}
    problems.extend(gt.problems)
    for t, subs in subs_by_task.items():
        _match_patients(subs, gt.patients(t), t, all_patients, problems)  # type: ignore[arg-type]
        if not subs:
            raise StructuralError(f"no prediction in {predictions} matches a {task_name(t)} ground-truth patient")
    scores = score_tasks(
        gt, subs_by_task, conventions, workers, include_truth=True, display_root=predictions, edition=edition
    )
    metrics = build_metrics(scores, conventions.as_json(edition), problems, tasks)  # type: ignore[arg-type]
    path = None
    if output is not None:
        path = write_metrics(metrics, output)
    if report is not None:
        report_safely(scores, metrics, report)
    log_summary(metrics, path or Path("-"), time.perf_counter() - start)
    return metrics


def _match_patients(
    subs: dict[str, CaseSubmission], patients: list[str], task: int, all_patients: bool, problems: list[Problem]
) -> None:
    """Drop predictions of patients without ground truth for ``task`` (a warning each); with ``all_patients``,
    add the unpredicted ground-truth patients as missing predictions, else note how many were not scored."""
    wanted = set(patients)
    for pid in sorted(set(subs) - wanted):
        why = f"prediction for a patient without {task_name(task)} ground truth"
        problems.append(Problem("warning", "unknown_patient", why, task, pid))
        del subs[pid]
    unpredicted = sorted(wanted - set(subs))
    if all_patients:
        for pid in unpredicted:
            subs[pid] = CaseSubmission(
                pid,
                status="no_job",
                problems=[Problem("error", "missing_prediction", "no prediction; scored as missing", task, pid)],
            )
    elif unpredicted:
        problems.append(
            Problem(
                "note",
                "not_scored",
                f"{len(unpredicted)} ground-truth patients without a prediction were not scored "
                "(--all-patients counts them as missing)",
                task,
            )
        )
