"""``python -m algorithm train segmentation``: train the Task 1 segmentation model from the organisers' data.

Example (real data on a GPU, the 1 mm recipe, all five folds)::

    python -m algorithm train segmentation --data "/data/HECKTOR 2025" --out runs/seg \
        --config algorithm/segmentation/configs/hecktor_1mm_segresnet.json --folds 0 1 2 3 4

Multi-GPU (or several CPU processes): the same command under ``torchrun --nproc-per-node N -m algorithm
train segmentation ...`` trains with DDP (:mod:`algorithm.training.seg_distributed`).

Steps: find the cases (``Task 1/<PID>/<PID>__CT.nii.gz``, ``__PT.nii.gz``, ``<PID>.nii.gz``) -> split
them into folds (``splits.json``; ``--split stratified``: every fold holds a share of every centre,
``--split centre``: whole centres per fold, leave-centre-out) -> preprocess each case once into ``--cache`` with
the inference preprocessing -> train each requested fold (:mod:`algorithm.training.seg_loop`) -> write
``config.json`` (the training block filled in) next to ``fold_<k>.pt``, and each held-out case's predicted
mask (CT grid) to ``oof/<PID>.nii.gz`` (:mod:`algorithm.training.seg_oof`), so ``--out`` is a model folder
that :meth:`algorithm.segmentation.Segmenter.load` accepts. ``--resume`` continues from the last
finished epoch of each fold. Summary figures go to ``training_summary.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch

from algorithm.segmentation.config import FOLD_FILENAME, ModelError, SegmentationConfig, write_descriptor
from algorithm.segmentation.device import resolve_device
from algorithm.segmentation.locate_net import NetworkLocator
from algorithm.segmentation.nnunet.folder import is_nnunet_model_dir
from algorithm.training import seg_distributed
from algorithm.training.recipes import RECIPE_DIRS, load_recipe, resolve_recipe
from algorithm.training.seg_data import build_cache, find_cases, load_cached, split_folds
from algorithm.training.seg_loop import SPLITS, TrainSettings, train_fold
from algorithm.training.seg_oof import write_oof_masks
from hecktor.errors import HecktorError
from hecktor.patients import centre_of
from hecktor.progress import setup_logging

log = logging.getLogger(__name__)

CONFIG_DIR = RECIPE_DIRS[1]
#: Default recipe: the real-data 1 mm SegResNet (meant for a GPU).
DEFAULT_CONFIG = CONFIG_DIR / "hecktor_1mm_segresnet.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segmentation`` training subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "segmentation",
        help="train the Task 1 tumour / lymph-node segmentation model",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--data", type=Path, required=True, help="dataset root or its 'Task 1' folder")
    p.add_argument(
        "--out", "--output", type=Path, required=True, help="model folder to write (config.json, fold_<k>.pt)"
    )
    p.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help='segmentation recipe: a JSON path (it may "extends" another), or the name of a bundled one in'
        " algorithm/segmentation/configs"
        " (e.g. paper_swinunetr_1mm, sjtu_coarse_to_fine/locator) (default: %(default)s)",
    )
    p.add_argument(
        "--locator",
        type=Path,
        default=None,
        help="trained locator folder, for a config with locate.method 'network' or 'nnunet' (crops training cases"
        " like inference): a kit locator folder, or an nnU-Net folder (train segmentation --backend nnunet --target"
        " region)",
    )
    p.add_argument("--cache", type=Path, default=None, help="preprocessing cache folder (default: OUT/cache)")
    p.add_argument(
        "--folds",
        type=_fold_or_all,
        nargs="+",
        default=None,
        metavar="K",
        help="fold indices to train, e.g. 0 1 2, or 'all' (default: the config's \"folds\", else all)",
    )
    p.add_argument("--n-folds", type=int, default=None, help="number of folds (default: the config's, else 5)")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="folds: 'stratified' (each fold a share of every centre) or 'centre' (whole centres per fold,"
        " leave-centre-out, as the unseen-centre test set) (default: the config's, else stratified)",
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs per fold (default: the config's)")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="training steps per epoch (default: the config's)")
    p.add_argument("--batch-size", type=int, default=None, help="patches per step (default: the config's)")
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (default: the config's)")
    p.add_argument("--seed", type=int, default=None, help="random seed of folds and sampling (default: the config's)")
    p.add_argument("--resume", action="store_true", help="continue each fold from its last checkpoint")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="model folder whose fold_<k>.pt each fold starts from (fine-tuning; same config required)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument(
        "--workers", type=int, default=None, help="data-loader workers per process (default: the config's, else auto)"
    )
    p.add_argument("--compile", action="store_true", default=None, help="compile the network with torch.compile")
    p.add_argument(
        "--backend",
        choices=["monai", "nnunet"],
        default="monai",
        help="monai: the kit's trainer (default); nnunet: nnU-Net v2's planning, preprocessing and training",
    )
    from algorithm.training.nnunet import add_arguments as add_nnunet_arguments  # (issue 15)

    add_nnunet_arguments(p)
    p.set_defaults(func=run)


def _fold_or_all(text: str) -> int | str:
    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fold index or 'all', got {text!r}") from None


def folds_to_train(requested: list[int | str] | None, config_path: Path, n_folds: int) -> list[int]:
    """The folds to train: ``--folds`` when given ('all' = every fold), else the config file's ``"folds"``
    when it states them, else every fold (0 .. n_folds - 1).

    Raises:
        HecktorError: a fold is out of range.
    """
    if requested is not None and "all" not in requested:
        wanted, source = [int(k) for k in requested], "--folds"
    elif requested is None and "folds" in load_recipe(config_path, 1):
        stated = [int(k) for k in load_recipe(config_path, 1)["folds"]]
        wanted, source = [k for k in stated if 0 <= k < n_folds], f'the config\'s "folds" ({config_path.name})'
        wanted = wanted or list(range(n_folds))
        if len(wanted) < len(stated):  # e.g. --n-folds 3 with a config naming folds 0-4: its folds that exist
            log.info("the config names folds %s; with %d folds, training %s", stated, n_folds, wanted)
    else:
        wanted, source = list(range(n_folds)), "all folds"
    bad = [k for k in wanted if not 0 <= k < n_folds]
    if bad:
        raise HecktorError(f"folds {bad} (from {source}) out of range 0..{n_folds - 1}")
    log.info("training fold(s) %s of %d (%s)", ", ".join(map(str, wanted)), n_folds, source)
    return wanted


def settings_from(config: SegmentationConfig, args: argparse.Namespace) -> TrainSettings:
    """The config's training block with the CLI's overrides applied."""
    settings = TrainSettings.from_dict(dict(config.training))
    overrides = {
        "epochs": args.epochs,
        "steps_per_epoch": args.steps_per_epoch,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "seed": args.seed,
        "n_folds": args.n_folds,
        "split": getattr(args, "split", None),
        "num_workers": getattr(args, "workers", None),
        "compile": getattr(args, "compile", None),
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    settings.check()
    return settings


def resolve_config(name: str | Path) -> Path:
    """A segmentation recipe from a path, or from the name of a bundled one (``configs/<name>[.json]``).

    Raises:
        RecipeError: neither exists (the bundled names are listed).
    """
    return resolve_recipe(name, 1)


def load_config(path: Path) -> SegmentationConfig:
    """The segmentation config of the recipe in ``path`` (its ``extends`` chain resolved).

    Raises:
        RecipeError, ModelError: the recipe or a value in it is unusable (one line naming the file).
    """
    try:
        return SegmentationConfig.from_dict(load_recipe(path, 1))
    except (TypeError, ModelError) as exc:
        raise ModelError(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Train the requested folds; 0 on success, 2 on unusable data or config (one-line reason logged)."""
    try:
        if args.backend == "nnunet":  # (issue 15)
            from algorithm.training.nnunet import train as train_nnunet

            return train_nnunet(args)
        return _train(args)
    except HecktorError as exc:
        log.error("training failed: %s", exc)
        return 2


