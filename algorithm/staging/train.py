"""``python -m algorithm train staging``: the HECKTOR 2026 T and N stage models from the 2026 layout.

    python -m algorithm train staging --data DATASET --out DIR [--config geometry+clinical|geometry|
        geometry+clinical-strong] [--masks ground-truth|MASK_DIR] [--folds 5] [--seed 0] [--max-cases N]
        [--holdout DIR [--holdout-masks ...]]

DATASET is the organisers' 2026 layout (:mod:`hecktor.dataset_layout`): ``<PID>/<PID>__CT.nii.gz`` and
``<PID>/<PID>.nii.gz`` (the label; or ``MASK_DIR/<PID>.nii.gz|.mha`` with ``--masks``, e.g. cross-validated
predictions) next to ``HECKTOR_2026_Training.csv`` (clinical columns with HPV Status, T-stage, N-stage).
Steps: read the table, compute the staging geometry of every case (progress lines), cross-validate grouped by
centre (out-of-fold T and N balanced accuracy and their mean, the challenge's staging score), fit on every
case, write ``DIR/model.json`` with the CV figures (and the synthetic oracle when the data are synthetic), and
score ``--holdout`` (same layout) with the final model. The options are the training package's typed ones
(:class:`algorithm.training.options.DataOptions`, read once into :class:`StagingOptions`).
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from algorithm.staging.model import CONFIGS, DEFAULT_CONFIG, fit_staging_model
from algorithm.training.cases import GROUND_TRUTH, DatasetError, find_table_2026
from algorithm.training.options import DataOptions, add_holdout_arguments, add_trainer_parser
from hecktor.clinical import ClinicalRecord, parse_clinical
from hecktor.dataset_layout import find_image, image_stem, is_blank, label_stem, stage_column
from hecktor.imageio import IMAGE_SUFFIXES
from hecktor.patients import centre_of
from hecktor.progress import progress
from hecktor.staging import normalise_stage

log = logging.getLogger(__name__)


@dataclass
class StagingCase:
    patient_id: str
    ct: Path
    mask: Path
    clinical: ClinicalRecord
    t_stage: str | None
    n_stage: str | None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``staging`` sub-command (the shared data and held-out options, plus ``--config``)."""
    parser = add_trainer_parser(subparsers, "staging", "train the 2026 T and N stage models", __doc__, tabular=False)
    parser.add_argument("--config", choices=sorted(CONFIGS), default=DEFAULT_CONFIG, help="named configuration")
    add_holdout_arguments(parser)
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class StagingOptions:
    """The options of ``train staging``: the shared data options (``folds`` < 2: no cross-validation) and the
    named configuration (:data:`algorithm.staging.model.CONFIGS`)."""

    common: DataOptions
    config: str = DEFAULT_CONFIG

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StagingOptions:
        return cls(DataOptions.from_args(args), str(args.config))


def _mask(pid: str, folder: Path, masks: str) -> Path | None:
    if masks == GROUND_TRUTH:
        return find_image(folder, label_stem(pid))
    return next((Path(masks) / f"{pid}{s}" for s in IMAGE_SUFFIXES if (Path(masks) / f"{pid}{s}").is_file()), None)


def load_cases(data: Path, masks: str = GROUND_TRUTH) -> tuple[list[StagingCase], list[str]]:
    """The cases of the 2026 table with a CT and a mask; notes for those left out and odd stages."""
    from algorithm.training.oof_masks import resolve_masks

    masks = str(resolve_masks(masks))  # --masks oof[:RUN]: the out-of-fold masks of train segmentation
    table = find_table_2026(data)
    root = table.parent
    with table.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0]) if rows else []
    t_col, n_col = stage_column(columns, "T"), stage_column(columns, "N")
    if "PatientID" not in columns or t_col is None or n_col is None:
        raise DatasetError(f"{table}: needs PatientID, T-stage and N-stage columns (found {', '.join(columns)})")
    cases, notes = [], []
    for row in rows:
        pid = row["PatientID"].strip()
        folder = root / pid
        ct, mask = find_image(folder, image_stem(pid, "ct")), _mask(pid, folder, masks)
        if ct is None or mask is None:
            notes.append(
                f"{pid}: left out (no {'CT' if ct is None else 'mask'} under {folder if ct is None else masks})"
            )
            continue
        stages = []
        for column, kind in ((t_col, "T"), (n_col, "N")):
            stage = normalise_stage(None if is_blank(row[column]) else row[column], kind)  # type: ignore[arg-type]
            if stage.invalid:
                notes.append(f"{pid}: {column} {stage.reason}; read as unknown")
            stages.append(stage.value)
        clinical = {k: v for k, v in row.items() if k not in ("PatientID", t_col, n_col) and not is_blank(v or "")}
        cases.append(StagingCase(pid, ct, mask, parse_clinical(clinical), stages[0], stages[1]))
    if not cases:
        raise DatasetError(f"{table}: no case with a CT and a mask")
    return cases, notes


def case_geometry(case: StagingCase) -> dict[str, float]:
    from algorithm.staging.geometry import staging_geometry
    from hecktor.imageio import read_image

    return staging_geometry(read_image(case.ct), read_image(case.mask))


def _balanced(truth: list[str | None], pred: list[str | None]) -> float | None:
    from sklearn.metrics import balanced_accuracy_score

    pairs = [(t, p) for t, p in zip(truth, pred, strict=True) if t and p]
    return float(balanced_accuracy_score(*zip(*pairs, strict=True))) if pairs else None


