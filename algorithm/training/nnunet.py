"""``python -m algorithm train segmentation --backend nnunet``: nnU-Net v2 trained from the organisers' layout.

Steps (all under ``--out``):
1. ``nnUNet_raw/Dataset<ID>_HECKTOR/``: each case of the organisers' layout (found as the MONAI trainer finds them),
   harmonised like inference's inputs (PET units to SUV, CT offset), cut by the kit's head crop to the block of CT
   voxels that covers the head-and-neck box (:mod:`algorithm.segmentation.nnunet.block`), the PET resampled onto
   that block: every channel on one grid, as nnU-Net requires (HECKTOR's own PET/CT grids fail its geometry
   checks otherwise, nnU-Net issue #1267). Channels ``CT``, ``PET`` (or the SJTU set ``CT CT^2 cbrt(CT) PET``).
2. nnU-Net's own fingerprint extraction, planning (``--plans``: ``nnUNetPlans``, ``nnUNetResEncUNetMPlans``,
   ``nnUNetResEncUNetLPlans``) and ``3d_fullres`` preprocessing into ``nnUNet_preprocessed``; ``splits_final.json``
   with folds grouped by centre (a fold's validation cases come from centres its training never saw).
3. nnU-Net's trainer for each ``--folds`` fold, then its final validation, into ``nnUNet_results``.
4. ``OUT/segmentation/``: the trained-model folder's inference files (``dataset.json``, ``plans.json``,
   ``fold_<k>/checkpoint_final.pth``) plus the kit's ``config.json`` with the crop used here, so
   ``python -m algorithm run --model-dir OUT --tasks 1`` runs it.

nnU-Net reads its three folders from the environment at import time: this module sets them before it imports
nnU-Net, so it runs in its own process (the command line does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from algorithm.intensity import harmonise_training_pair
from algorithm.segmentation.nnunet.block import cut_case, cut_label
from algorithm.segmentation.nnunet.channels import stack_input
from algorithm.segmentation.nnunet.options import NnUNetOptions
from algorithm.segmentation.preprocess import region_target
from algorithm.training.seg_data import TrainingCase, find_cases
from hecktor.errors import HecktorError, InputError
from hecktor.imageio import read_image
from hecktor.patients import centre_of
from hecktor.progress import progress

log = logging.getLogger(__name__)

PLANNERS = {
    "nnUNetPlans": "ExperimentPlanner",
    "nnUNetResEncUNetMPlans": "nnUNetPlannerResEncM",
    "nnUNetResEncUNetLPlans": "nnUNetPlannerResEncL",
}
CHANNEL_SETS = {"ct-pet": ("CT", "PET"), "sjtu": ("CT", "CT^2", "cbrt(CT)", "PET"), "ct": ("CT",)}
LABELS = {"background": 0, "GTVp": 1, "GTVn": 2}
#: Labels of ``--target region`` (the nnU-Net head locator): the dilated union of GTVp and GTVn.
REGION_LABELS = {"background": 0, "region": 1}
CONFIGURATION = "3d_fullres"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the nnU-Net backend (beside the MONAI trainer's --data/--out/--folds/--device/--threads)."""
    g = p.add_argument_group("nnU-Net backend (--backend nnunet)")
    g.add_argument(
        "--plans", choices=sorted(PLANNERS), default="nnUNetPlans", help="nnU-Net planner (default %(default)s)"
    )
    g.add_argument("--trainer", default="nnUNetTrainer", help="nnU-Net trainer class (default %(default)s)")
    g.add_argument(
        "--channels",
        choices=sorted(CHANNEL_SETS),
        default="ct-pet",
        help="input channels (sjtu: CT, CT^2, cbrt(CT), PET; ct: CT alone, for the locator)",
    )
    g.add_argument(
        "--target",
        choices=["labels", "region"],
        default="labels",
        help="labels: GTVp/GTVn (default); region: the nnU-Net head locator's target, the union of GTVp and GTVn"
        " dilated by --target-dilation-mm, on the whole-scan box of --crop-size-mm hanging from the top of the CT"
        " (no PET heuristic); its OUT/segmentation is the locator/ of an ensemble with locate.method 'nnunet'",
    )
    g.add_argument(
        "--target-dilation-mm",
        type=float,
        default=20.0,
        help="dilation of the lesion union for --target region, mm (default %(default)s, as the MONAI locator's)",
    )
    g.add_argument(
        "--spacing-mm",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="override the plans' 3d_fullres spacing before preprocessing (mm, x y z), e.g. 2 2 3 for a coarse locator",
    )
    g.add_argument("--dataset-id", type=int, default=501, help="nnU-Net dataset number (default %(default)s)")
    g.add_argument(
        "--crop-size-mm",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="head crop box (default the kit's 200 200 310)",
    )
    g.add_argument(
        "--patch-size",
        type=int,
        nargs=3,
        default=None,
        metavar=("Z", "Y", "X"),
        help="override the plans' 3d_fullres patch (voxels, nnU-Net's z y x order; each divisible by the network's"
        " total downsampling); for smoke runs",
    )
    g.add_argument(
        "--base-features",
        type=int,
        default=None,
        help="override the plans' features per stage: BASE x 2^stage (capped at the plans' maximum); for smoke runs",
    )
    g.add_argument("--processes", type=int, default=2, help="processes for nnU-Net's planning and preprocessing")
    g.add_argument("--no-validation", action="store_true", help="skip nnU-Net's final validation of each fold")


