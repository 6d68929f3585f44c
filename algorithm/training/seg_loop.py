"""One fold of segmentation training: patches -> augmentation -> DiceCE loss -> AdamW, poly decay -> validation.

Each epoch runs ``steps_per_epoch`` steps of ``batch_size`` class-balanced patches
(:mod:`algorithm.training.seg_sampling`) streamed by a ``DataLoader`` with workers
(:mod:`algorithm.training.seg_loader`) and augmented like nnU-Net (:mod:`algorithm.training.seg_augment`),
then (every ``val_every`` epochs) predicts the fold's held-out cases with the inference code itself
(:func:`algorithm.segmentation.infer.predict_probabilities`, post-processed like inference) and scores
GTVp mean Dice, GTVn aggregated Dice and GTVn F1 (IoU > 0.3) on the crop grid with the evaluation's
functions (:mod:`algorithm.training.seg_metrics`). Under torchrun the network is wrapped in
``DistributedDataParallel`` (:mod:`algorithm.training.seg_distributed`); AMP (float16) on CUDA;
``"compile": true`` compiles the training forward with ``torch.compile``.

Files in the output folder, per fold ``k``:

* ``checkpoints/fold_k_last.pt``: everything needed to ``--resume`` (weights, optimiser, step, RNG
  states, best score), written after every epoch;
* ``fold_k.pt``: the weights (``state_dict``) with the best validation score (the ``selection_weights``
  weighted mean of the three figures), or of the last epoch when the fold has no held-out case;
* ``training_log.csv``: one row per epoch (loss, validation figures and score, learning rate, seconds,
  seconds spent waiting for the data loader; on CUDA the GPU-busy share of the epoch and NVML's utilisation,
  :mod:`algorithm.training.gpu_busy`).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss

from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.infer import predict_probabilities
from algorithm.segmentation.network import build_network, fold_path, state_dict_cpu
from algorithm.segmentation.normalise import stack_channels
from algorithm.segmentation.postprocess import argmax_labels, remove_small_components
from algorithm.segmentation.preprocess import CT_OUTSIDE_HU
from algorithm.training.gpu_busy import GpuBusy, busy_percent, nvml_utilisation_pct
from algorithm.training.seg_augment import augment_batch, build_augmentation, resolve_settings
from algorithm.training.seg_data import CachedCase
from algorithm.training.seg_distributed import Dist
from algorithm.training.seg_loader import PatchStream, default_workers, make_loader, stream_seed
from algorithm.training.seg_metrics import case_score, selection_score, summarise
from algorithm.training.seg_sampling import PatchSampler
from hecktor.errors import HecktorError
from hecktor.progress import progress

log = logging.getLogger(__name__)

LOG_FIELDS = (
    "fold",
    "epoch",
    "steps",
    "train_loss",
    "val_gtvp_mean_dice",
    "val_gtvn_aggregated_dice",
    "val_gtvn_aggregated_f1",
    "val_score",
    "learning_rate",
    "epoch_s",
    "data_wait_s",
    "elapsed_s",
    "gpu_busy_pct",
    "gpu_util_pct",
)
SPLITS = ("stratified", "centre")
AUGMENT_ON = ("auto", "loader", "device")
#: The "worker" number of the seed of on-device augmentation (loader workers are 0, 1, ...).
DEVICE_STREAM = 2**16 - 1


@dataclass
class TrainSettings:
    """Training hyper-parameters (the ``training`` block of the config; CLI flags override them).

    Attributes:
        epochs: number of epochs.
        steps_per_epoch: optimiser steps per epoch.
        batch_size: patches per step.
        learning_rate: initial AdamW learning rate, decayed as (1 - step / total) ** 0.9.
        weight_decay: AdamW weight decay.
        class_ratios: relative frequency of patches centred on background, GTVp, GTVn.
        val_every: validate every this many epochs (and after the last).
        n_folds: number of folds.
        seed: base seed (fold k uses seed + k).
        split: ``"stratified"`` (every fold holds a share of every centre) or ``"centre"`` (leave-centre-out:
            each fold holds whole centres, as the test set's unseen centres).
        selection_weights: weights of GTVp mean Dice, GTVn aggregated Dice and GTVn F1 in the validation
            score that picks the best checkpoint (equal: the ranking counts each once).
        augmentation: the augmentation block (:mod:`algorithm.training.seg_augment`; {} = nnU-Net-level defaults).
        augment_on: ``"loader"`` (CPU workers), ``"device"`` (on the GPU batch) or ``"auto"`` (device on CUDA).
        num_workers: data-loader worker processes per training process (-1: cores per process - 1, at most 8).
        compile: compile the training forward with ``torch.compile``.
    """

    epochs: int = 100
    steps_per_epoch: int = 250
    batch_size: int = 2
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    class_ratios: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    val_every: int = 1
    n_folds: int = 5
    seed: int = 0
    split: str = "stratified"
    selection_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    augmentation: dict[str, Any] = field(default_factory=dict)
    augment_on: str = "auto"
    num_workers: int = -1
    compile: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HecktorError(f"unknown training settings: {', '.join(unknown)}")
        settings = cls(**data)
        settings.check()
        return settings

    def check(self) -> None:
        """Raises HecktorError on an unknown split / augment_on, bad weights or augmentation block."""
        if self.split not in SPLITS:
            raise HecktorError(f"training split must be one of {SPLITS}, got {self.split!r}")
        if self.augment_on not in AUGMENT_ON:
            raise HecktorError(f"training augment_on must be one of {AUGMENT_ON}, got {self.augment_on!r}")
        try:
            selection_score(
                dict.fromkeys(("gtvp_mean_dice", "gtvn_aggregated_dice", "gtvn_aggregated_f1"), 0.0),
                self.selection_weights,
            )
        except ValueError as exc:
            raise HecktorError(str(exc)) from None
        resolve_settings(self.augmentation)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA) and make cuDNN deterministic."""
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def pad_values(config: SegmentationConfig) -> list[float]:
    """Normalised value of each channel outside the scan (CT -1024 HU, PET 0 SUV)."""
    ct = np.full((1, 1, 1), CT_OUTSIDE_HU, dtype=np.float32)
    pet = np.zeros((1, 1, 1), dtype=np.float32)
    return [float(v) for v in stack_channels(ct, pet, config).ravel()]


def validate(
    net: torch.nn.Module, cases: list[CachedCase], config: SegmentationConfig, device: torch.device
) -> dict[str, float]:
    """GTVp mean Dice, GTVn aggregated Dice and GTVn F1 of ``net`` on ``cases`` (crop grid, post-processed)."""
    net.eval()
    scores = []
    for case in progress(cases, "validation: case", log, every_s=10.0):
        image = np.asarray(case.image, dtype=np.float32)  # the cache holds float16
        probs = predict_probabilities([net], image, config, device, tta=False)
        voxel_mm3 = float(np.prod(case.spacing_mm))
        pred = remove_small_components(
            argmax_labels(probs), voxel_mm3, config.min_component_mm3, config.gtvp_keep_largest
        )
        scores.append(case_score(pred, np.asarray(case.label), voxel_mm3))
    net.train()
    return summarise(scores)


@dataclass
class FoldState:
    """What one fold's training carries from epoch to epoch (and what its checkpoint holds).

    ``net`` is the bare network (saved, validated); ``forward`` what the training step calls: ``net``, wrapped in
    ``DistributedDataParallel`` under torchrun and compiled with ``"compile": true``.
    """

    fold: int
    seed: int
    net: torch.nn.Module
    forward: torch.nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    use_amp: bool
    start_epoch: int = 0
    best_score: float = -1.0
    elapsed_before: float = 0.0


@dataclass
class PatchFeed:
    """The training patches of one fold: the stream, its ``DataLoader``, and whether augmentation runs on the
    device (the batch, on the GPU) rather than in the loader's workers."""

    stream: PatchStream
    loader: torch.utils.data.DataLoader
    on_device: bool


def train_fold(
    fold: int,
    train_cases: list[CachedCase],
    val_cases: list[CachedCase],
    config: SegmentationConfig,
    settings: TrainSettings,
    out_dir: Path,
    device: torch.device,
    resume: bool = False,
    init_weights: Path | None = None,
    place: Dist | None = None,
) -> dict[str, Any]:
    """Train fold ``fold``; write ``fold_<fold>.pt``, its checkpoint and log rows; return a summary.

    ``init_weights``: a ``state_dict`` file (``fold_<k>.pt`` of a model with the same config) to start
    from instead of a fresh initialisation (fine-tuning, e.g. with new augmentation). ``place``: this
    process's DDP rank (rank 0 of 1 by default); only rank 0 validates and writes files.
    Steps: :func:`start_fold` -> :func:`resume_fold` -> :func:`start_feed` -> per epoch :func:`train_epoch`,
    :func:`validate_epoch`, :func:`save_checkpoint` -> the weight file is guaranteed.
    """
    place = place or Dist()
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "checkpoints" / f"fold_{fold}_last.pt"
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    state = start_fold(fold, config, settings, device, init_weights, place)
    resume_fold(state, ckpt_path, resume)
    feed = start_feed(state, train_cases, config, settings, device, place)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    if not val_cases:
        log.warning("fold %d has no held-out case: no validation, the last epoch's weights are kept", fold)
    summary: dict[str, Any] = {"fold": fold, "train_cases": len(train_cases), "val_cases": len(val_cases)}
    t0 = time.perf_counter() - state.elapsed_before
    state.net.train()
    for epoch in range(state.start_epoch, settings.epochs):
        t_epoch = time.perf_counter()
        losses, wait, busy = train_epoch(state, feed, loss_fn, config, settings, device, epoch, t0, place)
        row: dict[str, Any] = {
            "fold": fold,
            "epoch": epoch + 1,
            "steps": (epoch + 1) * settings.steps_per_epoch,
            "train_loss": round(float(np.mean(losses)), 5),
            "learning_rate": f"{state.scheduler.get_last_lr()[0]:.3g}",
            "data_wait_s": round(wait, 1),
            "gpu_busy_pct": _blank_if_none(busy),
            "gpu_util_pct": _blank_if_none(nvml_utilisation_pct(device)),
        }
        if place.is_main:
            row.update(validate_epoch(state, val_cases, config, settings, device, epoch, out_dir, summary))
        elapsed = time.perf_counter() - t0
        row.update(epoch_s=round(time.perf_counter() - t_epoch, 1), elapsed_s=round(elapsed, 1))
        if place.is_main:
            _append_log(out_dir / "training_log.csv", row)
            save_checkpoint(state, ckpt_path, epoch, elapsed)
        place.barrier()
    summary.update(best_score=state.best_score, elapsed_s=round(time.perf_counter() - t0, 1))
    if place.is_main and not fold_path(out_dir, fold).is_file():  # e.g. resumed after the last epoch
        torch.save(state_dict_cpu(state.net), fold_path(out_dir, fold))
    place.barrier()
    return summary


def start_fold(
    fold: int,
    config: SegmentationConfig,
    settings: TrainSettings,
    device: torch.device,
    init_weights: Path | None,
    place: Dist,
) -> FoldState:
    """Seeded network (fresh or from ``init_weights``; DDP-wrapped under torchrun, compiled on request), AdamW
    with poly decay, AMP scaler (CUDA only)."""
    seed = settings.seed + fold
    seed_everything(seed + 1000 * place.rank)
    net = build_network(config)
    if init_weights is not None:
        net.load_state_dict(torch.load(init_weights, map_location="cpu", weights_only=True), strict=True)
        log.info("fold %d: starting from the weights in %s", fold, init_weights)
    net = net.to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    total_steps = settings.epochs * settings.steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: max(0.0, 1.0 - step / max(total_steps, 1)) ** 0.9
    )
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    model: torch.nn.Module = net
    if place.enabled:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if use_amp else None)
    forward = torch.compile(model) if settings.compile else model
    return FoldState(fold, seed, net, forward, optimiser, scheduler, scaler, use_amp)