def cross_validate(cases: list[StagingCase], feats: list[dict[str, float]], opts: StagingOptions) -> dict[str, Any]:
    """Out-of-fold T and N balanced accuracy (folds grouped by centre, stratified by N stage)."""
    from algorithm.tabular.cv import make_folds

    strata = np.array([["N0", "N1", "N2", "N3"].index(c.n_stage) if c.n_stage else 0 for c in cases])
    folds, how = make_folds([centre_of(c.patient_id) for c in cases], strata, opts.common.folds, opts.common.seed)
    t_pred: list[str | None] = [None] * len(cases)
    n_pred: list[str | None] = [None] * len(cases)
    for k, (train, test) in enumerate(folds, 1):
        try:
            model = fit_model([cases[i] for i in train], [feats[i] for i in train], opts)
        except ValueError as exc:
            log.warning("fold %d/%d skipped: %s", k, len(folds), exc)
            continue
        for i in test:
            pred = model.predict(feats[i], cases[i].clinical)
            t_pred[i], n_pred[i] = pred.t_stage, pred.n_stage
        log.info("cross-validation fold %d/%d done", k, len(folds))
    return {"cv": how, **_scores(cases, t_pred, n_pred)}


def _scores(cases: list[StagingCase], t_pred: list[str | None], n_pred: list[str | None]) -> dict[str, float | None]:
    """T and N balanced accuracy of predictions and their mean (the challenge's staging score)."""
    t_ba = _balanced([c.t_stage for c in cases], t_pred)
    n_ba = _balanced([c.n_stage for c in cases], n_pred)
    score = None if t_ba is None or n_ba is None else (t_ba + n_ba) / 2
    return {"t_balanced_accuracy": t_ba, "n_balanced_accuracy": n_ba, "staging_score": score}


def fit_model(cases: list[StagingCase], feats: list[dict[str, float]], opts: StagingOptions) -> Any:
    return fit_staging_model(
        feats,
        [c.clinical for c in cases],
        [c.t_stage for c in cases],
        [c.n_stage for c in cases],
        opts.config,
        opts.common.seed,
    )


def _oracle(data: Path) -> dict[str, Any] | None:
    import json

    path = find_table_2026(data).parent / "synthetic_metadata.json"
    if not path.is_file():
        return None
    oracle = json.loads(path.read_text(encoding="utf-8")).get("oracle", {})
    keys = ("t_stage_balanced_accuracy", "n_stage_balanced_accuracy", "staging_score")
    return {k: oracle.get(k) for k in keys} if "staging_score" in oracle else None


def run(args: argparse.Namespace) -> int:
    """The ``train staging`` command: the parsed options, then :func:`train`."""
    return train(StagingOptions.from_args(args))


def _load(data: Path, masks: str | Path, max_cases: int | None = None) -> list[StagingCase]:
    cases, notes = load_cases(data, str(masks))
    for note in notes:
        log.warning("data: %s", note)
    return cases[:max_cases] if max_cases else cases


def score_holdout(model: Any, opts: StagingOptions) -> dict[str, Any]:
    """T/N balanced accuracy and staging score of the final model on ``--holdout``, with its synthetic oracle."""
    assert opts.common.holdout is not None
    cases = _load(opts.common.holdout, opts.common.holdout_masks)
    feats = [case_geometry(c) for c in progress(cases, "held-out staging geometry", log, every_s=5.0)]
    preds = [model.predict(f, c.clinical) for f, c in zip(feats, cases, strict=True)]
    scores = _scores(cases, [p.t_stage for p in preds], [p.n_stage for p in preds])
    oracle = _oracle(opts.common.holdout)
    return {"data": str(opts.common.holdout), "n_cases": len(cases), **scores, "synthetic_oracle": oracle}


def train(opts: StagingOptions) -> int:
    """Train and write the staging model (module docstring); returns 0."""
    start = time.perf_counter()
    common = opts.common
    cases = _load(common.data, common.masks, common.max_cases)
    log.info("staging: %d cases from %s (masks: %s, config %s)", len(cases), common.data, common.masks, opts.config)
    feats = [case_geometry(c) for c in progress(cases, "staging geometry", log, every_s=5.0)]
    cv = cross_validate(cases, feats, opts) if common.folds >= 2 else {}
    model = fit_model(cases, feats, opts)
    model.training = {
        "n_cases": len(cases),
        "data": str(common.data),
        "masks": str(common.masks),
        "config": opts.config,
        "seed": common.seed,
        **cv,
        "synthetic_oracle": _oracle(Path(common.data)),
    }
    if common.holdout is not None:
        model.training["holdout"] = score_holdout(model, opts)
    model.training["seconds"] = round(time.perf_counter() - start, 1)
    path = model.save(common.out)

    def f(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    oracle = model.training["synthetic_oracle"] or {}
    log.info(
        "staging done in %.1f s: CV T balanced accuracy %s, N %s, staging score %s (synthetic oracle %s) -> %s",
        time.perf_counter() - start,
        f(cv.get("t_balanced_accuracy")),
        f(cv.get("n_balanced_accuracy")),
        f(cv.get("staging_score")),
        f(oracle.get("staging_score")),
        path,
    )
    if "holdout" in model.training:
        held = model.training["holdout"]
        log.info(
            "held-out %s: %d cases, T %s, N %s, staging score %s (synthetic oracle %s)",
            held["data"],
            held["n_cases"],
            f(held["t_balanced_accuracy"]),
            f(held["n_balanced_accuracy"]),
            f(held["staging_score"]),
            f((held["synthetic_oracle"] or {}).get("staging_score")),
        )
    log.info("%s", model.describe()["summary"])
    return 0
