"""Training data for the Task 2 and Task 3 models: the organisers' layout, targets, and cached features.

Layout read (as distributed by the organisers; ``--data`` may be the dataset root or a task folder)::

    <root>/HECKTOR_2025_Training_Task_2.csv     PatientID, CenterID, clinical columns, RFS (days), Relapse (0/1)
    <root>/HECKTOR_2025_Training_Task_3.csv     ..., HPV Status (0/1)
    <root>/Task 2/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz[, <PID>__CTPlanning.nii.gz, <PID>__RTDOSE.nii.gz]
    <root>/Task 1/<PID>/<PID>.nii.gz            ground-truth label (0/1/2) on the CT grid

The CSVs may also sit inside the task folders; a case's images are looked up in the task's own folder,
then in the other task folders. Masks are the ground truth by default, or ``<dir>/<PID>.{nii.gz,mha}``
(or ``<dir>/<PID>/<any one image>``) for predicted masks. Clinical columns go through
:func:`hecktor.clinical.parse_clinical` row by row.

Features are cached in ``<cache>/features.csv``: one row per (``patient_id``, ``input_hash``) with the
features, where the hash covers the features version and each input file's name, size and a SHA-256
of its first and last MiB; a row is reused only when both match.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from algorithm.features import (
    CLINICAL_FEATURE_NAMES,
    FEATURES_VERSION,
    IMAGING_FEATURE_NAMES,
    MODEL_IMAGING_FEATURE_NAMES,
    clinical_features,
    empty_features,
    extract_features,
)
from algorithm.intensity import harmonise_training_pair
from algorithm.training.oof_masks import resolve_masks
from hecktor.clinical import ClinicalRecord, parse_clinical
from hecktor.dataset_layout import (
    IMAGE_TAGS,
    csv_name,
    find_image,
    image_stem,
    label_stem,
    parse_binary,
    task_dir,
    task_of_dir_name,
)
from hecktor.errors import HecktorError, InputError
from hecktor.imageio import is_image_file, read_image
from hecktor.patients import centre_of
from hecktor.progress import progress

log = logging.getLogger(__name__)

GROUND_TRUTH = "ground-truth"
CACHE_FILE = "features.csv"
_HASH_CHUNK = 1 << 20


class DatasetError(HecktorError):
    """The training dataset cannot be used (missing CSV, no usable case...)."""


@dataclass
class TrainingCase:
    """One patient of a training table: IDs, clinical record, image paths and targets."""

    patient_id: str
    centre: str
    clinical: ClinicalRecord
    ct: Path | None = None
    pet: Path | None = None
    label: Path | None = None
    rt_dose: Path | None = None
    planning_ct: Path | None = None
    targets: dict[str, float] = field(default_factory=dict)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def dataset_root(data: Path) -> Path:
    """The dataset root: ``data`` itself, or its parent when ``data`` is a ``Task N`` folder."""
    data = Path(data)
    if not data.is_dir():
        raise DatasetError(f"{data}: dataset folder is missing")
    if task_of_dir_name(data.name) is not None:
        return data.parent
    return data


def find_task_csv(data: Path, task: int) -> Path:
    """The organisers' CSV of ``task`` under the dataset (root, task folders, then one level down)."""
    root = dataset_root(data)
    wanted = _norm(csv_name(task))
    candidates: list[Path] = []
    for folder in (Path(data), root, task_dir(root, task), *sorted(p for p in root.iterdir() if p.is_dir())):
        if folder.is_dir():
            candidates.extend(sorted(folder.glob("*.csv")))
    for path in candidates:
        if _norm(path.name) == wanted:
            return path
    for path in candidates:  # another year or spelling: any CSV naming the task
        if re.search(rf"task[ _-]?{task}(?!\d)", path.name.lower()):
            return path
    raise DatasetError(f"{root}: no {csv_name(task)} found")


def _column(df: pd.DataFrame, *names: str) -> str | None:
    norm = {_norm(c): c for c in df.columns}
    for n in names:
        if _norm(n) in norm:
            return norm[_norm(n)]
    return None


