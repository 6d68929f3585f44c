"""Task 2 (recurrence-free survival): Harrell's concordance index of the predicted risks.

Convention: a higher risk means an earlier recurrence. A pair of patients is comparable when the
shorter RFS ends in a relapse; tied risks count 0.5 (:func:`hecktor.metrics.concordance.harrell_cindex`).
A missing or unusable risk is counted as tied with everyone (HECKTOR 2021/22) and counted in
``task2_n_missing_predictions``. The 95 % CI is a seeded percentile bootstrap over patients.

Patients enter Task 2 when both ``RFS`` and ``Relapse`` are known in the ground truth.

When every job also writes a survival curve (``rfs-survival-curve.json``, our optional output of
DeepHit / MTLR models), ``integrated_brier_score`` is added (IPCW, censoring Kaplan-Meier fitted on the
scored patients, 20 times between the 10th and 80th percentiles of the observed RFS; lower is better).
Otherwise the key is absent: it is never a ranking column by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from evaluation.config import Conventions
from evaluation.fallbacks import confidence_interval, finite_or
from evaluation.ground_truth import GroundTruth
from evaluation.problems import Problem
from evaluation.results import TaskScore, row_head, score_centres
from evaluation.submission import MISSING, CaseSubmission
from evaluation.values import interpret_curve, interpret_risk
from hecktor.metrics.brier import default_times, integrated_brier_score, survival_at
from hecktor.metrics.concordance import harrell_cindex
from hecktor.metrics.table import fallback_of

TASK = 2


def run_task2(
    gt: GroundTruth,
    submissions: Mapping[str, CaseSubmission],
    conventions: Conventions,
    *,
    include_truth: bool = False,
    rfs_output: str | None = None,
) -> TaskScore:
    """Score Task 2 for the patients of ``submissions`` (each with known RFS and Relapse).

    ``include_truth`` adds the ground truth (RFS, Relapse) to each result row; off for Grand Challenge,
    where per-case results may be shown to participants. ``rfs_output`` (HECKTOR 2026 only): ``"time"``
    when the submitted value is a predicted RFS (higher = later recurrence), negated into the risk; ``"risk"``
    when it already is one. Then each row also has ``rfs``, the value as submitted.
    """
    sign = -1.0 if rfs_output == "time" else 1.0
    score = TaskScore(TASK)
    patients = sorted(submissions)
    time = np.array([gt.outcomes[p].rfs_days for p in patients], dtype=float)
    event = np.array([bool(gt.outcomes[p].relapse) for p in patients], dtype=bool)
    risk = np.full(len(patients), np.nan)
    curves: list[tuple[list[float], list[float]] | None] = []
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
                risk[i] = sign * float(parsed.value)
        curves.append(_curve_of(sub, score.problems) if status == "ok" else None)
        row = row_head(TASK, pid, gt.center_id(pid), sub.job_pk, status)
        row["risk"] = None if np.isnan(risk[i]) else float(risk[i])
        if rfs_output is not None:
            row["rfs"] = None if row["risk"] is None else sign * row["risk"]
        if include_truth:
            row["RFS"] = float(time[i])
            row["Relapse"] = int(event[i])
        score.rows.append(row)

    score.aggregates = aggregate_task2(time, event, risk, conventions, score.problems)
    score.aggregates.update(aggregate_brier(time, event, curves, score.problems))
    score_centres(
        score,
        patients,
        lambda sel: harrell_cindex(time[sel], event[sel], risk[sel], tied_tol=conventions.cindex_tied_tol).cindex,
        key="c_index",
    )
    score.extras = {"patients": patients, "time": time, "event": event, "risk": risk}
    return score


def aggregate_task2(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, conventions: Conventions, problems: list[Problem]
) -> dict[str, Any]:
    """Task 2 aggregates (finite numbers): C-index with bootstrap CI and counts.

    Args:
        time: RFS, days. event: True = relapse. risk: higher = worse, NaN = missing.
    """
    result = harrell_cindex(time, event, risk, tied_tol=conventions.cindex_tied_tol)
    c_index = finite_or(
        result.cindex,
        fallback_of("c_index"),
        key="c_index",
        task=TASK,
        problems=problems,
        why="no comparable pair of patients",
    )

    def statistic(indices: np.ndarray) -> float | None:
        return harrell_cindex(time[indices], event[indices], risk[indices], tied_tol=conventions.cindex_tied_tol).cindex

    low, high = confidence_interval(
        statistic,
        len(time),
        c_index,
        key="c_index",
        task=TASK,
        problems=problems,
        **conventions.bootstrap(),
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


def _curve_of(sub: CaseSubmission, problems: list[Problem]) -> tuple[list[float], list[float]] | None:
    """The job's usable survival curve, or ``None`` (absent, or unusable with a warning)."""
    if sub.curve is MISSING:
        return None
    parsed = interpret_curve(sub.curve)
    if parsed.severity is not None:
        problems.append(Problem(parsed.severity, parsed.code, parsed.message, TASK, sub.patient_id, sub.job_pk))
    return parsed.value


def aggregate_brier(
    time: np.ndarray, event: np.ndarray, curves: list[tuple[list[float], list[float]] | None], problems: list[Problem]
) -> dict[str, Any]:
    """``{"integrated_brier_score": ...}`` when every patient has a usable curve, else ``{}`` (with a warning
    when only some have one)."""
    n_curves = sum(c is not None for c in curves)
    if n_curves == 0:
        return {}
    grid = default_times(time)
    if n_curves < len(curves) or len(grid) < 2 or not np.any(event):
        why = (
            f"only {n_curves} of {len(curves)} patients have a usable survival curve"
            if n_curves < len(curves)
            else "too few distinct follow-up times or no relapse"
        )
        problems.append(
            Problem("warning", "brier_not_computed", f"integrated_brier_score not computed: {why}", TASK, None, None)
        )
        return {}
    survival = np.stack([survival_at(t, s, grid) for t, s in curves])  # type: ignore[misc]
    return {
        "integrated_brier_score": integrated_brier_score(time, event, survival, grid),
        "task2_n_survival_curves": n_curves,
    }
