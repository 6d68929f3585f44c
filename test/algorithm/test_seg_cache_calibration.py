"""Training crops get the PET calibration the model applies at inference (``pet_reference_suv``), and the
cache is rebuilt when that setting changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.segmentation import SegmentationConfig
from algorithm.training.seg_data import cache_case, find_cases
from synthetic import generate_cohort, write_training_layout

PET_CHANNEL = 1  # channels_order [CT, PET]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("calib_data")
    write_training_layout(generate_cohort(n=1, seed=5, size="small"), root)
    return root


def _config(reference: float | None) -> SegmentationConfig:
    return SegmentationConfig(
        spacing_mm=[4.0, 4.0, 4.0],
        patch_size=[16, 16, 16],
        crop_size_mm=[128.0, 128.0, 160.0],
        pet_transform="linear",
        pet_scale=10.0,
        pet_clip_suv=1000.0,
        pet_reference_suv=reference,
    )


def _scaled_copy(dataset: Path, out: Path, factor: float) -> Path:
    """The dataset with every PET multiplied by ``factor`` (another centre's calibration)."""
    case = find_cases(dataset)[0]
    root = out / "Task 1"
    for path in (case.ct, case.label, case.pet):
        dest = root / path.relative_to(dataset / "Task 1")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path == case.pet:
            pet = sitk.ReadImage(str(path), sitk.sitkFloat32)
            sitk.WriteImage(pet * factor, str(dest))
        else:
            dest.write_bytes(path.read_bytes())
    return out


def _pet_crop(dataset: Path, config: SegmentationConfig, cache: Path) -> np.ndarray:
    meta = json.loads(cache_case(find_cases(dataset)[0], config, cache).read_text())
    return np.load(cache / meta["image"]).astype(np.float32)[PET_CHANNEL]


def test_training_crops_are_calibration_free_like_the_inference_input(dataset: Path, tmp_path: Path) -> None:
    doubled = _scaled_copy(dataset, tmp_path / "doubled", 2.0)
    calibrated = _config(0.8)
    original = _pet_crop(dataset, calibrated, tmp_path / "c1")
    assert original.max() > 0.05
    np.testing.assert_allclose(_pet_crop(doubled, calibrated, tmp_path / "c2"), original, rtol=0.01, atol=1e-3)
    raw = _config(None)  # without the setting, the network sees the calibration
    np.testing.assert_allclose(
        _pet_crop(doubled, raw, tmp_path / "c3"), 2 * _pet_crop(dataset, raw, tmp_path / "c4"), rtol=0.01, atol=1e-3
    )


def test_the_cache_is_rebuilt_when_the_pet_reference_changes(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    raw = _pet_crop(dataset, _config(None), cache)
    calibrated = _pet_crop(dataset, _config(0.4), cache)  # same folder: the key must differ
    assert not np.allclose(raw, calibrated)