def read_task_table(csv: Path, task: int) -> tuple[pd.DataFrame, list[str]]:
    """The task's table with canonical target columns (``rfs_days``, ``relapse`` or ``hpv``), rows without
    a usable target dropped; returns the table and notes about what was dropped."""
    df = pd.read_csv(csv)
    notes: list[str] = []
    pid_col = _column(df, "PatientID", "Patient ID", "patient", "id")
    if pid_col is None:
        raise DatasetError(f"{csv}: no PatientID column")
    df = df.rename(columns={pid_col: "PatientID"})
    df["PatientID"] = df["PatientID"].astype(str).str.strip()
    if task == 2:
        rfs, relapse = _column(df, "RFS", "RFS (days)", "rfs_days"), _column(df, "Relapse", "event")
        if rfs is None or relapse is None:
            raise DatasetError(f"{csv}: needs RFS and Relapse columns, found {list(df.columns)}")
        df["rfs_days"] = pd.to_numeric(df[rfs], errors="coerce")
        df["relapse"] = pd.to_numeric(df[relapse], errors="coerce")
        ok = df["rfs_days"].gt(0) & df["relapse"].isin([0, 1])
    else:
        hpv = _column(df, "HPV Status", "HPV", "hpv_status")
        if hpv is None:
            raise DatasetError(f"{csv}: needs an HPV Status column, found {list(df.columns)}")
        df["hpv"] = df[hpv].map(_parse_hpv)
        ok = df["hpv"].isin([0, 1])
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} of {len(df)} rows have no usable target and were left out")
    return df[ok].reset_index(drop=True), notes


def _parse_hpv(value: Any) -> float:
    """1.0 / 0.0 / NaN: the tables' 0/1 parsing (:func:`hecktor.dataset_layout.parse_binary`), plus the words
    ``positive``/``pos``/``+`` and ``negative``/``neg``/``-`` some tables use for the HPV status."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"positive", "pos", "+"}:
            return 1.0
        if text in {"negative", "neg", "-"}:
            return 0.0
        parsed = parse_binary(text)
        return math.nan if parsed is None else float(parsed)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if number in (0.0, 1.0) else math.nan


def _mask_path(pid: str, root: Path, masks: str | Path, case_dirs: Sequence[Path]) -> Path | None:
    if str(masks) == GROUND_TRUTH:
        for folder in (task_dir(root, 1) / pid, *case_dirs):
            path = find_image(folder, label_stem(pid))
            if path is not None:
                return path
        return None
    mask_dir = Path(masks)
    path = find_image(mask_dir, label_stem(pid))
    if path is None and (mask_dir / pid).is_dir():
        images = sorted(p for p in (mask_dir / pid).iterdir() if is_image_file(p))
        path = images[0] if len(images) == 1 else find_image(mask_dir / pid, label_stem(pid))
    return path


def load_cases(data: Path, task: int, masks: str | Path = GROUND_TRUTH) -> tuple[list[TrainingCase], list[str]]:
    """The cases of ``task`` (2 or 3) with targets, clinical records and image paths; plus notes."""
    root = dataset_root(data)
    masks = resolve_masks(masks)  # --masks oof[:RUN]: the out-of-fold masks of train segmentation
    if str(masks) != GROUND_TRUTH and not Path(masks).is_dir():
        raise DatasetError(f"{masks}: folder of predicted masks is missing")
    csv = find_task_csv(data, task)
    table, notes = read_task_table(csv, task)
    log.info("read %s: %d cases with a target", csv, len(table))
    task_dirs = [task_dir(root, task), *(task_dir(root, t) for t in (2, 1, 3) if t != task), Path(data), root]
    target_cols = ["rfs_days", "relapse"] if task == 2 else ["hpv"]
    skip_cols = {"PatientID", *target_cols, "RFS", "Relapse", "HPV Status"}
    cases = []
    for row in table.to_dict(orient="records"):
        pid = str(row["PatientID"])
        clinical = parse_clinical({k: v for k, v in row.items() if k not in skip_cols})
        case_dirs = [d / pid for d in task_dirs if (d / pid).is_dir()]
        case = TrainingCase(pid, centre_of(pid), clinical, targets={c: float(row[c]) for c in target_cols})
        if case.centre == "unknown" and clinical.get("CenterID") is not None:
            case.centre = f"center-{int(clinical.get('CenterID') or 0)}"
        for attr in IMAGE_TAGS:
            for folder in case_dirs:
                path = find_image(folder, image_stem(pid, attr))
                if path is not None:
                    setattr(case, attr, path)
                    break
        case.label = _mask_path(pid, root, masks, case_dirs)
        cases.append(case)
    missing = [c.patient_id for c in cases if c.ct is None or c.pet is None or c.label is None]
    if missing:
        notes.append(
            f"{len(missing)} cases lack a CT, PET or mask and get no imaging features (first: {', '.join(missing[:5])})"
        )
    return cases, notes


def file_fingerprint(path: Path) -> str:
    """Name, size and SHA-256 of the first and last MiB of a file (cheap, content-sensitive)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as fh:
        h.update(fh.read(_HASH_CHUNK))
        if size > _HASH_CHUNK:
            fh.seek(max(_HASH_CHUNK, size - _HASH_CHUNK))
            h.update(fh.read(_HASH_CHUNK))
    return f"{path.name}:{size}:{h.hexdigest()[:16]}"


