"""HECKTOR 2026 T and N staging (task :data:`hecktor.interface.STAGING_TASK`): balanced accuracies.

Each job writes ``t-stage.json`` and ``n-stage.json``, JSON strings read by
:func:`evaluation.values.interpret_stage` (``"N2b"`` is ``"N2"``; ``"Tx"``, null, or anything outside
``T1..T4`` / ``N0..N3`` is an error and a wrong call). The T balanced accuracy is computed over the patients
whose T stage is known in the ground truth, the N one over those whose N stage is known
(:func:`hecktor.metrics.classification.multiclass_balanced_accuracy`: the mean recall of the stages present
in the truth; a missing or unusable call is wrong). ``staging_score`` is their mean. Per centre
(``aggregates.by_centre``): ``staging_score`` (null when a centre has no known T or no known N stage) and
the case counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evaluation.fallbacks import finite_or, finite_or_none
from evaluation.ground_truth import GroundTruth
from evaluation.problems import Problem
from evaluation.results import TaskScore, centre_groups, row_head
from evaluation.submission import MISSING, CaseSubmission
from evaluation.values import interpret_stage
from hecktor.interface import N_STAGE, STAGING_TASK, T_STAGE
from hecktor.metrics.classification import MulticlassResult, multiclass_balanced_accuracy
from hecktor.metrics.table import fallback_of

TASK = STAGING_TASK


def run_staging(
    gt: GroundTruth, submissions: Mapping[str, CaseSubmission], *, include_truth: bool = False
) -> TaskScore:
    """Score the T and N stages of ``submissions`` (patients with a known T or N stage).

    ``include_truth`` adds the true stages (``T-stage``, ``N-stage``) to each row; off for Grand Challenge.
    """
    score = TaskScore(TASK)
    calls: dict[str, dict[str, str | None]] = {"T": {}, "N": {}}
    for pid in sorted(submissions):
        sub = submissions[pid]
        score.problems.extend(sub.problems)
        outcome = gt.outcomes[pid]
        row = row_head(TASK, pid, gt.center_id(pid), sub.job_pk, sub.status)
        for kind, raw, socket, truth in (
            ("T", sub.value, T_STAGE, outcome.t_stage),
            ("N", sub.n_stage, N_STAGE, outcome.n_stage),
        ):
            call = None
            if sub.status == "ok" and raw is MISSING:
                score.problems.append(
                    Problem(
                        "error",
                        "missing_output",
                        f"job has no {socket.relative_path} output; scored as a wrong call",
                        TASK,
                        pid,
                        sub.job_pk,
                    )
                )
            elif sub.status == "ok":
                parsed = interpret_stage(raw, kind)  # type: ignore[arg-type]
                if parsed.severity is not None:
                    score.problems.append(Problem(parsed.severity, parsed.code, parsed.message, TASK, pid, sub.job_pk))
                call = parsed.value
            if truth is not None:
                calls[kind][pid] = call
            row[f"{kind.lower()}_stage_predicted"] = call
            if include_truth:
                row[f"{kind}-stage"] = truth
        score.rows.append(row)
    score.aggregates = aggregate_staging(gt, calls, score.problems)
    for centre, idx in centre_groups(sorted(submissions)):
        members = {sorted(submissions)[i] for i in idx}
        t_ba, n_ba = (_balanced(gt, calls, kind, members).balanced_accuracy for kind in ("T", "N"))
        both = finite_or_none(t_ba) is not None and finite_or_none(n_ba) is not None
        score.by_centre[centre] = {
            "staging_score": (t_ba + n_ba) / 2.0 if both else None,
            "t_stage_n_cases": sum(p in members for p in calls["T"]),
            "n_stage_n_cases": sum(p in members for p in calls["N"]),
        }
    score.extras = {"calls": calls}
    return score


def _balanced(
    gt: GroundTruth, calls: Mapping[str, Mapping[str, str | None]], kind: str, among: set[str] | None = None
) -> MulticlassResult:
    """The ``kind`` stage balanced accuracy over the patients with a known ``kind`` stage (``among`` them)."""
    patients = sorted(p for p in calls[kind] if among is None or p in among)
    truth = [getattr(gt.outcomes[p], f"{kind.lower()}_stage") for p in patients]
    return multiclass_balanced_accuracy(truth, [calls[kind][p] for p in patients])


def aggregate_staging(
    gt: GroundTruth, calls: Mapping[str, Mapping[str, str | None]], problems: list[Problem]
) -> dict[str, Any]:
    """T and N balanced accuracy, their mean (``staging_score``) and counts; every value finite (fallbacks
    of :mod:`hecktor.metrics.table`, recorded in ``problems``)."""
    out: dict[str, Any] = {}
    for kind in ("T", "N"):
        prefix = f"{kind.lower()}_stage"
        result = _balanced(gt, calls, kind)
        out[f"{prefix}_balanced_accuracy"] = finite_or(
            result.balanced_accuracy,
            fallback_of(f"{prefix}_balanced_accuracy"),
            key=f"{prefix}_balanced_accuracy",
            task=TASK,
            problems=problems,
            why=f"no patient with a known {kind} stage",
        )
        out[f"{prefix}_n_cases"] = len(calls[kind])
        out[f"{prefix}_n_missing_predictions"] = result.n_missing_predictions
    out["staging_score"] = (out["t_stage_balanced_accuracy"] + out["n_stage_balanced_accuracy"]) / 2.0
    return out
