"""One fold of segmentation training: patches -> DiceCE loss -> AdamW with poly decay -> validation.

Each epoch runs ``steps_per_epoch`` steps of ``batch_size`` class-balanced patches
(:mod:`algorithm.training.seg_sampling`), then (every ``val_every`` epochs) predicts the fold's held-out
cases with the inference code itself (:func:`algorithm.segmentation.infer.predict_probabilities`,
post-processed like inference) and scores GTVp mean Dice and GTVn aggregated Dice on the crop grid.

Files in the output folder, per fold ``k``:

* ``checkpoints/fold_k_last.pt``: everything needed to ``--resume`` (weights, optimiser, step, RNG
  states, best score), written after every epoch;
* ``fold_k.pt``: the weights (``state_dict``) with the best validation score (mean of the two Dice
  figures), or of the last epoch when the fold has no held-out case;
* ``training_log.csv``: one row per epoch (loss, validation figures, learning rate, elapsed seconds).
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
from algorithm.training.seg_data import CachedCase
from algorithm.training.seg_metrics import case_overlap, summarise
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
    "val_score",
    "learning_rate",
    "epoch_s",
    "elapsed_s",
)


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
        n_folds: number of centre-stratified folds.
        seed: base seed (fold k uses seed + k).
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HecktorError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**data)


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
    """GTVp mean Dice and GTVn aggregated Dice of ``net`` on ``cases`` (crop grid, post-processed)."""
    net.eval()
    overlaps = []
    for case in progress(cases, "validation: case", log, every_s=10.0):
        image = np.asarray(case.image, dtype=np.float32)  # the cache holds float16
        probs = predict_probabilities([net], image, config, device, tta=False)
        voxel_mm3 = float(np.prod(case.spacing_mm))
        pred = remove_small_components(
            argmax_labels(probs), voxel_mm3, config.min_component_mm3, config.gtvp_keep_largest
        )
        overlaps.append(case_overlap(pred, case.label, voxel_mm3))
    net.train()
    return summarise(overlaps)


@dataclass
class FoldState:
    """What one fold's training carries from epoch to epoch (and what its checkpoint holds)."""

    fold: int
    net: torch.nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    rng: np.random.Generator
    use_amp: bool
    start_epoch: int = 0
    best_score: float = -1.0
    elapsed_before: float = 0.0


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
) -> dict[str, Any]:
    """Train fold ``fold``; write ``fold_<fold>.pt``, its checkpoint and log rows; return a summary.

    ``init_weights``: a ``state_dict`` file (``fold_<k>.pt`` of a model with the same config) to start
    from instead of a fresh initialisation (fine-tuning, e.g. with new augmentation).
    Steps: :func:`start_fold` -> :func:`resume_fold` -> per epoch :func:`train_epoch`,
    :func:`validate_epoch`, :func:`save_checkpoint` -> the weight file is guaranteed.
    """
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "checkpoints" / f"fold_{fold}_last.pt"
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    state = start_fold(fold, config, settings, device, init_weights)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    resume_fold(state, ckpt_path, resume)
    sampler = PatchSampler(
        train_cases,
        config.patch_zyx,
        settings.class_ratios,
        pad_values(config),
        config.mirror_dims_zyx,
        state.rng,
        pet_channel=config.channels_order.index("PET") if "PET" in config.channels_order else None,
    )
    if not val_cases:
        log.warning("fold %d has no held-out case: no validation, the last epoch's weights are kept", fold)
    summary: dict[str, Any] = {"fold": fold, "train_cases": len(train_cases), "val_cases": len(val_cases)}
    t0 = time.perf_counter() - state.elapsed_before
    state.net.train()
    for epoch in range(state.start_epoch, settings.epochs):
        t_epoch = time.perf_counter()
        losses = train_epoch(state, sampler, loss_fn, settings, device, epoch, t0)
        row: dict[str, Any] = {
            "fold": fold,
            "epoch": epoch + 1,
            "steps": (epoch + 1) * settings.steps_per_epoch,
            "train_loss": round(float(np.mean(losses)), 5),
            "learning_rate": f"{state.scheduler.get_last_lr()[0]:.3g}",
        }
        row.update(validate_epoch(state, val_cases, config, settings, device, epoch, out_dir, summary))
        elapsed = time.perf_counter() - t0
        row.update(epoch_s=round(time.perf_counter() - t_epoch, 1), elapsed_s=round(elapsed, 1))
        _append_log(out_dir / "training_log.csv", row)
        save_checkpoint(state, ckpt_path, epoch, elapsed)
    summary.update(best_score=state.best_score, elapsed_s=round(time.perf_counter() - t0, 1))
    if not fold_path(out_dir, fold).is_file():  # e.g. resumed after the last epoch without a weight file
        torch.save(state_dict_cpu(state.net), fold_path(out_dir, fold))
    return summary