def resume_fold(state: FoldState, ckpt_path: Path, resume: bool) -> None:
    """With ``resume``, restore ``state`` from the fold's last checkpoint when there is one."""
    if resume and ckpt_path.is_file():
        saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        state.net.load_state_dict(saved["model"])
        state.optimiser.load_state_dict(saved["optimiser"])
        state.scheduler.load_state_dict(saved["scheduler"])
        state.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["torch_rng"])
        state.start_epoch, state.best_score = saved["epoch"] + 1, saved["best_score"]
        state.elapsed_before = saved["elapsed_s"]
        log.info("fold %d: resumed after epoch %d (best score %.4f)", state.fold, state.start_epoch, state.best_score)
    elif resume:
        log.info("fold %d: no checkpoint at %s, starting from scratch", state.fold, ckpt_path)


def start_feed(
    state: FoldState,
    train_cases: list[CachedCase],
    config: SegmentationConfig,
    settings: TrainSettings,
    device: torch.device,
    place: Dist,
) -> PatchFeed:
    """The fold's patch stream and ``DataLoader`` (workers, pinned memory on CUDA); logs the set-up."""
    sampler = PatchSampler(
        train_cases, config.patch_zyx, settings.class_ratios, pad_values(config), np.random.default_rng(state.seed)
    )
    on_device = settings.augment_on == "device" or (settings.augment_on == "auto" and device.type == "cuda")
    stream = PatchStream(
        sampler,
        settings.steps_per_epoch,
        settings.batch_size,
        state.seed,
        place.rank,
        settings.augmentation,
        config.channels_order,
        config.mirror_dims_zyx,
        augment_here=not on_device,
    )
    workers = default_workers(place.world_size) if settings.num_workers < 0 else settings.num_workers
    loader = make_loader(stream, workers, pin_memory=device.type == "cuda")
    log.info(
        "fold %d: %d loader worker(s), augmentation on the %s, %s%s",
        state.fold,
        workers,
        "device" if on_device else "loader",
        "AMP float16" if state.use_amp else "float32",
        ", torch.compile" if settings.compile else "",
    )
    return PatchFeed(stream, loader, on_device)


