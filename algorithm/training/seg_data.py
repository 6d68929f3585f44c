"""Training data for Task 1: find the organisers' cases, split them into folds, cache their preprocessing.

Organisers' layout: ``Task 1/<PatientID>/<PatientID>__CT.nii.gz``, ``<PatientID>__PT.nii.gz`` and the
label ``<PatientID>.nii.gz`` (0 background, 1 GTVp, 2 GTVn, on the CT grid). The label is looked for
next to the images first, then anywhere under the data folder. Either the dataset root (holding
``Task 1``) or the ``Task 1`` folder itself is accepted.

The cache holds, per case, the output of the *same* :func:`algorithm.segmentation.preprocess.preprocess`
that inference runs: ``<PatientID>_image.npy`` (C, z, y, x) float16 and ``<PatientID>_label.npy``
(z, y, x) uint8 on the crop grid, and ``<PatientID>.json`` with a key of the preprocessing settings and
input files (a case whose key changed is recomputed), the crop grid and the locator's method. Training
memory-maps the arrays, so a thousand 1 mm cases (about 50 MB each) need not fit in RAM.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from algorithm.intensity import harmonise_training_pair
from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.locate_net import NetworkLocator
from algorithm.segmentation.preprocess import preprocess
from hecktor.dataset_layout import image_stem, label_stem, task_of_dir_name
from hecktor.errors import HecktorError, InputError
from hecktor.imageio import IMAGE_SUFFIXES, read_image, strip_image_suffix
from hecktor.patients import centre_of
from hecktor.progress import progress

log = logging.getLogger(__name__)

#: Config fields that change the preprocessed arrays (the cache key).
PREPROCESSING_FIELDS = (
    "channels_order",
    "spacing_mm",
    "crop_size_mm",
    "ct_window_hu",
    "pet_transform",
    "pet_scale",
    "pet_clip_suv",
    "pet_reference_suv",
    "locate",
    "target",
    "target_dilation_mm",
)
#: Bump when the code that makes the arrays changes (unit handling in ``harmonise_training_pair``, the PET
#: calibration, resampling): 2 = crops calibrated by ``pet_reference_suv`` as at inference.
CACHE_VERSION = 2


@dataclass(frozen=True)
class TrainingCase:
    """One labelled case: patient ID and the paths of its CT (HU), PET (SUV) and label (0/1/2)."""

    patient_id: str
    ct: Path
    pet: Path
    label: Path

    @property
    def centre(self) -> str:
        return centre_of(self.patient_id)


@dataclass
class CachedCase:
    """A preprocessed case, memory-mapped: image (C, z, y, x) float16, label (z, y, x) uint8, spacing (x, y, z) mm."""

    patient_id: str
    image: np.ndarray
    label: np.ndarray
    spacing_mm: tuple[float, float, float]


def task1_folder(data: Path) -> Path:
    """The ``Task 1`` folder under ``data`` (any spelling such as ``Task_1``), or ``data`` itself."""
    data = Path(data)
    if not data.is_dir():
        raise InputError(data, "training data folder is missing")
    for child in sorted(data.iterdir()):
        if child.is_dir() and task_of_dir_name(child.name) == 1:
            return child
    return data


def find_cases(data: Path) -> list[TrainingCase]:
    """All labelled cases under ``data`` (dataset root or Task 1 folder), sorted by patient ID.

    Cases without a PET or a label are skipped with a warning.

    Raises:
        InputError: the folder is missing or holds no usable case.
    """
    folder = task1_folder(data)
    images = [p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)]
    by_stem = {strip_image_suffix(p.name): p for p in sorted(images)}
    cases: list[TrainingCase] = []
    for stem, ct in sorted(by_stem.items()):
        match = re.fullmatch(r"(?P<pid>.+?)__CT", stem, flags=re.IGNORECASE)
        if not match:
            continue
        pid = match.group("pid")
        pet = _sibling(ct, image_stem(pid, "pet")) or by_stem.get(image_stem(pid, "pet"))
        label = _sibling(ct, label_stem(pid)) or by_stem.get(label_stem(pid))
        if pet is None or label is None:
            log.warning("skipping %s: %s missing", pid, "PET" if pet is None else "label")
            continue
        cases.append(TrainingCase(pid, ct, pet, label))
    if not cases:
        raise InputError(folder, "no training case found (expected <PID>/<PID>__CT.nii.gz, __PT.nii.gz, <PID>.nii.gz)")
    log.info("found %d training cases in %s", len(cases), folder)
    return cases


def _sibling(ct: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (ct.parent / f"{stem}{suffix}", ct.parent / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def centre_folds(patient_ids: list[str], n_folds: int = 5, seed: int = 0) -> dict[str, int]:
    """Fold (0..n_folds-1) of each patient, stratified by centre (the patient ID's prefix).

    Patients of each centre are shuffled (seeded) and dealt to the folds in turn, continuing from
    where the previous centre stopped, so every fold gets a share of every centre and folds differ in
    size by at most one.
    """
    rng = np.random.default_rng(seed)
    by_centre: dict[str, list[str]] = {}
    for pid in sorted(patient_ids):
        by_centre.setdefault(centre_of(pid), []).append(pid)
    folds: dict[str, int] = {}
    k = 0
    for centre in sorted(by_centre):
        members = by_centre[centre]
        for i in rng.permutation(len(members)):
            folds[members[i]] = k % n_folds
            k += 1
    return folds


def leave_centre_folds(patient_ids: list[str], n_folds: int = 5) -> dict[str, int]:
    """Fold (0..n_folds-1) of each patient with whole centres per fold (leave-centre(s)-out, the test set's case).

    Centres (the patient ID's prefix) are taken from the largest to the smallest (ties by name) and each
    goes to the fold holding the fewest patients so far (ties: the lowest fold), so folds are as even in
    size as whole centres allow. Deterministic; ``n_folds`` equal to the number of centres is strict
    leave-one-centre-out.

    Raises:
        HecktorError: fewer centres than folds (the message names the centres and the largest usable count).
    """
    by_centre: dict[str, list[str]] = {}
    for pid in sorted(patient_ids):
        by_centre.setdefault(centre_of(pid), []).append(pid)
    if len(by_centre) < n_folds:
        raise HecktorError(
            f"--split centre needs a centre per fold: {n_folds} folds but {len(by_centre)} centre(s)"
            f" ({', '.join(sorted(by_centre))}); use --n-folds {len(by_centre)} or fewer"
        )
    sizes = [0] * n_folds
    folds: dict[str, int] = {}
    for centre in sorted(by_centre, key=lambda c: (-len(by_centre[c]), c)):
        k = min(range(n_folds), key=lambda f: (sizes[f], f))
        sizes[k] += len(by_centre[centre])
        folds.update(dict.fromkeys(by_centre[centre], k))
    return folds


def split_folds(patient_ids: list[str], n_folds: int, seed: int, split: str) -> dict[str, int]:
    """Folds by ``split``: ``"stratified"`` (:func:`centre_folds`) or ``"centre"`` (:func:`leave_centre_folds`)."""
    if split == "centre":
        return leave_centre_folds(patient_ids, n_folds)
    if split == "stratified":
        return centre_folds(patient_ids, n_folds, seed)
    raise HecktorError(f"unknown split {split!r}; known: stratified, centre")


def cache_key(case: TrainingCase, config: SegmentationConfig, locator: NetworkLocator | None = None) -> str:
    """Hash of the preprocessing settings, the input files' sizes and modification times (and the locator's)."""
    settings = {name: config.to_dict()[name] for name in PREPROCESSING_FIELDS}
    files = [(str(p.name), p.stat().st_size, p.stat().st_mtime_ns) for p in (case.ct, case.pet, case.label)]
    content: dict[str, object] = {"v": CACHE_VERSION, "settings": settings, "files": files}
    if locator is not None and hasattr(locator, "fingerprint"):  # the nnU-Net locator
        content["locator"] = locator.fingerprint()
    elif locator is not None and config.locate.method == "network":
        fingerprint = [sum(float(p.detach().sum()) for p in net.parameters()) for net in locator.nets]
        content["locator"] = [locator.config.to_dict(), fingerprint]
    blob = json.dumps(content, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_case(
    case: TrainingCase, config: SegmentationConfig, cache_dir: Path, locator: NetworkLocator | None = None
) -> Path:
    """Preprocess ``case`` into ``cache_dir`` unless up-to-date files are there; the path of its ``.json``.

    Raises:
        InputError: an image is unreadable, or the label holds values outside {0, 1, 2} (naming the file).
    """
    cache_dir = Path(cache_dir)
    meta_path = cache_dir / f"{case.patient_id}.json"
    key = cache_key(case, config, locator)
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            image_ok = (cache_dir / meta["image"]).is_file() and (cache_dir / meta["label"]).is_file()
            if meta.get("key") == key and image_ok:
                return meta_path
        except (OSError, ValueError, KeyError, TypeError):
            pass
    ct = read_image(case.ct, "CT")
    pet = read_image(case.pet, "PET")
    label = read_image(case.label, "label")
    ct, pet = harmonise_training_pair(ct, pet, case.patient_id)  # Bq/ml, SUV x 1000, HU offset
    truth = sitk.GetArrayViewFromImage(label)
    if truth.min() < 0 or truth.max() > 2:
        raise InputError(case.label, f"label values outside {{0, 1, 2}} (range {truth.min()}..{truth.max()})")
    pre = preprocess(ct, pet, config, label=label, locator=locator)
    assert pre.label is not None
    truth_mm3 = np.bincount(truth.ravel().astype(np.int64), minlength=3)[1:3] * np.prod(label.GetSpacing())
    crop_mm3 = np.bincount(pre.label.ravel(), minlength=3)[1:3] * np.prod(pre.grid.spacing)
    coverage = np.where(truth_mm3 > 0, crop_mm3 / np.maximum(truth_mm3, 1e-9), 1.0)
    if config.target == "region":  # a dilated 0/1 mask: coverage per class is meaningless
        coverage = np.ones(2)
    if np.any(coverage < 0.95):
        log.warning("%s: the crop holds only %s of GTVp/GTVn volume", case.patient_id, np.round(coverage, 2).tolist())
    cache_dir.mkdir(parents=True, exist_ok=True)
    names = {"image": f"{case.patient_id}_image.npy", "label": f"{case.patient_id}_label.npy"}
    np.save(cache_dir / names["image"], pre.image.astype(np.float16))
    np.save(cache_dir / names["label"], pre.label.astype(np.uint8))
    meta = {
        "key": key,
        **names,
        "spacing_mm": list(pre.grid.spacing),
        "origin_mm": list(pre.grid.origin),
        "size": list(pre.grid.size),
        "locate_method": pre.box.method,
        "label_coverage": [float(c) for c in coverage],
    }
    tmp = meta_path.with_name(meta_path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(meta_path)  # written last: a case is cached only once its arrays are complete
    return meta_path


def build_cache(
    cases: list[TrainingCase], config: SegmentationConfig, cache_dir: Path, locator: NetworkLocator | None = None
) -> dict[str, Path]:
    """Preprocess every case (with progress lines); patient ID -> cache file.

    The per-stage lines of the preprocessing are silenced here (warnings still show), so that a
    thousand cases give progress lines rather than ten thousand stage lines.
    """
    paths: dict[str, Path] = {}
    stages = logging.getLogger("algorithm.segmentation")
    level = stages.level
    stages.setLevel(max(level, logging.WARNING))
    try:
        for case in progress(cases, "preprocessing", log):
            paths[case.patient_id] = cache_case(case, config, cache_dir, locator)
    finally:
        stages.setLevel(level)
    return paths


def load_cached(patient_id: str, meta_path: Path) -> CachedCase:
    """A cached case, its arrays memory-mapped read-only (image float16, label uint8)."""
    meta = json.loads(Path(meta_path).read_text())
    folder = Path(meta_path).parent
    return CachedCase(
        patient_id,
        np.load(folder / meta["image"], mmap_mode="r"),
        np.load(folder / meta["label"], mmap_mode="r"),
        tuple(float(s) for s in meta["spacing_mm"]),  # type: ignore[arg-type]
    )
