"""HECKTOR 2026 staging: geometry features on differing grids, the classifiers, the trainer on a 2026 layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.cli import main
from algorithm.models import BUNDLED_MODEL_DIR
from algorithm.staging import StagingModel, fit_staging_model, staging_geometry
from hecktor.clinical import parse_clinical
from hecktor.staging import N_STAGES, T_STAGES
from synthetic import generate_cohort, write_training_layout


def phantom(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), spacing=(2.0, 2.0, 3.0)) -> tuple[sitk.Image, sitk.Image]:
    """A body block with a 20 mm-long box primary left of the midline and two nodes, one on each side."""
    size = (60, 50, 30)
    ct = np.full(size[::-1], -1000, np.int16)
    ct[:, 5:45, 10:50] = 40  # body: x voxels 10..49, midline at voxel 29.5
    lab = np.zeros(size[::-1], np.uint8)
    lab[10:14, 20:25, 31:41] = 1  # primary: 10 voxels (20 mm) along x, left of the midline
    lab[20:23, 20:23, 40:43] = 2  # ipsilateral node
    lab[20:23, 30:33, 15:18] = 2  # contralateral node
    images = []
    for arr in (ct, lab):
        image = sitk.GetImageFromArray(arr)
        image.SetSpacing(spacing)
        image.SetDirection(direction)
        image.SetOrigin((-50.0, 20.0, -300.0))
        images.append(image)
    return images[0], images[1]


def test_geometry_by_hand_and_invariant_to_flips():
    feats = staging_geometry(*phantom())
    assert feats["t_present"] == 1.0
    assert feats["t_volume_ml"] == pytest.approx(4 * 5 * 10 * 12 / 1000)
    # greatest: corner to corner of the 10 x 5 x 4 voxel box (centres), plus one mean voxel edge
    expected = float(np.sqrt((9 * 2.0) ** 2 + (4 * 2.0) ** 2 + (3 * 3.0) ** 2)) + 7 / 3
    assert feats["t_greatest_mm"] == pytest.approx(expected, rel=1e-6)
    assert feats["t_midline_reach_mm"] == pytest.approx(-(31 - 29.5) * 2.0)
    assert feats["n_count"] == 2 and feats["n_contralateral"] == 1 and feats["n_bilateral"] == 1
    assert feats["n_total_ml"] == pytest.approx(2 * 27 * 12 / 1000)
    flipped = staging_geometry(*phantom(direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1)))
    for key, value in feats.items():
        assert flipped[key] == pytest.approx(value), key


def test_empty_mask_features_and_fallback():
    ct, lab = phantom()
    empty = sitk.Image(lab.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(lab)
    feats = staging_geometry(ct, empty)
    assert feats["t_present"] == 0 and feats["n_count"] == 0
    model = StagingModel.load(BUNDLED_MODEL_DIR / "staging")
    prediction = model.predict(feats, parse_clinical({}))
    assert (prediction.t_stage, prediction.n_stage) == (model.fallback["T"], model.fallback["N"])
    assert prediction.fallbacks and model.predict(None, None).fallbacks
    assert "empty-mask fallback" in model.describe()["summary"]


def test_classifier_learns_a_separable_rule_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    rows, t, n = [], [], []
    for _ in range(80):
        size = rng.uniform(10, 50)
        count = int(rng.integers(0, 4))
        rows.append(
            {
                "t_present": 1.0,
                "t_volume_ml": size / 5,
                "t_greatest_mm": size,
                "t_midline_reach_mm": -5.0,
                "t_offset_mm": 10.0,
                "n_count": float(count),
                "n_largest_mm": 10.0 * (count > 0),
                "n_largest_ml": 0.5 * count,
                "n_total_ml": 0.6 * count,
                "n_contralateral": 0.0,
                "n_bilateral": 0.0,
            }
        )
        t.append("T1" if size < 20 else "T2" if size < 30 else "T3")
        n.append(["N0", "N1", "N2", "N2"][count])
    clinical = [parse_clinical({"Age": 60, "HPV Status": 1})] * len(rows)
    model = fit_staging_model(rows, clinical, t, n, config="geometry")
    model.save(tmp_path)
    loaded = StagingModel.load(tmp_path)
    hits = [loaded.predict(r, c) for r, c in zip(rows, clinical, strict=True)]
    assert np.mean([h.t_stage == s for h, s in zip(hits, t, strict=True)]) > 0.85
    assert np.mean([h.n_stage == s for h, s in zip(hits, n, strict=True)]) > 0.95
    assert loaded.fallback == {"T": max(set(t), key=t.count), "N": "N2"}


def test_trainer_on_a_synthetic_2026_layout(tmp_path):
    write_training_layout(generate_cohort(8, seed=3), tmp_path / "data", edition="2026")
    out = tmp_path / "model"
    folder = str(tmp_path / "data")
    code = main(["train", "staging", "--data", folder, "--out", str(out), "--folds", "2", "--holdout", folder])
    assert code == 0
    data = json.loads((out / "model.json").read_text())
    assert data["format"] == "hecktor-kit/staging" and data["kind"] == "logistic" and data["training"]["n_cases"] == 8
    assert data["training"]["synthetic_oracle"]["staging_score"] is not None
    held = data["training"]["holdout"]  # --holdout: the final model scored on a dataset of the same layout
    assert held["n_cases"] == 8 and 0.0 <= held["staging_score"] <= 1.0 and held["synthetic_oracle"] is not None
    model = StagingModel.load(out)
    assert set(model.t_model.classes) <= set(T_STAGES) and set(model.n_model.classes) <= set(N_STAGES)
