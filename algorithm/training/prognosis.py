"""``python -m algorithm train prognosis``: Task 2 risk model with centre-grouped cross-validation.

    python -m algorithm train prognosis --data DATASET --out DIR [--edition 2025|2026] [--model icare|cox|deephit|mtlr]
        [--features clinical|clinical+imaging|clinical+imaging+dose] [--config NAME]
        [--masks ground-truth|MASK_DIR] [--cache DIR] [--folds 5] [--seed 0] [--bags 100] [--epochs N]
        [--clinical-fill mean|most_frequent]

``--edition 2026`` reads the 2026 layout (``DATASET/<PID>/``, ``HECKTOR_2026_Training.csv``) and fits the 2026
RFS model: its clinical inputs are those of a 2026 ``ehr.json`` (HPV status in, no M-stage; T/N stages are
targets, not inputs), its imaging features come from the masks as for Task 2; the pipeline's 2026 edition loads
it from the model folder's ``rfs/`` (:mod:`algorithm.models`).

``--features`` restricts the model inputs as in the dataset paper's ablation (default: every feature,
which is ``clinical+imaging+dose``); ``--config`` applies a named configuration
(:mod:`algorithm.training.recipes`). DeepHit / MTLR also write their network weights (``*.pt``).
``--clinical-fill`` sets how blank categorical clinical fields are filled (default ``mean``, the training mean
of the codes; ``most_frequent``: what models before issue 17 used); the fill values are stored in the model.

Steps: read the Task 2 table and images, compute (cached) features, cross-validate grouped by centre
(Harrell's C of the pooled out-of-fold risks with a percentile-bootstrap 95 % CI, and per fold), fit
on every case, write ``DIR/model.json`` (with the CV figures in ``training``) and
``DIR/cv_predictions.csv`` (out-of-fold risks).
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

from algorithm.features import ANY_CLINICAL_FEATURE_NAMES, DOSE_FEATURE_NAMES
from algorithm.prognosis import MODEL_KINDS, IcareSettings, PrognosisModel, fit_prognosis_model
from algorithm.prognosis.model import CLINICAL_FILL
from algorithm.tabular import CATEGORICAL_FILLS
from algorithm.tabular.cv import make_folds, report_bootstrap, report_cindex
from algorithm.training.options import (
    DataOptions,
    add_edition_argument,
    add_trainer_parser,
    finish_trainer_parser,
    read_edition,
    trainer_main,
)
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

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prognosis`` sub-command."""
    parser = add_trainer_parser(subparsers, "prognosis", "train the Task 2 (RFS risk) model", __doc__)
    add_edition_argument(parser, "one folder per case, the 2026 RFS model with HPV status as an input")
    parser.add_argument("--model", choices=MODEL_KINDS, default="icare", help="risk model (default icare)")
    parser.add_argument(
        "--features", choices=FEATURE_SETS, default=None, help="model inputs (default: all = clinical+imaging+dose)"
    )
    parser.add_argument("--bags", type=int, default=100, help="ICARE bags (default 100)")
    parser.add_argument("--epochs", type=int, default=None, help="DeepHit / MTLR training epochs (default 100)")
    parser.add_argument(
        "--clinical-fill",
        choices=CATEGORICAL_FILLS,
        default=None,
        help=f"fill of blank categorical clinical fields (default {CLINICAL_FILL}: the training mean)",
    )
    finish_trainer_parser(parser, 2, run)


FEATURE_SETS = ("clinical", "clinical+imaging", "clinical+imaging+dose")
DEFAULTS = {"model": "icare", "features": None, "clinical_fill": CLINICAL_FILL}


def select_features(data: TrainingSet, feature_set: str | None) -> TrainingSet:
    """``data`` with only the columns of ``feature_set`` (None = every column, unchanged)."""
    if feature_set is None:
        return data
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; expected one of {FEATURE_SETS}")
    if feature_set == "clinical":
        keep = [n for n in data.names if n in ANY_CLINICAL_FEATURE_NAMES]
    elif feature_set == "clinical+imaging":
        keep = [n for n in data.names if n not in DOSE_FEATURE_NAMES]
    else:
        keep = list(data.names)
    col = {n: i for i, n in enumerate(data.names)}
    data.x = data.x[:, [col[n] for n in keep]]
    data.names = keep
    return data


