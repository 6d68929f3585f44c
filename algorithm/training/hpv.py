"""``python -m algorithm train hpv``: Task 3 HPV classifier with centre-grouped cross-validation.

    python -m algorithm train hpv --data DATASET --out DIR [--calibration sigmoid|isotonic]
        [--masks ground-truth|MASK_DIR] [--cache DIR] [--folds 5] [--seed 0]
        [--model features|cnn] [--encoder resnet18|densenet121|...] [--epochs 20] [--config NAME]

``--model cnn`` trains the CNN + clinical MLP of :mod:`algorithm.hpv.cnn` instead (a stratified
validation split, no cross-validation; threshold for balanced accuracy on the validation split).

Steps: read the Task 3 table and images, compute (cached) features, cross-validate grouped by centre
(each fold's model picks its own threshold from an inner grouped CV; pooled out-of-fold balanced
accuracy, sensitivity, specificity and AUC with percentile-bootstrap 95 % CIs), fit on every case
(threshold from grouped out-of-fold probabilities), write ``DIR/model.json`` and ``DIR/cv_predictions.csv``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from algorithm.hpv import HPVModel, fit_hpv_model, load_hpv_model
from algorithm.model_files import json_safe
from algorithm.tabular.cv import make_folds, report_binary, report_bootstrap
from algorithm.training.options import DataOptions, add_trainer_parser, finish_trainer_parser, trainer_main
from algorithm.training.recipes import apply_recipe
from algorithm.training.records import (
    add_oracle,
    holdout_record,
    masks_label,
    rounded_timings,
    save_trained,
    write_cv_predictions,
)
from algorithm.training.records import figure as _f
from algorithm.training.training_set import TrainingSet, load_holdout, prepare_training_set
from hecktor.progress import progress, stage

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hpv`` sub-command."""
    parser = add_trainer_parser(subparsers, "hpv", "train the Task 3 (HPV status) model", __doc__)
    parser.add_argument(
        "--calibration", choices=("sigmoid", "isotonic"), default="sigmoid", help="probability calibration"
    )
    parser.add_argument(
        "--model", choices=("features", "cnn"), default="features", help="classifier (default features)"
    )
    parser.add_argument("--encoder", default="resnet18", help="CNN encoder (resnet18, densenet121, resnet10, ...)")
    parser.add_argument("--epochs", type=int, default=20, help="CNN training epochs (default 20)")
    parser.add_argument("--crop-mm", type=float, default=64.0, help="CNN crop edge, mm (default 64)")
    parser.add_argument("--crop-spacing-mm", type=float, default=2.0, help="CNN crop voxel size, mm (default 2)")
    finish_trainer_parser(parser, 3, run)


DEFAULTS = {"model": "features", "encoder": "resnet18"}


@dataclass(frozen=True)
class HpvOptions:
    """The options of ``train hpv``: the shared data options and the model's.

    Attributes:
        common: dataset, output, folds, seed... (:class:`~algorithm.training.options.DataOptions`).
        model: ``features`` (calibrated logistic regression) or ``cnn`` (CNN + clinical MLP).
        calibration: ``sigmoid`` or ``isotonic`` (features model).
        encoder: CNN encoder name.
        epochs: CNN training epochs.
        crop_mm: CNN crop edge, mm.
        crop_spacing_mm: CNN crop voxel size, mm.
    """

    common: DataOptions
    model: str = "features"
    calibration: str = "sigmoid"
    encoder: str = "resnet18"
    epochs: int = 20
    crop_mm: float = 64.0
    crop_spacing_mm: float = 2.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> HpvOptions:
        return cls(
            DataOptions.from_args(args),
            str(args.model),
            str(args.calibration),
            str(args.encoder),
            int(args.epochs),
            float(args.crop_mm),
            float(args.crop_spacing_mm),
        )


