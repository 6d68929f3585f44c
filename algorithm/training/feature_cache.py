"""The imaging-feature cache of the Task 2 / 3 trainers and the design matrix built from it.

Features are cached in ``<cache>/features.csv``: one row per (``patient_id``, ``input_hash``) with the
features, where the hash covers the features version and each input file's name, size and a SHA-256
of its first and last MiB; a row is reused only when both match.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
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
from algorithm.training.cases import TrainingCase
from hecktor.errors import InputError
from hecktor.imageio import read_image
from hecktor.progress import progress

log = logging.getLogger(__name__)

CACHE_FILE = "features.csv"
_HASH_CHUNK = 1 << 20


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


def design_matrix(
    cases: Sequence[TrainingCase], features: pd.DataFrame, clinical: Sequence[str] = CLINICAL_FEATURE_NAMES
) -> tuple[np.ndarray, list[str]]:
    """Rows (one per case) over imaging + ``clinical`` feature names (2025's by default), NaN where missing.

    The imaging part is :data:`~algorithm.features.MODEL_IMAGING_FEATURE_NAMES`: features in SUV,
    which move with a centre's PET calibration, are left out in favour of their ratio counterparts.
    """
    names = [*MODEL_IMAGING_FEATURE_NAMES, *clinical]
    x = np.full((len(cases), len(names)), np.nan)
    for i, case in enumerate(cases):
        merged: dict[str, float] = {}
        if case.patient_id in features.index:
            merged.update({n: float(features.loc[case.patient_id, n]) for n in MODEL_IMAGING_FEATURE_NAMES})
        merged.update(clinical_features(case.clinical))
        x[i] = [merged.get(n, math.nan) for n in names]
    return x, names
