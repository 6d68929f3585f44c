"""Task 1 (detection and segmentation): score every case, then aggregate.

Definitions (volumes in mm^3 = voxel count x voxel volume of the CT grid; see docs/evaluation.md):

- ``GTVp_mean_dice`` (ranking): mean over cases of Dice_c = 2|P∩G| / (|P| + |G|) for label 1; a case
  with both empty counts 1.0 by default (``--gtvp-empty``: ``one``, ``zero`` or ``exclude``).
- ``GTVp_aggregated_dice`` / ``GTVn_aggregated_dice`` (ranking for GTVn):
  2 Σ_c |P_c∩G_c| / Σ_c (|P_c| + |G_c|).
- ``GTVn_aggregated_f1`` (ranking): 2TP / (2TP + FP + FN) with lesion counts summed over cases
  (:func:`hecktor.metrics.lesions.detect_lesions`).

Cases whose ground truth is unusable (status ``gt_error``) are left out of every aggregate.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaluation.config import Conventions
from evaluation.fallbacks import finite_or
from evaluation.ground_truth import GroundTruth
from evaluation.parallel import map_cases
from evaluation.problems import Problem
from evaluation.results import TaskScore, row_head
from evaluation.segmentation import SegmentationCase, SegmentationResult, score_segmentation_case
from evaluation.submission import CaseSubmission
from hecktor.labels import GTVN, GTVP, LABEL_NAMES
from hecktor.metrics.lesions import DetectionCounts, f1_from_counts
from hecktor.metrics.overlap import aggregated_dice, dice_with_convention
from hecktor.metrics.table import fallback_of
from hecktor.patients import centre_of

TASK = 1
log = logging.getLogger(__name__)


def score_task1(
    gt: GroundTruth,
    submissions: Mapping[str, CaseSubmission],
    conventions: Conventions,
    workers: int,
    display_root: Path | None = None,
) -> list[SegmentationResult]:
    """Score every patient of ``submissions`` (all must have a ground-truth label), sorted by PatientID."""
    cases = [
        SegmentationCase(
            patient_id=pid,
            job_pk=sub.job_pk,
            status=sub.status,
            prediction=sub.image_path,
            truth=gt.labels[pid],
            conventions=conventions,
            display_root=display_root,
        )
        for pid, sub in sorted(submissions.items())
    ]
    results = map_cases(score_segmentation_case, cases, workers, log, "Task 1 case", _score_as_empty)
    for result in results:
        result.problems[:0] = submissions[result.patient_id].problems
    return results


def _score_as_empty(case: SegmentationCase, reason: str) -> SegmentationResult:
    """Fallback when scoring a case crashed: score it as an empty prediction, recording why."""
    result = score_segmentation_case(replace(case, prediction=None, status="invalid"))
    if result.status != "gt_error":
        result.status = "invalid"
    result.problems.append(
        Problem("error", "scoring_crashed", f"scoring failed ({reason}); scored as empty", TASK, case.patient_id)
    )
    return result


def case_row(result: SegmentationResult, conventions: Conventions, center_id: str | None) -> dict[str, Any]:
    """The per-case entry of ``metrics.json["results"]`` (keys documented in docs/evaluation.md)."""
    row = row_head(TASK, result.patient_id, center_id, result.job_pk, result.status)
    overlaps = result.overlaps or {}
    for label, name in LABEL_NAMES.items():
        o = overlaps.get(label)
        both_empty = conventions.gtvp_both_empty if label == GTVP else "exclude"
        row[f"{name}_dice"] = None if o is None else dice_with_convention(o, both_empty=both_empty)
        row[f"{name}_pred_volume_mm3"] = None if o is None else o.prediction_mm3
        row[f"{name}_true_volume_mm3"] = None if o is None else o.truth_mm3
        row[f"{name}_intersection_mm3"] = None if o is None else o.intersection_mm3
    d = result.detection
    row["GTVn_tp"] = None if d is None else d.tp
    row["GTVn_fp"] = None if d is None else d.fp
    row["GTVn_fn"] = None if d is None else d.fn
    if conventions.surface_metrics:
        for label, name in LABEL_NAMES.items():
            row[f"{name}_hd95_mm"] = result.hd95_mm.get(label)
    return row


def _fallback(key: str, centre: str | None) -> float | None:
    """The leaderboard fallback of ``key``; ``None`` (null) for a centre's value (``by_centre``)."""
    return None if centre else fallback_of(key)


