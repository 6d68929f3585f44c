"""``python -m algorithm serve``: the algorithm behind Grand Challenge's invoke API.

The port is bound first; the models then load once (:class:`algorithm.pipeline.Algorithm`'s
constructor, where torch is imported) in the background; each ``POST /invoke`` processes the case
staged in ``/input`` into ``/output``. The HTTP shell is :mod:`hecktor.serving`, shared with any other
image. Tasks, model folder and device come from the same flags and ``HECKTOR_*`` variables as
``python -m algorithm run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hecktor.serving import Handler, add_server_arguments, serve


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand to the algorithm's command line."""
    from algorithm.cli import _add_model_options

    parser = subparsers.add_parser("serve", help="serve Grand Challenge's invoke API (GET /health, POST /invoke)")
    add_server_arguments(parser)
    _add_model_options(parser)
    parser.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from algorithm.cli import tasks_setting
    from algorithm.settings import edition_settings, make_algorithm

    tasks = tasks_setting(args)  # a bad --tasks / HECKTOR_TASKS is a usage error (exit 2) before the server starts
    edition, rfs_output = edition_settings(args)

    def load() -> Handler:
        from algorithm.writing import prepare_output_dir

        algorithm = make_algorithm(args, tasks)

        def handle(input_dir: Path, output_dir: Path) -> dict[str, object]:
            prepare_output_dir(output_dir)  # outputs left by an earlier call are never taken for this one's
            result = algorithm.run(input_dir, output_dir)
            return {"outputs": sorted(str(p) for p in result.outputs.values()), "fallbacks": list(result.fallbacks)}

        return handle

    return serve(
        load,
        verbose=args.verbose,
        name=f"algorithm (HECKTOR 2026, rfs.json as {rfs_output})"
        if edition == "2026"
        else f"algorithm (tasks {','.join(map(str, sorted(tasks)))})",
        host=args.host,
        port=args.port,
        input_dir=args.input,
        output_dir=args.output,
    )
