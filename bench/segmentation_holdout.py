"""Held-out figures of a segmentation model folder on a training-layout cohort, optionally with PET scaled.

Scores predictions on the CT grid with the evaluation's metric code: GTVp mean per-case Dice (both
empty = 1.0), GTVn aggregated Dice (mm^3) and GTVn aggregated detection F1. ``--pet-scale 0.5 2`` adds
runs with every PET voxel multiplied (calibration shift), measured in the same run.

    python -m bench.segmentation_holdout --data /tmp/ho1001 [--model-dir DIR] [--pet-scale 0.5 2] [--tta]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.segmentation_holdout")
    parser.add_argument("--data", type=Path, required=True, help="training-layout cohort (Task 1/<PID>/...)")
    parser.add_argument("--model-dir", type=Path, default=None, help="segmentation model folder (default: bundled)")
    parser.add_argument("--pet-scale", type=float, nargs="*", default=[], help="extra runs with PET x factor")
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-cases", type=int, default=None, help="only the first N cases")
    args = parser.parse_args(argv)

    import torch

    from algorithm.models import resolve_component_dir
    from algorithm.segmentation import Segmenter
    from algorithm.training.seg_data import find_cases
    from evaluation.metrics.lesions import DetectionCounts, detect_lesions, f1_from_counts
    from evaluation.metrics.overlap import aggregated_dice, dice_with_convention, label_overlaps
    from hecktor.imageio import read_image

    torch.set_num_threads(args.threads)
    model_dir = args.model_dir or resolve_component_dir("segmentation", None)
    segmenter = Segmenter.load(model_dir, device="cpu", tta=args.tta)
    cases = find_cases(args.data)[: args.max_cases]
    print(f"{len(cases)} cases from {args.data}, model {model_dir}, TTA {args.tta}")
    for scale in [1.0, *args.pet_scale]:
        start = time.perf_counter()
        gtvp, gtvn, counts = [], [], DetectionCounts(0, 0, 0)
        for case in cases:
            ct, pet, truth = read_image(case.ct, "CT"), read_image(case.pet, "PET"), read_image(case.label)
            if scale != 1.0:
                pet = sitk.Cast(pet, sitk.sitkFloat32) * float(scale)
            pred = sitk.GetArrayFromImage(segmenter.segment(ct, pet))
            true = sitk.GetArrayFromImage(truth)
            overlaps = label_overlaps(pred, true, float(np.prod(truth.GetSpacing())))
            gtvp.append(dice_with_convention(overlaps[1]))
            gtvn.append(overlaps[2])
            counts = counts + detect_lesions(pred == 2, true == 2)[0]
        agg = aggregated_dice(gtvn)
        f1 = f1_from_counts(counts)
        print(
            f"PET x{scale:g}: GTVp mean Dice {np.mean(gtvp):.3f}, GTVn aggregated Dice {agg:.3f},"
            f" GTVn F1 {f1:.3f} (TP {counts.tp} FP {counts.fp} FN {counts.fn}), {time.perf_counter() - start:.0f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