def centre_grouped_folds(patient_ids: list[str], n_folds: int) -> list[dict[str, list[str]]]:
    """nnU-Net splits (``[{"train": [...], "val": [...]}, ...]``) with every centre wholly inside one fold.

    Centres are dealt largest first to the fold with the fewest cases so far (ties: the lower fold).

    Raises:
        HecktorError: fewer centres than folds.
    """
    by_centre: dict[str, list[str]] = {}
    for pid in sorted(patient_ids):
        by_centre.setdefault(centre_of(pid), []).append(pid)
    if len(by_centre) < n_folds:
        raise HecktorError(
            f"{len(by_centre)} centre(s) ({', '.join(sorted(by_centre))}) cannot fill {n_folds} "
            "centre-grouped folds: use --n-folds " + str(max(len(by_centre), 1))
        )
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for centre in sorted(by_centre, key=lambda c: (-len(by_centre[c]), c)):
        min(folds, key=len).extend(by_centre[centre])
    everyone = sorted(patient_ids)
    return [{"train": [p for p in everyone if p not in set(f)], "val": sorted(f)} for f in folds]


def write_raw_case(
    case: TrainingCase,
    options: NnUNetOptions,
    channels: tuple[str, ...],
    raw: Path,
    region_dilation_mm: float | None = None,
) -> None:
    """One case of the organisers' layout as nnU-Net raw images (``<PID>_000c.nii.gz``) and label.

    ``region_dilation_mm``: write the locator's target instead of the labels, the union of GTVp and GTVn dilated
    by that many mm (0/1; :func:`algorithm.segmentation.preprocess.region_target`).
    """
    ct = read_image(case.ct, "CT")
    pet = read_image(case.pet, "PET")
    label = read_image(case.label, "label")
    truth = sitk.GetArrayViewFromImage(label)
    if truth.min() < 0 or truth.max() > 2:
        raise InputError(case.label, f"label values outside {{0, 1, 2}} (range {truth.min()}..{truth.max()})")
    if label.GetSize() != ct.GetSize():
        raise InputError(case.label, f"label size {label.GetSize()} differs from the CT's {ct.GetSize()}")
    ct, pet = harmonise_training_pair(ct, pet, case.patient_id)
    block = cut_case(ct, pet, options)
    if block.region.is_empty:
        raise InputError(case.ct, "the head-and-neck box misses the CT")
    cut = cut_label(label, block)
    kept = int(np.count_nonzero(sitk.GetArrayViewFromImage(cut)))
    total = int(np.count_nonzero(truth))
    if total and kept < 0.95 * total:
        log.warning("%s: the crop holds only %.0f%% of the lesion voxels", case.patient_id, 100 * kept / total)
    image = stack_input(channels, sitk.GetArrayViewFromImage(block.ct), sitk.GetArrayViewFromImage(block.pet))
    for c in range(image.shape[0]):
        out = sitk.GetImageFromArray(image[c])
        out.CopyInformation(block.ct)
        sitk.WriteImage(out, str(raw / "imagesTr" / f"{case.patient_id}_{c:04d}.nii.gz"), useCompression=True)
    cut = sitk.Cast(cut, sitk.sitkUInt8)
    if region_dilation_mm is not None:
        spacing_zyx = tuple(float(v) for v in block.ct.GetSpacing()[::-1])
        region = region_target(sitk.GetArrayViewFromImage(cut), spacing_zyx, region_dilation_mm)
        cut = sitk.GetImageFromArray(region)
    cut.CopyInformation(block.ct)
    sitk.WriteImage(cut, str(raw / "labelsTr" / f"{case.patient_id}.nii.gz"), useCompression=True)