def start_fold(
    fold: int, config: SegmentationConfig, settings: TrainSettings, device: torch.device, init_weights: Path | None
) -> FoldState:
    """Seeded network (fresh or from ``init_weights``), AdamW with poly decay, AMP scaler (CUDA only)."""
    seed = settings.seed + fold
    seed_everything(seed)
    rng = np.random.default_rng(seed)
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
    return FoldState(fold, net, optimiser, scheduler, scaler, rng, use_amp)


def resume_fold(state: FoldState, ckpt_path: Path, resume: bool) -> None:
    """With ``resume``, restore ``state`` from the fold's last checkpoint when there is one."""
    if resume and ckpt_path.is_file():
        saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        state.net.load_state_dict(saved["model"])
        state.optimiser.load_state_dict(saved["optimiser"])
        state.scheduler.load_state_dict(saved["scheduler"])
        state.scaler.load_state_dict(saved["scaler"])
        state.rng.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
        state.start_epoch, state.best_score = saved["epoch"] + 1, saved["best_score"]
        state.elapsed_before = saved["elapsed_s"]
        log.info("fold %d: resumed after epoch %d (best score %.4f)", state.fold, state.start_epoch, state.best_score)
    elif resume:
        log.info("fold %d: no checkpoint at %s, starting from scratch", state.fold, ckpt_path)


def train_epoch(
    state: FoldState,
    sampler: PatchSampler,
    loss_fn: torch.nn.Module,
    settings: TrainSettings,
    device: torch.device,
    epoch: int,
    t0: float,
) -> list[float]:
    """``steps_per_epoch`` optimiser steps (progress logged every 15 s); returns the step losses."""
    losses: list[float] = []
    last_log = time.perf_counter()
    for step in range(1, settings.steps_per_epoch + 1):
        x_np, y_np = sampler.sample(settings.batch_size)
        x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)
        state.optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=state.use_amp):
            loss = loss_fn(state.net(x), y)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimiser)
        state.scaler.update()
        state.scheduler.step()
        losses.append(float(loss.detach()))
        now = time.perf_counter()
        if now - last_log >= 15 or step == settings.steps_per_epoch:
            log.info(
                "fold %d epoch %d/%d step %d/%d loss %.4f (elapsed %.0f s)",
                state.fold,
                epoch + 1,
                settings.epochs,
                step,
                settings.steps_per_epoch,
                float(np.mean(losses[-20:])),
                now - t0,
            )
            last_log = now
    return losses


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
    """Validate when due (every ``val_every`` epochs and after the last), keep the best weights (or, without
    held-out cases, the latest) in ``fold_<k>.pt``; returns the log row's validation columns."""
    is_last = epoch + 1 == settings.epochs
    if not val_cases:
        torch.save(state_dict_cpu(state.net), fold_path(out_dir, state.fold))
        return {}
    if (epoch + 1) % settings.val_every != 0 and not is_last:
        return {}
    metrics = validate(state.net, val_cases, config, device)
    score = (metrics["gtvp_mean_dice"] + metrics["gtvn_aggregated_dice"]) / 2
    log.info(
        "fold %d epoch %d/%d validation: GTVp mean Dice %.3f, GTVn aggregated Dice %.3f",
        state.fold,
        epoch + 1,
        settings.epochs,
        metrics["gtvp_mean_dice"],
        metrics["gtvn_aggregated_dice"],
    )
    if score > state.best_score:
        state.best_score = score
        torch.save(state_dict_cpu(state.net), fold_path(out_dir, state.fold))
        summary.update(best_epoch=epoch + 1, **{f"best_{k}": v for k, v in metrics.items()})
    return {
        "val_gtvp_mean_dice": round(metrics["gtvp_mean_dice"], 4),
        "val_gtvn_aggregated_dice": round(metrics["gtvn_aggregated_dice"], 4),
        "val_score": round(score, 4),
    }


def save_checkpoint(state: FoldState, ckpt_path: Path, epoch: int, elapsed: float) -> None:
    """Everything ``--resume`` needs after ``epoch`` (0-based): weights, optimiser, RNG states, best score."""
    torch.save(
        {
            "model": state.net.state_dict(),
            "optimiser": state.optimiser.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "scaler": state.scaler.state_dict(),
            "numpy_rng": state.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "best_score": state.best_score,
            "elapsed_s": elapsed,
        },
        ckpt_path,
    )


def _append_log(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})
