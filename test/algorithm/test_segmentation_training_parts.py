"""Parts of ``train segmentation``: official-metric validation, leave-centre-out folds, augmentation, loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from algorithm.training.seg_augment import DEFAULTS, augment, build_augmentation, resolve_settings
from algorithm.training.seg_data import CachedCase, leave_centre_folds, split_folds
from algorithm.training.seg_loader import PatchStream, make_loader
from algorithm.training.seg_loop import TrainSettings
from algorithm.training.seg_metrics import case_score, selection_score, summarise
from algorithm.training.seg_sampling import PatchSampler
from hecktor.errors import HecktorError

OFF = {name: {"prob": 0.0} for name in DEFAULTS}
#: Normalised CT and PET outside the scan (-1024 HU in the [-250, 250] window, 0 SUV).
AIR = [-1.0, 0.0]


def _box(shape: tuple[int, int, int], lo: tuple[int, ...], hi: tuple[int, ...], value: int, out=None) -> np.ndarray:
    out = np.zeros(shape, dtype=np.uint8) if out is None else out
    out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = value
    return out


def test_validation_scores_follow_the_official_definitions() -> None:
    """Hand-computed case: GTVp Dice 2*8/(8+16) = 2/3; GTVn: one node found (IoU 8/16 > 0.3), one missed,
    one false node -> TP 1, FP 1, FN 1, F1 = 2/(2+1+1) = 0.5; GTVn aggregated Dice over both cases."""
    shape = (12, 12, 12)
    truth = _box(shape, (0, 0, 0), (2, 2, 4), 1)  # GTVp 16 voxels
    pred = _box(shape, (0, 0, 0), (2, 2, 2), 1)  # 8 voxels inside it
    _box(shape, (6, 6, 6), (8, 8, 10), 2, truth)  # node A, 16 voxels
    _box(shape, (6, 6, 6), (8, 8, 8), 2, pred)  # 8 voxels of A: IoU 0.5
    _box(shape, (10, 0, 0), (12, 2, 2), 2, truth)  # node B, missed (8 voxels)
    _box(shape, (0, 10, 10), (2, 12, 12), 2, pred)  # false node (8 voxels)
    empty = np.zeros(shape, dtype=np.uint8)  # second case: nothing on either side (GTVp Dice 1 by convention)

    m = summarise([case_score(pred, truth, 8.0), case_score(empty, empty, 8.0)])

    assert m["gtvp_mean_dice"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert m["gtvn_aggregated_dice"] == pytest.approx(2 * 8 / ((8 + 8) + (16 + 8)))
    assert m["gtvn_aggregated_f1"] == pytest.approx(0.5)
    assert selection_score(m) == pytest.approx(np.mean(list(m.values())))
    assert selection_score(m, [0, 0, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="selection_weights"):
        selection_score(m, [1, 1])
    with pytest.raises(HecktorError, match="selection_weights"):
        TrainSettings.from_dict({"selection_weights": [-1, 1, 1]})


def test_an_iou_of_exactly_0_3_is_not_a_detection() -> None:
    shape = (10, 10, 10)
    truth = _box(shape, (0, 0, 0), (1, 1, 10), 2)  # 10 voxels
    pred = _box(shape, (0, 0, 0), (1, 1, 3), 2)  # 3 of them: IoU 3/10, not > 0.3
    assert summarise([case_score(pred, truth, 1.0)])["gtvn_aggregated_f1"] == 0.0


def test_leave_centre_out_folds_keep_each_centre_whole() -> None:
    ids = [f"CHUM-{i:03d}" for i in range(9)] + [f"MDA-{i:03d}" for i in range(6)]
    ids += [f"HGJ-{i:03d}" for i in range(4)] + [f"USZ-{i:03d}" for i in range(3)] + ["CHUV-001", "CHUV-002"]
    folds = leave_centre_folds(ids, n_folds=3)
    assert folds == split_folds(ids, 3, seed=5, split="centre")  # deterministic, seed-free
    for centre in ("CHUM", "MDA", "HGJ", "USZ", "CHUV"):
        assert len({f for p, f in folds.items() if p.startswith(centre)}) == 1
    sizes = sorted(list(folds.values()).count(k) for k in range(3))
    assert sizes == [7, 8, 9]  # greedy, largest centre first: 9 | 6+2 | 4+3
    assert set(leave_centre_folds(ids, 5).values()) == set(range(5))  # one centre per fold
    with pytest.raises(HecktorError, match="6 folds but 5 centre"):
        leave_centre_folds(ids, 6)
    stratified = split_folds(ids, 3, seed=0, split="stratified")
    assert len({f for p, f in stratified.items() if p.startswith("CHUM")}) == 3
    with pytest.raises(HecktorError, match="split"):
        TrainSettings.from_dict({"split": "random"})


def _sample(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    label = np.zeros((1, 24, 24, 24), dtype=np.int64)
    label[0, 6:14, 8:18, 5:12] = 1
    label[0, 15:20, 4:9, 14:21] = 2
    ct = rng.normal(0, 0.1, label.shape[1:]).astype(np.float32)
    pet = label[0].astype(np.float32)  # the PET channel is a copy of the label: its geometry must follow
    return torch.from_numpy(np.stack([ct, pet])), torch.from_numpy(label)


def test_augmentation_is_deterministic_for_a_seed() -> None:
    image, label = _sample()
    runs = []
    for seed in (7, 7, 8):
        compose = build_augmentation(None, ["CT", "PET"], [0, 1, 2], seed, outside=AIR)
        runs.append([augment(compose, image.clone(), label.clone()) for _ in range(4)])
    for (xa, ya), (xb, yb) in zip(runs[0], runs[1], strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(runs[0], runs[2], strict=True))
    x, y = runs[0][0]
    assert x.shape == image.shape and x.dtype == torch.float32 and y.shape == label.shape


def test_spatial_augmentation_moves_image_and_label_together() -> None:
    image, label = _sample()
    block = {**OFF, "rotation": {"prob": 1.0, "degrees": 30}, "scaling": {"prob": 1.0}, "mirror": {"prob": 1.0}}
    compose = build_augmentation(block, ["CT", "PET"], [0, 1, 2], seed=3, outside=AIR)
    moved = 0
    for _ in range(4):
        x, y = augment(compose, image.clone(), label.clone())
        pet, lab = x[1].numpy(), y[0].numpy()
        assert set(np.unique(lab)) <= {0, 1, 2}  # nearest-neighbour label, no blended classes
        moved += int(not np.array_equal(lab, label[0].numpy()))
        agree = np.mean(np.abs(pet - lab) < 0.5)  # bilinear image vs nearest label: agree except at edges
        assert agree > 0.97
    assert moved == 4


def _uniform_sample() -> tuple[torch.Tensor, torch.Tensor]:
    """CT 0.3 and PET 0.5 (normalised) everywhere, label 1 everywhere: whatever differs came from padding."""
    image = torch.stack([torch.full((24, 24, 24), 0.3), torch.full((24, 24, 24), 0.5)])
    return image, torch.ones((1, 24, 24, 24), dtype=torch.int64)


@pytest.mark.parametrize("name", ["rotation", "scaling"])
def test_rotated_and_scaled_patches_are_padded_with_air(name: str) -> None:
    image, label = _uniform_sample()
    options = {"rotation": {"prob": 1.0, "degrees": 30}, "scaling": {"prob": 1.0, "range": [1.4, 1.4]}}[name]
    compose = build_augmentation({**OFF, name: options}, ["CT", "PET"], [], seed=2, outside=AIR)
    x, y = augment(compose, image.clone(), label.clone())
    ct, pet, lab = x[0].numpy(), x[1].numpy(), y[0].numpy()
    padded = lab == 0  # the label's nearest-neighbour padding: background
    assert 0.02 < padded.mean() < 0.6
    far = ndimage.binary_erosion(~padded, iterations=2) | ndimage.binary_erosion(padded, iterations=2)
    assert np.allclose(ct[far & padded], AIR[0], atol=1e-6) and np.allclose(pet[far & padded], AIR[1], atol=1e-6)
    assert np.allclose(ct[far & ~padded], 0.3, atol=1e-6) and np.allclose(pet[far & ~padded], 0.5, atol=1e-6)
    assert ct.min() >= AIR[0] - 1e-6 and pet.min() >= -1e-6  # bilinear blends air and tissue, never beyond
    border = build_augmentation({**OFF, name: {**options, "padding": "border"}}, ["CT", "PET"], [], seed=2)
    x, y = augment(border, image.clone(), label.clone())  # the earlier behaviour: the border repeated
    assert np.allclose(x[0].numpy(), 0.3, atol=1e-6) and np.allclose(x[1].numpy(), 0.5) and bool((y == 1).all())


def test_the_field_of_view_cut_brings_in_air_from_beyond_the_patch() -> None:
    """The scan ends inside the patch: a slab of air (and background) at a patch face, tissue unchanged elsewhere,
    and the label cut with the image."""
    image, label = _uniform_sample()
    block = {**OFF, "field_of_view": {"prob": 1.0, "shift": 0.5, "degrees": 20}}
    compose = build_augmentation(block, ["CT", "PET"], [], seed=4, outside=AIR, patch_zyx=(24, 24, 24))
    fractions = []
    for _ in range(6):
        x, y = augment(compose, image.clone(), label.clone())
        ct, pet, lab = x[0].numpy(), x[1].numpy(), y[0].numpy()
        air = lab == 0
        fractions.append(air.mean())
        faces = [air[0], air[-1], air[:, 0], air[:, -1], air[:, :, 0], air[:, :, -1]]
        assert air.any() and any(f.mean() > 0.5 for f in faces)  # the cut reaches the patch from one of its faces
        far = ndimage.binary_erosion(~air, iterations=2) | ndimage.binary_erosion(air, iterations=2)
        assert np.allclose(ct[far & air], AIR[0], atol=1e-6) and np.allclose(pet[far & air], AIR[1], atol=1e-6)
        assert np.allclose(ct[far & ~air], 0.3, atol=1e-6) and np.allclose(pet[far & ~air], 0.5, atol=1e-6)
    assert 0.05 < float(np.mean(fractions)) < 0.8
    still = build_augmentation(
        {**OFF, "field_of_view": {"prob": 1.0, "shift": 0.0, "degrees": 0}},
        ["CT", "PET"],
        [],
        seed=4,
        outside=AIR,
        patch_zyx=(24, 24, 24),
    )
    x, y = augment(still, image.clone(), label.clone())  # no shift, no tilt: the patch as it was
    assert np.allclose(x.numpy(), image.numpy(), atol=1e-5) and bool((y == 1).all())


def test_the_field_of_view_cut_needs_the_patch_size_and_sane_options() -> None:
    block = {**OFF, "field_of_view": {"prob": 0.3}}
    with pytest.raises(HecktorError, match="field_of_view' needs the patch size"):
        build_augmentation(block, ["CT", "PET"], [], seed=0, outside=AIR)
    with pytest.raises(HecktorError, match="air padding needs one outside value"):
        build_augmentation(block, ["CT", "PET"], [], seed=0, patch_zyx=(24, 24, 24))
    with pytest.raises(HecktorError, match="shift must be in"):
        resolve_settings({"field_of_view": {"prob": 0.3, "shift": 1.5}})
    with pytest.raises(HecktorError, match="unknown option"):
        resolve_settings({"field_of_view": {"prob": 0.3, "padding": "border"}})
    assert resolve_settings(None)["field_of_view"]["prob"] == 0.0  # off unless asked for (not in nnU-Net)


def test_air_padding_needs_the_outside_values() -> None:
    with pytest.raises(HecktorError, match="air padding needs one outside value per channel"):
        build_augmentation({**OFF, "rotation": {"prob": 0.5}}, ["CT", "PET"], [], seed=0)
    with pytest.raises(HecktorError, match="air padding needs one outside value per channel"):
        build_augmentation({**OFF, "scaling": {"prob": 0.5}}, ["CT", "PET"], [], seed=0, outside=[-1.0])
    build_augmentation(OFF, ["CT", "PET"], [], seed=0)  # nothing spatial: no outside value needed


def test_pet_scaling_touches_the_pet_channel_only() -> None:
    image, label = _sample()
    block = {**OFF, "pet_scale": {"prob": 1.0, "range": [0.5, 2.0]}}
    compose = build_augmentation(block, ["CT", "PET"], [], seed=1)
    factors = []
    for _ in range(30):
        x, y = augment(compose, image.clone(), label.clone())
        assert torch.equal(x[0], image[0]) and torch.equal(y, label)
        factors.append(float(x[1].max() / image[1].max()))
    assert 0.5 <= min(factors) < 0.8 and 1.4 < max(factors) <= 2.0
    assert float(np.median(np.log(factors))) == pytest.approx(0.0, abs=0.3)  # log-uniform around x1


def test_augmentation_settings_are_checked() -> None:
    assert resolve_settings({"noise": {"prob": 0.5}})["noise"] == {"prob": 0.5, "std": 0.1}
    assert resolve_settings({"preset": "light"})["rotation"]["prob"] == 0.0
    for bad, match in (
        ({"cutout": {"prob": 1}}, "unknown augmentation 'cutout'"),
        ({"noise": {"sigma": 1}}, "unknown option"),
        ({"gamma": {"prob": 2}}, "prob must be in"),
        ({"preset": "heavy"}, "unknown augmentation preset"),
        ({"rotation": {"padding": "reflect"}}, "padding must be one of"),
    ):
        with pytest.raises(HecktorError, match=match):
            resolve_settings(bad)
    with pytest.raises(HecktorError, match="unknown augmentation"):
        TrainSettings.from_dict({"augmentation": {"cutout": {}}})


def _stream(workers: int, seed: int = 0) -> tuple[PatchStream, torch.utils.data.DataLoader]:
    image, label = _sample()
    case = CachedCase("CHUM-001", image.numpy().astype(np.float16), label[0].numpy().astype(np.uint8), (2.0,) * 3)
    sampler = PatchSampler([case], (16, 16, 16), [1, 1, 1], [-1.0, 0.0], np.random.default_rng(0))
    fov = {"field_of_view": {"prob": 0.5}}  # the loader hands the sampler's patch size to the field-of-view cut
    stream = PatchStream(sampler, 3, 2, seed, augmentation=fov, channels=["CT", "PET"], mirror_dims=[2])
    return stream, make_loader(stream, workers, pin_memory=False)


def test_the_loader_streams_whole_batches_reproducibly_per_epoch() -> None:
    stream, loader = _stream(workers=0)
    first = [b for b in loader]
    again = [b for b in loader]
    stream.set_epoch(1)
    other = [b for b in loader]
    assert len(first) == 3 and first[0][0].shape == (2, 2, 16, 16, 16) and first[0][1].dtype == torch.int64
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=True))


def test_the_loader_with_worker_processes() -> None:
    _, loader = _stream(workers=2)
    batches = list(loader)
    assert len(batches) == 3 and all(b[0].shape[0] == 2 for b in batches)  # 2 + 1 batches from 2 workers
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.cat([b[0] for b in _stream(workers=2)[1]]))
