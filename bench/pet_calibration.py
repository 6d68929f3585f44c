"""PET-calibration benchmark (issue 16): each centre's PET with its own calibration factor, and oblique grids.

A synthetic held-out cohort (training layout; default 20 ``small`` cases, seed 1001, never used for
training) is segmented with one model folder, in the same run, as

====================  ===========================================================================
``unshifted``         the generator's CT and PET
``per-centre PET``    every PET voxel of a centre's cases x that centre's factor, drawn log-uniform
                      in [0.5, 2] (``--low``/``--high``) with ``numpy.random.default_rng(--factor-seed)``
                      over the sorted centre names; the factors are printed
``oblique grid``      CT, PET and the ground truth resampled (linear, linear, nearest) onto grids
                      rotated by ``--oblique-degrees`` (default 20; 0 = off) about the x axis (a gantry
                      tilt), same spacing, covering the whole scan; the mask is scored on that CT grid
====================  ===========================================================================

``--no-pet-reference`` turns the model's ``pet_reference_suv`` off, so that the network itself (its training
augmentation) faces the shift rather than the input normalisation that cancels a global PET factor.

Per variant: GTVp mean Dice, GTVn aggregated Dice and GTVn F1 (IoU > 0.3) with the evaluation's own metric
code (:func:`bench.segmentation_holdout.score_cases`), and the drop from ``unshifted``. Target (issue 16):
GTVn Dice drop <= 0.03 under the per-centre calibration.

    python -m bench.pet_calibration [--data COHORT | --cases 20 --seed 1001] [--model-dir DIR] [--json FILE]

Without ``--data`` the cohort is generated once under ``--out`` (default ``bench/output/pet_calibration``)
and reused while its specification is the same. About 1 minute per variant and 10 cases on one core.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from bench.segmentation_holdout import load_segmenter, scale_pet, score_cases, summary_line

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "output" / "pet_calibration"
#: Issue 16's target: GTVn aggregated Dice drop under per-centre calibration.
TARGET_GTVN_DROP = 0.03
METRICS = ("gtvp_mean_dice", "gtvn_aggregated_dice", "gtvn_f1")


def centre_factors(centres: Sequence[str], seed: int, low: float = 0.5, high: float = 2.0) -> dict[str, float]:
    """One PET calibration factor per centre, ``exp(U(log low, log high))``, drawn over the sorted names."""
    rng = np.random.default_rng(seed)
    return {c: float(math.exp(rng.uniform(math.log(low), math.log(high)))) for c in sorted(set(centres))}


def oblique_grid(image: sitk.Image, degrees: float) -> tuple[list[int], list[float], list[float]]:
    """Size, origin (mm) and direction of a grid with ``image``'s spacing, its axes rotated by ``degrees`` about
    the physical x axis, that covers every corner of ``image``."""
    rotation = sitk.VersorTransform((1.0, 0.0, 0.0), math.radians(degrees))
    direction = np.asarray(rotation.GetMatrix()).reshape(3, 3) @ np.asarray(image.GetDirection()).reshape(3, 3)
    size = np.asarray(image.GetSize())
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) * (size - 1)
    points = np.array([image.TransformContinuousIndexToPhysicalPoint(c.astype(float).tolist()) for c in corners])
    local = (points - points[0]) @ direction  # coordinates along the new axes (columns of direction)
    low, high = local.min(axis=0), local.max(axis=0)
    spacing = np.asarray(image.GetSpacing())
    new_size = np.ceil((high - low) / spacing).astype(int) + 1
    origin = points[0] + direction @ low
    return new_size.tolist(), origin.tolist(), direction.ravel().tolist()


def on_oblique_grid(image: sitk.Image, degrees: float, interpolator: int, default: float) -> sitk.Image:
    """``image`` resampled onto :func:`oblique_grid` (same pixel type)."""
    size, origin, direction = oblique_grid(image, degrees)
    return sitk.Resample(
        image, size, sitk.Transform(), interpolator, origin, image.GetSpacing(), direction, default, image.GetPixelID()
    )


def per_centre_variant(factors: dict[str, float]):
    """The cohort variant that multiplies each case's PET by its centre's factor."""

    def variant(case: Any, ct: sitk.Image, pet: sitk.Image, truth: sitk.Image) -> tuple:
        return ct, scale_pet(pet, factors[case.centre]), truth

    return variant


def oblique_variant(degrees: float):
    """The cohort variant on grids rotated by ``degrees``: CT (-1024 HU outside), PET (0), ground truth on the
    CT's rotated grid (nearest)."""

    def variant(_case: Any, ct: sitk.Image, pet: sitk.Image, truth: sitk.Image) -> tuple:
        ct_obl = on_oblique_grid(ct, degrees, sitk.sitkLinear, -1024.0)
        truth_obl = sitk.Resample(truth, ct_obl, sitk.Transform(), sitk.sitkNearestNeighbor, 0, truth.GetPixelID())
        return ct_obl, on_oblique_grid(pet, degrees, sitk.sitkLinear, 0.0), truth_obl

    return variant