def aggregate_task1(
    results: Iterable[SegmentationResult], conventions: Conventions, problems: list[Problem], centre: str | None = None
) -> dict[str, Any]:
    """Task 1 aggregates over ``results``: every value a finite number (fallbacks recorded in ``problems``);
    for a ``centre`` (``by_centre``), an undefined value is ``None`` instead, with no problem recorded."""
    scored = sorted((r for r in results if r.overlaps is not None), key=lambda r: r.patient_id)
    out: dict[str, Any] = {}
    gtvp = [dice_with_convention(r.overlaps[GTVP], both_empty=conventions.gtvp_both_empty) for r in scored]  # type: ignore[index]
    gtvp_used = [d for d in gtvp if d is not None]
    kw: dict[str, Any] = {"task": TASK, "problems": problems, "centre": centre}
    out["GTVp_mean_dice"] = finite_or(
        sum(gtvp_used) / len(gtvp_used) if gtvp_used else None,
        _fallback("GTVp_mean_dice", centre),
        key="GTVp_mean_dice",
        why="no case to average",
        **kw,
    )
    out["GTVp_mean_dice_n_cases"] = len(gtvp_used)
    for label in (GTVP, GTVN):
        name = LABEL_NAMES[label]
        out[f"{name}_aggregated_dice"] = finite_or(
            aggregated_dice(r.overlaps[label] for r in scored),  # type: ignore[index]
            _fallback(f"{name}_aggregated_dice", centre),
            key=f"{name}_aggregated_dice",
            why=f"no {name} in the predictions nor the ground truth",
            **kw,
        )
    counts = DetectionCounts(0, 0, 0)
    for r in scored:
        counts = counts + r.detection  # type: ignore[operator]
    out["GTVn_aggregated_f1"] = finite_or(
        f1_from_counts(counts),
        _fallback("GTVn_aggregated_f1", centre),
        key="GTVn_aggregated_f1",
        why="no GTVn lesion predicted nor true",
        **kw,
    )
    out["GTVn_precision"] = finite_or(
        counts.tp / (counts.tp + counts.fp) if counts.tp + counts.fp else None,
        _fallback("GTVn_precision", centre),
        key="GTVn_precision",
        why="no GTVn lesion predicted",
        **kw,
    )
    out["GTVn_recall"] = finite_or(
        counts.tp / (counts.tp + counts.fn) if counts.tp + counts.fn else None,
        _fallback("GTVn_recall", centre),
        key="GTVn_recall",
        why="no true GTVn lesion",
        **kw,
    )
    out["GTVn_tp"], out["GTVn_fp"], out["GTVn_fn"] = counts.tp, counts.fp, counts.fn
    if conventions.surface_metrics:
        for label in (GTVP, GTVN):
            name = LABEL_NAMES[label]
            values = [r.hd95_mm.get(label) for r in scored]
            used = [v for v in values if v is not None]
            out[f"{name}_mean_hd95_mm"] = finite_or(
                sum(used) / len(used) if used else None,
                fallback_of(f"{name}_mean_hd95_mm"),
                key=f"{name}_mean_hd95_mm",
                why=f"no case with {name} in the prediction or the ground truth",
                **kw,
            )
    out["task1_n_cases"] = len(scored)
    out["task1_n_missing_predictions"] = sum(r.status in MISSING_STATUSES for r in scored)
    out["task1_n_invalid_predictions"] = sum(r.status == "invalid" for r in scored)
    return out


#: Submission statuses that mean "no prediction" (scored as empty).
MISSING_STATUSES: frozenset[str] = frozenset({"no_job", "failed_job", "no_output"})


def by_centre_task1(results: Iterable[SegmentationResult], conventions: Conventions) -> dict[str, dict[str, Any]]:
    """Per-centre Task 1 aggregates (centre = PatientID prefix): the ranking metrics and case count; an
    undefined value (e.g. no GTVn in the centre's predictions nor its truth) is ``None`` (null)."""
    groups: dict[str, list[SegmentationResult]] = defaultdict(list)
    for r in results:
        if r.overlaps is not None:
            groups[centre_of(r.patient_id)].append(r)
    kept = ("GTVp_mean_dice", "GTVn_aggregated_dice", "GTVn_aggregated_f1", "task1_n_cases")
    out = {}
    for centre, members in sorted(groups.items()):
        full = aggregate_task1(members, conventions, [], centre=centre)
        out[centre] = {k: full[k] for k in kept}
    return out


def run_task1(
    gt: GroundTruth,
    submissions: Mapping[str, CaseSubmission],
    conventions: Conventions,
    workers: int,
    display_root: Path | None = None,
) -> TaskScore:
    """Score Task 1 end to end: per-case rows, aggregates, per-centre aggregates and problems."""
    results = score_task1(gt, submissions, conventions, workers, display_root)
    score = TaskScore(TASK)
    for r in results:
        score.problems.extend(r.problems)
    score.rows = [case_row(r, conventions, gt.center_id(r.patient_id)) for r in results]
    score.aggregates = aggregate_task1(results, conventions, score.problems)
    score.by_centre = by_centre_task1(results, conventions)
    score.extras = {
        "results": results,
        "read_s": sum(r.read_s for r in results),
        "score_s": sum(r.score_s for r in results),
        # for the report's worst-case overlays
        "label_paths": {r.patient_id: (submissions[r.patient_id].image_path, gt.labels[r.patient_id]) for r in results},
    }
    return score
