"""Input checks before segmentation: refusals name the file, a few NaN/inf voxels are repaired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.checks import CT_FILL_HU, PET_FILL_SUV, validate_case
from algorithm.reading import CaseInputs
from hecktor.clinical import ClinicalRecord
from hecktor.errors import InputError
from hecktor.imageio import read_image

CT_PATH = Path("/input/images/ct/ct.mha")
PET_PATH = Path("/input/images/pet/pet.mha")


def _image(
    array_zyx: np.ndarray, spacing: tuple[float, float, float], origin: tuple[float, float, float]
) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _case(ct: sitk.Image | None = None, pet: sitk.Image | None = None) -> CaseInputs:
    rng = np.random.default_rng(0)
    if ct is None:
        ct = _image(rng.normal(0, 300, (20, 30, 30)).astype(np.int16), (3.0, 3.0, 4.0), (-45.0, -45.0, -40.0))
    if pet is None:
        pet = _image(rng.gamma(2.0, 1.0, (10, 12, 12)).astype(np.float32), (5.0, 5.0, 6.0), (-30.0, -30.0, -30.0))
    return CaseInputs(ct=ct, pet=pet, clinical=ClinicalRecord(), ct_path=CT_PATH, pet_path=PET_PATH)


def test_valid_case_passes_without_notes_about_repairs() -> None:
    case = _case()
    notes = validate_case(case)
    assert not any("NaN" in n for n in notes)


def test_few_non_finite_voxels_are_replaced_with_a_note() -> None:
    case = _case()
    pet = sitk.GetArrayFromImage(case.pet)
    pet[0, 0, :3] = [np.nan, np.inf, -np.inf]
    case.pet = _image(pet, case.pet.GetSpacing(), case.pet.GetOrigin())
    ct = np.random.default_rng(1).normal(0, 300, (20, 30, 30)).astype(np.float32)
    ct[5, 5, 5] = np.nan
    case.ct = _image(ct, (3.0, 3.0, 4.0), (-45.0, -45.0, -40.0))

    notes = validate_case(case)

    assert any("PET" in n and "3 NaN/inf" in n for n in notes)
    assert any("CT" in n and "1 NaN/inf" in n for n in notes)
    pet_out, ct_out = sitk.GetArrayViewFromImage(case.pet), sitk.GetArrayViewFromImage(case.ct)
    assert np.isfinite(pet_out).all() and np.isfinite(ct_out).all()
    assert (pet_out[0, 0, :3] == PET_FILL_SUV).all()
    assert ct_out[5, 5, 5] == CT_FILL_HU
    assert case.ct.GetSpacing() == (3.0, 3.0, 4.0)


def test_all_nan_ct_is_refused_naming_the_ct() -> None:
    ct = np.full((20, 30, 30), np.nan, dtype=np.float32)
    case = _case(ct=_image(ct, (3.0, 3.0, 4.0), (0.0, 0.0, 0.0)))
    with pytest.raises(InputError, match="no finite voxel") as info:
        validate_case(case)
    assert info.value.path == CT_PATH


def test_constant_pet_is_refused_naming_the_pet() -> None:
    pet = np.zeros((10, 12, 12), dtype=np.float32)
    case = _case(pet=_image(pet, (5.0, 5.0, 6.0), (-30.0, -30.0, -30.0)))
    with pytest.raises(InputError, match="constant") as info:
        validate_case(case)
    assert info.value.path == PET_PATH
    assert str(PET_PATH) in str(info.value)


def test_pet_outside_the_ct_is_refused() -> None:
    pet = np.random.default_rng(0).gamma(2.0, 1.0, (10, 12, 12)).astype(np.float32)
    case = _case(pet=_image(pet, (5.0, 5.0, 6.0), (1000.0, 0.0, 0.0)))
    with pytest.raises(InputError, match="does not overlap") as info:
        validate_case(case)
    assert info.value.path == PET_PATH


def test_single_slice_ct_is_refused() -> None:
    ct = np.random.default_rng(0).normal(0, 300, (1, 30, 30)).astype(np.int16)
    case = _case(ct=_image(ct, (3.0, 3.0, 4.0), (-45.0, -45.0, 0.0)))
    with pytest.raises(InputError, match="single slice") as info:
        validate_case(case)
    assert info.value.path == CT_PATH


def test_two_dimensional_image_is_refused() -> None:
    case = _case()
    case.pet = sitk.GetImageFromArray(np.random.default_rng(0).random((12, 12)).astype(np.float32))
    with pytest.raises(InputError, match="3-D") as info:
        validate_case(case)
    assert info.value.path == PET_PATH


def test_pet_covering_little_of_the_ct_gives_a_note() -> None:
    pet = np.random.default_rng(0).gamma(2.0, 1.0, (4, 4, 4)).astype(np.float32)
    case = _case(pet=_image(pet, (5.0, 5.0, 5.0), (-40.0, -40.0, -35.0)))
    notes = validate_case(case)
    assert any("PET covers only" in n for n in notes)


def test_corrupt_and_missing_image_files_name_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "ct.mha"
    corrupt.write_bytes(b"ObjectType = Image\nNDims = 3\nthis is not an image")
    with pytest.raises(InputError) as info:
        read_image(corrupt, "CT")
    assert info.value.path == corrupt and str(corrupt) in str(info.value)
    missing = tmp_path / "pet.mha"
    with pytest.raises(InputError, match="missing") as info:
        read_image(missing, "PET")
    assert info.value.path == missing
