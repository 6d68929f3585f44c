"""``python -m evaluation serve``: the evaluation behind Grand Challenge's invoke API.

The same HTTP shell as the algorithm's (:mod:`hecktor.serving`): ``GET /health`` answers 200 once the
scoring code is imported; each ``POST /invoke`` scores the submission staged in ``--input``
(``predictions.json`` and the jobs' outputs) against ``--ground-truth`` and writes ``metrics.json`` into
``--output``, exactly as one exec-mode run does (same conventions and flags, byte-identical file). A
structural problem (no ``predictions.json``, no ground truth, output not writable) answers 400 with the
one-line reason; the server keeps serving.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hecktor.errors import InputError
from hecktor.serving import Handler, add_server_arguments, serve


def serve_parser() -> argparse.ArgumentParser:
    from evaluation.options import add_common_scoring_flags, add_convention_flags

    parser = argparse.ArgumentParser(
        prog="python -m evaluation serve",
        description="Serve Grand Challenge's invoke API (GET /health, POST /invoke on port 4743): each invoke "
        "scores the submission in --input into --output/metrics.json.",
    )
    add_server_arguments(parser)
    add_common_scoring_flags(parser)
    add_convention_flags(parser)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    """Start the server (returns its exit status). Flags are checked before it starts."""
    from evaluation.options import check_pattern, conventions_from, resolve_worker_count
    from hecktor.progress import setup_logging

    check_pattern(args.ct_name_pattern)
    conventions = conventions_from(args, args.ct_name_pattern)
    workers = resolve_worker_count(args)
    setup_logging(args.verbose)

    def load() -> Handler:
        from evaluation import phase2026, staging, task1, task2, task3  # noqa: F401  (imported before /health is 200)
        from evaluation.evaluate import HEADLINE, RunOptions, evaluate
        from evaluation.problems import StructuralError

        def handle(input_dir: Path, output_dir: Path) -> dict[str, object]:
            options = RunOptions(
                input_dir=input_dir,
                ground_truth=args.ground_truth,
                output=output_dir,
                predictions=args.predictions,
                task=args.task,
                workers=workers,
                report=args.report,
            )
            try:
                metrics = evaluate(options, conventions)
            except StructuralError as exc:
                raise InputError(None, str(exc)) from None
            aggregates = metrics["aggregates"]
            tasks = metrics["conventions"]["tasks"]
            headline = {k: aggregates[k] for t in tasks for k in HEADLINE[t] if k in aggregates}
            return {"tasks": tasks, "aggregates": headline, "n_errors": aggregates["n_errors"]}

        return handle

    return serve(
        load,
        name="evaluation",
        host=args.host,
        port=args.port,
        input_dir=args.input,
        output_dir=args.output,
    )