def _train(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    config_path = resolve_config(args.config)
    config = load_config(config_path)
    if config.members:
        raise HecktorError(
            "this config describes an ensemble: train each member config (and the locator) on its own, then"
            " assemble the model folder (config.json, members/<name>/, locator/)"
        )
    settings = settings_from(config, args)
    place, device = seg_distributed.start(resolve_device(args.device))
    try:
        return _train_folds(args, config_path, config, settings, place, device, started)
    finally:
        seg_distributed.stop(place)


def _train_folds(
    args: argparse.Namespace,
    config_path: Path,
    config: SegmentationConfig,
    settings: TrainSettings,
    place: seg_distributed.Dist,
    device: torch.device,
    started: float,
) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache or out / "cache"
    log.info("training segmentation (%s) on %s, output %s, cache %s", config.architecture, device, out, cache_dir)

    cases = find_cases(args.data)
    folds_of = split_folds([c.patient_id for c in cases], settings.n_folds, settings.seed, settings.split)
    log.info("%s folds: %s", settings.split, _fold_sizes(folds_of, settings.n_folds))
    if place.is_main:
        (out / "splits.json").write_text(json.dumps(folds_of, indent=2, sort_keys=True) + "\n")
    wanted = folds_to_train(args.folds, config_path, settings.n_folds)

    locator = None
    if config.locate.method in ("network", "nnunet"):
        if args.locator is None:
            log.warning(
                "locate.method is %r but no --locator given: training crops use the PET heuristic",
                config.locate.method,
            )
        elif is_nnunet_model_dir(args.locator):  # the nnU-Net head locator (SJTU recipe), e.g. for the SegResNet
            from algorithm.segmentation.nnunet.locate import NnUNetLocator

            locator = NnUNetLocator.load(args.locator, device)
        else:
            locator = NetworkLocator.load(args.locator, device)
    if place.is_main:  # one process preprocesses; the others then read the cache it wrote
        build_cache(cases, config, cache_dir, locator)
    place.barrier()
    paths = build_cache(cases, config, cache_dir, locator)
    cached = {pid: load_cached(pid, path) for pid, path in paths.items()}
    config.training = dataclasses.asdict(settings)
    summaries: list[dict[str, Any]] = []
    for fold in wanted:
        train = [c for pid, c in cached.items() if folds_of[pid] != fold]
        val = [c for pid, c in cached.items() if folds_of[pid] == fold]
        if not train:
            raise HecktorError(f"fold {fold} has no training case ({len(cases)} cases in all)")
        log.info("fold %d: %d training, %d held-out cases", fold, len(train), len(val))
        init = None if args.init is None else args.init / FOLD_FILENAME.format(fold=fold)
        if init is not None and not init.is_file():
            raise HecktorError(f"{init}: no weights to start fold {fold} from (--init)")
        summaries.append(
            train_fold(
                fold, train, val, config, settings, out, device, resume=args.resume, init_weights=init, place=place
            )
        )
        if place.is_main:
            _write_config(config, out)
            held_out = [c for c in cases if folds_of[c.patient_id] == fold]
            write_oof_masks(fold, held_out, config, out, device, locator)
        place.barrier()
    summary = {
        "folds": summaries,
        "cases": len(cases),
        "device": str(device),
        "processes": place.world_size,
        "split": settings.split,
        "elapsed_s": time.perf_counter() - started,
    }
    if place.is_main:
        (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("training done in %.0f s; model folder %s", summary["elapsed_s"], out)
    return 0


def _fold_sizes(folds_of: dict[str, int], n_folds: int) -> str:
    """``"fold 0: 12 cases (CHUM, MDA); ..."``: each fold's size and centres."""
    parts = []
    for k in range(n_folds):
        members = [pid for pid, f in folds_of.items() if f == k]
        centres = sorted({centre_of(pid) for pid in members})
        parts.append(f"fold {k}: {len(members)} cases ({', '.join(centres)})")
    return "; ".join(parts)


def _write_config(config: SegmentationConfig, out: Path) -> None:
    """``config.json`` listing every fold whose weights are in ``out``, and the folder's ``model.json``."""
    config.folds = sorted(k for k in range(100) if (out / FOLD_FILENAME.format(fold=k)).is_file())
    config.save(out)
    write_descriptor(out, config.folds)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m algorithm.training.segmentation --data ... --out ...``."""
    parser = argparse.ArgumentParser(prog="python -m algorithm.training.segmentation")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["segmentation", *(sys.argv[1:] if argv is None else argv)])
    setup_logging()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
