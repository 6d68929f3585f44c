"""Imaging features: hand-checkable values on constructed images, grids that differ, NaN rules, speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.features import DOSE_FEATURE_NAMES, IMAGING_FEATURE_NAMES, extract_features
from algorithm.features.imaging import suv_peak

SPACING = (2.0, 2.0, 2.0)  # mm (x, y, z)


def _image(array: np.ndarray, spacing=SPACING, origin=(0.0, 0.0, 0.0), direction=None) -> sitk.Image:
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(direction)
    return img


def _case(with_primary: bool = True, with_nodes: bool = True) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """40^3 voxels of 2 mm: GTVp = 10^3-voxel cube (8 ml) of SUV 4 and HU 30; two nodes of SUV 2."""
    shape = (40, 40, 40)  # z, y, x
    lab = np.zeros(shape, np.uint8)
    pet = np.ones(shape, np.float32)
    ct = np.full(shape, -100, np.int16)
    if with_primary:
        lab[5:15, 5:15, 5:15] = 1
        pet[5:15, 5:15, 5:15] = 4.0
        ct[5:15, 5:15, 5:15] = 30
    if with_nodes:
        lab[25:27, 25:27, 25:27] = 2  # node A: 8 voxels, centre index (25.5, 25.5, 25.5)
        lab[30, 30, 30] = 2  # node B: 1 voxel at (30, 30, 30)
        lab[31, 31, 31] = 2  # touches B by a corner only: same node with 26-connectivity
        pet[lab == 2] = 2.0
        ct[lab == 2] = 50
    return _image(ct), _image(pet), _image(lab)


def test_cube_of_known_suv_and_volume() -> None:
    ct, pet, lab = _case()
    f = extract_features(ct, pet, lab)
    assert set(f) == set(IMAGING_FEATURE_NAMES)
    assert f["gtvp_suv_max"] == 4.0 and f["gtvp_suv_mean"] == 4.0
    assert f["gtvp_mtv_ml"] == pytest.approx(8.0)  # 1000 voxels x 8 mm^3
    assert f["gtvp_tlg"] == pytest.approx(32.0)
    assert f["gtvp_suv_peak"] == pytest.approx(4.0)  # a 1 cm^3 sphere fits inside the 20 mm cube
    assert f["gtvp_ct_mean_hu"] == 30.0 and f["gtvp_ct_std_hu"] == 0.0
    assert 0.0 < f["gtvp_sphericity"] <= 1.05 and f["gtvp_elongation"] == pytest.approx(1.0)
    # nodes: 8 + 2 voxels, 26-connected components -> 2 nodes
    assert f["gtvn_count"] == 2.0
    assert f["gtvn_mtv_ml"] == pytest.approx(10 * 8 / 1000)
    assert f["gtvn_largest_ml"] == pytest.approx(8 * 8 / 1000)
    assert f["gtvn_suv_max"] == 2.0 and f["gtvn_suv_mean"] == 2.0 and f["gtvn_ct_mean_hu"] == 50.0
    # centroids (index, x = y = z): GTVp 9.5, node A 25.5, node B 30.5 -> distances sqrt(3) * 16 * 2 mm, ...
    assert f["gtvp_gtvn_dist_min_mm"] == pytest.approx(math.sqrt(3) * 16 * 2)
    assert f["gtvp_gtvn_dist_max_mm"] == pytest.approx(math.sqrt(3) * 21 * 2)
    assert f["lesions_spread_mm"] == pytest.approx(f["gtvp_gtvn_dist_max_mm"])
    assert f["total_mtv_ml"] == pytest.approx(8.08)
    assert f["total_tlg"] == pytest.approx(32.0 + 0.08 * 2.0)
    assert all(math.isnan(f[n]) for n in DOSE_FEATURE_NAMES)  # no RT dose given


def test_outputs_are_python_floats_and_deterministic() -> None:
    ct, pet, lab = _case()
    a, b = extract_features(ct, pet, lab), extract_features(ct, pet, lab)
    assert all(type(v) is float for v in a.values())
    assert list(a) == list(b)
    assert all((x == y) or (math.isnan(x) and math.isnan(y)) for x, y in zip(a.values(), b.values(), strict=True))


def test_no_primary_gives_nan_not_an_exception() -> None:
    ct, pet, lab = _case(with_primary=False)
    f = extract_features(ct, pet, lab)
    for name in ("gtvp_suv_max", "gtvp_suv_mean", "gtvp_suv_peak", "gtvp_ct_mean_hu", "gtvp_sphericity"):
        assert math.isnan(f[name]), name
    assert math.isnan(f["gtvp_gtvn_dist_min_mm"]) and math.isnan(f["gtvp_gtvn_dist_max_mm"])
    assert f["gtvp_mtv_ml"] == 0.0 and f["gtvp_tlg"] == 0.0 and f["gtvn_count"] == 2.0


def test_empty_label() -> None:
    ct, pet, lab = _case(with_primary=False, with_nodes=False)
    f = extract_features(ct, pet, lab)
    assert f["gtvn_count"] == 0.0 and f["total_mtv_ml"] == 0.0
    assert math.isnan(f["gtvp_suv_max"]) and math.isnan(f["gtvn_suv_max"]) and math.isnan(f["lesions_spread_mm"])


def test_pet_on_another_grid() -> None:
    """A coarser, shifted PET that is 4 over a box larger than GTVp: SUV statistics are exactly 4."""
    ct, _, lab = _case(with_nodes=False)
    pet_arr = np.ones((30, 30, 30), np.float32)
    # PET voxels of 3 mm, origin -3 mm: GTVp spans 10..28 mm (voxel centres); PET box 3..36 mm covers it
    pet_arr[2:13, 2:13, 2:13] = 4.0
    pet = _image(pet_arr, spacing=(3.0, 3.0, 3.0), origin=(-3.0, -3.0, -3.0))
    f = extract_features(ct, pet, lab)
    assert f["gtvp_suv_max"] == pytest.approx(4.0) and f["gtvp_suv_mean"] == pytest.approx(4.0)
    assert f["gtvp_mtv_ml"] == pytest.approx(8.0)


def test_pet_not_covering_the_lesion_gives_nan() -> None:
    ct, _, lab = _case(with_nodes=False)
    pet = _image(np.ones((5, 5, 5), np.float32), origin=(200.0, 200.0, 200.0))
    f = extract_features(ct, pet, lab)
    assert math.isnan(f["gtvp_suv_max"]) and math.isnan(f["gtvp_tlg"]) and f["gtvp_mtv_ml"] == pytest.approx(8.0)


def test_flipped_label_and_ct_give_the_same_features() -> None:
    """The same physical scene stored with the x axis reversed (direction -1): identical features."""
    ct, pet, lab = _case()
    flipped = []
    for img in (ct, lab):
        arr = sitk.GetArrayFromImage(img)[:, :, ::-1].copy()
        far_x = img.TransformIndexToPhysicalPoint((img.GetSize()[0] - 1, 0, 0))[0]
        flipped.append(_image(arr, origin=(far_x, 0.0, 0.0), direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1)))
    a = extract_features(ct, pet, lab)
    b = extract_features(flipped[0], pet, flipped[1])
    for name in IMAGING_FEATURE_NAMES:
        if math.isnan(a[name]):
            assert math.isnan(b[name]), name
        else:
            assert b[name] == pytest.approx(a[name], rel=1e-6, abs=1e-6), name


def test_rt_dose_statistics() -> None:
    ct, pet, lab = _case()
    dose_arr = np.full((40, 40, 40), 70.0, np.float32)
    dose_arr[:10] = 50.0  # z slices 0-9: GTVp covers z 5..14, so half of it gets 50 Gy
    dose = _image(dose_arr)
    f = extract_features(ct, pet, lab, rt_dose=dose)
    assert f["gtvp_dose_max_gy"] == 70.0 and f["gtvp_dose_min_gy"] == 50.0
    assert f["gtvp_dose_mean_gy"] == pytest.approx(60.0) and f["gtvp_dose_d95_gy"] == pytest.approx(50.0)
    assert f["gtvn_dose_mean_gy"] == 70.0 and f["gtvn_dose_d95_gy"] == 70.0
    far = _image(dose_arr[:5, :5, :5].copy(), origin=(500.0, 0.0, 0.0))
    assert all(math.isnan(extract_features(ct, pet, lab, rt_dose=far)[n]) for n in DOSE_FEATURE_NAMES)


def test_suv_peak_uses_a_one_ml_sphere() -> None:
    pet = np.zeros((21, 21, 21))
    pet[10, 10, 10] = 27.0  # one hot voxel of 1 mm: the 1 ml sphere (r 6.2 mm) holds 925 voxels
    mask = np.zeros(pet.shape, bool)
    mask[10, 10, 10] = True
    n_in_sphere = sum(
        1 for z in range(-6, 7) for y in range(-6, 7) for x in range(-6, 7) if x * x + y * y + z * z <= 6.2035**2
    )
    assert suv_peak(pet, mask, np.array([1.0, 1.0, 1.0])) == pytest.approx(27.0 / n_in_sphere)


def test_small_synthetic_case_is_fast_and_complete() -> None:
    synthetic = pytest.importorskip("synthetic")
    case = synthetic.generate_case("CHUS-002", seed=1, size="small", with_planning=True)
    start = time.perf_counter()
    f = extract_features(case.ct, case.pet, case.label, case.rt_dose)
    assert time.perf_counter() - start < 2.0
    assert f["gtvp_mtv_ml"] > 0 and math.isfinite(f["gtvp_suv_max"]) and math.isfinite(f["gtvp_dose_mean_gy"])
    volume_ml = sum(les["volume_mm3"] for les in case.lesions if les["label"] == 1) / 1000
    assert f["gtvp_mtv_ml"] == pytest.approx(volume_ml, rel=0.25)
    assert f["gtvn_count"] == float(case.n_nodes)


def test_ratio_features_are_calibration_free() -> None:
    """Background SUV 1 around the lesions: TBR = SUV; scaling the PET moves SUVs, never the model's features."""
    from algorithm.features import MODEL_IMAGING_FEATURE_NAMES, SCALE_DEPENDENT_FEATURE_NAMES

    ct, pet, lab = _case()
    f = extract_features(ct, pet, lab)
    assert f["pet_background_suv"] == pytest.approx(1.0)
    assert f["gtvp_tbr_max"] == pytest.approx(4.0) and f["gtvn_tbr_mean"] == pytest.approx(2.0)
    assert f["gtvp_tlr"] == pytest.approx(32.0) and f["total_tlr"] == pytest.approx(32.0 + 2.0 * 0.08)
    scaled = extract_features(ct, pet * 2.5, lab)
    assert scaled["gtvp_suv_max"] == pytest.approx(10.0)
    assert not set(MODEL_IMAGING_FEATURE_NAMES) & set(SCALE_DEPENDENT_FEATURE_NAMES)
    for name in MODEL_IMAGING_FEATURE_NAMES:
        assert scaled[name] == pytest.approx(f[name], nan_ok=True), name
