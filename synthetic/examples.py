"""Rebuild the committed ``ground_truth_examples/``: ``python -m synthetic.examples [--out DIR] [--edition 2026]``.

Five ``small`` synthetic patients in the Grand Challenge layout (see :mod:`synthetic.gc_layout`)
plus an evaluation input tree per task built with :func:`hecktor.predictions_tree.write_predictions_tree`
from synthetic "predictions":

* Task 1: the ground-truth label perturbed per case (GTVp dilated by one voxel; GTVp eroded by one
  voxel; a false-positive node added where there is no GTVn; the smallest node missed; GTVn shifted
  by one voxel);
* Task 2: risk = ``oracle_risk`` + N(0, 0.5);
* Task 3: probability = sigmoid(logit(``oracle_hpv_prob``) + N(0, 0.7)), status = probability >= 0.5,
  both written (``hpv-status.json``, ``hpv-probability.json``).

Fixed properties of the set: CHUS-001 has a flipped CT (direction diag(-1, 1, 1) or similar),
HGJ-001 has no GTVn, CHUM-001 alone has a planning CT and RT dose (Task 2 subset). Jobs are
listed in reverse patient order in ``predictions.json`` (the platform guarantees no order).
Files not written here (``README.md``) are left alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from hecktor import interface
from hecktor.imageio import write_image
from hecktor.predictions_tree import JobSpec, write_predictions_tree
from hecktor.progress import setup_logging
from synthetic.case import SyntheticCase, generate_case
from synthetic.gc_layout import GROUND_TRUTH_DIR, INPUTS_DIR, write_grand_challenge_layout
from synthetic.metadata import METADATA_FILENAME

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "ground_truth_examples"
#: The HECKTOR 2026 examples (the same five patients as 2026 inputs: HPV status in ``ehr.json``, T/N stages in the
#: ground truth; no predictions trees: ``make demo EDITION=2026`` writes and scores one).
DEFAULT_OUT_2026 = REPO / "ground_truth_examples_2026"
PREDICTIONS_DIR = "predictions"
#: Chosen (by a search over seeds) so that the five cases hold 2 relapses and both HPV classes.
SEED = 2029
#: Patients of the examples and the overrides that give the set its fixed properties.
EXAMPLE_CASES: dict[str, dict[str, object]] = {
    "CHUM-001": {"with_planning": True, "flip_ct": False},
    "CHUS-001": {"with_planning": False, "flip_ct": True},
    "HGJ-001": {"with_planning": False, "n_nodes": 0, "flip_ct": False},
    "HMR-001": {"with_planning": False, "n_nodes": 3, "flip_ct": False},
    "CHUP-001": {"with_planning": False, "n_nodes": 2},
}
RISK_NOISE = 0.5
HPV_LOGIT_NOISE = 0.7


def example_cases() -> list[SyntheticCase]:
    """The five example cases (deterministic)."""
    return [generate_case(pid, SEED, "small", **overrides) for pid, overrides in EXAMPLE_CASES.items()]


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))


def perturbed_label(label: np.ndarray, index: int) -> np.ndarray:
    """A plausible imperfect segmentation of ``label`` (z, y, x uint8); the perturbation depends on ``index``."""
    out = label.copy()
    primary, nodes = label == 1, label == 2
    rule = index % 5
    if rule == 0:  # GTVp one voxel too large
        out[ndimage.binary_dilation(primary) & (label == 0)] = 1
    elif rule == 1:  # GTVp one voxel too small
        out[primary & ~ndimage.binary_erosion(primary)] = 0
    elif rule == 2:  # a false-positive node in the neck (label 2 where the truth has none nearby)
        zs, ys, xs = np.nonzero(primary) if primary.any() else np.array(label.shape)[:, None] // 2
        z, y, x = int(np.median(zs)), int(np.median(ys)), int(np.median(xs))
        x_fp = min(label.shape[2] - 3, x + max(4, label.shape[2] // 8))
        zz, yy, xx = np.ogrid[: label.shape[0], : label.shape[1], : label.shape[2]]
        blob = (zz - z) ** 2 + (yy - y) ** 2 + (xx - x_fp) ** 2 <= 4
        out[blob & (label == 0)] = 2
    elif rule == 3:  # the smallest node missed
        components, count = _components(nodes)
        if count:
            sizes = ndimage.sum(nodes, components, range(1, count + 1))
            out[components == 1 + int(np.argmin(sizes))] = 0
    else:  # nodes one voxel off in x
        out[nodes] = 0
        out[np.roll(nodes, 1, axis=2) & (out == 0)] = 2
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def write_case_outputs(case: SyntheticCase, index: int, out: Path, rng: np.random.Generator) -> Path:
    """Write a case's synthetic algorithm ``/output`` folder (all three tasks) under ``out``."""
    label = perturbed_label(sitk.GetArrayFromImage(case.label), index)
    image = sitk.GetImageFromArray(label)
    image.CopyInformation(case.label)
    write_image(image, out / interface.SEGMENTATION.relative_path / interface.SEGMENTATION_FILENAME)
    risk = round(case.oracle_risk + float(rng.normal(0.0, RISK_NOISE)), 6)
    p = case.oracle_hpv_prob
    prob = round(_sigmoid(math.log(p / (1 - p)) + float(rng.normal(0.0, HPV_LOGIT_NOISE))), 6)
    (out / interface.RFS.relative_path).write_text(json.dumps(risk))
    (out / interface.HPV_STATUS.relative_path).write_text(json.dumps(prob >= 0.5))
    (out / interface.HPV_PROBABILITY.relative_path).write_text(json.dumps(prob))
    return out


