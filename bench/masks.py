"""Predicted masks of the bundled segmentation model for the Tasks 2/3 benches, cached per set of weights.

A mask cache keyed only by cohort silently reuses masks of earlier weights once the bundled model changes (it
happened twice in issues 16-17). Here every cache folder carries the weights' fingerprint:
``CACHE/<kind>/seg-<fingerprint>/<cohort>/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

#: Files of a segmentation model folder that decide its masks.
MODEL_FILE_PATTERNS = ("*.pt", "config.json", "model.json")


def segmentation_fingerprint(model_dir: Path, folds: list[int] | None = None) -> str:
    """First 12 hex digits of the SHA-256 of the model folder's weights and configuration (names and bytes).

    With ``folds``: only those folds' weight files and the configuration without its ``folds`` list and
    ``training`` record, so that a fold trained later into the same run folder (which rewrites ``config.json``
    and ``model.json``) does not change the key of masks made by the folds already there.
    """
    digest = hashlib.sha256()
    if folds is not None:
        config = json.loads((Path(model_dir) / "config.json").read_text())
        config.pop("folds", None)
        config.pop("training", None)
        digest.update(json.dumps(config, sort_keys=True).encode())
        files = [Path(model_dir) / f"fold_{k}.pt" for k in folds]
    else:
        files = sorted({p for pattern in MODEL_FILE_PATTERNS for p in Path(model_dir).glob(pattern)})
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def bundled_segmentation() -> Path:
    """The segmentation model folder the container uses without a mounted model."""
    from algorithm.models import resolve_component_dir

    return resolve_component_dir("segmentation", None)


def mask_cache(
    cache: Path, kind: str, cohort: str, model_dir: Path | None = None, folds: list[int] | None = None
) -> Path:
    """``cache/kind/seg-<fingerprint of model_dir (default: the bundled model)>[-folds<k...>]/cohort``
    (the suffix when only ``folds`` of the folder segment)."""
    fingerprint = segmentation_fingerprint(model_dir or bundled_segmentation(), folds)
    suffix = "" if folds is None else "-folds" + "_".join(str(k) for k in folds)
    return Path(cache) / kind / f"seg-{fingerprint}{suffix}" / cohort


def image_cases(data: Path, n: int | None = None) -> list[Any]:
    """The first ``n`` Task 2 cases of ``data`` that have a CT and a PET (the trainers' order)."""
    from algorithm.training.cases import load_cases

    cases, _ = load_cases(data, 2)
    return [c for c in cases if c.ct is not None and c.pet is not None][:n]


def progress(what: str, k: int, n: int, t0: float) -> None:
    """A progress line every 20 cases and at the end (k of n, elapsed, eta)."""
    if k % 20 == 0 or k == n:
        el = time.perf_counter() - t0
        print(f"  {what}: {k}/{n}, {el:.0f} s, eta {el / k * (n - k):.0f} s", flush=True)


def container_masks(
    data: Path,
    cache: Path,
    n: int | None,
    threads: int | None = None,
    model_dir: Path | None = None,
    folds: list[int] | None = None,
) -> Path:
    """Masks of the first ``n`` cases of ``data`` as the container segments them (harmonised CT/PET) with the
    segmentation model folder ``model_dir`` (default: the bundled one), only its ``folds`` when given (default:
    its config's), cached in :func:`mask_cache` ``(cache, "predicted", data.name, model_dir, folds)`` as
    ``<PID>.nii.gz``."""
    import SimpleITK as sitk
    import torch

    from algorithm.intensity import harmonise_training_pair
    from algorithm.segmentation import Segmenter
    from hecktor.imageio import read_image

    model_dir = model_dir or bundled_segmentation()
    out = mask_cache(cache, "predicted", data.name, model_dir, folds)
    out.mkdir(parents=True, exist_ok=True)
    todo = [c for c in image_cases(data, n) if not (out / f"{c.patient_id}.nii.gz").is_file()]
    if not todo:
        return out
    if threads:
        torch.set_num_threads(threads)
    segmenter = Segmenter.load(model_dir, device="cpu", folds=folds)
    stages = logging.getLogger("algorithm.segmentation")
    level = stages.level
    stages.setLevel(max(level, logging.WARNING))
    t0 = time.perf_counter()
    try:
        for k, case in enumerate(todo, 1):
            if (out / f"{case.patient_id}.nii.gz").is_file():  # written meanwhile by another run on the cache
                continue
            ct, pet = harmonise_training_pair(read_image(case.ct, "CT"), read_image(case.pet, "PET"), case.patient_id)
            tmp = out / f"{case.patient_id}.tmp.nii.gz"
            sitk.WriteImage(segmenter.segment(ct, pet), str(tmp), useCompression=True)
            tmp.rename(out / f"{case.patient_id}.nii.gz")
            progress(f"container masks of {data.name}", k, len(todo), t0)
    finally:
        stages.setLevel(level)
    return out