def cross_validate(
    data: TrainingSet,
    kind: str,
    folds: int,
    seed: int,
    settings: IcareSettings,
    n_boot: int,
    discrete_settings: Any = None,
    clinical_fill: str = CLINICAL_FILL,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Out-of-fold risks, fold numbers and the CV summary (pooled C with CI, per-fold C)."""
    time_days = np.array([c.targets["rfs_days"] for c in data.cases])
    event = np.array([c.targets["relapse"] for c in data.cases]).astype(bool)
    splits, how = make_folds(data.groups, event, folds, seed)
    oof = np.full(len(event), np.nan)
    fold_of = np.zeros(len(event), dtype=int)
    per_fold = []
    for k, (tr, te) in enumerate(splits, 1):
        log.info("CV fold %d of %d: training on %d cases, testing on %d", k, len(splits), len(tr), len(te))
        model = fit_prognosis_model(
            data.x[tr],
            data.names,
            time_days[tr],
            event[tr],
            kind,
            seed=seed,
            icare_settings=settings,
            discrete_settings=discrete_settings,
            clinical_fill=clinical_fill,
        )
        oof[te] = model.predict_table(data.x[te], data.names)
        fold_of[te] = k
        per_fold.append(report_cindex(time_days[te], event[te], oof[te]))
    c_index = report_cindex(time_days, event, oof)
    lo, hi = report_bootstrap(lambda idx: report_cindex(time_days[idx], event[idx], oof[idx]), len(oof), n_boot, seed)
    summary = {
        "scheme": how,
        "c_index": round(c_index, 4),
        "c_index_ci95": [round(lo, 4), round(hi, 4)],
        "c_index_per_fold": [round(float(c), 4) for c in per_fold],
        "c_index_fold_mean": round(float(np.nanmean(per_fold)), 4),
        "bootstrap": {"resamples": n_boot, "method": "percentile", "seed": seed},
    }
    return summary, oof, fold_of


@dataclass(frozen=True)
class PrognosisOptions:
    """The options of ``train prognosis``: the shared data options and the model's.

    Attributes:
        common: dataset, output, folds, seed... (:class:`~algorithm.training.options.DataOptions`).
        model: risk model kind, one of :data:`~algorithm.prognosis.MODEL_KINDS`.
        features: one of :data:`FEATURE_SETS`, or ``None`` for every feature.
        bags: ICARE bags.
        epochs: DeepHit / MTLR training epochs (``None``: their default).
        clinical_fill: fill of blank categorical clinical fields, one of
            :data:`~algorithm.tabular.CATEGORICAL_FILLS`.
    """

    common: DataOptions
    model: str = "icare"
    features: str | None = None
    bags: int = 100
    epochs: int | None = None
    clinical_fill: str = CLINICAL_FILL

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PrognosisOptions:
        fill = str(getattr(args, "clinical_fill", None) or CLINICAL_FILL)
        return cls(DataOptions.from_args(args), str(args.model), args.features, int(args.bags), args.epochs, fill)


def run(args: argparse.Namespace) -> int:
    """The ``train prognosis`` command: the recipe applied (explicit flags win), then :func:`train`."""
    return train(PrognosisOptions.from_args(apply_recipe(read_edition(args), 2, DEFAULTS)))


def train(opts: PrognosisOptions) -> int:
    """Train, cross-validate and save the Task 2 model; prints the CV summary; returns 0."""
    start = time.perf_counter()
    data = select_features(prepare_training_set(opts.common, task=2), opts.features)
    settings = IcareSettings(n_bags=opts.bags)
    discrete = None
    if opts.model in ("deephit", "mtlr"):
        from algorithm.prognosis.discrete import DiscreteSettings

        discrete = DiscreteSettings() if opts.epochs is None else DiscreteSettings(epochs=opts.epochs)
    time_days = np.array([c.targets["rfs_days"] for c in data.cases])
    event = np.array([c.targets["relapse"] for c in data.cases]).astype(bool)
    what = task_name(opts.common.edition)
    log.info("%s: %d cases, %d events, %d centres", what, len(event), int(event.sum()), len(set(data.groups)))

    t0 = time.perf_counter()
    cv, oof, fold_of = cross_validate(
        data,
        opts.model,
        opts.common.folds,
        opts.common.seed,
        settings,
        opts.common.bootstrap,
        discrete,
        opts.clinical_fill,
    )
    data.timings["cv_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = fit_prognosis_model(
        data.x,
        data.names,
        time_days,
        event,
        opts.model,
        seed=opts.common.seed,
        icare_settings=settings,
        discrete_settings=discrete,
        clinical_fill=opts.clinical_fill,
    )
    data.timings["final_fit_s"] = time.perf_counter() - t0
    data.timings["total_s"] = time.perf_counter() - start
    model.training = {
        "task": 2,
        "edition": opts.common.edition,
        "model": opts.model,
        "features": opts.features or "all",
        "clinical_fill": opts.clinical_fill,
        "config": opts.common.config,
        "data": Path(opts.common.data).name,
        "masks": masks_label(opts.common.masks),
        "n_cases": len(event),
        "n_events": int(event.sum()),
        "n_centres": len(set(data.groups)),
        "seed": opts.common.seed,
        "cross_validation": cv,
        "notes": data.notes,
        "timings_s": rounded_timings(data.timings),
    }
    out, path = save_trained(model, opts.common, score_holdout)
    write_cv_predictions(out, data, fold_of, {"risk": oof})
    lo, hi = cv["c_index_ci95"]
    print(
        f"{what} {opts.model}: {len(event)} cases, {int(event.sum())} events; {cv['scheme']}: "
        f"C-index {_f(cv['c_index'])} (95% CI {_f(lo)}-{_f(hi)}; fold mean {_f(cv['c_index_fold_mean'])}). "
        f"Model written to {path} ({data.timings['total_s']:.0f} s)"
    )
    print(pooled_vs_fold_mean(cv["c_index"], cv["c_index_fold_mean"]))
    if "holdout" in model.training:
        h = model.training["holdout"]
        oracle = h.get("oracle_c_index")
        print(
            f"Held-out {h['data']}: {h['n_cases']} cases, C-index {_f(h['c_index'])} "
            f"(95% CI {_f(h['c_index_ci95'][0])}-{_f(h['c_index_ci95'][1])})"
            + (f"; generator oracle {_f(oracle)}" if oracle is not None else "")
        )
    PrognosisModel.load(out)  # the file just written must load
    return 0


def task_name(edition: str) -> str:
    """What the logs call the model: ``Task 2`` (2025) or ``2026 RFS``."""
    return "2026 RFS" if edition == "2026" else "Task 2"


def pooled_vs_fold_mean(pooled: float | None, fold_mean: float | None, gap: float = 0.05) -> str:
    """The line that explains the two C-indices of the CV summary (and what a large gap between them means)."""
    text = (
        "Pooled C ranks every case's out-of-fold risk against every other case's, across folds (and so across"
        " centres); the fold mean averages the C within each centre-grouped fold."
    )
    if pooled is None or fold_mean is None or abs(pooled - fold_mean) <= gap:
        return text
    if pooled > fold_mean:
        return (
            f"{text} Pooled {_f(pooled)} is well above the fold mean {_f(fold_mean)}: the risks mostly separate"
            " centres (their baseline risks differ) rather than patients within a centre, which is what the"
            " leaderboard's C-index over a test set from other centres also rewards only partly."
        )
    return (
        f"{text} Pooled {_f(pooled)} is well below the fold mean {_f(fold_mean)}: the fold models' risk scales"
        " differ, so risks from different folds do not compare."
    )


def score_holdout(model: PrognosisModel, options: DataOptions) -> dict[str, Any]:
    """Harrell's C (with bootstrap CI) of the final model on ``--holdout``, plus the synthetic oracle if known."""
    cases, x, names, oracle = load_holdout(options, task=2)
    time_days = np.array([c.targets["rfs_days"] for c in cases])
    event = np.array([c.targets["relapse"] for c in cases]).astype(bool)
    risk = model.predict_table(x, names)
    lo, hi = report_bootstrap(
        lambda i: report_cindex(time_days[i], event[i], risk[i]), len(risk), options.bootstrap, options.seed
    )
    out: dict[str, Any] = {
        **holdout_record(options, cases),
        "n_events": int(event.sum()),
        "c_index": round(report_cindex(time_days, event, risk), 4),
        "c_index_ci95": [round(lo, 4), round(hi, 4)],
    }
    return add_oracle(out, oracle, "c_index", "oracle_c_index")


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m algorithm.training.prognosis --data ... --out ...``."""
    return trainer_main("prognosis", register, argv)


if __name__ == "__main__":
    sys.exit(main())