def train_epoch(
    state: FoldState,
    feed: PatchFeed,
    loss_fn: torch.nn.Module,
    config: SegmentationConfig,
    settings: TrainSettings,
    device: torch.device,
    epoch: int,
    t0: float,
    place: Dist,
) -> tuple[list[float], float, float | None]:
    """``steps_per_epoch`` optimiser steps (progress with ETA, data-wait share and, on CUDA, GPU-busy share every
    15 s); returns the step losses, the seconds spent waiting for the loader and the epoch's GPU-busy share (per
    cent, ``None`` off CUDA)."""
    device_aug = None
    if feed.on_device:
        aug_seed = stream_seed(state.seed, epoch, DEVICE_STREAM, place.rank)
        device_aug = build_augmentation(
            settings.augmentation,
            config.channels_order,
            config.mirror_dims_zyx,
            aug_seed,
            device,
            pad_values(config),
            config.patch_zyx,
        )
    total_steps = settings.epochs * settings.steps_per_epoch
    losses: list[float] = []
    t_epoch = last_log = time.perf_counter()
    wait = 0.0
    gpu = GpuBusy(device)
    busy_s: float | None = None  # GPU seconds of the epoch's steps (None off CUDA)
    feed.stream.set_epoch(epoch)
    batches = iter(feed.loader)
    for step in range(1, settings.steps_per_epoch + 1):
        t_wait = time.perf_counter()
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if device_aug is not None:
            x, y = augment_batch(device_aug, x, y)
        wait += time.perf_counter() - t_wait
        gpu.start()
        state.optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=state.use_amp):
            loss = loss_fn(state.forward(x), y)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimiser)
        state.scaler.update()
        state.scheduler.step()
        gpu.stop()
        losses.append(float(loss.detach()))
        now = time.perf_counter()
        if now - last_log >= 15 or step == settings.steps_per_epoch:
            stretch_s = gpu.take_seconds()
            share = busy_percent(stretch_s, now - last_log)
            if stretch_s is not None:
                busy_s = (busy_s or 0.0) + stretch_s
            done = (epoch - state.start_epoch) * settings.steps_per_epoch + step
            left = total_steps - epoch * settings.steps_per_epoch - step
            log.info(
                "fold %d epoch %d/%d step %d/%d loss %.4f (elapsed %.0f s, eta %.0f s, data wait %.0f%%%s)",
                state.fold,
                epoch + 1,
                settings.epochs,
                step,
                settings.steps_per_epoch,
                float(np.mean(losses[-20:])),
                now - t0,
                (now - t0 - state.elapsed_before) / max(done, 1) * left,
                100 * wait / max(now - t_epoch, 1e-9),
                "" if share is None else f", GPU busy {share:.0f}%",
            )
            last_log = now
    del batches
    return losses, wait, busy_percent(busy_s, time.perf_counter() - t_epoch)