def input_hash(case: TrainingCase) -> str:
    """Cache key of a case's imaging features (features version + fingerprints of its image files)."""
    parts = [f"features-v{FEATURES_VERSION}"]
    for role in ("ct", "pet", "label", "rt_dose"):
        path = getattr(case, role)
        parts.append(f"{role}={file_fingerprint(path) if path is not None else '-'}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def case_features(case: TrainingCase) -> dict[str, float]:
    """Imaging features of a training case (all NaN when CT, PET or mask is missing or unreadable)."""
    if case.ct is None or case.pet is None or case.label is None:
        return empty_features()
    try:
        ct = read_image(case.ct, "CT")
        pet = read_image(case.pet, "PET")
        label = read_image(case.label, "mask")
        if label.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
            label = sitk.Round(label)
        if label.GetPixelID() != sitk.sitkUInt8:
            label = sitk.Cast(label, sitk.sitkUInt8)
        dose = read_image(case.rt_dose, "RT dose") if case.rt_dose is not None else None
        ct, pet = harmonise_training_pair(ct, pet, case.patient_id)  # Bq/ml, SUV x 1000, HU offset
    except InputError as exc:
        log.warning("%s: no imaging features (%s)", case.patient_id, exc)
        return empty_features()
    return extract_features(ct, pet, label, rt_dose=dose)


def compute_features(cases: Sequence[TrainingCase], cache_dir: Path | None = None) -> pd.DataFrame:
    """Imaging features of every case (rows indexed by patient ID), reusing and updating the cache.

    Cache rows are keyed by (patient ID, input hash), so one cache serves several tasks and cohorts.
    """
    cached: dict[tuple[str, str], dict[str, float]] = {}
    cache_path = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    if cache_path is not None and cache_path.is_file():
        try:
            old = pd.read_csv(cache_path, dtype={"patient_id": str, "input_hash": str})
            for r in old.to_dict(orient="records"):
                if all(n in r for n in IMAGING_FEATURE_NAMES):
                    key = (str(r["patient_id"]), str(r["input_hash"]))
                    cached[key] = {n: float(r[n]) for n in IMAGING_FEATURE_NAMES}
        except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError, ValueError, UnicodeDecodeError) as exc:
            log.warning("%s: unreadable feature cache ignored (%s)", cache_path, exc)
    rows: dict[str, dict[str, Any]] = {}
    reused = 0
    for k, case in enumerate(progress(cases, "features: case", log), 1):
        key = (case.patient_id, input_hash(case))
        if key in cached:
            rows[case.patient_id] = {"input_hash": key[1], **cached[key]}
            reused += 1
            continue
        log.debug("features: case %d of %d (%s)", k, len(cases), case.patient_id)
        feats = case_features(case)
        rows[case.patient_id] = {"input_hash": key[1], **feats}
        cached[key] = feats
        if cache_path is not None and k % 20 == 0:
            _write_cache(cache_path, cached)
    if cache_path is not None and reused < len(cases):
        _write_cache(cache_path, cached)
    log.info("features: %d computed, %d reused from the cache", len(cases) - reused, reused)
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "patient_id"
    return df.reindex(columns=["input_hash", *IMAGING_FEATURE_NAMES])


def _write_cache(path: Path, cached: dict[tuple[str, str], dict[str, float]]) -> None:
    records = [{"patient_id": pid, "input_hash": h, **feats} for (pid, h), feats in sorted(cached.items())]
    df = pd.DataFrame.from_records(records, columns=["patient_id", "input_hash", *IMAGING_FEATURE_NAMES])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)


