"""Command line of the evaluation container.

``python -m evaluation [options]``
    Grand Challenge mode (no subcommand; works with no arguments inside the container): reads
    ``/input/predictions.json`` and ``/input/<pk>/output/...``, the ground truth at
    ``/opt/ml/input/data/ground_truth/``, writes ``/output/metrics.json``.
``python -m evaluation prepare-ground-truth --data DIR --out GT``
    Organisers: build the ground-truth archive from the distributed dataset layout.
``python -m evaluation score-folder --predictions DIR --data DIR --task N``
    Participants: score predictions named by PatientID (cross-validation); ``--edition 2026`` (or
    ``HECKTOR_EDITION=2026``) scores a 2026 fold: label maps plus a ``PatientID,t_stage,n_stage,rfs`` CSV.
``python -m evaluation serve [--port 4743] [Grand Challenge mode's flags]``
    Grand Challenge's invoke API: each ``POST /invoke`` scores the submission staged in ``--input``
    (:mod:`evaluation.server`); the invoke image's default command.

Exit status: 0 on success (per-case problems are in ``metrics.json``); 2 with one line on stderr for a
structural problem (no predictions.json, not JSON or nested too deeply, not a list, no ground truth, an
output that cannot be written, bad flag), checked before any scoring; 1 when ``prepare-ground-truth``
refused labels, on running out of memory (one line), or for an internal error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from evaluation import __version__
from evaluation.config import (
    DEFAULT_INPUT,
    DEFAULT_OUTPUT,
)
from evaluation.options import (
    add_common_scoring_flags,
    add_convention_flags,
    check_pattern,
    conventions_from,
    resolve_worker_count,
)
from hecktor.errors import HecktorError
from hecktor.interface import EDITION_ENV, EDITIONS, edition
from hecktor.progress import setup_logging

log = logging.getLogger("evaluation")

SUBCOMMANDS = ("prepare-ground-truth", "score-folder", "serve")


def grand_challenge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description="Score a HECKTOR Grand Challenge submission (any of the three tasks) into metrics.json.",
        epilog="Subcommands: 'prepare-ground-truth' (organisers), 'score-folder' (cross-validation), "
        "'serve' (invoke API); "
        "run 'python -m evaluation SUBCOMMAND --help'.",
    )
    parser.add_argument("--input", type=Path, default=Path(DEFAULT_INPUT), help="jobs' folder (default /input)")
    parser.add_argument(
        "--output",
        "--out",
        type=Path,
        default=Path(DEFAULT_OUTPUT),
        help="folder for metrics.json, or a .json path (/output)",
    )
    add_common_scoring_flags(parser)
    parser.add_argument("--version", action="version", version=f"hecktor-evaluation {__version__}")
    add_convention_flags(parser)
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
        "Task 1: <PID>.nii.gz/.mha label maps; Task 2: CSV PatientID,risk; Task 3: CSV PatientID,hpv[,probability]; "
        "2026 (--edition 2026): label maps and one CSV PatientID,t_stage,n_stage,rfs in the same folder.",
    )
    parser.add_argument("--predictions", type=Path, required=True, help="folder (Task 1) or CSV file/folder")
    parser.add_argument("--data", type=Path, required=True, help="organisers' dataset folder or GT folder")
    parser.add_argument("--task", type=int, choices=(1, 2, 3), default=None, help="2025 task (required in 2025)")
    parser.add_argument(
        "--edition", choices=EDITIONS, default=None, help=f"HECKTOR edition (default ${EDITION_ENV}, else 2025)"
    )
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
    add_convention_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "prepare-ground-truth":
            return _prepare(prepare_parser().parse_args(argv[1:]))
        if argv and argv[0] == "score-folder":
            return _score_folder(score_folder_parser().parse_args(argv[1:]))
        if argv and argv[0] == "serve":
            from evaluation.server import run_serve, serve_parser

            return run_serve(serve_parser().parse_args(argv[1:]))
        return _grand_challenge(grand_challenge_parser().parse_args(argv))
    except HecktorError as exc:
        print(f"evaluation error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evaluation error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("evaluation error: out of memory (give the evaluation more memory, or fewer --workers)", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: keep the traceback for us, end with one line for the platform
        traceback.print_exc(file=sys.stderr)
        print(f"evaluation internal error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _grand_challenge(args: argparse.Namespace) -> int:
    from evaluation.evaluate import RunOptions, evaluate

    check_pattern(args.ct_name_pattern)
    conventions = conventions_from(args, args.ct_name_pattern)
    setup_logging(args.verbose)
    options = RunOptions(
        input_dir=args.input,
        ground_truth=args.ground_truth,
        output=args.output,
        predictions=args.predictions,
        task=args.task,
        workers=resolve_worker_count(args),
        report=args.report,
    )
    evaluate(options, conventions)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from evaluation.organiser import prepare_ground_truth

    setup_logging(args.verbose)
    refused = prepare_ground_truth(args.data, args.out, resolve_worker_count(args), overwrite=args.overwrite)
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

    try:
        chosen = edition(args.edition)
    except ValueError as exc:
        raise HecktorError(str(exc)) from None
    if chosen == "2025" and args.task is None:
        raise HecktorError("score-folder needs --task 1, 2 or 3 (or --edition 2026)")
    conventions = conventions_from(args)
    setup_logging(args.verbose)
    score_folder(
        args.predictions,
        args.data,
        args.task,
        args.output,
        conventions,
        workers=resolve_worker_count(args),
        all_patients=args.all_patients,
        report=args.report,
        edition=chosen,
    )
    return 0
