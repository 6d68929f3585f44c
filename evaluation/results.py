"""Assemble and write ``metrics.json`` deterministically.

Layout: ``{"results": [...], "aggregates": {...}, "conventions": {...}, "problems": [...], "version": "..."}``.
Same inputs give a byte-identical file: keys sorted, results sorted by (task, PatientID), problems
sorted, no timestamps, no absolute paths, floats written by ``json`` (shortest round-trip repr).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import __version__
from evaluation.fallbacks import finite_or_none
from evaluation.problems import Problem, StructuralError, sorted_problems
from hecktor.patients import centre_of

METRICS_JSON = "metrics.json"


@dataclass
class TaskScore:
    """The outcome of scoring one task.

    Attributes:
        rows: per-case entries of ``results`` (JSON-ready).
        aggregates: flat aggregate numbers of this task (keys unique across tasks).
        by_centre: centre -> aggregate numbers of this task for that centre.
        problems: every problem met while scoring the task.
        extras: data for the report (not written to metrics.json).
    """

    task: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    aggregates: dict[str, Any] = field(default_factory=dict)
    by_centre: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def build_metrics(
    scores: list[TaskScore], conventions: dict[str, Any], run_problems: list[Problem], tasks: list[int]
) -> dict[str, Any]:
    """The ``metrics.json`` document for the scored tasks."""
    rows: list[dict[str, Any]] = []
    aggregates: dict[str, Any] = {}
    by_centre: dict[str, dict[str, Any]] = {}
    problems = list(run_problems)
    for score in sorted(scores, key=lambda s: s.task):
        rows.extend(score.rows)
        aggregates.update(score.aggregates)
        for centre, values in score.by_centre.items():
            by_centre.setdefault(centre, {}).update(values)
        problems.extend(score.problems)
    aggregates["by_centre"] = by_centre
    problem_list = sorted_problems(problems)
    aggregates["n_errors"] = sum(p.severity == "error" for p in problem_list)
    aggregates["n_warnings"] = sum(p.severity == "warning" for p in problem_list)
    rows.sort(key=lambda r: (r.get("task", 0), str(r.get("PatientID", ""))))
    return {
        "results": rows,
        "aggregates": aggregates,
        "conventions": {**conventions, "tasks": sorted(tasks)},
        "problems": [p.as_json() for p in problem_list],
        "version": __version__,
    }


def dumps_metrics(metrics: dict[str, Any]) -> str:
    """Canonical JSON text (sorted keys, 2-space indent, trailing newline). NaN/inf are refused."""
    _check_no_non_finite(metrics, "metrics")
    return json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def check_writable(path: str | Path) -> Path:
    """Check, before any scoring, that ``metrics.json`` can be written at ``path``: not a folder, and its
    folder exists or can be created and accepts a new file (tried for real: permissions, read-only mounts,
    a file in the way). Returns ``path``.

    Raises:
        StructuralError: one line naming the path and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise StructuralError(f"cannot write {path}: it is a folder")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StructuralError(f"cannot write {path}: output folder {folder} is not writable ({exc.strerror})") from None
    return path


def write_metrics(metrics: dict[str, Any], path: str | Path) -> Path:
    """Write ``metrics`` (creating the parent folder) atomically enough: write a sibling, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps_metrics(metrics)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _check_no_non_finite(value: Any, where: str) -> None:
    """Non-finite floats anywhere would make invalid JSON for the platform: fail loudly (a bug)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"non-finite number at {where}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_no_non_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_no_non_finite(v, f"{where}[{i}]")


def centre_groups(patients: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """The patients' positions grouped by centre (PatientID prefix), sorted by centre."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, pid in enumerate(patients):
        groups[centre_of(pid)].append(i)
    return [(centre, np.asarray(idx)) for centre, idx in sorted(groups.items())]


def score_centres(
    score: TaskScore,
    patients: Sequence[str],
    statistic: Callable[[np.ndarray], float | None],
    *,
    key: str,
) -> None:
    """``score.by_centre[centre]``: ``key`` = ``statistic(positions)`` (null when undefined, e.g. a centre with
    one patient) and the case count."""
    for centre, idx in centre_groups(patients):
        score.by_centre.setdefault(centre, {f"task{score.task}_n_cases": len(idx)})[key] = finite_or_none(
            statistic(idx)
        )


def row_head(task: int, pid: str, center_id: str | None, job_pk: str | None, status: str) -> dict[str, Any]:
    """The keys every per-case result row starts with: task, IDs, centre, job and prediction status."""
    return {
        "task": task,
        "PatientID": pid,
        "CenterID": center_id,
        "centre": centre_of(pid),
        "job_pk": job_pk,
        "prediction_status": status,
    }