def train_cnn(opts: HpvOptions) -> int:
    """Train, validate and save the CNN + clinical HPV model; prints the validation figures; returns 0."""
    import torch

    from algorithm.features import CLINICAL_FEATURE_NAMES
    from algorithm.hpv.cnn import ENCODERS, crops_of, fit_cnn_hpv
    from algorithm.hpv.model import fit_classifier_with_threshold

    if opts.encoder not in ENCODERS:
        raise SystemExit(f"error: unknown encoder {opts.encoder!r}; expected one of {', '.join(ENCODERS)}")
    start = time.perf_counter()
    data = prepare_training_set(opts.common, task=3)
    y = np.array([c.targets["hpv"] for c in data.cases]).astype(int)
    col = {n: i for i, n in enumerate(data.names)}
    clin = data.x[:, [col[n] for n in CLINICAL_FEATURE_NAMES]]
    t0 = time.perf_counter()
    crops = crops_of(data.cases, opts.crop_mm, opts.crop_spacing_mm)
    data.timings["crops_s"] = time.perf_counter() - t0
    fallback, _ = fit_classifier_with_threshold(
        clin, list(CLINICAL_FEATURE_NAMES), y, data.groups, folds=opts.common.folds, seed=opts.common.seed
    )
    t0 = time.perf_counter()
    torch.manual_seed(opts.common.seed)
    model, val = fit_cnn_hpv(
        crops,
        clin,
        y,
        encoder=opts.encoder,
        epochs=opts.epochs,
        seed=opts.common.seed,
        crop_mm=opts.crop_mm,
        spacing_mm=opts.crop_spacing_mm,
        fallback=fallback,
    )
    data.timings["train_s"] = time.perf_counter() - t0
    data.timings["total_s"] = time.perf_counter() - start
    model.training = json_safe(
        {
            "task": 3,
            "model": f"CNN ({opts.encoder}) + clinical MLP",
            "config": opts.common.config,
            "data": Path(opts.common.data).name,
            "n_cases": len(y),
            "n_positive": int(y.sum()),
            "seed": opts.common.seed,
            "epochs": opts.epochs,
            "threshold": round(model.threshold, 4),
            "validation": val,
            "notes": data.notes,
            "timings_s": rounded_timings(data.timings),
        }
    )
    _, path = save_trained(model, opts.common, score_cnn_holdout)
    print(
        f"Task 3 CNN ({opts.encoder}): {len(y)} cases; validation split of {val['n_validation']}: balanced accuracy "
        f"{_f(val['balanced_accuracy'])}, AUC {_f(val['auc'])}, F1-macro {_f(val['f1_macro'])}, sensitivity "
        f"{_f(val['sensitivity'])}, specificity {_f(val['specificity'])}; threshold {_f(model.threshold)}. "
        f"Model written to {path} ({data.timings['total_s']:.0f} s)"
    )
    print_holdout(model.training)
    load_hpv_model(Path(opts.common.out))  # the files just written must load
    return 0


def score_cnn_holdout(model: Any, options: DataOptions) -> dict[str, Any]:
    """The CNN + clinical model on ``--holdout``: the same figures as :func:`score_holdout`."""
    from algorithm.hpv.cnn import crops_of

    cases, x, names, oracle = load_holdout(options, task=3)
    y = np.array([c.targets["hpv"] for c in cases]).astype(int)
    col = {n: i for i, n in enumerate(names)}
    clinical = x[:, [col[n] for n in model.clinical_names]]
    clinical = model.scaler.transform(model.imputer.transform(clinical)).astype(np.float32)
    prob = model.probabilities(crops_of(cases, model.crop_mm, model.spacing_mm, model.norm), clinical)
    dec = prob >= model.threshold
    out: dict[str, Any] = {
        **holdout_record(options, cases),
        "n_positive": int(y.sum()),
        **score_calls(y, dec, prob, options.bootstrap, options.seed),
    }
    return add_oracle(out, oracle, "hpv_auc", "oracle_auc")


