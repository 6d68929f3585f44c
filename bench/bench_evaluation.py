"""Benchmark of the Task 1 evaluation on realistic-size cases (512 x 512 x 200 voxels).

For N synthetic label pairs (truth: a primary tumour and a few nodes; prediction: a perturbed truth with a
missed node, a false node and shifted boundaries), written as compressed ``.mha`` like algorithm outputs:

1. per case: seconds to read prediction + ground truth (header checks, voxels, label checks), seconds to
   compute the Task 1 metrics (overlaps in mm^3, GTVn lesion detection), and their ratio score/read;
   both measured by the evaluation's own per-case function (:func:`evaluation.segmentation.score_segmentation_case`);
2. a straightforward reference implementation of the same definitions, timed on the same images
   (SimpleITK ``LabelOverlapMeasuresImageFilter`` for Dice, numpy sums for volumes, ``scipy.ndimage.label``
   for 26-connected lesions and the same group rule), checked to give the same numbers, and the speed-up;
3. end to end (``evaluate`` on a predictions.json tree): cases per second with 1 and 2 workers.

Usage: ``python bench/bench_evaluation.py [--cases 3] [--size 512 512 200] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.config import Conventions  # noqa: E402
from evaluation.evaluate import RunOptions, evaluate  # noqa: E402
from evaluation.segmentation import SegmentationCase, score_segmentation_case  # noqa: E402
from hecktor import interface  # noqa: E402
from hecktor.predictions_tree import JobSpec, write_predictions_tree  # noqa: E402

SPACING = (0.98, 0.98, 3.0)  # x, y, z mm


def ellipsoid(array: np.ndarray, centre: tuple[float, float, float], radii: tuple[float, float, float], value: int):
    """Fill an axis-aligned ellipsoid (centre and radii in voxels, z y x) with ``value``, inside its box only."""
    lo = [max(0, int(c - r) - 1) for c, r in zip(centre, radii, strict=True)]
    hi = [min(s, int(c + r) + 2) for c, r, s in zip(centre, radii, array.shape, strict=True)]
    z, y, x = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    inside = ((z - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 + ((x - centre[2]) / radii[2]) ** 2
    array[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]][inside <= 1.0] = value


def make_pair(rng: np.random.Generator, shape_zyx: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) uint8 label maps: GTVp ~ 30 mm across, 4-6 nodes 8-20 mm; prediction perturbed."""
    nz, ny, nx = shape_zyx
    truth = np.zeros(shape_zyx, dtype=np.uint8)
    pred = np.zeros(shape_zyx, dtype=np.uint8)
    centre = (nz * 0.6, ny * 0.5, nx * 0.5)
    radii = (6.0, 16.0, 15.0)  # voxels: 18 x 31 x 29 mm
    ellipsoid(truth, centre, radii, 1)
    shift = rng.normal(0, 2.0, 3)
    ellipsoid(pred, tuple(np.add(centre, shift)), tuple(np.multiply(radii, rng.uniform(0.85, 1.15, 3))), 1)
    n_nodes = int(rng.integers(4, 7))
    for k in range(n_nodes):
        side = 1 if k % 2 else -1
        c = (nz * 0.55 + rng.uniform(-12, 12), ny * 0.55 + rng.uniform(-20, 30), nx * 0.5 + side * rng.uniform(40, 70))
        r = (rng.uniform(1.5, 3.5), rng.uniform(4, 10), rng.uniform(4, 10))
        ellipsoid(truth, c, r, 2)
        if k == 0:
            continue  # a missed node
        ellipsoid(pred, tuple(np.add(c, rng.normal(0, 1.0, 3))), tuple(np.multiply(r, rng.uniform(0.8, 1.2, 3))), 2)
    ellipsoid(pred, (nz * 0.3, ny * 0.7, nx * 0.3), (2.0, 5.0, 5.0), 2)  # a false node
    return truth, pred


def to_image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin((-250.0, -250.0, -600.0))
    return image


# ----------------------------------------------------------------------------- reference implementation


def reference_task1(pred_image: sitk.Image, truth_image: sitk.Image) -> dict[str, float]:
    """The same definitions, written plainly: SimpleITK overlap filter, numpy sums, scipy.ndimage.label."""
    voxel = float(np.prod(pred_image.GetSpacing()))
    pred = sitk.GetArrayFromImage(pred_image)
    truth = sitk.GetArrayFromImage(truth_image)
    out: dict[str, float] = {}
    overlap = sitk.LabelOverlapMeasuresImageFilter()
    overlap.Execute(truth_image, pred_image)
    for label, name in ((1, "GTVp"), (2, "GTVn")):
        out[f"{name}_dice"] = overlap.GetDiceCoefficient(label)
        p, t = pred == label, truth == label
        out[f"{name}_intersection_mm3"] = float(np.sum(p & t)) * voxel
        out[f"{name}_pred_mm3"] = float(np.sum(p)) * voxel
        out[f"{name}_true_mm3"] = float(np.sum(t)) * voxel
    structure = np.ones((3, 3, 3), dtype=bool)  # 26-connectivity
    pl, n_p = ndimage.label(pred == 2, structure=structure)
    tl, n_t = ndimage.label(truth == 2, structure=structure)
    both = (pl > 0) & (tl > 0)
    pairs = np.unique(np.stack([pl[both], tl[both]], axis=1), axis=0)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0] - 1, n_p + pairs[:, 1] - 1)), shape=(n_p + n_t,) * 2)
    _, group = connected_components(graph, directed=False)
    tp = fp = fn = 0
    for g in np.unique(group):
        preds = [i + 1 for i in range(n_p) if group[i] == g]
        truths = [j + 1 for j in range(n_t) if group[n_p + j] == g]
        if preds and truths:
            pu, tu = np.isin(pl, preds), np.isin(tl, truths)
            iou = np.sum(pu & tu) / np.sum(pu | tu)
            if iou >= 0.30:
                tp += 1
                continue
        fp += len(preds)
        fn += len(truths)
    out.update(GTVn_tp=tp, GTVn_fp=fp, GTVn_fn=fn)
    return out


