"""Command line: write a synthetic cohort.

``python -m synthetic --out DIR --cases N --seed S [--size small|realistic]
[--layout training|grand-challenge] [--edition 2025|2026]``

Cases are generated and written one at a time (memory stays that of one case), with progress lines
(case k/n, elapsed, eta) and a final summary line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hecktor.interface import EDITIONS, edition
from hecktor.progress import peak_rss_gib, progress, setup_logging
from synthetic.acquisition import SIZES
from synthetic.case import generate_case
from synthetic.cohort import plan_cohort
from synthetic.gc_layout import GrandChallengeLayoutWriter
from synthetic.metadata import oracle_scores
from synthetic.training_layout import TrainingLayout2026Writer, TrainingLayoutWriter

log = logging.getLogger("synthetic")
LAYOUTS = ("training", "grand-challenge")


def build_parser() -> argparse.ArgumentParser:
    """The command line's options (``hecktor-synthetic`` / ``python -m synthetic``)."""
    parser = argparse.ArgumentParser(prog="python -m synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--out", "--output", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--cases", type=int, default=20, help="number of cases (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="cohort seed (default 0)")
    parser.add_argument("--size", choices=SIZES, default="small", help="image size (default small)")
    parser.add_argument("--layout", choices=LAYOUTS, default="training", help="output layout (default training)")
    parser.add_argument(
        "--edition",
        choices=EDITIONS,
        default=None,
        help="HECKTOR edition of the layout: 2025 (three tasks) or 2026 (T/N stages, HPV as input) "
        "(env HECKTOR_EDITION; default 2025)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    try:
        args.edition = edition(args.edition)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    start = time.perf_counter()
    if args.layout == "grand-challenge":
        writer: TrainingLayoutWriter | GrandChallengeLayoutWriter = GrandChallengeLayoutWriter(args.out, args.edition)
    else:
        writer = TrainingLayout2026Writer(args.out) if args.edition == "2026" else TrainingLayoutWriter(args.out)
    specs = plan_cohort(args.cases, args.seed, args.size)
    log.info(
        "writing %d %s cases (seed %d) in the %s %s layout to %s",
        args.cases,
        args.size,
        args.seed,
        args.edition,
        args.layout,
        args.out,
    )
    for spec in progress(specs, "case", log, every_s=2.0):
        writer.add(generate_case(spec.patient_id, args.seed, args.size, **spec.overrides))
    writer.finish()
    oracle = oracle_scores(writer.summaries)

    def fmt(key: str) -> str:
        return "n/a" if oracle[key] is None else f"{oracle[key]:.3f}"

    log.info(
        "done: %d cases, %d relapses, %d HPV+ of %d known, C-index oracle %s (achievable %s), "
        "HPV AUC oracle %s (achievable %s), %.1f s, peak RSS %.2f GiB -> %s",
        oracle["n_cases"],
        oracle["n_events"],
        oracle["n_hpv_positive"],
        oracle["n_hpv_known"],
        fmt("c_index"),
        fmt("c_index_achievable"),
        fmt("hpv_auc"),
        fmt("hpv_auc_achievable"),
        time.perf_counter() - start,
        peak_rss_gib(),
        args.out,
    )
    if "staging_score" in oracle:
        log.info(
            "staging oracle: T balanced accuracy %s, N %s, staging score %s; T %s, N %s",
            fmt("t_stage_balanced_accuracy"),
            fmt("n_stage_balanced_accuracy"),
            fmt("staging_score"),
            oracle["t_stage_counts"],
            oracle["n_stage_counts"],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
