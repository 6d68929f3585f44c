"""Task 1 segmentation: output geometry, physical positions, determinism, model folder errors.

Geometry tests use a tiny randomly initialised model (fast, independent of the bundled weights);
the lesion-finding tests use the bundled demo weights on synthetic cases from a seed never used for
training (1001).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from scipy import ndimage

from algorithm.segmentation import ModelError, SegmentationConfig, Segmenter
from algorithm.segmentation.crop import crop_grid
from algorithm.segmentation.locate import Box, locate_head_and_neck
from algorithm.segmentation.map_back import paste_on_ct, probabilities_on_ct_block
from algorithm.segmentation.network import build_network, state_dict_cpu
from algorithm.segmentation.postprocess import remove_small_components
from algorithm.segmentation.preprocess import preprocess
from algorithm.segmentation.resample import resample_onto
from algorithm.training.seg_loop import pad_values
from hecktor.geometry import Grid, bounding_box_mm, grid_differences
from hecktor.imageio import read_image
from synthetic import SyntheticCase, generate_case

BUNDLED = Path(__file__).resolve().parents[2] / "algorithm" / "resources" / "model" / "segmentation"
DEMO_CONFIG = (
    Path(__file__).resolve().parents[2] / "algorithm" / "segmentation" / "configs" / "synthetic_2mm_segresnet.json"
)
HELD_OUT_SEED = 1001
#: Direction of a grid tilted 20 degrees about x (a gantry tilt, as ``bench.pet_calibration``'s oblique grids).
TILT_20_X = (1.0, 0.0, 0.0, 0.0, np.cos(0.349066), -np.sin(0.349066), 0.0, np.sin(0.349066), np.cos(0.349066))


# ----------------------------------------------------------------------------------------------- helpers
def restore(image: sitk.Image, direction: tuple[float, ...], spacing: tuple[float, float, float]) -> sitk.Image:
    """``image`` resampled (nearest) onto a grid with the given direction and spacing covering its extent."""
    grid = Grid.of(image)
    corners = grid.corners_mm()
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    local = corners @ d  # coordinates along the new axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    size = np.maximum(np.round((hi - lo) / np.asarray(spacing)).astype(int), 2)
    origin = d @ (lo + np.asarray(spacing) / 2)
    return sitk.Resample(
        image,
        [int(s) for s in size],
        sitk.Transform(),
        sitk.sitkLinear if image.GetPixelID() == sitk.sitkFloat32 else sitk.sitkNearestNeighbor,
        [float(o) for o in origin],
        [float(s) for s in spacing],
        [float(v) for v in direction],
        -1024.0 if image.GetPixelID() == sitk.sitkInt16 else 0.0,
        image.GetPixelID(),
    )


def storage_flipped(image: sitk.Image, axis: int) -> sitk.Image:
    """The same physical image stored with ``axis`` (0 = x, 1 = y, 2 = z) reversed."""
    flipped = sitk.Flip(image, [i == axis for i in range(3)])  # keeps physical positions
    assert flipped.GetDirection() != image.GetDirection()
    return flipped


def centroid_mm(label: sitk.Image, value: int) -> np.ndarray:
    """Physical centroid (mm, LPS) of the voxels of ``label`` equal to ``value``."""
    idx = np.argwhere(sitk.GetArrayViewFromImage(label) == value)[:, ::-1].astype(float)  # x, y, z
    grid = Grid.of(label)
    return np.asarray(grid.origin) + idx.mean(axis=0) @ grid.matrix().T


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / float(total)


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised SegResNet on a 4 mm grid (fast; only geometry matters)."""
    folder = tmp_path_factory.mktemp("tiny_model")
    config = SegmentationConfig(
        network_kwargs={"init_filters": 8, "blocks_down": [1, 1, 1, 1], "blocks_up": [1, 1, 1]},
        spacing_mm=[4.0, 4.0, 4.0],
        patch_size=[32, 32, 32],
        crop_size_mm=[160.0, 160.0, 200.0],
        sw_overlap=0.25,
        min_component_mm3=0.0,
    )
    config.save(folder)
    torch.manual_seed(0)
    torch.save(state_dict_cpu(build_network(config)), folder / "fold_0.pt")
    return folder


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> Segmenter:
    torch.set_num_threads(1)
    return Segmenter.load(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def held_out_case() -> SyntheticCase:
    """A synthetic case from a seed never used for training, with a primary and two nodes."""
    return generate_case("CHUV-001", seed=HELD_OUT_SEED, size="small", with_primary=True, n_nodes=2, flip_ct=False)


@pytest.fixture(scope="module")
def bundled() -> Segmenter:
    torch.set_num_threads(1)
    return Segmenter.load(BUNDLED, device="cpu")


# ------------------------------------------------------------------------------------- geometry (no net)
GEOMETRIES = {
    "x-flipped CT, anisotropic": ((-1, 0, 0, 0, 1, 0, 0, 0, 1), (2.2, 2.7, 4.0)),
    "x and y flipped CT": ((-1, 0, 0, 0, -1, 0, 0, 0, 1), (2.5, 2.5, 3.0)),
    "axes permuted (y, x, z)": ((0, 1, 0, 1, 0, 0, 0, 0, 1), (3.0, 2.0, 5.0)),
    "oblique (10 deg about z)": (
        (np.cos(0.1745), -np.sin(0.1745), 0, np.sin(0.1745), np.cos(0.1745), 0, 0, 0, 1),
        (2.5, 2.5, 4.0),
    ),
    "gantry tilt (20 deg about x)": (TILT_20_X, (2.5, 2.5, 4.0)),
}


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_output_is_exactly_on_the_ct_grid(name: str, tiny: Segmenter, small_cohort: list[SyntheticCase]) -> None:
    direction, spacing = GEOMETRIES[name]
    case = small_cohort[0]
    ct = restore(case.ct, tuple(float(v) for v in direction), spacing)
    pet = storage_flipped(case.pet, 1)  # PET on its own, differently stored grid and extent
    timings: dict[str, float] = {}

    label = tiny.segment(ct, pet, timings)

    assert grid_differences(Grid.of(label), Grid.of(ct), spacing_rtol=0, origin_atol_mm=0, direction_atol=0) == []
    assert label.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(sitk.GetArrayViewFromImage(label))) <= {0, 1, 2}
    assert {"locate", "crop+resample", "normalise", "infer", "postprocess", "map back"} <= set(timings)


