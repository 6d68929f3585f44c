"""Command line of the algorithm container (a thin shell over :mod:`algorithm.pipeline`).

    python -m algorithm run   [--input /input] [--output /output] [--tasks 1,2,3] [--model-dir DIR]
    python -m algorithm serve [--port 4743]                # Grand Challenge invoke API
    python -m algorithm train segmentation|prognosis|hpv|staging --data DATASET --out DIR ...
    python -m algorithm demo  [--examples ground_truth_examples] [--out demo_output]

Settings also come from the environment (Grand Challenge strips ``GRAND_CHALLENGE_*`` variables, so
ours are named ``HECKTOR_*``): ``HECKTOR_TASKS``, ``HECKTOR_MODEL_DIR``, ``HECKTOR_DEVICE``,
``HECKTOR_EDITION`` (2025 | 2026) and ``HECKTOR_RFS_OUTPUT`` (2026: time | risk, default time).

A failure ends with a one-line reason as the last line on stderr, which is all Grand Challenge shows a
participant: exit status 2 for a usage error (a bad flag or ``HECKTOR_*`` value, an output folder that
cannot be written), found before anything is read or loaded; 1 for bad input or a failure. ``run`` reads
and checks the case before it loads the models, so bad input fails in about a second.

Start-up is kept short: this module imports only the standard library and :mod:`hecktor`'s light
modules; torch, MONAI and SimpleITK are imported by the command that needs them, and the training
commands are registered only for ``train`` (``python -m algorithm --help`` takes well under a second).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from algorithm.settings import edition_settings, make_algorithm
from hecktor.errors import HecktorError, UsageError
from hecktor.progress import setup_logging

log = logging.getLogger("algorithm")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks",
        default=None,
        help="tasks whose outputs to write: 1, 2, 3, a list like 1,3, or all (env HECKTOR_TASKS; default all)",
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="model folder (env HECKTOR_MODEL_DIR)")
    parser.add_argument(
        "--device",
        default=os.environ.get("HECKTOR_DEVICE", "auto"),
        choices=["auto", "cuda", "cpu"],
        help="auto (CUDA when present), cuda or cpu (env HECKTOR_DEVICE; default auto)",
    )
    parser.add_argument("--tta", action="store_true", help="mirror test-time augmentation for the segmentation")
    parser.add_argument(
        "--edition",
        default=None,
        help="HECKTOR edition: 2025 (three tasks) or 2026 (mask, T/N stage, RFS in one job) "
        "(env HECKTOR_EDITION; default 2025)",
    )
    parser.add_argument(
        "--rfs-output",
        default=None,
        help="2026 rfs.json: time (predicted RFS in days, higher = later; the default, per the organisers' latest "
        "template text) or risk (higher = earlier relapse) (env HECKTOR_RFS_OUTPUT)",
    )


def tasks_setting(args: argparse.Namespace) -> set[int]:
    """The tasks from ``--tasks``, else ``HECKTOR_TASKS``, else all.

    Raises:
        UsageError: an unknown task, naming the flag or variable it came from.
    """
    from algorithm.tasks import parse_tasks

    text, origin = (
        (args.tasks, "--tasks") if args.tasks is not None else (os.environ.get("HECKTOR_TASKS"), "HECKTOR_TASKS")
    )
    try:
        tasks = parse_tasks(text)
    except ValueError as exc:
        raise UsageError(f"{origin}={text!r}: {exc}") from None
    args.tasks = ",".join(map(str, sorted(tasks)))  # what the command then passes on
    return tasks


def build_parser(command: str | None = "train") -> argparse.ArgumentParser:
    """The command line; the training commands (whose modules import torch) are added only when ``command``
    is ``"train"`` (the default, for documentation tools), else ``train`` is listed without its sub-commands."""
    parser = argparse.ArgumentParser(prog="python -m algorithm", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="process the case staged in --input (Grand Challenge exec mode)")
    p_run.add_argument("--input", type=Path, default=Path("/input"), help="case folder (default /input)")
    p_run.add_argument("--output", "--out", type=Path, default=Path("/output"), help="output folder (default /output)")
    _add_model_options(p_run)
    p_run.set_defaults(func=_cmd_run)

    p_demo = sub.add_parser("demo", help="run the algorithm on the bundled examples and score it")
    p_demo.add_argument(
        "--examples",
        type=Path,
        default=Path("ground_truth_examples"),
        help="folder with inputs/<PatientID>/ and ground_truth/ (default ground_truth_examples)",
    )
    p_demo.add_argument(
        "--out", "--output", type=Path, default=Path("demo_output"), help="output folder (default demo_output)"
    )
    _add_model_options(p_demo)
    p_demo.set_defaults(func=_cmd_demo)

    _register(sub, "algorithm.server")
    train_help = "train a model from the organisers' dataset layout"
    p_train = sub.add_parser("train", help=train_help)
    tsub = p_train.add_subparsers(dest="model", required=True, metavar="{segmentation,prognosis,hpv,staging}")
    if command == "train":
        trainers = ("segmentation", "prognosis", "hpv")
        for module in (*(f"algorithm.training.{t}" for t in trainers), "algorithm.staging.train"):
            _register(tsub, module)
    return parser


def _register(subparsers: argparse._SubParsersAction, module_name: str) -> None:
    import importlib

    importlib.import_module(module_name).register(subparsers)


def _command_of(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (its first argument that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _cmd_run(args: argparse.Namespace) -> int:
    from algorithm.writing import prepare_output_dir

    tasks = tasks_setting(args)
    edition, _ = edition_settings(args)
    prepare_output_dir(args.output)  # a read-only or misnamed --output fails before any work

    from algorithm.pipeline import read_and_check, uses_treatment_plan

    # bad input fails here, before the models load
    checked = read_and_check(args.input, uses_treatment_plan(tasks, edition))
    algorithm = make_algorithm(args, tasks)
    algorithm.run(args.input, args.output, checked=checked)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from algorithm.demo import run_demo

    tasks_setting(args)
    return run_demo(args.examples, args.out, args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(argv)
    if command == "train":  # the trainers' modules import torch and MONAI: say so while it takes seconds
        from hecktor.progress import stage

        setup_logging("-v" in argv or "--verbose" in argv)
        with stage("import torch and MONAI", log):
            parser = build_parser(command)
    else:
        parser = build_parser(command)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except HecktorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        log.exception("unexpected failure")
        print(f"error: unexpected failure: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
