"""Start-up costs of the algorithm's command line, each against its baseline measured in the same run.

    python -m bench.startup [--repeat 3] [--json OUT.json]

- ``--help``: ``python -m algorithm --help`` against the former command line, which imported the training
  modules (torch, MONAI) to build its parser (reproduced by importing them before printing the same help).
- **bad input in exec mode**: ``python -m algorithm run`` on a case whose CT is truncated, which now fails after
  reading the inputs, against the former order (load the models, then read the inputs).

Each command runs ``--repeat`` times in a fresh process; the fastest run counts (the least disturbed on a shared
machine). Prints one line per measurement and the ratios (baseline / now).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OLD_HELP = (
    "import algorithm.training.segmentation, algorithm.training.prognosis, algorithm.training.hpv\n"
    "from algorithm.cli import build_parser\n"
    "build_parser('train').print_help()\n"
)
OLD_RUN_ORDER = (
    "import sys\n"
    "from algorithm.pipeline import Algorithm\n"
    "from hecktor.errors import HecktorError\n"
    "algorithm = Algorithm(device='cpu')\n"
    "try:\n"
    "    algorithm.run(sys.argv[1], sys.argv[2])\n"
    "except HecktorError as exc:\n"
    "    print(f'error: {exc}', file=sys.stderr)\n"
    "    sys.exit(1)\n"
)


def timed(command: list[str], repeat: int, expect: int) -> float:
    """Fastest wall time (s) of ``command`` over ``repeat`` fresh processes; its exit status must be ``expect``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - start
        if proc.returncode != expect:
            raise SystemExit(f"{command[:3]} exited {proc.returncode}, expected {expect}: {proc.stderr[-500:]}")
        best = min(best, seconds)
    return best


def broken_case(folder: Path) -> Path:
    """A case whose CT ``.mha`` is cut to 300 bytes (its PET is fine)."""
    import numpy as np
    import SimpleITK as sitk

    for name in ("ct", "pet"):
        image = sitk.GetImageFromArray(np.zeros((40, 64, 64), np.float32))
        image.SetSpacing((2.0, 2.0, 3.0))
        (folder / "images" / name).mkdir(parents=True)
        sitk.WriteImage(image, str(folder / "images" / name / f"{name}.mha"))
    ct = folder / "images" / "ct" / "ct.mha"
    ct.write_bytes(ct.read_bytes()[:300])
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        case, out = broken_case(Path(tmp) / "case"), Path(tmp) / "out"
        figures = {
            "help_s": timed([py, "-m", "algorithm", "--help"], args.repeat, 0),
            "help_baseline_s": timed([py, "-c", OLD_HELP], args.repeat, 0),
            "bad_input_s": timed(
                [py, "-m", "algorithm", "run", "--input", str(case), "--output", str(out)], args.repeat, 1
            ),
            "bad_input_baseline_s": timed([py, "-c", OLD_RUN_ORDER, str(case), str(out)], args.repeat, 1),
        }
    figures["help_ratio"] = figures["help_baseline_s"] / figures["help_s"]
    figures["bad_input_ratio"] = figures["bad_input_baseline_s"] / figures["bad_input_s"]
    print(
        f"python -m algorithm --help        {figures['help_s']:.2f} s (baseline {figures['help_baseline_s']:.2f} s, "
        f"{figures['help_ratio']:.1f}x faster)"
    )
    print(
        f"run, truncated CT (exec mode)     {figures['bad_input_s']:.2f} s (baseline, models first: "
        f"{figures['bad_input_baseline_s']:.2f} s, {figures['bad_input_ratio']:.1f}x faster)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