def score_calls(y: np.ndarray, dec: np.ndarray, prob: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """Balanced accuracy, sensitivity, specificity and AUC, each with a percentile-bootstrap 95 % CI."""
    y = np.asarray(y, dtype=int)
    values = report_binary(y, dec, prob)
    out: dict[str, Any] = {}
    for name in progress(list(values), f"bootstrap 95% CIs ({n_boot} resamples): metric", log, every_s=0.0):
        value = values[name]
        lo, hi = report_bootstrap(lambda i, k=name: report_binary(y[i], dec[i], prob[i])[k], len(y), n_boot, seed)
        out[name] = round(value, 4)
        out[f"{name}_ci95"] = [round(lo, 4), round(hi, 4)]
    return out


def cross_validate(
    data: TrainingSet, folds: int, seed: int, calibration: str, n_boot: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold decisions and probabilities, fold numbers, and the CV summary."""
    y = np.array([c.targets["hpv"] for c in data.cases]).astype(int)
    splits, how = make_folds(data.groups, y, folds, seed)
    prob = np.full(len(y), np.nan)
    dec = np.zeros(len(y), dtype=bool)
    fold_of = np.zeros(len(y), dtype=int)
    thresholds = []
    for k, (tr, te) in enumerate(splits, 1):
        log.info("CV fold %d of %d: training on %d cases, testing on %d", k, len(splits), len(tr), len(te))
        groups_tr = [data.groups[i] for i in tr]
        model = fit_hpv_model(data.x[tr], data.names, y[tr], groups_tr, folds=folds, calibration=calibration, seed=seed)
        dec[te], prob[te] = model.predict_table(data.x[te], data.names)
        fold_of[te] = k
        thresholds.append(float(model.main.threshold))
    summary: dict[str, Any] = {"scheme": how, **score_calls(y, dec, prob, n_boot, seed)}
    summary.update(threshold_stability(thresholds))
    summary["bootstrap"] = {"resamples": n_boot, "method": "percentile", "seed": seed}
    return summary, dec, prob, fold_of


def threshold_stability(thresholds: list[float]) -> dict[str, Any]:
    """Each outer fold's own balanced-accuracy threshold (chosen by its inner CV) and their spread."""
    t = np.asarray(thresholds, dtype=np.float64)
    return {
        "threshold_per_fold": [round(float(v), 4) for v in t],
        "threshold_fold_mean": round(float(t.mean()), 4) if t.size else None,
        "threshold_fold_sd": round(float(t.std(ddof=1)), 4) if t.size > 1 else None,
        "threshold_fold_range": [round(float(t.min()), 4), round(float(t.max()), 4)] if t.size else None,
    }


def run(args: argparse.Namespace) -> int:
    """The ``train hpv`` command: the recipe applied (explicit flags win), then :func:`train`."""
    opts = HpvOptions.from_args(apply_recipe(args, 3, DEFAULTS))
    return train_cnn(opts) if opts.model == "cnn" else train(opts)


def train(opts: HpvOptions) -> int:
    """Train, cross-validate and save the Task 3 features model; prints the CV summary; returns 0."""
    start = time.perf_counter()
    data = prepare_training_set(opts.common, task=3)
    y = np.array([c.targets["hpv"] for c in data.cases]).astype(int)
    log.info("Task 3: %d cases, %d HPV positive, %d centres", len(y), int(y.sum()), len(set(data.groups)))
    t0 = time.perf_counter()
    cv, dec, prob, fold_of = cross_validate(
        data, opts.common.folds, opts.common.seed, opts.calibration, opts.common.bootstrap
    )
    data.timings["cv_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with stage(f"final fit on all {len(y)} cases (threshold from an inner {opts.common.folds}-fold CV)", log):
        model = fit_hpv_model(
            data.x,
            data.names,
            y,
            data.groups,
            folds=opts.common.folds,
            calibration=opts.calibration,
            seed=opts.common.seed,
        )
    data.timings["final_fit_s"] = time.perf_counter() - t0
    data.timings["total_s"] = time.perf_counter() - start
    model.training = {
        "task": 3,
        "model": f"logistic regression, {opts.calibration} calibration",
        "data": Path(opts.common.data).name,
        "masks": masks_label(opts.common.masks),
        "n_cases": len(y),
        "n_positive": int(y.sum()),
        "n_centres": len(set(data.groups)),
        "seed": opts.common.seed,
        "threshold": round(model.main.threshold, 4),
        "cross_validation": cv,
        "notes": data.notes,
        "timings_s": rounded_timings(data.timings),
    }
    out, path = save_trained(model, opts.common, score_holdout)
    # column names as `score-folder --task 3` reads them: hpv (0/1 call), probability
    write_cv_predictions(out, data, fold_of, {"hpv": dec.astype(int), "probability": prob})
    print(
        f"Task 3: {len(y)} cases, {int(y.sum())} HPV positive; {cv['scheme']}: "
        f"balanced accuracy {_f(cv['balanced_accuracy'])} (95% CI {_f(cv['balanced_accuracy_ci95'][0])}-"
        f"{_f(cv['balanced_accuracy_ci95'][1])}), AUC {_f(cv['auc'])} (95% CI {_f(cv['auc_ci95'][0])}-"
        f"{_f(cv['auc_ci95'][1])}), sensitivity {_f(cv['sensitivity'])}, specificity {_f(cv['specificity'])}; "
        f"threshold {_f(model.main.threshold)}. Model written to {path} ({data.timings['total_s']:.0f} s)"
    )
    if cv.get("threshold_fold_sd") is not None:
        lo, hi = cv["threshold_fold_range"]
        print(
            f"Threshold stability: the {len(cv['threshold_per_fold'])} CV folds chose {_f(lo)}-{_f(hi)} "
            f"(mean {_f(cv['threshold_fold_mean'])}, sd {_f(cv['threshold_fold_sd'])}); "
            f"final {_f(model.main.threshold)}"
        )
    print_holdout(model.training)
    HPVModel.load(out)  # the file just written must load
    return 0


def print_holdout(training: dict[str, Any]) -> None:
    """One line with the held-out figures of a training record, when ``--holdout`` was given."""
    if "holdout" not in training:
        return
    h = training["holdout"]
    oracle = h.get("oracle_auc")
    print(
        f"Held-out {h['data']}: {h['n_cases']} cases, AUC {_f(h['auc'])} "
        f"(95% CI {_f(h['auc_ci95'][0])}-{_f(h['auc_ci95'][1])}), balanced accuracy "
        f"{_f(h['balanced_accuracy'])}" + (f"; generator oracle AUC {_f(oracle)}" if oracle is not None else "")
    )


def score_holdout(model: HPVModel, options: DataOptions) -> dict[str, Any]:
    """AUC and balanced accuracy (bootstrap CIs) on ``--holdout``, plus the synthetic oracle AUC if known."""
    cases, x, names, oracle = load_holdout(options, task=3)
    y = np.array([c.targets["hpv"] for c in cases]).astype(int)
    dec, prob = model.predict_table(x, names)
    out: dict[str, Any] = {
        **holdout_record(options, cases),
        "n_positive": int(y.sum()),
        **score_calls(y, dec, prob, options.bootstrap, options.seed),
    }
    return add_oracle(out, oracle, "hpv_auc", "oracle_auc")


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m algorithm.training.hpv --data ... --out ...``."""
    return trainer_main("hpv", register, argv)


if __name__ == "__main__":
    sys.exit(main())
