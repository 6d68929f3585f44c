"""Command line of the evaluation container.

``python -m evaluation [options]``
    Grand Challenge mode (no subcommand; works with no arguments inside the container): reads
    ``/input/predictions.json`` and ``/input/<pk>/output/...``, the ground truth at
    ``/opt/ml/input/data/ground_truth/``, writes ``/output/metrics.json``.
``python -m evaluation prepare-ground-truth --data DIR --out GT``
    Organisers: build the ground-truth archive from the distributed dataset layout.
``python -m evaluation score-folder --predictions DIR --data DIR --task N``
    Participants: score predictions named by PatientID (cross-validation).

Exit status: 0 on success (per-case problems are in ``metrics.json``); 2 with one line on stderr for a
structural problem (no predictions.json, not a list, no ground truth, bad flag); 1 when
``prepare-ground-truth`` refused labels or for an internal error.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from evaluation import __version__
from evaluation.config import (
    DEFAULT_GROUND_TRUTH,
    DEFAULT_INPUT,
    DEFAULT_OUTPUT,
    WORKER_ENV_VARS,
    Conventions,
    resolve_workers,
)
from hecktor.errors import HecktorError
from hecktor.patients import DEFAULT_CT_NAME_PATTERN
from hecktor.progress import setup_logging

log = logging.getLogger("evaluation")

SUBCOMMANDS = ("prepare-ground-truth", "score-folder")


def _add_convention_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("metric conventions (echoed in metrics.json['conventions'])")
    group.add_argument(
        "--gtvp-empty",
        choices=("one", "zero", "exclude"),
        default="one",
        help="GTVp Dice of a case with empty prediction and empty truth (default: one)",
    )
    group.add_argument("--connectivity", type=int, choices=(6, 18, 26), default=26, help="GTVn lesion connectivity")
    group.add_argument("--iou-threshold", type=float, default=0.30, help="GTVn detection IoU threshold (0.30)")
    group.add_argument("--strict", action="store_true", help="detection needs IoU > threshold (default >=)")
    group.add_argument(
        "--matching", choices=("group", "one-to-one"), default="group", help="GTVn lesion matching rule (group)"
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


def _conventions(args: argparse.Namespace, ct_name_pattern: str = DEFAULT_CT_NAME_PATTERN) -> Conventions:
    if not 0.0 < args.iou_threshold <= 1.0:
        raise HecktorError(f"--iou-threshold must be in (0, 1], got {args.iou_threshold}")
    if args.bootstrap < 0:
        raise HecktorError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    return Conventions(
        gtvp_both_empty=args.gtvp_empty,
        gtvn_connectivity=args.connectivity,
        gtvn_iou_threshold=args.iou_threshold,
        gtvn_iou_inclusive=not args.strict,
        gtvn_matching=args.matching,
        surface_metrics=args.surface_metrics,
        bootstrap_resamples=args.bootstrap,
        seed=args.seed,
        ct_name_pattern=ct_name_pattern,
    )


def _workers(args: argparse.Namespace) -> int:
    workers, source = resolve_workers(args.workers)
    log.debug("workers: %d (from %s)", workers, source)
    return workers


def grand_challenge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description="Score a HECKTOR Grand Challenge submission (any of the three tasks) into metrics.json.",
        epilog="Subcommands: 'prepare-ground-truth' (organisers), 'score-folder' (cross-validation); "
        "run 'python -m evaluation SUBCOMMAND --help'.",
    )
    parser.add_argument("--input", type=Path, default=Path(DEFAULT_INPUT), help="jobs' folder (default /input)")
    parser.add_argument(
        "--predictions", type=Path, default=None, help="predictions.json (default <input>/predictions.json)"
    )
    parser.add_argument(
        "--ground-truth", type=Path, default=Path(DEFAULT_GROUND_TRUTH), help=f"default {DEFAULT_GROUND_TRUTH}"
    )
    parser.add_argument(
        "--output",
        "--out",
        type=Path,
        default=Path(DEFAULT_OUTPUT),
        help="folder for metrics.json, or a .json path (/output)",
    )
    parser.add_argument(
        "--task", type=int, choices=(1, 2, 3), default=None, help="force the task (default: from the jobs' outputs)"
    )
    parser.add_argument(
        "--ct-name-pattern",
        default=DEFAULT_CT_NAME_PATTERN,
        help="regex with a group 'patient' applied to the CT input's original name",
    )
    parser.add_argument("--version", action="version", version=f"hecktor-evaluation {__version__}")
    _add_convention_flags(parser)
    return parser


def prepare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation prepare-ground-truth",
        description="Build the evaluation's ground-truth layout (labels/<PID>.mha, outcomes.csv) "
        "from the organisers' dataset (Task 1/<PID>/<PID>.nii.gz, HECKTOR_*_Task_*.csv).",
    )
    parser.add_argument("--data", type=Path, required=True, help="organisers' dataset folder")
    parser.add_argument("--out", "--output", type=Path, required=True, help="ground-truth folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--workers", type=int, default=None, help="worker processes")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def score_folder_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation score-folder",
        description="Score predictions named by PatientID against the training data (cross-validation). "
        "Task 1: <PID>.nii.gz/.mha label maps; Task 2: CSV PatientID,risk; Task 3: CSV PatientID,hpv[,probability].",
    )
    parser.add_argument("--predictions", type=Path, required=True, help="folder (Task 1) or CSV file/folder")
    parser.add_argument("--data", type=Path, required=True, help="organisers' dataset folder or GT folder")
    parser.add_argument("--task", type=int, choices=(1, 2, 3), required=True, help="task to score: 1, 2 or 3")
    parser.add_argument(
        "--output",
        "--out",
        type=Path,
        default=Path("metrics.json"),
        help="metrics.json to write (default ./metrics.json)",
    )
    parser.add_argument(
        "--all-patients", action="store_true", help="count ground-truth patients without a prediction as missing"
    )
    _add_convention_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "prepare-ground-truth":
            return _prepare(prepare_parser().parse_args(argv[1:]))
        if argv and argv[0] == "score-folder":
            return _score_folder(score_folder_parser().parse_args(argv[1:]))
        return _grand_challenge(grand_challenge_parser().parse_args(argv))
    except HecktorError as exc:
        print(f"evaluation error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evaluation error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: keep the traceback for us, end with one line for the platform
        traceback.print_exc(file=sys.stderr)
        print(f"evaluation internal error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _grand_challenge(args: argparse.Namespace) -> int:
    from evaluation.evaluate import RunOptions, evaluate

    _check_pattern(args.ct_name_pattern)
    conventions = _conventions(args, args.ct_name_pattern)
    setup_logging(args.verbose)
    options = RunOptions(
        input_dir=args.input,
        ground_truth=args.ground_truth,
        output=args.output,
        predictions=args.predictions,
        task=args.task,
        workers=_workers(args),
        report=args.report,
    )
    evaluate(options, conventions)
    return 0


def _check_pattern(pattern: str) -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise HecktorError(f"--ct-name-pattern is not a valid regular expression ({exc})") from None
    if "patient" not in compiled.groupindex:
        raise HecktorError("--ct-name-pattern needs a named group 'patient', e.g. ^(?P<patient>[A-Z]+-\\d+)")


def _prepare(args: argparse.Namespace) -> int:
    from evaluation.organiser import prepare_ground_truth

    setup_logging(args.verbose)
    refused = prepare_ground_truth(args.data, args.out, _workers(args), overwrite=args.overwrite)
    for line in refused:
        log.error("refused %s", line)
    if refused:
        print(
            f"evaluation error: {len(refused)} label(s) refused (listed above); the rest was written", file=sys.stderr
        )
        return 1
    return 0


def _score_folder(args: argparse.Namespace) -> int:
    from evaluation.organiser import score_folder

    conventions = _conventions(args)
    setup_logging(args.verbose)
    score_folder(
        args.predictions,
        args.data,
        args.task,
        args.output,
        conventions,
        workers=_workers(args),
        all_patients=args.all_patients,
        report=args.report,
    )
    return 0