def test_scan_smaller_than_box_and_patch(tiny: Segmenter, small_cohort: list[SyntheticCase]) -> None:
    """A CT of a few slices (shorter than the box and the patch) still gets a label on its own grid."""
    case = small_cohort[0]
    size = list(case.ct.GetSize())
    ct = sitk.RegionOfInterest(case.ct, [size[0], size[1], 6], [0, 0, size[2] - 12])
    label = tiny.segment(ct, case.pet)
    assert grid_differences(Grid.of(label), Grid.of(ct), spacing_rtol=0, origin_atol_mm=0, direction_atol=0) == []


def test_outside_a_tilted_scan_the_input_is_the_air_training_pads_with(
    small_cohort: list[SyntheticCase], tmp_path: Path
) -> None:
    """CT and PET on grids tilted 20 deg about x, written and read back: every crop-grid voxel outside both
    scans gets exactly the normalised outside value that training pads rotated patches with (issue 16)."""
    case = small_cohort[0]
    config = SegmentationConfig.load(BUNDLED)
    paths = {}
    for name, image in (("ct", case.ct), ("pet", case.pet)):
        paths[name] = tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(restore(image, TILT_20_X, image.GetSpacing()), str(paths[name]))
    ct, pet = read_image(paths["ct"], "CT"), read_image(paths["pet"], "PET")

    pre = preprocess(ct, pet, config)

    for scan, channel, value in zip((case.ct, case.pet), pre.image, pad_values(config), strict=True):  # CT, PET
        ones = sitk.Cast(scan, sitk.sitkUInt8) * 0 + 1  # the original field of view, before the tilt
        inside = resample_onto(ones, pre.grid, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        outside = ndimage.binary_erosion(sitk.GetArrayFromImage(inside) == 0, iterations=3)  # past the blend
        assert 0.01 < outside.mean() < 0.9  # the box reaches past the tilted scan's cut edges
        assert np.array_equal(channel[outside], np.full(int(outside.sum()), value, dtype=np.float32))
    assert pad_values(config) == [-1.0, 0.0]  # CT -1024 HU in the [-250, 250] window, PET 0 SUV


def test_map_back_keeps_a_blob_at_its_physical_position(small_cohort: list[SyntheticCase]) -> None:
    """A fake probability blob on the crop grid lands at the same mm position on a flipped, anisotropic CT."""
    ct = restore(small_cohort[1].ct, (-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0), (2.3, 2.9, 4.0))
    lo, hi = bounding_box_mm(Grid.of(ct))
    centre = (lo + hi) / 2 + np.array([17.0, -23.0, 11.0])
    box = Box(tuple(centre - 60), tuple(centre + 60), "test")  # type: ignore[arg-type]
    grid = crop_grid(box, [2.0, 2.0, 2.0])
    z, y, x = np.meshgrid(*[np.arange(n) for n in grid.size[::-1]], indexing="ij")
    pts = np.stack([x, y, z], -1) * 2.0 + np.asarray(grid.origin)
    blob = np.linalg.norm(pts - centre, axis=-1) < 12.0
    probs = np.zeros((3, *blob.shape), dtype=np.float32)
    probs[0] = ~blob
    probs[2] = blob

    region, labels = probabilities_on_ct_block(probs, grid, ct)
    out = paste_on_ct(labels, region, ct)

    assert grid_differences(Grid.of(out), Grid.of(ct)) == []
    assert np.linalg.norm(centroid_mm(out, 2) - centre) < 1.0
    volume = (sitk.GetArrayViewFromImage(out) == 2).sum() * np.prod(ct.GetSpacing())
    assert volume == pytest.approx(4 / 3 * np.pi * 12.0**3, rel=0.15)


def test_preprocessing_puts_a_hot_pet_spot_at_its_physical_position(small_cohort: list[SyntheticCase]) -> None:
    """Crop and resample respect direction cosines: a hot PET voxel ends up at its mm position."""
    case = small_cohort[2]
    config = SegmentationConfig.load(DEMO_CONFIG)
    pet = storage_flipped(storage_flipped(case.pet, 0), 1)
    arr = sitk.GetArrayFromImage(pet)
    arr[:] = np.minimum(arr, 5.0)
    lesion = next(les for les in case.lesions if les["label"] == 1)
    target = np.asarray(lesion["centre_mm"])
    index = pet.TransformPhysicalPointToIndex(target.tolist())
    arr[index[2], index[1], index[0]] = 39.0
    hot = sitk.GetImageFromArray(arr)
    hot.CopyInformation(pet)

    pre = preprocess(case.ct, hot, config)

    pet_channel = pre.image[config.channels_order.index("PET")]
    peak = np.unravel_index(np.argmax(pet_channel), pet_channel.shape)[::-1]
    peak_mm = np.asarray(pre.grid.origin) + np.asarray(peak) * np.asarray(pre.grid.spacing)
    expected = np.asarray(pet.TransformIndexToPhysicalPoint(index))
    assert np.all(np.abs(peak_mm - expected) <= np.asarray(pet.GetSpacing()) / 2 + 1.0)


def test_locator_finds_the_head_and_falls_back_to_the_ct(small_cohort: list[SyntheticCase]) -> None:
    case = small_cohort[0]
    config = SegmentationConfig.load(DEMO_CONFIG)
    box = locate_head_and_neck(case.ct, case.pet, config.crop_size_mm, config.locate)
    assert box.method == "pet-brain"
    flat_pet = sitk.Image(case.pet.GetSize(), sitk.sitkFloat32) + 1.0
    flat_pet.CopyInformation(case.pet)
    fallback = locate_head_and_neck(case.ct, flat_pet, config.crop_size_mm, config.locate)
    assert fallback.method == "ct-body"
    ct_lo, ct_hi = bounding_box_mm(Grid.of(case.ct))
    for b in (box, fallback):  # clipped to the CT (the scan is smaller than the box in z)
        assert np.all(np.asarray(b.low) >= ct_lo - 1e-6) and np.all(np.asarray(b.high) <= ct_hi + 1e-6)
        assert b.size_mm[0] == pytest.approx(config.crop_size_mm[0], abs=1e-6)
    lesions = [np.asarray(les["centre_mm"]) for les in case.lesions]
    assert all(np.all(p > box.low) and np.all(p < box.high) for p in lesions)


def test_small_components_are_dropped_and_labels_kept() -> None:
    label = np.zeros((20, 20, 20), dtype=np.uint8)
    label[2:8, 2:8, 2:8] = 1  # 216 voxels
    label[12, 12, 12] = 1  # 1 voxel
    label[14:17, 2:5, 2:5] = 2  # 27 voxels
    label[18, 18, 18] = 2
    out = remove_small_components(label.copy(), voxel_volume_mm3=8.0, min_component_mm3=100.0)
    assert (out == 1).sum() == 216 and (out == 2).sum() == 27
    largest = label.copy()
    largest[12:15, 12:15, 12:15] = 1
    out = remove_small_components(largest, voxel_volume_mm3=8.0, min_component_mm3=0.0, gtvp_keep_largest=True)
    assert (out == 1).sum() == 216 and (out == 2).sum() == 28


# --------------------------------------------------------------------------------------- model folder
def test_deterministic(tiny: Segmenter, small_cohort: list[SyntheticCase]) -> None:
    case = small_cohort[3]
    a = sitk.GetArrayFromImage(tiny.segment(case.ct, case.pet))
    b = sitk.GetArrayFromImage(tiny.segment(case.ct, case.pet))
    assert np.array_equal(a, b)


def test_tta_and_ensemble_run(tiny_model: Path, small_cohort: list[SyntheticCase], tmp_path: Path) -> None:
    folder = tmp_path / "two_folds"
    folder.mkdir()
    for name in ("config.json", "fold_0.pt"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    (folder / "fold_1.pt").write_bytes((tiny_model / "fold_0.pt").read_bytes())
    seg = Segmenter.load(folder, device="cpu", tta=True, folds=[0, 1])
    assert seg.folds == [0, 1] and seg.device.type == "cpu"
    label = seg.segment(small_cohort[0].ct, small_cohort[0].pet)
    assert label.GetSize() == small_cohort[0].ct.GetSize()


def test_model_folder_errors_name_the_file(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"fold_3\.pt"):
        Segmenter.load(tiny_model, folds=[3])
    with pytest.raises(ModelError, match=r"config\.json"):
        Segmenter.load(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((tiny_model / "config.json").read_text().replace('"version"', '"versoin"'))
    with pytest.raises(ModelError, match="versoin"):
        Segmenter.load(bad)
    (bad / "config.json").write_text((tiny_model / "config.json").read_text())
    (bad / "fold_0.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"fold_0\.pt"):
        Segmenter.load(bad)


def test_shipped_configs_build() -> None:
    configs = sorted((Path(__file__).resolve().parents[2] / "algorithm" / "segmentation" / "configs").glob("*.json"))
    assert configs
    for path in [*configs, BUNDLED / "config.json"]:
        config = SegmentationConfig.load(path)
        net = build_network(config)
        assert sum(p.numel() for p in net.parameters()) > 0


# ------------------------------------------------------------------------------------- bundled weights
def test_bundled_model_finds_the_lesions_where_they_are(bundled: Segmenter, held_out_case: SyntheticCase) -> None:
    case = held_out_case
    label = bundled.segment(case.ct, case.pet)
    pred, truth = sitk.GetArrayViewFromImage(label), sitk.GetArrayViewFromImage(case.label)
    assert dice(pred == 1, truth == 1) > 0.7
    assert dice(pred == 2, truth == 2) > 0.5
    assert np.linalg.norm(centroid_mm(label, 1) - centroid_mm(case.label, 1)) < 4.0


def test_bundled_model_output_does_not_depend_on_storage_order(
    bundled: Segmenter, held_out_case: SyntheticCase
) -> None:
    """The same physical scan stored with flipped axes gives the same physical segmentation."""
    case = held_out_case
    ct = storage_flipped(case.ct, 0)
    pet = storage_flipped(case.pet, 1)
    plain = sitk.GetArrayFromImage(bundled.segment(case.ct, case.pet))
    flipped = bundled.segment(ct, pet)
    assert grid_differences(Grid.of(flipped), Grid.of(ct)) == []
    back = sitk.GetArrayFromImage(flipped)[:, :, ::-1]  # undo the x storage flip (array axis 2)
    assert np.mean(back == plain) > 0.999
    assert dice(back == 1, plain == 1) > 0.95


def test_config_without_its_recipe_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(
        ModelError, match=r"config\.json: segmentation config lacks required keys: version, architecture"
    ):
        SegmentationConfig.load(tmp_path)
