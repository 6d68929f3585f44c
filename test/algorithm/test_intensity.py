"""PET units and CT storage of unseen centres: recognised from the values (and metadata), brought to SUV / HU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.checks import validate_case
from algorithm.intensity import (
    PET_MAX_SUV,
    REFERENCE_BODY_SUV,
    TAG_DOSE_BQ,
    TAG_UNITS,
    TAG_WEIGHT_KG,
    harmonise_ct,
    harmonise_pet,
    uptake_reference,
)
from algorithm.reading import CaseInputs
from hecktor.clinical import ClinicalRecord


def _phantom_suv() -> np.ndarray:
    """A small PET in SUV: air 0, body ~0.8 with noise, a hot 'tumour' of SUV ~12."""
    rng = np.random.default_rng(3)
    _z, y, x = np.mgrid[:24, :32, :32]
    body = (y - 16) ** 2 + (x - 16) ** 2 < 13**2
    suv = np.where(body, rng.gamma(16.0, 0.05, body.shape), 0.0)
    suv[10:14, 12:16, 12:16] = 12.0
    return suv.astype(np.float32)


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((4.0, 4.0, 4.0))
    image.SetOrigin((-64.0, -64.0, -48.0))
    return image


SUV = _phantom_suv()


def test_suv_pet_is_kept_without_note() -> None:
    image = _image(SUV)
    out, notes = harmonise_pet(image)
    assert notes == []
    assert np.array_equal(sitk.GetArrayViewFromImage(out), SUV)


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_calibration_shift_stays_a_calibration_shift(factor: float) -> None:
    """x0.5 and x2 are plausible SUVs: left to the shift-tolerant models, not rescaled."""
    out, notes = harmonise_pet(_image(SUV * factor))
    assert notes == []
    assert np.allclose(sitk.GetArrayViewFromImage(out), SUV * factor)


def test_integer_suv_x1000_is_divided_with_one_note() -> None:
    out, notes = harmonise_pet(_image(np.rint(SUV * 1000).astype(np.int16)))
    assert len(notes) == 1 and "SUV x 1000" in notes[0]
    array = sitk.GetArrayViewFromImage(out)
    assert array.dtype == np.float32
    assert np.allclose(array, SUV, atol=1e-3)


def test_bqml_without_metadata_is_normalised_unit_free() -> None:
    out, notes = harmonise_pet(_image(SUV * 4000.0))
    assert len(notes) == 1 and "Bq/ml" in notes[0] and "unit-free" in notes[0]
    ref, _ = uptake_reference(sitk.GetArrayViewFromImage(out))
    assert ref == pytest.approx(REFERENCE_BODY_SUV, rel=1e-3)
    ratio = sitk.GetArrayViewFromImage(out).max() / SUV.max()
    assert 0.5 < ratio < 2.0  # within the calibration range the models are trained to tolerate


def test_bqml_with_weight_and_dose_is_converted_exactly() -> None:
    image = _image(SUV * 4000.0)
    image.SetMetaData(TAG_UNITS, "BQML")
    image.SetMetaData(TAG_WEIGHT_KG, "75")
    image.SetMetaData(TAG_DOSE_BQ, "300000000")
    out, notes = harmonise_pet(image)
    assert len(notes) == 1 and "weight and injected dose" in notes[0]
    assert np.allclose(sitk.GetArrayViewFromImage(out), SUV, rtol=1e-5, atol=1e-5)
    assert out.GetMetaData(TAG_UNITS) == "BQML"  # metadata carried over, geometry too
    assert out.GetOrigin() == image.GetOrigin()


def test_huge_outliers_are_repaired_from_neighbours() -> None:
    pet = SUV.copy()
    where = np.random.default_rng(0).choice(pet.size, 20, replace=False)
    pet.ravel()[where] = 3e38
    out, notes = harmonise_pet(_image(pet))
    assert len(notes) == 1 and "20 voxel(s)" in notes[0]
    array = sitk.GetArrayViewFromImage(out)
    assert array.max() <= PET_MAX_SUV
    assert np.abs(array - SUV).max() < 13  # neighbour medians, not 0 or the clip value everywhere


def _ct_hu() -> np.ndarray:
    _z, y, x = np.mgrid[:16, :24, :24]
    body = (y - 12) ** 2 + (x - 12) ** 2 < 9**2
    ct = np.where(body, 40, -1000).astype(np.int16)
    ct[6:9, 10:14, 10:14] = 1200  # bone
    return ct


def test_ct_offset_storage_is_shifted_to_hu() -> None:
    ct = _ct_hu()
    out, notes = harmonise_ct(_image((ct.astype(np.int32) + 1024).astype(np.uint16)))
    assert len(notes) == 1 and "+ 1024" in notes[0]
    assert np.array_equal(sitk.GetArrayViewFromImage(out), ct)


def test_ct_outside_the_hu_range_is_clipped_with_a_note() -> None:
    ct = _ct_hu()
    ct[0, 0, :5] = -3024
    ct[8, 12, 12] = 8000
    out, notes = harmonise_ct(_image(ct))
    assert len(notes) == 1 and "6 voxel(s)" in notes[0]
    array = sitk.GetArrayViewFromImage(out)
    assert array.min() == -1024 and array.max() == 3071


def test_validate_case_converts_the_pet_and_logs_one_note(caplog) -> None:
    case = CaseInputs(
        ct=_image(_ct_hu()),
        pet=_image(np.rint(SUV * 1000).astype(np.int16)),
        clinical=ClinicalRecord(),
        ct_path=Path("ct.mha"),
        pet_path=Path("pet.mha"),
    )
    with caplog.at_level("WARNING"):
        notes = validate_case(case)
    assert [n for n in notes if "SUV x 1000" in n] and len(notes) == 1
    assert sum("SUV x 1000" in r.getMessage() for r in caplog.records) == 1
    assert sitk.GetArrayViewFromImage(case.pet).max() == pytest.approx(12.0, abs=1e-3)


def test_segmentation_input_is_calibration_free_when_configured() -> None:
    from algorithm.segmentation.preprocess import calibration_factor

    assert calibration_factor(_image(SUV), None) == 1.0
    base = calibration_factor(_image(SUV), REFERENCE_BODY_SUV)
    for shift in (0.5, 2.0):
        assert calibration_factor(_image(SUV * shift), REFERENCE_BODY_SUV) * shift == pytest.approx(base)