def build_examples(out_dir: str | Path = DEFAULT_OUT) -> Path:
    """(Re)write the examples under ``out_dir``; returns ``out_dir``."""
    out_dir = Path(out_dir)
    for name in (INPUTS_DIR, GROUND_TRUTH_DIR, PREDICTIONS_DIR):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    (out_dir / METADATA_FILENAME).unlink(missing_ok=True)
    cases = example_cases()
    write_grand_challenge_layout(cases, out_dir)
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory(prefix="hecktor-examples-") as tmp:
        jobs = []
        for index, case in enumerate(cases):
            outputs = write_case_outputs(case, index, Path(tmp) / case.patient_id, rng)
            jobs.append(
                JobSpec(
                    case.patient_id,
                    outputs,
                    ct_image_name=f"{case.patient_id}__CT.nii.gz",
                    pet_image_name=f"{case.patient_id}__PT.nii.gz",
                )
            )
        for task in (1, 2, 3):
            write_predictions_tree(out_dir / PREDICTIONS_DIR / f"task{task}", reversed(jobs), task)
    log.info("examples: %d cases written to %s", len(cases), out_dir)
    return out_dir


def build_examples_2026(out_dir: str | Path = DEFAULT_OUT_2026) -> Path:
    """(Re)write the HECKTOR 2026 examples under ``out_dir`` (inputs, ground truth, metadata); returns ``out_dir``."""
    out_dir = Path(out_dir)
    for name in (INPUTS_DIR, GROUND_TRUTH_DIR):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    (out_dir / METADATA_FILENAME).unlink(missing_ok=True)
    cases = example_cases()
    write_grand_challenge_layout(cases, out_dir, edition="2026")
    log.info("2026 examples: %d cases written to %s", len(cases), out_dir)
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthetic.examples", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        "--output",
        type=Path,
        default=None,
        help=f"output folder (default {DEFAULT_OUT.name}/, or"
        f" {DEFAULT_OUT_2026.name}/ with --edition 2026, in the repository)",
    )
    parser.add_argument(
        "--edition", choices=("2025", "2026"), default="2025", help="HECKTOR edition of the examples (default 2025)"
    )
    args = parser.parse_args(argv)
    setup_logging()
    if args.edition == "2026":
        build_examples_2026(args.out or DEFAULT_OUT_2026)
    else:
        build_examples(args.out or DEFAULT_OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
