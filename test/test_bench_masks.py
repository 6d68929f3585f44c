"""The benches' mask caches are keyed by the segmentation weights that made the masks (bench/masks.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.masks import bundled_segmentation, mask_cache, segmentation_fingerprint


def test_other_weights_get_another_mask_folder(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(bundled_segmentation(), model)
    before = mask_cache(tmp_path / "cache", "predicted", "syn1", model)
    assert before == mask_cache(tmp_path / "cache", "predicted", "syn1", model)  # stable
    assert before.parent.name == f"seg-{segmentation_fingerprint(model)}"
    weights = next(model.glob("fold_*.pt"))
    weights.write_bytes(weights.read_bytes() + b"\0")  # other weights, same file names
    after = mask_cache(tmp_path / "cache", "predicted", "syn1", model)
    assert after != before and after.name == before.name == "syn1"


def test_a_subset_of_folds_gets_its_own_mask_folder(tmp_path: Path) -> None:
    model = bundled_segmentation()
    every = mask_cache(tmp_path, "predicted", "syn1", model)
    one = mask_cache(tmp_path, "predicted", "syn1", model, folds=[0])
    assert one != every and one.parent.name == f"{every.parent.name}-folds0"
    assert mask_cache(tmp_path, "predicted", "syn1", model, folds=[0, 2]).parent.name.endswith("-folds0_2")
