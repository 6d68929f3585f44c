"""Task 3 (HPV status): balanced accuracy (official), sensitivity, specificity, AUC.

HPV positive = 1 is the positive class. balanced accuracy = (sensitivity + specificity) / 2. A missing
or unusable call counts as a wrong call (:func:`hecktor.metrics.classification.binary_metrics`).
With one class only, balanced accuracy is that class's recall (as scikit-learn). AUC is computed from
``hpv-probability.json`` when every patient has a usable probability and both classes are present;
otherwise it is written as 0.5 with a note (no probability at all) or a warning (some missing). The 95 %
CI of the balanced accuracy is a seeded percentile bootstrap over patients.

Patients enter Task 3 when ``HPV Status`` is known in the ground truth.
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
from evaluation.values import interpret_hpv, interpret_probability
from hecktor.metrics.classification import binary_metrics
from hecktor.metrics.table import fallback_of

TASK = 3


def run_task3(
    gt: GroundTruth,
    submissions: Mapping[str, CaseSubmission],
    conventions: Conventions,
    *,
    include_truth: bool = False,
) -> TaskScore:
    """Score Task 3 for the patients of ``submissions`` (each with a known HPV status).

    ``include_truth`` adds the ground truth (``HPV Status``) to each result row; off for Grand Challenge.
    """
    score = TaskScore(TASK)
    patients = sorted(submissions)
    truth = np.array([bool(gt.outcomes[p].hpv) for p in patients], dtype=bool)
    predicted: list[bool | None] = []
    probability = np.full(len(patients), np.nan)
    for i, pid in enumerate(patients):
        sub = submissions[pid]
        score.problems.extend(sub.problems)
        status = sub.status
        call: bool | None = None
        if status == "ok":
            parsed = interpret_hpv(sub.value)
            _record(score.problems, parsed, pid, sub.job_pk)
            call = None if parsed.value is None else bool(parsed.value)
            if call is None:
                status = "invalid"
            if sub.probability is not MISSING:
                prob = interpret_probability(sub.probability)
                _record(score.problems, prob, pid, sub.job_pk)
                if prob.value is not None:
                    probability[i] = float(prob.value)
        predicted.append(call)
        row = row_head(TASK, pid, gt.center_id(pid), sub.job_pk, status)
        row["hpv_predicted"] = call
        row["hpv_probability"] = None if np.isnan(probability[i]) else float(probability[i])
        if include_truth:
            row["HPV Status"] = int(truth[i])
        score.rows.append(row)

    has_probability = bool(np.any(np.isfinite(probability)))
    score.aggregates = aggregate_task3(truth, predicted, probability if has_probability else None, conventions, score)
    score_centres(
        score,
        patients,
        lambda idx: binary_metrics(truth[idx], [predicted[i] for i in idx], None).balanced_accuracy,
        key="balanced_accuracy",
    )
    if has_probability:
        score_centres(
            score,
            patients,
            lambda idx: binary_metrics(truth[idx], [predicted[i] for i in idx], probability[idx]).auc,
            key="auc",
        )
    score.extras = {"patients": patients, "truth": truth, "predicted": predicted, "probability": probability}
    return score


def _record(problems: list[Problem], parsed: Any, pid: str, job_pk: str | None) -> None:
    if parsed.severity is not None:
        problems.append(Problem(parsed.severity, parsed.code, parsed.message, TASK, pid, job_pk))


def aggregate_task3(
    truth: np.ndarray,
    predicted: list[bool | None],
    probability: np.ndarray | None,
    conventions: Conventions,
    score: TaskScore,
) -> dict[str, Any]:
    """Task 3 aggregates (finite numbers). ``predicted`` holds ``None`` for missing calls;
    ``probability`` is ``None`` when no job gave one (NaN entries = missing)."""
    problems = score.problems
    result = binary_metrics(truth, predicted, probability)
    kw: dict[str, Any] = {"task": TASK, "problems": problems}
    balanced = finite_or(
        result.balanced_accuracy,
        fallback_of("balanced_accuracy"),
        key="balanced_accuracy",
        why="one class absent",
        **kw,
    )
    if probability is None:
        problems.append(Problem("note", "no_probability", "no job gave hpv-probability.json; auc written as 0.5", TASK))
        auc = fallback_of("auc")
    else:
        n_missing = int(np.sum(~np.isfinite(probability)))
        why = f"no usable probability for {n_missing} patient(s)" if n_missing else "one class absent"
        auc = finite_or(result.auc, fallback_of("auc"), key="auc", why=why, **kw)
    predicted_array = np.array(predicted, dtype=object)

    def statistic(indices: np.ndarray) -> float | None:
        return binary_metrics(truth[indices], list(predicted_array[indices]), None).balanced_accuracy

    low, high = confidence_interval(
        statistic,
        len(truth),
        balanced,
        key="balanced_accuracy",
        task=TASK,
        problems=problems,
        **conventions.bootstrap(),
    )
    return {
        "balanced_accuracy": balanced,
        "balanced_accuracy_ci_low": low,
        "balanced_accuracy_ci_high": high,
        "sensitivity": finite_or(
            result.sensitivity, fallback_of("sensitivity"), key="sensitivity", why="no HPV-positive patient", **kw
        ),
        "specificity": finite_or(
            result.specificity, fallback_of("specificity"), key="specificity", why="no HPV-negative patient", **kw
        ),
        "auc": auc,
        "hpv_tp": int(result.tp),
        "hpv_fp": int(result.fp),
        "hpv_tn": int(result.tn),
        "hpv_fn": int(result.fn),
        "task3_n_cases": len(truth),
        "task3_n_positive": int(np.sum(truth)),
        "task3_n_negative": int(np.sum(~truth)),
        "task3_n_missing_predictions": sum(p is None for p in predicted),
        "task3_n_with_probability": 0 if probability is None else int(np.sum(np.isfinite(probability))),
    }
