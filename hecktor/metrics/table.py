"""The table of the aggregate metrics written to ``metrics.json["aggregates"]``: each key declared once.

Every aggregate has a task, a direction (``higher`` or ``lower`` is better, or ``count``), the value
written when it is undefined (``fallback``; ``None``: a count, never undefined; a CI end, which falls back
to its point estimate; or ``integrated_brier_score``, omitted when undefined), whether it ranks the
leaderboard, whether the logs and the demo show it (``headline``), and a one-line definition. The task
modules of the evaluation take their fallbacks from here, the logs and the demo their columns;
``docs/evaluation.md`` lists exactly these keys (tested).

HECKTOR 2026 scores one phase as the tasks 1 (segmentation), 2 (RFS) and 4 (T/N staging and the final
score, :data:`hecktor.interface.STAGING_TASK`): a 2026 ``metrics.json`` holds the Task 1 and Task 2 keys below
plus the Task 4 keys; :data:`FINAL_SCORE_WEIGHTS` weighs its final score.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Fallback of a score whose worst value is 0 (Dice, F1, precision, recall, sensitivity, specificity).
WORST = 0.0
#: Fallback of a score whose chance level is 0.5 (C-index, AUC, balanced accuracy).
CHANCE = 0.5
#: Fallback of a T or N stage balanced accuracy: chance with four classes.
STAGE_CHANCE = 0.25
#: The 2026 task number of the staging and final-score keys (:data:`hecktor.interface.STAGING_TASK`).
TASK_2026 = 4
#: HECKTOR 2026 final score = Σ weight x aggregate (reproduces a team's published test figures to 2e-4).
FINAL_SCORE_WEIGHTS: dict[str, float] = {"dice_score": 0.25, "staging_score": 0.35, "c_index": 0.40}


@dataclass(frozen=True)
class Aggregate:
    """One aggregate of ``metrics.json`` (see the module docstring)."""

    key: str
    task: int
    direction: str
    fallback: float | None
    definition: str
    ranking: bool = False
    headline: bool = False


def _count(key: str, task: int, definition: str) -> Aggregate:
    return Aggregate(key, task, "count", None, definition)


AGGREGATES: tuple[Aggregate, ...] = (
    # Task 1 (volumes in mm^3 on the CT grid)
    Aggregate("GTVp_mean_dice", 1, "higher", WORST, "mean over cases of the GTVp Dice", ranking=True, headline=True),
    _count("GTVp_mean_dice_n_cases", 1, "cases in that mean (fewer under --gtvp-empty exclude)"),
    Aggregate("GTVp_aggregated_dice", 1, "higher", WORST, "2 Σ|P∩G| / Σ(|P|+|G|) for label 1", headline=True),
    Aggregate(
        "GTVn_aggregated_dice", 1, "higher", WORST, "2 Σ|P∩G| / Σ(|P|+|G|) for label 2", ranking=True, headline=True
    ),
    Aggregate(
        "GTVn_aggregated_f1", 1, "higher", WORST, "2TP / (2TP+FP+FN), lesion counts summed", ranking=True, headline=True
    ),
    Aggregate("GTVn_precision", 1, "higher", WORST, "TP / (TP+FP) from the summed lesion counts"),
    Aggregate("GTVn_recall", 1, "higher", WORST, "TP / (TP+FN) from the summed lesion counts"),
    _count("GTVn_tp", 1, "summed true-positive lesions"),
    _count("GTVn_fp", 1, "summed false-positive lesions"),
    _count("GTVn_fn", 1, "summed false-negative lesions"),
    Aggregate("GTVp_mean_hd95_mm", 1, "lower", 0.0, "mean per-case HD95 of GTVp, mm (--surface-metrics)"),
    Aggregate("GTVn_mean_hd95_mm", 1, "lower", 0.0, "mean per-case HD95 of GTVn, mm (--surface-metrics)"),
    _count("task1_n_cases", 1, "cases scored (ground-truth labels that could be read)"),
    _count("task1_n_missing_predictions", 1, "no job, failed job, or job without the segmentation"),
    _count("task1_n_invalid_predictions", 1, "prediction present but unusable (scored as empty)"),
    # Task 2 (RFS in days)
    Aggregate("c_index", 2, "higher", CHANCE, "Harrell's C of (RFS, Relapse, risk)", ranking=True, headline=True),
    Aggregate("c_index_ci_low", 2, "higher", None, "percentile bootstrap CI, low end", headline=True),
    Aggregate("c_index_ci_high", 2, "higher", None, "percentile bootstrap CI, high end", headline=True),
    _count("c_index_comparable_pairs", 2, "pairs whose shorter time is a relapse"),
    _count("task2_n_cases", 2, "patients with RFS and Relapse"),
    _count("task2_n_events", 2, "relapses among them"),
    _count("task2_n_missing_predictions", 2, "patients without a usable risk (tied with everyone)"),
    Aggregate("integrated_brier_score", 2, "lower", None, "IPCW integrated Brier score of the survival curves"),
    # Task 3 (positive = HPV positive)
    Aggregate("balanced_accuracy", 3, "higher", CHANCE, "(sensitivity + specificity) / 2", ranking=True, headline=True),
    Aggregate("balanced_accuracy_ci_low", 3, "higher", None, "percentile bootstrap CI, low end"),
    Aggregate("balanced_accuracy_ci_high", 3, "higher", None, "percentile bootstrap CI, high end"),
    Aggregate("sensitivity", 3, "higher", WORST, "TP / (TP+FN); a missing call is wrong", headline=True),
    Aggregate("specificity", 3, "higher", WORST, "TN / (TN+FP); a missing call is wrong", headline=True),
    Aggregate("auc", 3, "higher", CHANCE, "ROC AUC of the HPV probabilities", headline=True),
    _count("hpv_tp", 3, "true positives"),
    _count("hpv_fp", 3, "false positives"),
    _count("hpv_tn", 3, "true negatives"),
    _count("hpv_fn", 3, "false negatives"),
    _count("task3_n_cases", 3, "patients with a known HPV status"),
    _count("task3_n_positive", 3, "HPV-positive patients among them"),
    _count("task3_n_negative", 3, "HPV-negative patients among them"),
    _count("task3_n_missing_predictions", 3, "patients without a usable call"),
    _count("task3_n_with_probability", 3, "patients with a usable probability"),
    # HECKTOR 2026 (with the Task 1 and Task 2 keys above, scored on the 2026 outputs)
    Aggregate(
        "final_score", TASK_2026, "higher", WORST, "0.25 dice_score + 0.35 staging_score + 0.40 c_index", True, True
    ),
    Aggregate("dice_score", TASK_2026, "higher", WORST, "(GTVp_mean_dice + GTVn_mean_dice) / 2", headline=True),
    Aggregate("GTVn_mean_dice", TASK_2026, "higher", WORST, "mean over cases of the GTVn Dice (--gtvn-empty)"),
    _count("GTVn_mean_dice_n_cases", TASK_2026, "cases in that mean (fewer under --gtvn-empty exclude)"),
    Aggregate("staging_score", TASK_2026, "higher", STAGE_CHANCE, "(T BA + N BA) / 2", headline=True),
    Aggregate(
        "t_stage_balanced_accuracy", TASK_2026, "higher", STAGE_CHANCE, "mean recall of T1..T4 present", headline=True
    ),
    Aggregate(
        "n_stage_balanced_accuracy", TASK_2026, "higher", STAGE_CHANCE, "mean recall of N0..N3 present", headline=True
    ),
    _count("t_stage_n_cases", TASK_2026, "patients with a known T stage"),
    _count("n_stage_n_cases", TASK_2026, "patients with a known N stage"),
    _count("t_stage_n_missing_predictions", TASK_2026, "of them, without a usable T stage (a wrong call)"),
    _count("n_stage_n_missing_predictions", TASK_2026, "of them, without a usable N stage (a wrong call)"),
)
#: Keys present whatever the task: problem counts.
GENERAL_KEYS: tuple[str, ...] = ("n_errors", "n_warnings")

BY_KEY: dict[str, Aggregate] = {a.key: a for a in AGGREGATES}


def fallback_of(key: str) -> float:
    """The value written for ``key`` when undefined.

    Raises:
        KeyError: ``key`` is not in the table or has no fallback (a count, a CI end).
    """
    value = BY_KEY[key].fallback
    if value is None:
        raise KeyError(f"aggregate {key!r} has no fallback value")
    return value


def ranking_keys(task: int) -> tuple[str, ...]:
    """The keys of ``task`` that rank the leaderboard."""
    return tuple(a.key for a in AGGREGATES if a.task == task and a.ranking)


def headline_keys(task: int) -> tuple[str, ...]:
    """The keys of ``task`` the logs and the demo show, in table order."""
    return tuple(a.key for a in AGGREGATES if a.task == task and a.headline)
