"""Settings of an evaluation run: the metric conventions (written to ``metrics.json``) and the worker count.

Every convention that changes a number is a field of :class:`Conventions` and is echoed verbatim under
``metrics.json["conventions"]``, so a leaderboard value can always be traced to the rule that made it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from hecktor.patients import DEFAULT_CT_NAME_PATTERN

#: Grand Challenge defaults of the evaluation container.
DEFAULT_INPUT = "/input"
DEFAULT_GROUND_TRUTH = "/opt/ml/input/data/ground_truth"
DEFAULT_OUTPUT = "/output"

#: Environment variables read for the worker count, first found wins. The platform strips
#: ``GRAND_CHALLENGE_*`` variables from algorithm containers; the evaluation may still see the last one.
WORKER_ENV_VARS: tuple[str, ...] = ("HECKTOR_EVAL_WORKERS", "GRAND_CHALLENGE_MAX_WORKERS")
#: Upper bound of the default worker count (the evaluation gets 2 vCPU by default, at most 4).
DEFAULT_MAX_WORKERS = 4

BothEmpty = Literal["one", "zero", "exclude"]
Matching = Literal["group", "one-to-one"]
RfsOutput = Literal["risk", "time"]
#: Default meaning of a 2026 ``rfs.json``: the organisers' latest template text (``BioMedIA-MBZUAI/HECKTOR2026``
#: README, "run_prognosis": "the model should output RFS in days", anti-concordant with risk).
DEFAULT_RFS_OUTPUT: RfsOutput = "time"
#: Conventions that only a HECKTOR 2026 phase uses (echoed in its metrics.json only).
FIELDS_2026: tuple[str, ...] = ("gtvn_both_empty", "rfs_output")


@dataclass(frozen=True)
class Conventions:
    """Every choice that changes a metric value. Defaults are the documented HECKTOR conventions.

    Attributes:
        gtvp_both_empty: GTVp Dice of a case whose prediction and truth are both empty: ``"one"`` (1.0),
            ``"zero"`` (0.0) or ``"exclude"`` (left out of the mean).
        gtvn_connectivity: voxel connectivity of GTVn lesions (6, 18 or 26).
        gtvn_iou_threshold: IoU a group of predicted and true lesions needs to count as detected.
        gtvn_iou_inclusive: ``False`` (default, the challenge page's "IoU > 30 %"): IoU > threshold;
            ``True``: IoU >= threshold.
        gtvn_matching: ``"group"`` (transitive overlap groups, one TP per group) or ``"one-to-one"``.
        cindex_tied_tol: two risks whose difference is at most this are tied in the C-index; 0.0 (default)
            compares them exactly, as ``lifelines.utils.concordance_index`` (the organisers' baseline) does;
            1e-8 reproduces ``sksurv.metrics.concordance_index_censored``.
        surface_metrics: also compute per-case HD95 (mm) of GTVp and GTVn.
        bootstrap_resamples: resamples of the percentile bootstrap CIs (0 disables them).
        seed: seed of the bootstrap.
        ci_level: confidence level of the bootstrap intervals.
        ct_name_pattern: regular expression with a group ``patient`` applied to the CT input's original name.
        gtvn_both_empty: HECKTOR 2026 per-case GTVn Dice of a case with no node predicted nor true: as
            ``gtvp_both_empty`` (default ``"one"``: an N0 patient with no node predicted is a perfect case).
        rfs_output: HECKTOR 2026 meaning of ``rfs.json``: ``"time"`` (default: predicted RFS, days; higher =
            later recurrence, negated into a risk before the C-index) or ``"risk"`` (higher = earlier).
    """

    gtvp_both_empty: BothEmpty = "one"
    gtvn_connectivity: int = 26
    gtvn_iou_threshold: float = 0.30
    gtvn_iou_inclusive: bool = False
    gtvn_matching: Matching = "group"
    cindex_tied_tol: float = 0.0
    surface_metrics: bool = False
    bootstrap_resamples: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    ct_name_pattern: str = DEFAULT_CT_NAME_PATTERN
    gtvn_both_empty: BothEmpty = "one"
    rfs_output: RfsOutput = DEFAULT_RFS_OUTPUT

    def as_json(self, edition: str = "2025") -> dict[str, Any]:
        """The conventions as a JSON-ready dict (stable keys, written to ``metrics.json``); the 2026-only
        fields and ``edition`` appear for a 2026 phase only (a 2025 file is unchanged)."""
        out = asdict(self)
        if edition == "2026":
            out["edition"] = edition
        else:
            for name in FIELDS_2026:
                out.pop(name)
        return out

    def bootstrap(self) -> dict[str, Any]:
        """The bootstrap settings as keyword arguments of :func:`evaluation.fallbacks.confidence_interval`."""
        return {"resamples": self.bootstrap_resamples, "seed": self.seed, "level": self.ci_level}


def resolve_workers(requested: int | None, environ: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Number of worker processes and where it came from.

    Order: ``requested`` (the ``--workers`` flag), then :data:`WORKER_ENV_VARS`, then
    ``min(usable CPUs, DEFAULT_MAX_WORKERS)``. Values below 1 or unparsable values are skipped.

    Returns:
        (workers, source) with ``source`` one of ``"--workers"``, an env variable name, or ``"default"``.
    """
    environ = os.environ if environ is None else environ
    if requested is not None and requested >= 1:
        return int(requested), "--workers"
    for name in WORKER_ENV_VARS:
        raw = environ.get(name, "").strip()
        if raw:
            try:
                value = int(raw)
            except ValueError:
                continue
            if value >= 1:
                return value, name
    return max(1, min(usable_cpus(), DEFAULT_MAX_WORKERS)), "default"


def usable_cpus() -> int:
    """CPUs this process may run on (respects container CPU sets)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
