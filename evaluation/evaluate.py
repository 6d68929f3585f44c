"""Grand Challenge mode: read ``predictions.json`` and the ground truth, score, write ``metrics.json``.

This is the orchestration; each stage is a plain function elsewhere:
read jobs (:mod:`evaluation.submission`) -> locate ground truth (:mod:`evaluation.ground_truth`) ->
score per task (:mod:`evaluation.task1`, :mod:`evaluation.task2`, :mod:`evaluation.task3`) ->
assemble and write (:mod:`evaluation.results`) -> optional figures (:mod:`evaluation.report`).

The edition is recognised from the jobs' outputs (:func:`evaluation.submission.detect_edition`): a 2026
phase is scored as the tasks :data:`hecktor.interface.PHASE_2026_TASKS` (segmentation, RFS, staging) and
finished by :func:`evaluation.phase2026.finish_2026` (the final score).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.config import Conventions
from evaluation.ground_truth import GroundTruth, load_ground_truth
from evaluation.problems import Problem, StructuralError
from evaluation.results import METRICS_JSON, TaskScore, build_metrics, check_writable, write_metrics
from evaluation.submission import (
    PREDICTIONS_JSON,
    CaseSubmission,
    detect_edition,
    detect_tasks,
    jobs_for_task,
    parse_jobs,
    read_predictions_json,
    submissions_for_task,
)
from hecktor.interface import PHASE_2026_TASKS, STAGING_TASK, task_name
from hecktor.metrics.table import headline_keys
from hecktor.progress import stage

log = logging.getLogger("evaluation")

#: The aggregates quoted in the final log line, per task (the metric table's headline columns).
HEADLINE: dict[int, tuple[str, ...]] = {task: headline_keys(task) for task in (1, 2, 3, STAGING_TASK)}


@dataclass(frozen=True)
class RunOptions:
    """Where things are and how to run (paths absolute or relative to the working folder).

    Attributes:
        output: a folder (``metrics.json`` is written inside) or a ``.json`` file path.
        predictions: ``predictions.json``; default ``<input>/predictions.json``.
        task: force the task (1, 2 or 3) instead of recognising it from the jobs' outputs.
    """

    input_dir: Path
    ground_truth: Path
    output: Path
    predictions: Path | None = None
    task: int | None = None
    workers: int = 1
    report: Path | None = None


def metrics_path(output: Path) -> Path:
    """``output`` when it names a ``.json`` file, else ``output/metrics.json``.

    Raises:
        StructuralError: ``output`` is an existing file that is not a ``.json`` file.
    """
    if output.suffix.lower() == ".json":
        return output
    if output.exists() and not output.is_dir():
        raise StructuralError(f"--output {output} is an existing file: give a folder, or a path ending in .json")
    return output / METRICS_JSON


def choose_tasks(detected: list[int], forced: int | None, gt: GroundTruth, problems: list[Problem]) -> list[int]:
    """The tasks to score: ``forced``, else those recognised from the jobs, else every task the ground
    truth supports (only when no job has any task output, e.g. an empty ``predictions.json``)."""
    if forced is not None:
        if detected and detected != [forced]:
            problems.append(
                Problem("warning", "task_forced", f"--task {forced} given; the jobs' outputs suggest {detected}")
            )
        return [forced]
    if detected:
        if len(detected) > 1:
            problems.append(Problem("warning", "several_tasks", f"jobs hold outputs of tasks {detected}; scoring all"))
        return detected
    supported = gt.supported_tasks()
    if not supported:
        raise StructuralError(f"cannot tell the task: no job has a task output and {gt.root} holds no ground truth")
    problems.append(
        Problem(
            "warning",
            "task_unknown",
            f"no job has a task output; scoring every task the ground truth supports: {supported}",
        )
    )
    return supported


def require_ground_truth(gt: GroundTruth, task: int) -> None:
    """Raise when the ground truth has nothing for ``task`` (a structural problem: wrong archive)."""
    if not gt.patients(task):
        what = {1: "labels/", 2: "RFS and Relapse values", 3: "HPV Status values", STAGING_TASK: "T or N stages"}
        name = f"the {task_name(task)}" if task == STAGING_TASK else task_name(task)
        raise StructuralError(f"ground truth at {gt.root} has no {what[task]} for {name}")


def choose_edition(detected: str | None, gt: GroundTruth, problems: list[Problem]) -> str:
    """The edition recognised from the jobs' outputs; when no job has any output (all failed, or an empty
    ``predictions.json``), 2026 if the ground truth has T/N stages (with a warning), else 2025."""
    if detected is not None:
        return detected
    if gt.has_stages():
        problems.append(
            Problem("warning", "task_unknown", "no job has an output; the ground truth has T/N stages: scoring 2026")
        )
        return "2026"
    return "2025"


def choose_tasks_2026(forced: int | None, problems: list[Problem]) -> list[int]:
    """The tasks of a 2026 phase (all of :data:`PHASE_2026_TASKS`; ``--task`` is ignored with a warning)."""
    if forced is not None:
        problems.append(
            Problem("warning", "task_forced", f"--task {forced} ignored: a 2026 phase scores all its outputs")
        )
    return list(PHASE_2026_TASKS)


def score_tasks(
    gt: GroundTruth,
    submissions_by_task: Mapping[int, Mapping[str, CaseSubmission]],
    conventions: Conventions,
    workers: int,
    *,
    include_truth: bool,
    display_root: Path | None = None,
    timings: dict[str, float] | None = None,
    edition: str = "2025",
) -> list[TaskScore]:
    """Score each task (imports per task, so Task 2/3 runs do not load image code); a 2026 phase is
    finished with its combined aggregates and final score."""
    scores = []
    rfs_output = conventions.rfs_output if edition == "2026" else None
    for task, submissions in sorted(submissions_by_task.items()):
        name = task_name(task, edition)
        with stage(f"{name}: scoring {len(submissions)} cases", log, timings):
            if task == 1:
                from evaluation.task1 import run_task1

                score = run_task1(gt, submissions, conventions, workers, display_root)
                log.info(
                    "%s: reading images %.2f s, computing metrics %.2f s (summed over cases)",
                    name,
                    score.extras["read_s"],
                    score.extras["score_s"],
                )
            elif task == 2:
                from evaluation.task2 import run_task2

                score = run_task2(gt, submissions, conventions, include_truth=include_truth, rfs_output=rfs_output)
            elif task == STAGING_TASK:
                from evaluation.staging import run_staging

                score = run_staging(gt, submissions, include_truth=include_truth)
            else:
                from evaluation.task3 import run_task3

                score = run_task3(gt, submissions, conventions, include_truth=include_truth)
        scores.append(score)
    if edition == "2026":
        from evaluation.phase2026 import finish_2026

        finish_2026(scores, conventions)
    return scores


def evaluate(options: RunOptions, conventions: Conventions) -> dict[str, Any]:
    """Run the Grand Challenge evaluation and write ``metrics.json``; returns the metrics document.

    Raises:
        StructuralError: no/invalid ``predictions.json``, no ground truth, or nothing to score.
    """
    start = time.perf_counter()
    timings: dict[str, float] = {}
    predictions_path = options.predictions or options.input_dir / PREDICTIONS_JSON
    raw_jobs = read_predictions_json(predictions_path)
    gt = load_ground_truth(options.ground_truth)
    out_path = check_writable(metrics_path(options.output))
    run_problems: list[Problem] = list(gt.problems)
    jobs, job_problems = parse_jobs(raw_jobs, conventions.ct_name_pattern)
    run_problems.extend(job_problems)
    edition = choose_edition(detect_edition(jobs), gt, run_problems)
    if edition == "2026":
        tasks = choose_tasks_2026(options.task, run_problems)
    else:
        tasks = choose_tasks(detect_tasks(jobs), options.task, gt, run_problems)
    for task in tasks:
        require_ground_truth(gt, task)
    log.info(
        "%d jobs in %s; ground truth at %s (%d labels, %d outcome rows); HECKTOR %s, scoring task(s) %s "
        "with %d worker(s)",
        len(raw_jobs),
        predictions_path,
        gt.root,
        len(gt.labels),
        len(gt.outcomes),
        edition,
        tasks,
        options.workers,
    )
    if edition == "2026":
        log.info("rfs.json read as rfs_output=%r (--rfs-output)", conventions.rfs_output)
    submissions_by_task = {}
    for task in tasks:
        subs, problems = submissions_for_task(
            jobs_for_task(jobs, task, tasks, edition), task, options.input_dir, gt.patients(task), edition
        )
        submissions_by_task[task] = subs
        run_problems.extend(problems)
    scores = score_tasks(
        gt,
        submissions_by_task,
        conventions,
        options.workers,
        include_truth=False,
        display_root=options.input_dir,
        timings=timings,
        edition=edition,
    )
    metrics = build_metrics(scores, conventions.as_json(edition), run_problems, tasks)
    out = write_metrics(metrics, out_path)
    if options.report is not None:
        with stage("report", log, timings):
            report_safely(scores, metrics, options.report)
    log_summary(metrics, out, time.perf_counter() - start)
    return metrics


def report_safely(scores: list[TaskScore], metrics: dict[str, Any], out_dir: Path) -> None:
    """Write the ``--report`` figures; a missing plotting library only skips them (metrics.json is written)."""
    try:
        from evaluation.report import write_report

        write_report(scores, metrics, out_dir)
    except ImportError as exc:
        log.warning("report skipped: %s (install matplotlib and scikit-survival for --report)", exc)


def log_summary(metrics: dict[str, Any], path: Path, seconds: float) -> None:
    """One final summary line: headline aggregates, problem counts, output path, wall time."""
    agg = metrics["aggregates"]
    parts = []
    for task in metrics["conventions"]["tasks"]:
        values = ", ".join(f"{k}={agg[k]:.4f}" for k in HEADLINE[task] if k in agg)
        if task == STAGING_TASK:
            parts.append(f"2026 staging and score ({agg.get('t_stage_n_cases', 0)} staged cases): {values}")
        else:
            name = task_name(task, metrics["conventions"].get("edition", "2025"))
            parts.append(f"{name} ({agg.get(f'task{task}_n_cases', 0)} cases): {values}")
    log.info(
        "done: %s; %d errors, %d warnings; wrote %s in %.1f s",
        "; ".join(parts),
        agg["n_errors"],
        agg["n_warnings"],
        path,
        seconds,
    )
