"""Task 2 (recurrence-free survival): Harrell's concordance index of the predicted risks.

Convention: a higher risk means an earlier recurrence. A pair of patients is comparable when the
shorter RFS ends in a relapse; tied risks count 0.5 (:func:`evaluation.metrics.concordance.harrell_cindex`).
A missing or unusable risk is counted as tied with everyone (HECKTOR 2021/22) and counted in
``task2_n_missing_predictions``. The 95 % CI is a seeded percentile bootstrap over patients.

Patients enter Task 2 when both ``RFS`` and ``Relapse`` are known in the ground truth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from evaluation.config import Conventions
from evaluation.fallbacks import CHANCE, confidence_interval, finite_or
from evaluation.ground_truth import GroundTruth
from evaluation.metrics.concordance import harrell_cindex
from evaluation.problems import Problem
from evaluation.results import TaskScore
from evaluation.submission import CaseSubmission
from evaluation.values import interpret_risk
from hecktor.patients import centre_of

TASK = 2


def run_task2(
    gt: GroundTruth,
    submissions: Mapping[str, CaseSubmission],
    conventions: Conventions,
    *,
    include_truth: bool = False,
) -> TaskScore:
    """Score Task 2 for the patients of ``submissions`` (each with known RFS and Relapse).

    ``include_truth`` adds the ground truth (RFS, Relapse) to each result row; off for Grand Challenge,
    where per-case results may be shown to participants.
    """
    score = TaskScore(TASK)
    patients = sorted(submissions)
    time = np.array([gt.outcomes[p].rfs_days for p in patients], dtype=float)
    event = np.array([bool(gt.outcomes[p].relapse) for p in patients], dtype=bool)
    risk = np.full(len(patients), np.nan)
    for i, pid in enumerate(patients):
        sub = submissions[pid]
        score.problems.extend(sub.problems)
        status = sub.status
        if status == "ok":
            parsed = interpret_risk(sub.value)
            if parsed.severity is not None:
                score.problems.append(Problem(parsed.severity, parsed.code, parsed.message, TASK, pid, sub.job_pk))
            if parsed.value is None:
                status = "invalid"
            else:
                risk[i] = float(parsed.value)
        row: dict[str, Any] = {
            "task": TASK,
            "PatientID": pid,
            "CenterID": gt.center_id(pid),
            "centre": centre_of(pid),
            "job_pk": sub.job_pk,
            "prediction_status": status,
            "risk": None if np.isnan(risk[i]) else float(risk[i]),
        }
        if include_truth:
            row["RFS"] = float(time[i])
            row["Relapse"] = int(event[i])
        score.rows.append(row)

    score.aggregates = aggregate_task2(time, event, risk, conventions, score.problems)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, pid in enumerate(patients):
        groups[centre_of(pid)].append(i)
    for centre, idx in sorted(groups.items()):
        sel = np.asarray(idx)
        result = harrell_cindex(time[sel], event[sel], risk[sel])
        score.by_centre[centre] = {
            "c_index": finite_or(
                result.cindex,
                CHANCE,
                key="c_index",
                task=TASK,
                problems=score.problems,
                why="no comparable pair",
                centre=centre,
            ),
            "task2_n_cases": len(idx),
        }
    score.extras = {"patients": patients, "time": time, "event": event, "risk": risk}
    return score


def aggregate_task2(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, conventions: Conventions, problems: list[Problem]
) -> dict[str, Any]:
    """Task 2 aggregates (finite numbers): C-index with bootstrap CI and counts.

    Args:
        time: RFS, days. event: True = relapse. risk: higher = worse, NaN = missing.
    """
    result = harrell_cindex(time, event, risk)
    c_index = finite_or(
        result.cindex, CHANCE, key="c_index", task=TASK, problems=problems, why="no comparable pair of patients"
    )

    def statistic(indices: np.ndarray) -> float | None:
        return harrell_cindex(time[indices], event[indices], risk[indices]).cindex

    low, high = confidence_interval(
        statistic,
        len(time),
        c_index,
        key="c_index",
        task=TASK,
        resamples=conventions.bootstrap_resamples,
        seed=conventions.seed,
        level=conventions.ci_level,
        problems=problems,
    )
    return {
        "c_index": c_index,
        "c_index_ci_low": low,
        "c_index_ci_high": high,
        "c_index_comparable_pairs": int(result.comparable),
        "task2_n_cases": len(time),
        "task2_n_events": int(np.sum(event)),
        "task2_n_missing_predictions": int(np.sum(~np.isfinite(risk))),
    }