def train(args: argparse.Namespace) -> int:
    """The steps of the module docstring; 0 on success."""
    started = time.perf_counter()
    out: Path = args.out.resolve()
    roots = {name: out / name for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    for name, path in roots.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(path)
    if args.threads:
        os.environ.setdefault("nnUNet_def_n_proc", str(args.threads))
    dataset = f"Dataset{args.dataset_id:03d}_HECKTOR"
    channels = CHANNEL_SETS[args.channels]
    region = getattr(args, "target", "labels") == "region"
    options = NnUNetOptions(
        **({"crop_size_mm": list(args.crop_size_mm)} if args.crop_size_mm else {}),
        **({"locate": {"method": "whole-scan"}} if region else {}),
    )
    n_folds = args.n_folds or 5

    cases = find_cases(args.data)
    splits = centre_grouped_folds([c.patient_id for c in cases], n_folds)
    folds = list(range(n_folds)) if args.folds is None or "all" in args.folds else [int(k) for k in args.folds]
    if any(not 0 <= k < n_folds for k in folds):
        raise HecktorError(f"folds {folds} out of range 0..{n_folds - 1}")

    raw = roots["nnUNet_raw"] / dataset
    for sub in ("imagesTr", "labelsTr"):
        (raw / sub).mkdir(parents=True, exist_ok=True)
    for case in progress(cases, "nnU-Net raw dataset", log):
        write_raw_case(case, options, channels, raw, args.target_dilation_mm if region else None)
    dataset_json = {
        "channel_names": {str(i): name for i, name in enumerate(channels)},
        "labels": REGION_LABELS if region else LABELS,
        "numTraining": len(cases),
        "file_ending": ".nii.gz",
        "name": dataset,
        "description": (
            f"HECKTOR Task 1 head locator, written by the HECKTOR kit: whole-scan box, GTVp+GTVn union dilated by"
            f" {args.target_dilation_mm:g} mm"
            if region
            else "HECKTOR Task 1, written by the HECKTOR kit: kit head crop, PET resampled onto the CT block"
        ),
    }
    (raw / "dataset.json").write_text(json.dumps(dataset_json, indent=2) + "\n")

    import torch
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess
    from nnunetv2.run.run_training import maybe_load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    extract_fingerprints([args.dataset_id], num_processes=args.processes, check_dataset_integrity=True, clean=True)
    with _planning_threads():
        plans_name = plan_experiments([args.dataset_id], PLANNERS[args.plans])
    if getattr(args, "spacing_mm", None):
        override_spacing(roots["nnUNet_preprocessed"] / dataset / f"{plans_name}.json", args.spacing_mm)
    preprocess([args.dataset_id], plans_name, configurations=(CONFIGURATION,), num_processes=(args.processes,))
    preprocessed = roots["nnUNet_preprocessed"] / dataset
    if args.patch_size or args.base_features:
        override_plans(preprocessed / f"{plans_name}.json", args.patch_size, args.base_features)
    (preprocessed / "splits_final.json").write_text(json.dumps(splits, indent=1) + "\n")
    plans = json.loads((preprocessed / f"{plans_name}.json").read_text())
    cfg = plans["configurations"][CONFIGURATION]
    log.info(
        "nnU-Net planned and preprocessed in %.0f s: %s %s, patch %s at %s mm, batch %s, %d centre-grouped folds",
        time.perf_counter() - t0,
        plans_name,
        CONFIGURATION,
        cfg["patch_size"],
        cfg["spacing"],
        cfg["batch_size"],
        n_folds,
    )

    trainer_class = _trainer(args.trainer)
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    if args.device.startswith("cuda:") and torch.cuda.is_available():
        device = torch.device(args.device)
    model_dir: Path | None = None
    for k, fold in enumerate(folds, 1):
        t0 = time.perf_counter()
        log.info(
            "nnU-Net fold %d (%d of %d): %d training, %d validation cases",
            fold,
            k,
            len(folds),
            len(splits[fold]["train"]),
            len(splits[fold]["val"]),
        )
        fold_plans = json.loads((preprocessed / f"{plans_name}.json").read_text())  # the trainer pops keys of it
        fold_plans["continue_training"] = bool(args.resume)  # as nnU-Net's run_training passes it
        trainer = trainer_class(
            plans=fold_plans,
            configuration=CONFIGURATION,
            fold=fold,
            dataset_json=json.loads((preprocessed / "dataset.json").read_text()),
            device=device,
        )
        if args.resume:
            maybe_load_checkpoint(trainer, True, False, None)  # nnU-Net's own resume (checkpoint_latest/final)
        trainer.run_training()
        if not args.no_validation:
            trainer.perform_actual_validation(False)
        model_dir = Path(trainer.output_folder_base)
        log.info("nnU-Net fold %d done in %.0f s", fold, time.perf_counter() - t0)
    assert model_dir is not None
    target = export_model(model_dir, out / "segmentation", options)
    log.info(
        "nnU-Net training done in %.0f s; trained-model folder %s, kit model folder %s (--model-dir %s)",
        time.perf_counter() - started,
        model_dir,
        target,
        out,
    )
    return 0


def override_spacing(path: Path, spacing_mm: list[float]) -> None:
    """Set the ``3d_fullres`` target spacing (``spacing_mm`` x, y, z; nnU-Net stores z, y, x) before preprocessing."""
    plans = json.loads(path.read_text())
    cfg = plans["configurations"][CONFIGURATION]
    cfg["spacing"] = [float(v) for v in spacing_mm[::-1]]
    log.info("plans overridden (%s): spacing %s mm (z, y, x)", path.name, cfg["spacing"])
    path.write_text(json.dumps(plans, indent=1) + "\n")


def override_plans(path: Path, patch_size: list[int] | None, base_features: int | None) -> None:
    """Rewrite the ``3d_fullres`` patch size and/or features per stage in nnU-Net's plans file (logged).

    The trained-model folder's ``plans.json`` then describes the network as trained, so any nnU-Net inference
    (the kit's, ``nnUNetv2_predict``) rebuilds it.

    Raises:
        HecktorError: a patch side not divisible by the network's total downsampling on that axis.
    """
    plans = json.loads(path.read_text())
    cfg = plans["configurations"][CONFIGURATION]
    kwargs = cfg["architecture"]["arch_kwargs"]
    if patch_size:
        total = np.prod(np.asarray(kwargs["strides"], dtype=int), axis=0)
        if any(int(p) % int(t) for p, t in zip(patch_size, total, strict=True)):
            raise HecktorError(f"--patch-size {patch_size} must be divisible by {total.tolist()} (the plans' strides)")
        cfg["patch_size"] = [int(p) for p in patch_size]
    if base_features:
        cap = max(kwargs["features_per_stage"])
        kwargs["features_per_stage"] = [min(base_features * 2**i, cap) for i in range(kwargs["n_stages"])]
    log.info(
        "plans overridden (%s): patch %s, features per stage %s",
        path.name,
        cfg["patch_size"],
        kwargs["features_per_stage"],
    )
    path.write_text(json.dumps(plans, indent=1) + "\n")


@contextlib.contextmanager
def _planning_threads() -> Iterator[None]:
    """nnU-Net's planner calls ``torch.set_num_threads(nnUNet_n_proc_DA)``, which fails for 0 (in-process
    augmentation, what a CPU run wants): the planner sees 1 meanwhile."""
    saved = os.environ.get("nnUNet_n_proc_DA")  # noqa: SIM112 (nnU-Net spells it so)
    if saved is not None and saved.strip() == "0":
        os.environ["nnUNet_n_proc_DA"] = "1"  # noqa: SIM112
    try:
        yield
    finally:
        if saved is not None:
            os.environ["nnUNet_n_proc_DA"] = saved  # noqa: SIM112


def _trainer(name: str) -> type:
    from algorithm.training.nnunet_trainers import find_trainer_class

    found = find_trainer_class(name)
    if found is None:
        raise HecktorError(f"nnU-Net trainer {name!r} not found (nnU-Net's own, nnUNet_extTrainer's or the kit's)")
    return found


def export_model(model_dir: Path, target: Path, options: NnUNetOptions) -> Path:
    """Copy the inference files of an nnU-Net trained-model folder to ``target`` with the kit's ``config.json``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ("dataset.json", "plans.json", "dataset_fingerprint.json"):
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, target / name)
    for fold in sorted(model_dir.glob("fold_*")):
        checkpoint = next(
            (fold / n for n in ("checkpoint_final.pth", "checkpoint_best.pth") if (fold / n).is_file()), None
        )
        if checkpoint is not None:
            (target / fold.name).mkdir()
            shutil.copy2(checkpoint, target / fold.name / checkpoint.name)
    config = {
        "crop": options.crop,
        "crop_size_mm": options.crop_size_mm,
        **({"locate": {"method": options.locate.method}} if options.locate.method == "whole-scan" else {}),
        "description": f"trained by the HECKTOR kit from {model_dir.name}",
    }
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return target
