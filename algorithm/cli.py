"""Command line of the algorithm container (a thin shell over :mod:`algorithm.pipeline`).

    python -m algorithm run   [--input /input] [--output /output] [--tasks 1,2,3] [--model-dir DIR]
    python -m algorithm serve [--port 4743]                # Grand Challenge invoke API
    python -m algorithm train segmentation|prognosis|hpv --data DATASET --out DIR ...
    python -m algorithm demo  [--examples ground_truth_examples] [--out demo_output]

Settings also come from the environment (Grand Challenge strips ``GRAND_CHALLENGE_*`` variables, so
ours are named ``HECKTOR_*``): ``HECKTOR_TASKS``, ``HECKTOR_MODEL_DIR``, ``HECKTOR_DEVICE``.

A failure ends with exit status 1 and a one-line reason as the last line on stderr, which is all
Grand Challenge shows a participant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from hecktor.errors import HecktorError
from hecktor.progress import setup_logging

log = logging.getLogger("algorithm")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks",
        default=os.environ.get("HECKTOR_TASKS", "all"),
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


def build_parser() -> argparse.ArgumentParser:
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
    p_train = sub.add_parser("train", help="train a model from the organisers' dataset layout")
    tsub = p_train.add_subparsers(dest="model", required=True)
    for module in ("algorithm.training.segmentation", "algorithm.training.prognosis", "algorithm.training.hpv"):
        _register(tsub, module)
    return parser


def _register(subparsers: argparse._SubParsersAction, module_name: str) -> None:
    import importlib

    importlib.import_module(module_name).register(subparsers)


def _cmd_run(args: argparse.Namespace) -> int:
    from algorithm.pipeline import Algorithm, parse_tasks

    algorithm = Algorithm(parse_tasks(args.tasks), model_dir=args.model_dir, device=args.device, tta=args.tta)
    algorithm.run(args.input, args.output)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from algorithm.demo import run_demo

    return run_demo(args.examples, args.out, args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
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
