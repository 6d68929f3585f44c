"""The HECKTOR 2026 phase: the aggregates that combine its tasks, and the final score.

A 2026 submission (recognised by its ``images/head-neck-tumor-segmentation``, ``t-stage.json`` or
``n-stage.json`` outputs) is scored as Task 1 (:mod:`evaluation.task1`, on the 2026 segmentation), Task 2
(:mod:`evaluation.task2`, ``rfs.json`` read as ``--rfs-output``) and the staging (:mod:`evaluation.staging`).
This module adds, from their results:

- ``GTVn_mean_dice``: mean over cases of the per-case GTVn Dice; a case with no node predicted nor true
  counts ``--gtvn-empty`` (default 1.0, as GTVp's ``--gtvp-empty``; ``exclude`` leaves it out);
- ``dice_score`` = (``GTVp_mean_dice`` + ``GTVn_mean_dice``) / 2, each "computed separately" as the
  organisers' scoring text says (per-patient means: the headline; the aggregated Dice and GTVn F1 of Task 1
  stay as extras);
- ``final_score`` = 0.25 ``dice_score`` + 0.35 ``staging_score`` + 0.40 ``c_index``
  (:data:`hecktor.metrics.table.FINAL_SCORE_WEIGHTS`), every part already a finite number;
- a warning ``c_index_below_chance`` when the C-index is below 0.5: most likely the ``rfs.json`` sign
  convention is the other one (``--rfs-output``), which would give 1 - C.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from evaluation.config import Conventions
from evaluation.fallbacks import finite_or
from evaluation.problems import Problem
from evaluation.results import TaskScore
from hecktor.interface import STAGING_TASK
from hecktor.labels import GTVN
from hecktor.metrics.overlap import dice_with_convention
from hecktor.metrics.table import CHANCE, FINAL_SCORE_WEIGHTS, fallback_of


def gtvn_mean_dice(results: Iterable[Any], conventions: Conventions, problems: list[Problem]) -> dict[str, Any]:
    """``GTVn_mean_dice`` and its case count over Task 1 :class:`~evaluation.segmentation.SegmentationResult`\\ s
    (cases with an unusable ground truth left out, as in every Task 1 aggregate)."""
    scored = [r for r in results if r.overlaps is not None]
    values = [dice_with_convention(r.overlaps[GTVN], both_empty=conventions.gtvn_both_empty) for r in scored]
    used = [v for v in values if v is not None]
    mean = finite_or(
        sum(used) / len(used) if used else None,
        fallback_of("GTVn_mean_dice"),
        key="GTVn_mean_dice",
        task=1,
        problems=problems,
        why="no case to average",
    )
    return {"GTVn_mean_dice": mean, "GTVn_mean_dice_n_cases": len(used)}


def finish_2026(scores: list[TaskScore], conventions: Conventions) -> None:
    """Add the 2026 aggregates to the staging task's score (in place); ``scores`` holds tasks 1, 2 and 4."""
    by_task = {s.task: s for s in scores}
    staging = by_task[STAGING_TASK]
    agg = staging.aggregates
    agg.update(gtvn_mean_dice(by_task[1].extras["results"], conventions, staging.problems))
    agg["dice_score"] = (by_task[1].aggregates["GTVp_mean_dice"] + agg["GTVn_mean_dice"]) / 2.0
    c_index = by_task[2].aggregates["c_index"]
    parts = {"dice_score": agg["dice_score"], "staging_score": agg["staging_score"], "c_index": c_index}
    agg["final_score"] = sum(weight * parts[key] for key, weight in FINAL_SCORE_WEIGHTS.items())
    if c_index < CHANCE:
        staging.problems.append(
            Problem(
                "warning",
                "c_index_below_chance",
                f"c_index {c_index:.4f} is below 0.5: likely a sign error; rfs.json was read as "
                f"rfs_output={conventions.rfs_output!r}, the other convention would give about {1.0 - c_index:.4f}",
                task=2,
            )
        )
