"""The benches' mask caches are keyed by the segmentation weights that made the masks (bench/masks.py)."""

from __future__ import annotations

import json
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
    assert one != every and one.parent.name.endswith("-folds0")
    # a fold added to the run folder later (config.json and model.json rewritten) keeps fold 0's key
    run = tmp_path / "run"
    shutil.copytree(model, run)
    before = mask_cache(tmp_path, "predicted", "syn1", run, folds=[0])
    shutil.copy(run / "fold_0.pt", run / "fold_1.pt")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "folds": [0, 1], "training": {"epochs": 2}}))
    assert mask_cache(tmp_path, "predicted", "syn1", run, folds=[0]) == before
    assert mask_cache(tmp_path, "predicted", "syn1", run) != mask_cache(tmp_path, "predicted", "syn1", model)
    config["pet_reference_suv"] = 1.5  # an inference setting: another key
    (run / "config.json").write_text(json.dumps(config))
    assert mask_cache(tmp_path, "predicted", "syn1", run, folds=[0]) != before