# ----------------------------------------------------------------------------- benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 200), metavar=("X", "Y", "Z"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--e2e-cases", type=int, default=12, help="extra copies of the cases for the end-to-end run")
    parser.add_argument("--keep", type=Path, default=None, help="write the data here and keep it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_eval_"))
    shape_zyx = (args.size[2], args.size[1], args.size[0])
    rng = np.random.default_rng(args.seed)
    print(f"generating {args.cases} cases of {args.size[0]}x{args.size[1]}x{args.size[2]} voxels in {root} ...")
    gt_dir, staging, jobs = root / "gt", root / "staging", []
    for k in range(args.cases):
        pid = f"CHUM-{k + 1:03d}"
        truth, pred = make_pair(rng, shape_zyx)
        (gt_dir / "labels").mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(to_image(truth), str(gt_dir / "labels" / f"{pid}.mha"), useCompression=True)
        out = staging / pid / interface.SEGMENTATION.relative_path
        out.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(to_image(pred), str(out / interface.SEGMENTATION_FILENAME), useCompression=True)
        jobs.append(JobSpec(pid, staging / pid))
    # End-to-end tree: the generated cases repeated under new patient IDs, so pool start-up is amortised.
    e2e_jobs = []
    for k in range(max(args.e2e_cases, 1)):
        source = jobs[k % len(jobs)].patient_id
        pid = f"CHUS-{k + 1:03d}"
        shutil.copyfile(gt_dir / "labels" / f"{source}.mha", gt_dir / "labels" / f"{pid}.mha")
        e2e_jobs.append(JobSpec(pid, staging / source))
    write_predictions_tree(root / "input", [*jobs, *e2e_jobs], task=1)
    conventions = Conventions()

    print()
    header = f"{'case':<9}{'read s':>8}{'score s':>9}{'score/read':>11}{'ref score s':>12}{'speed-up':>9}  check"
    print(header)
    print("-" * len(header))
    totals = np.zeros(3)
    for job in jobs:
        pid = job.patient_id
        pred_path = next((staging / pid / interface.SEGMENTATION.relative_path).iterdir())
        truth_path = gt_dir / "labels" / f"{pid}.mha"
        case = SegmentationCase(pid, None, "ok", pred_path, truth_path, conventions)
        ours = score_segmentation_case(case)
        pred_image, truth_image = sitk.ReadImage(str(pred_path)), sitk.ReadImage(str(truth_path))
        start = time.perf_counter()
        ref = reference_task1(pred_image, truth_image)
        ref_s = time.perf_counter() - start
        same = (
            abs(ours.overlaps[1].dice - ref["GTVp_dice"]) < 1e-9
            and abs(ours.overlaps[2].dice - ref["GTVn_dice"]) < 1e-9
            and ours.overlaps[2].intersection_mm3 == ref["GTVn_intersection_mm3"]
            and (ours.detection.tp, ours.detection.fp, ours.detection.fn)
            == (ref["GTVn_tp"], ref["GTVn_fp"], ref["GTVn_fn"])
        )
        totals += (ours.read_s, ours.score_s, ref_s)
        d = ours.detection
        print(
            f"{pid:<9}{ours.read_s:>8.2f}{ours.score_s:>9.3f}{ours.score_s / ours.read_s:>11.2f}{ref_s:>12.2f}"
            f"{ref_s / ours.score_s:>8.1f}x  {'same' if same else 'DIFFERENT'} "
            f"(GTVp Dice {ours.overlaps[1].dice:.3f}, GTVn TP/FP/FN {d.tp}/{d.fp}/{d.fn})"
        )
    n = len(jobs)
    print("-" * len(header))
    print(
        f"{'mean':<9}{totals[0] / n:>8.2f}{totals[1] / n:>9.3f}{totals[1] / totals[0]:>11.2f}"
        f"{totals[2] / n:>12.2f}{totals[2] / totals[1]:>8.1f}x"
    )

    print()
    n_e2e = n + len(e2e_jobs)
    print(f"{f'end to end, {n_e2e} cases':<24}{'wall s':>8}{'cases/s':>9}")
    for workers in (1, 2):
        start = time.perf_counter()
        evaluate(
            RunOptions(root / "input", gt_dir, root / f"out{workers}", workers=workers),
            Conventions(bootstrap_resamples=0),
        )
        wall = time.perf_counter() - start
        print(f"{f'{workers} worker(s)':<24}{wall:>8.2f}{n_e2e / wall:>9.2f}")
    print(f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}: parallel gains need idle cores)")
    same = (root / "out1" / "metrics.json").read_bytes() == (root / "out2" / "metrics.json").read_bytes()
    print(f"metrics.json identical with 1 and 2 workers: {same}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
