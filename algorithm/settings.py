"""The edition settings of a run (``--edition``/``HECKTOR_EDITION``, ``--rfs-output``/``HECKTOR_RFS_OUTPUT``) and
the :class:`algorithm.pipeline.Algorithm` of the model options, shared by ``run``, ``serve`` and ``demo``
(standard library and :mod:`hecktor` only at import)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from hecktor.errors import UsageError

if TYPE_CHECKING:
    from algorithm.pipeline import Algorithm


def edition_settings(args: argparse.Namespace) -> tuple[str, str]:
    """(edition, rfs_output) from the flags, else ``HECKTOR_EDITION`` / ``HECKTOR_RFS_OUTPUT``, else 2025 / time.

    Raises:
        UsageError: a value outside the sets, naming the flag or variable it came from.
    """
    from hecktor import interface

    try:
        edition = interface.edition(args.edition)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    flag, env = args.rfs_output, os.environ.get(interface.RFS_OUTPUT_ENV, "")
    origin, raw = ("--rfs-output", flag) if flag is not None else (interface.RFS_OUTPUT_ENV, env)
    rfs_output = raw.strip().lower() or interface.DEFAULT_RFS_OUTPUT_2026
    if rfs_output not in interface.RFS_OUTPUTS:
        raise UsageError(f"{origin}={raw!r}: must be one of {', '.join(interface.RFS_OUTPUTS)}")
    args.edition, args.rfs_output = edition, rfs_output
    return edition, rfs_output


def make_algorithm(args: argparse.Namespace, tasks: set[int]) -> Algorithm:
    """The :class:`algorithm.pipeline.Algorithm` of the model options in ``args`` (models load here)."""
    from algorithm.pipeline import Algorithm

    edition, rfs_output = edition_settings(args)
    return Algorithm(
        tasks, model_dir=args.model_dir, device=args.device, tta=args.tta, edition=edition, rfs_output=rfs_output
    )