def ensure_cohort(out: Path, n_cases: int, seed: int) -> Path:
    """A training-layout cohort of ``n_cases`` small synthetic cases (``python -m synthetic``) under ``out``,
    written once per specification."""
    from synthetic.__main__ import main as synthetic_main

    data, marker = out / "data", out / "cohort.json"
    spec = {"cases": n_cases, "seed": seed, "size": "small"}
    if marker.is_file() and json.loads(marker.read_text()) == spec and data.is_dir():
        return data
    import shutil

    shutil.rmtree(data, ignore_errors=True)
    synthetic_main(["--out", str(data), "--cases", str(n_cases), "--seed", str(seed), "--size", "small"])
    marker.write_text(json.dumps(spec))
    return data


def drop_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown rows: each variant's figures and their change from ``unshifted``."""
    base = results["unshifted"]
    lines = [
        "| variant | GTVp mean Dice | d | GTVn agg. Dice | d | GTVn F1 | d | TP/FP/FN | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in results.items():
        cells = []
        for key in METRICS:
            cells += [f"{s[key]:.3f}", f"{s[key] - base[key]:+.3f}"]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {s['gtvn_tp']}/{s['gtvn_fp']}/{s['gtvn_fn']} | {s['seconds']:.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pet_calibration", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="training-layout cohort (default: generated)")
    parser.add_argument("--cases", type=int, default=20, help="cases to generate (without --data)")
    parser.add_argument("--seed", type=int, default=1001, help="generator seed (without --data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the generated cohort goes")
    parser.add_argument("--model-dir", type=Path, default=None, help="segmentation model folder (default: bundled)")
    parser.add_argument("--factor-seed", type=int, default=16, help="seed of the per-centre factors")
    parser.add_argument("--low", type=float, default=0.5, help="smallest calibration factor")
    parser.add_argument("--high", type=float, default=2.0, help="largest calibration factor")
    parser.add_argument("--oblique-degrees", type=float, default=20.0, help="oblique-grid variant angle (0 = off)")
    parser.add_argument(
        "--no-pet-reference",
        action="store_true",
        help="run without the model's pet_reference_suv (the network alone faces the calibration shift)",
    )
    parser.add_argument("--max-cases", type=int, default=None, help="only the first N cases")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    import logging

    from algorithm.training.seg_data import find_cases

    logging.basicConfig(level=logging.ERROR)
    start = time.perf_counter()
    data = args.data or ensure_cohort(args.out, args.cases, args.seed)
    cases = find_cases(data)[: args.max_cases]
    segmenter, model_dir = load_segmenter(args.model_dir, False, args.threads)
    if args.no_pet_reference:
        segmenter.config.pet_reference_suv = None
    factors = centre_factors([c.centre for c in cases], args.factor_seed, args.low, args.high)
    reference = segmenter.config.pet_reference_suv
    print(
        f"PET-calibration benchmark: {len(cases)} cases from {data}, model {model_dir},"
        f" pet_reference_suv {reference if reference is not None else 'off'}",
        flush=True,
    )
    print("per-centre PET factors: " + ", ".join(f"{c} x{f:.3f}" for c, f in factors.items()), flush=True)
    variants: dict[str, Any] = {"unshifted": None, "per-centre PET": per_centre_variant(factors)}
    if args.oblique_degrees:
        variants[f"oblique grid {args.oblique_degrees:g} deg"] = oblique_variant(args.oblique_degrees)
    results = {}
    for name, variant in variants.items():
        results[name] = score_cases(segmenter, cases, variant)
        print(f"  {name}: " + summary_line(results[name]), flush=True)
    lines = drop_table(results)
    drop = results["unshifted"]["gtvn_aggregated_dice"] - results["per-centre PET"]["gtvn_aggregated_dice"]
    verdict = "met" if drop <= TARGET_GTVN_DROP else "MISSED"
    lines.append(
        f"\nGTVn aggregated Dice drop under per-centre PET calibration: {drop:+.3f}"
        f" (target <= {TARGET_GTVN_DROP}: {verdict})"
    )
    print("\n".join(lines))
    print(f"done in {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"data": str(data), "model_dir": str(model_dir), "factors": factors, "variants": results}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