def design_matrix(cases: Sequence[TrainingCase], features: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Rows (one per case) over imaging + clinical feature names, NaN where missing.

    The imaging part is :data:`~algorithm.features.MODEL_IMAGING_FEATURE_NAMES`: features in SUV,
    which move with a centre's PET calibration, are left out in favour of their ratio counterparts.
    """
    names = [*MODEL_IMAGING_FEATURE_NAMES, *CLINICAL_FEATURE_NAMES]
    x = np.full((len(cases), len(names)), np.nan)
    for i, case in enumerate(cases):
        merged: dict[str, float] = {}
        if case.patient_id in features.index:
            merged.update({n: float(features.loc[case.patient_id, n]) for n in MODEL_IMAGING_FEATURE_NAMES})
        merged.update(clinical_features(case.clinical))
        x[i] = [merged.get(n, math.nan) for n in names]
    return x, names


# --- shared command-line plumbing of the two trainers -------------------------------------------------


def add_data_arguments(parser: Any) -> None:
    """Options common to ``train prognosis`` and ``train hpv``."""
    parser.add_argument("--data", type=Path, required=True, help="organisers' dataset root or a 'Task N' folder")
    parser.add_argument(
        "--out", "--output", type=Path, required=True, help="output folder (model.json is written there)"
    )
    parser.add_argument(
        "--masks",
        default=GROUND_TRUTH,
        help="'ground-truth' (Task 1 labels, default), a folder of predicted labels <PID>.nii.gz/.mha, or"
        " 'oof[:RUN]': the out-of-fold masks of `train segmentation --out RUN` (default RUN models/segmentation)",
    )
    parser.add_argument("--cache", type=Path, default=None, help="feature cache folder (default: OUT/cache)")
    parser.add_argument(
        "--n-folds",
        "--folds",
        dest="folds",
        type=int,
        default=5,
        metavar="N",
        help="number of cross-validation folds, grouped by centre (default 5; --folds N: the old spelling)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    parser.add_argument("--max-cases", type=int, default=None, help="use only the first N cases (smoke runs)")


@dataclass
class TrainingSet:
    """Cases with targets, their design matrix (imaging + clinical) and bookkeeping."""

    cases: list[TrainingCase]
    x: np.ndarray
    names: list[str]
    groups: list[str]
    notes: list[str]
    timings: dict[str, float]


def prepare_training_set(args: Any, task: int) -> TrainingSet:
    """Load cases, compute (cached) features and build the design matrix; cases without images are dropped."""
    import time as _time

    timings: dict[str, float] = {}
    start = _time.perf_counter()
    cases, notes = load_cases(args.data, task, args.masks)
    if args.max_cases:
        cases = cases[: args.max_cases]
    usable = [c for c in cases if c.ct is not None and c.pet is not None and c.label is not None]
    if len(usable) < len(cases):
        notes.append(f"trained on the {len(usable)} of {len(cases)} cases with CT, PET and mask")
    if len(usable) < 10:
        raise DatasetError(f"{args.data}: only {len(usable)} usable cases for Task {task}; need at least 10")
    cache = args.cache if args.cache is not None else Path(args.out) / "cache"
    timings["load_s"] = _time.perf_counter() - start
    start = _time.perf_counter()
    features = compute_features(usable, cache)
    timings["features_s"] = _time.perf_counter() - start
    x, names = design_matrix(usable, features)
    for note in notes:
        log.info("note: %s", note)
    return TrainingSet(usable, x, names, [c.centre for c in usable], notes, timings)


def add_holdout_arguments(parser: Any) -> None:
    """``--holdout DIR [--holdout-masks ...]``: score the final model on a held-out dataset after training."""
    parser.add_argument("--holdout", type=Path, default=None, help="held-out dataset (same layout) to score at the end")
    parser.add_argument(
        "--holdout-masks", default=GROUND_TRUTH, help="masks of the held-out cases: 'ground-truth' or a folder"
    )


def load_holdout(args: Any, task: int) -> tuple[list[TrainingCase], np.ndarray, list[str], dict[str, Any] | None]:
    """Held-out cases with features (cached in ``<cache>/holdout``), design matrix and synthetic oracle if any."""
    cases, notes = load_cases(args.holdout, task, args.holdout_masks)
    cases = [c for c in cases if c.ct is not None and c.pet is not None and c.label is not None]
    for note in notes:
        log.info("held-out note: %s", note)
    cache = args.cache if args.cache is not None else Path(args.out) / "cache"
    features = compute_features(cases, Path(cache) / "holdout")
    x, names = design_matrix(cases, features)
    return cases, x, names, synthetic_oracle(args.holdout)


def synthetic_oracle(data: Path) -> dict[str, Any] | None:
    """The ``oracle`` block of a synthetic cohort's ``synthetic_metadata.json``, or ``None``."""
    import json

    path = dataset_root(Path(data)) / "synthetic_metadata.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    oracle = meta.get("oracle") if isinstance(meta, dict) else None
    if not isinstance(oracle, dict):
        return None
    return {**oracle, "seed": meta.get("seed"), "generator_version": meta.get("generator_version")}


def add_trainer_parser(subparsers: Any, name: str, help_text: str, doc: str) -> Any:
    """The ``train NAME`` sub-parser with the common data options (the trainer adds its own next)."""
    parser = subparsers.add_parser(name, help=help_text, description=doc.split("\n\n")[0])
    add_data_arguments(parser)
    return parser


def finish_trainer_parser(parser: Any, task: int, run: Any) -> None:
    """The trailing options common to the trainers (``--config``, ``--holdout``) and the entry point ``run``."""
    from algorithm.training.configs import add_config_argument

    add_config_argument(parser, task=task)
    add_holdout_arguments(parser)
    parser.set_defaults(func=run)


def trainer_main(name: str, register: Any, argv: list[str] | None) -> int:
    """Stand-alone entry of a trainer: ``python -m algorithm.training.NAME --data ... --out ...``."""
    import argparse
    import sys

    from hecktor.progress import setup_logging

    parser = argparse.ArgumentParser(prog=f"python -m algorithm.training.{name}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="model_name", required=True)
    register(sub)
    args = parser.parse_args([name, *(sys.argv[1:] if argv is None else argv)])
    setup_logging(args.verbose)
    return int(args.func(args) or 0)


def figure(value: float | None) -> str:
    """A figure for the summary line: 3 decimals, or "n/a" when undefined."""
    return "n/a" if value is None else f"{value:.3f}"


def masks_label(masks: str | Path) -> str:
    """How the training record names ``--masks``: ``ground-truth`` or ``predicted (<folder name>)``."""
    return str(masks) if str(masks) == GROUND_TRUTH else f"predicted ({Path(masks).name})"


def rounded_timings(timings: dict[str, float]) -> dict[str, float]:
    """The step timings (seconds) for the training record, to 0.1 s."""
    return {k: round(v, 1) for k, v in timings.items()}


def holdout_record(args: Any, cases: Sequence[TrainingCase]) -> dict[str, Any]:
    """The head of a ``holdout`` block: data set name, masks and case count."""
    return {"data": Path(args.holdout).name, "masks": str(args.holdout_masks), "n_cases": len(cases)}


def add_oracle(out: dict[str, Any], oracle: dict[str, Any] | None, key: str, name: str) -> dict[str, Any]:
    """``out`` with the synthetic generator's ``oracle[key]`` as ``name`` (and its seed) when known."""
    if oracle is not None and oracle.get(key) is not None:
        out[name] = round(float(oracle[key]), 4)
        out["synthetic_seed"] = oracle.get("seed")
    return out


def write_cv_predictions(out: Path, data: TrainingSet, fold_of: np.ndarray, columns: dict[str, Any]) -> None:
    """``OUT/cv_predictions.csv``: patient, centre, fold and the out-of-fold ``columns``."""
    pd.DataFrame(
        {"PatientID": [c.patient_id for c in data.cases], "centre": data.groups, "fold": fold_of, **columns}
    ).to_csv(out / "cv_predictions.csv", index=False)


def save_trained(model: Any, args: Any, score_holdout: Any) -> tuple[Path, Path]:
    """Score ``--holdout`` into ``model.training`` (when given), make the record JSON-safe and save the model
    in ``--out``; returns the output folder and the written model file."""
    from algorithm.tabular.serialisation import json_safe

    if args.holdout is not None:
        model.training["holdout"] = score_holdout(model, args)
    model.training = json_safe(model.training)
    out = Path(args.out)
    return out, model.save(out)
