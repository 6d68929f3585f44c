"""The command line shared by ``train prognosis``, ``train hpv`` and ``train staging``, read once into typed options.

:func:`add_trainer_parser` adds the data options, the trainer adds its own, :func:`finish_trainer_parser`
adds ``--config`` (:mod:`algorithm.training.recipes`) and ``--holdout``; the trainer then reads the parsed
namespace with :meth:`DataOptions.from_args` and passes the typed object on (nothing below the trainers'
``run`` sees an ``argparse.Namespace``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithm.training.cases import GROUND_TRUTH


@dataclass(frozen=True)
class DataOptions:
    """Where the training data are and how to use them (the options every tabular trainer shares).

    Attributes:
        data: the organisers' dataset root or one ``Task N`` folder.
        out: output folder (``model.json`` is written there).
        masks: ``ground-truth`` or a folder of predicted masks.
        cache: feature cache folder (``None``: ``out/cache``).
        folds: number of centre-grouped cross-validation folds.
        seed: random seed.
        bootstrap: bootstrap resamples of the 95 % CIs.
        max_cases: use only the first N cases (smoke runs); ``None``: all.
        holdout: held-out dataset (same layout) scored at the end, or ``None``.
        holdout_masks: masks of the held-out cases.
        config: the recipe applied (``--config``), for the training record.
        edition: the dataset's layout, ``"2025"`` (task folders, three tables) or ``"2026"`` (one folder per
            case and ``HECKTOR_2026_Training.csv``; HPV status an input, no M-stage).
    """

    data: Path
    out: Path
    masks: str | Path = GROUND_TRUTH
    cache: Path | None = None
    folds: int = 5
    seed: int = 0
    bootstrap: int = 1000
    max_cases: int | None = None
    holdout: Path | None = None
    holdout_masks: str | Path = GROUND_TRUTH
    config: str | None = None
    edition: str = "2025"

    @property
    def cache_dir(self) -> Path:
        """The feature cache folder: ``--cache``, else ``OUT/cache``."""
        return self.cache if self.cache is not None else Path(self.out) / "cache"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DataOptions:
        """The data options of a parsed trainer command line."""
        return cls(
            data=Path(args.data),
            out=Path(args.out),
            masks=args.masks,
            cache=getattr(args, "cache", None),
            folds=int(args.folds),
            seed=int(args.seed),
            bootstrap=int(getattr(args, "bootstrap", 1000)),
            max_cases=args.max_cases,
            holdout=getattr(args, "holdout", None),
            holdout_masks=getattr(args, "holdout_masks", GROUND_TRUTH),
            config=getattr(args, "config", None),
            edition=getattr(args, "edition", None) or "2025",
        )


def add_data_arguments(parser: argparse.ArgumentParser, tabular: bool = True) -> None:
    """Options common to the trainers (the fields of :class:`DataOptions`); ``tabular=False`` (``train staging``,
    which caches no features and gives no bootstrap CIs) leaves out ``--cache`` and ``--bootstrap``."""
    parser.add_argument("--data", type=Path, required=True, help="organisers' dataset root (2025: or a Task folder)")
    parser.add_argument(
        "--out", "--output", type=Path, required=True, help="output folder (model.json is written there)"
    )
    parser.add_argument(
        "--masks",
        default=GROUND_TRUTH,
        help="'ground-truth' (the organisers' labels, default), a folder of predicted labels <PID>.nii.gz/.mha, or"
        " 'oof[:RUN]': the out-of-fold masks of `train segmentation --out RUN` (default RUN models/segmentation)",
    )
    if tabular:
        parser.add_argument("--cache", type=Path, default=None, help="feature cache folder (default: OUT/cache)")
    parser.add_argument(
        "--n-folds",
        "--folds",
        dest="folds",
        type=int,
        default=5,
        metavar="N",
        help="number of cross-validation folds, grouped by centre (default 5; --folds N: the old spelling)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if tabular:
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    parser.add_argument("--max-cases", type=int, default=None, help="use only the first N cases (smoke runs)")


def add_edition_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--edition 2025|2026``: the layout of ``--data`` and ``--holdout`` (default ``$HECKTOR_EDITION``, else 2025)."""
    from hecktor.interface import EDITIONS

    parser.add_argument(
        "--edition",
        choices=EDITIONS,
        default=None,
        help=f"dataset layout and model inputs: 2025 (task folders) or 2026 ({what}) (env HECKTOR_EDITION; default"
        " 2025)",
    )


def read_edition(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with ``edition`` resolved (the flag, else ``$HECKTOR_EDITION``, else 2025).

    Raises:
        UsageError: ``$HECKTOR_EDITION`` holds another value.
    """
    from hecktor import interface
    from hecktor.errors import UsageError

    try:
        args.edition = interface.edition(getattr(args, "edition", None))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return args


def add_holdout_arguments(parser: argparse.ArgumentParser) -> None:
    """``--holdout DIR [--holdout-masks ...]``: score the final model on a held-out dataset after training."""
    parser.add_argument("--holdout", type=Path, default=None, help="held-out dataset (same layout) to score at the end")
    parser.add_argument(
        "--holdout-masks", default=GROUND_TRUTH, help="masks of the held-out cases: 'ground-truth' or a folder"
    )


def add_trainer_parser(
    subparsers: Any, name: str, help_text: str, doc: str, tabular: bool = True
) -> argparse.ArgumentParser:
    """The ``train NAME`` sub-parser with the common data options (the trainer adds its own next)."""
    parser = subparsers.add_parser(name, help=help_text, description=doc.split("\n\n")[0])
    add_data_arguments(parser, tabular)
    return parser


def finish_trainer_parser(parser: argparse.ArgumentParser, task: int, run: Callable[[argparse.Namespace], int]) -> None:
    """The trailing options common to the trainers (``--config``, ``--holdout``) and the entry point ``run``."""
    from algorithm.training.recipes import add_recipe_argument

    add_recipe_argument(parser, task=task)
    add_holdout_arguments(parser)
    parser.set_defaults(func=run)


def trainer_main(name: str, register: Callable[[Any], None], argv: list[str] | None) -> int:
    """Stand-alone entry of a trainer: ``python -m algorithm.training.NAME --data ... --out ...``."""
    import sys

    from hecktor.progress import setup_logging

    parser = argparse.ArgumentParser(prog=f"python -m algorithm.training.{name}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="model_name", required=True)
    register(sub)
    args = parser.parse_args([name, *(sys.argv[1:] if argv is None else argv)])
    setup_logging(args.verbose)
    return int(args.func(args) or 0)
