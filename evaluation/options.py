"""Command-line options shared by the Grand Challenge mode (:mod:`evaluation.cli`) and the invoke server
(:mod:`evaluation.server`): the metric conventions, the scoring inputs and the worker count."""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from evaluation.config import (
    DEFAULT_GROUND_TRUTH,
    DEFAULT_RFS_OUTPUT,
    WORKER_ENV_VARS,
    Conventions,
    RfsOutput,
    resolve_workers,
)
from hecktor.errors import HecktorError
from hecktor.patients import DEFAULT_CT_NAME_PATTERN

log = logging.getLogger("evaluation")


def add_convention_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("metric conventions (echoed in metrics.json['conventions'])")
    group.add_argument(
        "--gtvp-empty",
        choices=("one", "zero", "exclude"),
        default="one",
        help="GTVp Dice of a case with empty prediction and empty truth (default: one)",
    )
    group.add_argument("--connectivity", type=int, choices=(6, 18, 26), default=26, help="GTVn lesion connectivity")
    group.add_argument("--iou-threshold", type=float, default=0.30, help="GTVn detection IoU threshold (0.30)")
    rule = group.add_mutually_exclusive_group()
    rule.add_argument(
        "--inclusive", action="store_true", help="detection needs IoU >= threshold (default: IoU > threshold)"
    )
    rule.add_argument("--strict", action="store_true", help="detection needs IoU > threshold (the default)")
    group.add_argument(
        "--matching", choices=("group", "one-to-one"), default="group", help="GTVn lesion matching rule (group)"
    )
    group.add_argument(
        "--cindex-tied-tol",
        type=float,
        default=0.0,
        metavar="TOL",
        help="risks within TOL are tied in the C-index (default 0: exact, as lifelines; 1e-8: as scikit-survival)",
    )
    group.add_argument(
        "--gtvn-empty",
        choices=("one", "zero", "exclude"),
        default="one",
        help="2026: GTVn Dice of a case with no node predicted nor true (default: one)",
    )
    group.add_argument(
        "--rfs-output",
        choices=("risk", "time"),
        default=None,
        help="2026: rfs.json holds a predicted RFS time (higher = later, negated; the default, per the organisers' "
        "template) or a risk (higher = earlier); default $HECKTOR_RFS_OUTPUT, else time",
    )
    group.add_argument("--surface-metrics", action="store_true", help="also compute HD95 (mm), slower")
    group.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples for CIs (0: off)")
    group.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"worker processes (default: {' or '.join(WORKER_ENV_VARS)}, else min(CPUs, 4))",
    )
    parser.add_argument("--report", type=Path, default=None, metavar="DIR", help="write PNG figures + index.html")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def conventions_from(args: argparse.Namespace, ct_name_pattern: str = DEFAULT_CT_NAME_PATTERN) -> Conventions:
    if not 0.0 < args.iou_threshold <= 1.0:
        raise HecktorError(f"--iou-threshold must be in (0, 1], got {args.iou_threshold}")
    if not args.cindex_tied_tol >= 0:
        raise HecktorError(f"--cindex-tied-tol must be >= 0, got {args.cindex_tied_tol}")
    if args.bootstrap < 0:
        raise HecktorError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    return Conventions(
        gtvp_both_empty=args.gtvp_empty,
        gtvn_connectivity=args.connectivity,
        gtvn_iou_threshold=args.iou_threshold,
        gtvn_iou_inclusive=args.inclusive,
        gtvn_matching=args.matching,
        cindex_tied_tol=args.cindex_tied_tol,
        surface_metrics=args.surface_metrics,
        bootstrap_resamples=args.bootstrap,
        seed=args.seed,
        ct_name_pattern=ct_name_pattern,
        gtvn_both_empty=args.gtvn_empty,
        rfs_output=resolve_rfs_output(args.rfs_output),
    )


#: Environment variable of the 2026 ``rfs.json`` convention (the ``--rfs-output`` flag wins).
RFS_OUTPUT_ENV = "HECKTOR_RFS_OUTPUT"


def resolve_rfs_output(flag: str | None, environ: Mapping[str, str] | None = None) -> RfsOutput:
    """``flag``, else ``$HECKTOR_RFS_OUTPUT``, else :data:`evaluation.config.DEFAULT_RFS_OUTPUT`.

    Raises:
        HecktorError: the variable holds something else than ``risk`` or ``time``.
    """
    if flag is not None:
        return flag  # type: ignore[return-value]
    raw = (os.environ if environ is None else environ).get(RFS_OUTPUT_ENV, "").strip().lower()
    if not raw:
        return DEFAULT_RFS_OUTPUT
    if raw not in ("risk", "time"):
        raise HecktorError(f"{RFS_OUTPUT_ENV}={raw!r}: must be 'risk' or 'time'")
    return raw  # type: ignore[return-value]


def resolve_worker_count(args: argparse.Namespace) -> int:
    workers, source = resolve_workers(args.workers)
    log.debug("workers: %d (from %s)", workers, source)
    return workers


def add_common_scoring_flags(parser: argparse.ArgumentParser) -> None:
    """The Grand Challenge mode's flags besides ``--input``/``--output`` (shared with ``serve``)."""
    parser.add_argument(
        "--predictions", type=Path, default=None, help="predictions.json (default <input>/predictions.json)"
    )
    parser.add_argument(
        "--ground-truth", type=Path, default=Path(DEFAULT_GROUND_TRUTH), help=f"default {DEFAULT_GROUND_TRUTH}"
    )
    parser.add_argument(
        "--task", type=int, choices=(1, 2, 3), default=None, help="force the task (default: from the jobs' outputs)"
    )
    parser.add_argument(
        "--ct-name-pattern",
        default=DEFAULT_CT_NAME_PATTERN,
        help="regex with a group 'patient' applied to the CT input's original name",
    )


def check_pattern(pattern: str) -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise HecktorError(f"--ct-name-pattern is not a valid regular expression ({exc})") from None
    if "patient" not in compiled.groupindex:
        raise HecktorError("--ct-name-pattern needs a named group 'patient', e.g. ^(?P<patient>[A-Z]+-\\d+)")
