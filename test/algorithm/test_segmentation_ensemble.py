"""Ensembles of members of different kinds (kind ``ensemble``) and the nnU-Net locator, the fast part: the weighted
mean on hand-made probabilities, the averaging inside ``segment`` on a hand-made case, an ensemble of two kit MONAI
folders through ``model.json``, one-line errors naming the member's folder, the locator's box and its fallback.
The ensemble with a real nnU-Net member (trained by nnU-Net) is in test_nnunet_training.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from grids import flipped_x

from algorithm.model_files import ModelError
from algorithm.segmentation import load_segmentation_model
from algorithm.segmentation.config import SegmentationConfig
from algorithm.segmentation.ensemble import EnsembleMember, EnsembleSegmenter, weighted_mean, write_descriptor
from algorithm.segmentation.network import build_network, state_dict_cpu
from algorithm.segmentation.nnunet.block import CaseBlock
from algorithm.segmentation.nnunet.locate import NnUNetLocator
from algorithm.segmentation.nnunet.options import NnUNetOptions
from synthetic import generate_case

BOX_MM = [160.0, 160.0, 200.0]


@pytest.fixture(scope="module")
def case():
    """A synthetic case whose CT differs from the PET in spacing, origin and direction (CT flipped in x)."""
    c = generate_case("CHUM-201", seed=41, size="small")
    return flipped_x(c.ct), c.pet


def tiny_monai_folder(folder: Path, seed: int, channels: list[str]) -> Path:
    config = SegmentationConfig(
        network_kwargs={"init_filters": 8, "blocks_down": [1, 1, 1, 1], "blocks_up": [1, 1, 1]},
        channels_order=channels,
        spacing_mm=[4.0, 4.0, 4.0],
        patch_size=[32, 32, 32],
        crop_size_mm=BOX_MM,
        sw_overlap=0.25,
        min_component_mm3=0.0,
    )
    folder.mkdir(parents=True)
    config.save(folder)
    torch.manual_seed(seed)
    torch.save(state_dict_cpu(build_network(config)), folder / "fold_0.pt")
    return folder


def ensemble_config(members: dict[str, float], **overrides) -> SegmentationConfig:
    return SegmentationConfig(crop_size_mm=BOX_MM, members=members, min_component_mm3=0.0, **overrides)


def test_weighted_mean_is_the_weighted_mean_of_the_members() -> None:
    a = np.array([[[[0.2]]], [[[0.8]]], [[[0.0]]]], dtype=np.float32)
    b = np.array([[[[0.3]]], [[[0.0]]], [[[0.7]]]], dtype=np.float32)
    c = np.array([[[[1.0]]], [[[0.0]]], [[[0.0]]]], dtype=np.float32)
    mean = weighted_mean([(a, 1.0), (b, 3.0), (c, 0.0)])
    np.testing.assert_allclose(mean[:, 0, 0, 0], [0.275, 0.2, 0.525], rtol=1e-6)  # by hand: (p_a + 3 p_b) / 4
    rng = np.random.default_rng(0)
    members = [rng.dirichlet([1, 1, 1], size=(4, 5, 6)).transpose(3, 0, 1, 2).astype(np.float32) for _ in range(3)]
    weights = [0.5, 2.0, 1.25]
    expected = np.average(np.stack(members), axis=0, weights=weights)
    np.testing.assert_allclose(weighted_mean(zip(members, weights, strict=True)), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="positive weight"):
        weighted_mean([(a, 0.0)])
    with pytest.raises(ValueError, match="shape"):
        weighted_mean([(a, 1.0), (members[0], 1.0)])


class HandMade:
    """A fake nnU-Net member: fixed class probabilities on the left (low x index) half of the block, others right."""

    def __init__(self, left: list[float], right: list[float]) -> None:
        self.left, self.right = left, right
        self.blocks: list[tuple[int, ...]] = []

    def block_probabilities(self, case: CaseBlock, timings: dict[str, float]) -> np.ndarray:
        x, y, z = case.ct.GetSize()
        self.blocks.append((x, y, z))
        out = np.empty((3, z, y, x), dtype=np.float32)
        out[:, :, :, : x // 2] = np.asarray(self.left, dtype=np.float32)[:, None, None, None]
        out[:, :, :, x // 2 :] = np.asarray(self.right, dtype=np.float32)[:, None, None, None]
        return out


@pytest.mark.parametrize(("weights", "left", "right"), [((1.0, 1.0), 1, 0), ((1.0, 3.0), 2, 2), ((1.0, 0.0), 1, 0)])
def test_segment_takes_the_argmax_of_the_weighted_mean_on_the_ct_grid(case, weights, left, right) -> None:
    ct, pet = case
    a = HandMade([0.2, 0.8, 0.0], [1.0, 0.0, 0.0])  # (1:1) left 0.25/0.40/0.35 -> GTVp, right 0.65/0/0.35 -> 0
    b = HandMade([0.3, 0.0, 0.7], [0.3, 0.0, 0.7])  # (1:3) left 0.275/0.2/0.525, right 0.475/0/0.525 -> GTVn
    members = [EnsembleMember("a", "nnunet", weights[0], Path("a"), a)]
    members.append(EnsembleMember("b", "nnunet", weights[1], Path("b"), b))
    seg = EnsembleSegmenter(ensemble_config({"a": weights[0], "b": weights[1]}), members, "cpu")
    mask = seg.segment(ct, pet)
    assert mask.GetPixelID() == sitk.sitkUInt8 and mask.GetSize() == ct.GetSize()
    assert (mask.GetSpacing(), mask.GetOrigin(), mask.GetDirection()) == (
        ct.GetSpacing(),
        ct.GetOrigin(),
        ct.GetDirection(),
    )
    assert a.blocks == b.blocks and len(a.blocks) == 1  # one common grid for every member
    nx, ny, nz = a.blocks[0]
    expected = {1: 0, 2: 0}
    for value, n in ((left, nx // 2), (right, nx - nx // 2)):
        if value:
            expected[value] += n * ny * nz
    labels = sitk.GetArrayViewFromImage(mask)
    assert {v: int(np.count_nonzero(labels == v)) for v in (1, 2)} == expected


def test_an_ensemble_of_kit_folders_runs_from_model_json_and_logs_members(case, tmp_path, caplog) -> None:
    model = tmp_path / "ensemble"
    tiny_monai_folder(model / "members" / "segresnet", 0, ["CT", "PET"])
    tiny_monai_folder(model / "members" / "sjtu_channels", 1, ["CT", "CT^2", "cbrt(CT)", "PET"])
    ensemble_config({"segresnet": 1.0, "sjtu_channels": 2.0}).save(model)
    write_descriptor(model)
    with caplog.at_level(logging.INFO):
        seg = load_segmentation_model(model, device="cpu")
    assert isinstance(seg, EnsembleSegmenter)
    assert [(m.name, m.kind, m.weight) for m in seg.members] == [
        ("segresnet", "monai", 1.0),
        ("sjtu_channels", "monai", 2.0),
    ]
    assert (
        "segresnet [monai, weight 1 = 0.333]" in caplog.text
        and "sjtu_channels [monai, weight 2 = 0.667]" in caplog.text
    )
    ct, pet = case
    mask = seg.segment(ct, pet)
    assert mask.GetPixelID() == sitk.sitkUInt8 and mask.GetSize() == ct.GetSize()
    assert mask.GetDirection() == ct.GetDirection() and mask.GetOrigin() == ct.GetOrigin()
    assert seg.describe()["members"] == {
        "segresnet": {"kind": "monai", "weight": 1.0},
        "sjtu_channels": {"kind": "monai", "weight": 2.0},
    }


def test_a_bad_member_is_one_line_naming_its_folder(tmp_path) -> None:
    model = tmp_path / "ensemble"
    tiny_monai_folder(model / "members" / "good", 0, ["CT", "PET"])
    bad = model / "members" / "bad"
    bad.mkdir(parents=True)
    (bad / "config.json").write_text(json.dumps({"architecture": "SegResNet"}))
    ensemble_config({"good": 1.0, "bad": 1.0}).save(model)
    write_descriptor(model)
    with pytest.raises(ModelError, match=r"ensemble member 'bad' \(.*members/bad\)") as info:
        load_segmentation_model(model, device="cpu")
    assert "\n" not in str(info.value)
    ensemble_config({"good": 1.0, "absent": 1.0}).save(model)
    with pytest.raises(ModelError, match=r"members/absent: ensemble member 'absent' is missing"):
        load_segmentation_model(model, device="cpu")


class FakeNnUNet:
    """What :class:`NnUNetLocator` uses of an nnU-Net model: options and block probabilities (a blob, or nothing)."""

    def __init__(self, blob_mm: np.ndarray | None) -> None:
        self.options = NnUNetOptions(crop_size_mm=[400.0, 400.0, 600.0], locate={"method": "whole-scan"})
        self.blob_mm = blob_mm

    def block_probabilities(self, case: CaseBlock, timings=None) -> np.ndarray:
        x, y, z = case.ct.GetSize()
        fg = np.zeros((z, y, x), dtype=np.float32)
        if self.blob_mm is not None:
            index = case.ct.TransformPhysicalPointToIndex(tuple(float(v) for v in self.blob_mm))
            i, j, k = index
            fg[k - 2 : k + 3, j - 2 : j + 3, i - 2 : i + 3] = 0.9
        return np.stack([1 - fg, fg, np.zeros_like(fg)])


def test_nnunet_locator_centres_the_box_on_its_region_and_falls_back_when_empty(case, tmp_path, caplog) -> None:
    ct, pet = case
    centre = np.asarray(ct.TransformContinuousIndexToPhysicalPoint([s / 2 for s in ct.GetSize()]))
    locator = NnUNetLocator(FakeNnUNet(centre))
    box = locator.locate(ct, pet, [64.0, 64.0, 64.0])
    assert box is not None and box.method == "nnunet"
    np.testing.assert_allclose(box.centre_mm, centre, atol=max(ct.GetSpacing()))
    assert NnUNetLocator(FakeNnUNet(None)).locate(ct, pet, [64.0, 64.0, 64.0]) is None

    members = [EnsembleMember("a", "nnunet", 1.0, Path("a"), HandMade([1.0, 0.0, 0.0], [1.0, 0.0, 0.0]))]
    seg = EnsembleSegmenter(
        ensemble_config({"a": 1.0}, locate={"method": "nnunet"}),
        members,
        "cpu",
        locator=NnUNetLocator(FakeNnUNet(None)),
    )
    with caplog.at_level(logging.INFO):
        seg.segment(ct, pet)
    assert "the locator network found no head-and-neck region; using the PET heuristic" in caplog.text
    assert "ensemble grid" in caplog.text and "(pet-brain)" in caplog.text
    with pytest.raises(ModelError, match="not an nnU-Net trained-model folder"):
        NnUNetLocator.load(tmp_path)
