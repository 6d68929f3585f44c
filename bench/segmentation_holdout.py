"""Held-out figures of a segmentation model folder on a training-layout cohort, optionally with PET scaled.

Scores predictions on the CT grid with the evaluation's metric code: GTVp mean per-case Dice (both
empty = 1.0), GTVn aggregated Dice (mm^3) and GTVn aggregated detection F1. ``--pet-scale 0.5 2`` adds
runs with every PET voxel multiplied (calibration shift), measured in the same run.

    python -m bench.segmentation_holdout --data /tmp/ho1001 [--model-dir DIR] [--pet-scale 0.5 2] [--tta]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import SimpleITK as sitk

#: A cohort variant: (case, CT, PET, ground truth) -> the (CT, PET, ground truth) the model and the score see.
Variant = Callable[[Any, sitk.Image, sitk.Image, sitk.Image], tuple[sitk.Image, sitk.Image, sitk.Image]]


def scale_pet(pet: sitk.Image, factor: float) -> sitk.Image:
    """``pet`` with every voxel multiplied by ``factor`` (a calibration shift), as float32."""
    return sitk.Cast(pet, sitk.sitkFloat32) * float(factor)


def score_cases(segmenter: Any, cases: Sequence[Any], variant: Variant | None = None) -> dict[str, Any]:
    """GTVp mean Dice, GTVn aggregated Dice, GTVn F1 (and TP/FP/FN) of ``segmenter`` on ``cases``
    (:class:`algorithm.training.seg_data.TrainingCase`), each optionally changed by ``variant`` first;
    predictions on the (variant's) CT grid, scored with the evaluation's metric code; ``seconds`` added."""
    from bench.unseen_centres import score_label, summarise_variant
    from hecktor.imageio import read_image

    start = time.perf_counter()
    rows = []
    for case in cases:
        ct, pet, truth = read_image(case.ct, "CT"), read_image(case.pet, "PET"), read_image(case.label)
        if variant is not None:
            ct, pet, truth = variant(case, ct, pet, truth)
        rows.append(score_label(segmenter.segment(ct, pet), truth))
    summary = {k: math.nan if v is None else v for k, v in summarise_variant(rows).items()}  # None: no GTVn at all
    return {**summary, "seconds": time.perf_counter() - start}


def summary_line(summary: dict[str, Any]) -> str:
    """One printed line of :func:`score_cases`'s figures."""
    return (
        f"GTVp mean Dice {summary['gtvp_mean_dice']:.3f}, GTVn aggregated Dice {summary['gtvn_aggregated_dice']:.3f},"
        f" GTVn F1 {summary['gtvn_f1']:.3f} (TP {summary['gtvn_tp']} FP {summary['gtvn_fp']} FN {summary['gtvn_fn']}),"
        f" {summary['seconds']:.0f} s"
    )


def load_segmenter(model_dir: Path | None, tta: bool, threads: int) -> tuple[Any, Path]:
    """The segmenter of ``model_dir`` (default: the bundled model) on the CPU with ``threads`` torch threads."""
    import torch

    from algorithm.models import resolve_component_dir
    from algorithm.segmentation import Segmenter

    torch.set_num_threads(threads)
    model_dir = model_dir or resolve_component_dir("segmentation", None)
    return Segmenter.load(model_dir, device="cpu", tta=tta), model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.segmentation_holdout")
    parser.add_argument("--data", type=Path, required=True, help="training-layout cohort (Task 1/<PID>/...)")
    parser.add_argument("--model-dir", type=Path, default=None, help="segmentation model folder (default: bundled)")
    parser.add_argument("--pet-scale", type=float, nargs="*", default=[], help="extra runs with PET x factor")
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-cases", type=int, default=None, help="only the first N cases")
    args = parser.parse_args(argv)

    from algorithm.training.seg_data import find_cases

    segmenter, model_dir = load_segmenter(args.model_dir, args.tta, args.threads)
    cases = find_cases(args.data)[: args.max_cases]
    print(f"{len(cases)} cases from {args.data}, model {model_dir}, TTA {args.tta}")
    for scale in [1.0, *args.pet_scale]:

        def scaled(_case: Any, ct: sitk.Image, pet: sitk.Image, truth: sitk.Image, f: float = scale) -> tuple:
            return ct, scale_pet(pet, f), truth

        print(f"PET x{scale:g}: " + summary_line(score_cases(segmenter, cases, None if scale == 1.0 else scaled)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