def validate_epoch(
    state: FoldState,
    val_cases: list[CachedCase],
    config: SegmentationConfig,
    settings: TrainSettings,
    device: torch.device,
    epoch: int,
    out_dir: Path,
    summary: dict[str, Any],
) -> dict[str, Any]:
    """Validate when due (every ``val_every`` epochs and after the last), keep the best weights by the selection
    score (or, without held-out cases, the latest) in ``fold_<k>.pt``; returns the log row's validation columns."""
    is_last = epoch + 1 == settings.epochs
    if not val_cases:
        torch.save(state_dict_cpu(state.net), fold_path(out_dir, state.fold))
        return {}
    if (epoch + 1) % settings.val_every != 0 and not is_last:
        return {}
    metrics = validate(state.net, val_cases, config, device)
    score = selection_score(metrics, settings.selection_weights)
    log.info(
        "fold %d epoch %d/%d validation: GTVp mean Dice %.3f, GTVn aggregated Dice %.3f, GTVn F1 %.3f,"
        " score %.4f (best %.4f)%s",
        state.fold,
        epoch + 1,
        settings.epochs,
        metrics["gtvp_mean_dice"],
        metrics["gtvn_aggregated_dice"],
        metrics["gtvn_aggregated_f1"],
        score,
        max(state.best_score, score),
        ": new best checkpoint" if score > state.best_score else "",
    )
    if score > state.best_score:
        state.best_score = score
        torch.save(state_dict_cpu(state.net), fold_path(out_dir, state.fold))
        summary.update(best_epoch=epoch + 1, **{f"best_{k}": v for k, v in metrics.items()})
    return {**{f"val_{k}": round(v, 4) for k, v in metrics.items()}, "val_score": round(score, 4)}


def save_checkpoint(state: FoldState, ckpt_path: Path, epoch: int, elapsed: float) -> None:
    """Everything ``--resume`` needs after ``epoch`` (0-based): weights, optimiser, RNG state, best score;
    written to a temporary file first, so an interrupted write never leaves a broken checkpoint."""
    tmp = ckpt_path.with_name(ckpt_path.name + ".tmp")
    torch.save(
        {
            "model": state.net.state_dict(),
            "optimiser": state.optimiser.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "scaler": state.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "best_score": state.best_score,
            "elapsed_s": elapsed,
        },
        tmp,
    )
    tmp.replace(ckpt_path)


def _blank_if_none(value: float | None) -> float | str:
    return "" if value is None else round(value, 1)


def _append_log(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to the CSV log; an existing log keeps its own columns (a run resumed from an older log)."""
    fields: tuple[str, ...] = LOG_FIELDS
    new = not path.is_file()
    if not new:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), None)
        fields = tuple(header) if header else LOG_FIELDS
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in fields})
