"""Image reading errors name the file and the problem, in one line."""

import numpy as np
import pytest
import SimpleITK as sitk

from hecktor.errors import InputError
from hecktor.imageio import find_single_image, read_image, read_image_header, strip_image_suffix, write_image


def volume(shape=(4, 5, 6), dtype=np.int16) -> sitk.Image:
    return sitk.GetImageFromArray(np.arange(np.prod(shape), dtype=dtype).reshape(shape))


def test_round_trip_keeps_geometry(tmp_path):
    image = volume()
    image.SetSpacing((0.98, 0.98, 3.0))
    image.SetOrigin((-250.0, -250.0, 100.0))
    image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    path = write_image(image, tmp_path / "sub" / "ct.mha")
    back = read_image(path, "CT")
    assert back.GetSpacing() == image.GetSpacing()
    assert back.GetOrigin() == image.GetOrigin()
    assert back.GetDirection() == image.GetDirection()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    assert read_image_header(path).GetSize() == (6, 5, 4)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"ct\.mha: CT file is missing"):
        read_image(tmp_path / "ct.mha", "CT")


def test_corrupt_file_is_one_clear_line(tmp_path):
    path = tmp_path / "pet.mha"
    path.write_bytes(b"this is not an image")
    with pytest.raises(InputError) as info:
        read_image(path, "PET")
    message = str(info.value)
    assert message == f"{path}: PET file is not a MetaImage (.mha) image (unreadable header, 20 bytes)"


def _mha(tmp_path, name="ct.mha", compress=False):
    path = tmp_path / name
    sitk.WriteImage(volume((20, 30, 40), np.float32), str(path), useCompression=compress)
    return path


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("empty", "CT file is empty (0 bytes)"),
        ("random", "CT file is not a MetaImage (.mha) image (unreadable header, 5000 bytes)"),
        ("truncated", "CT file is truncated or its pixel data are corrupt (300 bytes for a 40x30x20 32-bit float"),
        ("truncated-compressed", "CT file is truncated or malformed: incomplete MetaImage (.mha) header (300 bytes)"),
        ("truncated-nifti", "CT file is truncated: its compressed data end early"),
    ],
)
def test_damaged_files_say_what_is_wrong_in_words(tmp_path, damage, expected):
    import os

    if damage == "truncated-nifti":
        path = tmp_path / "ct.nii.gz"
        sitk.WriteImage(volume((20, 30, 40), np.float32), str(path))
        path.write_bytes(path.read_bytes()[:2000])
    else:
        path = _mha(tmp_path, compress=damage == "truncated-compressed")
        data = {"empty": b"", "random": os.urandom(5000)}.get(damage, path.read_bytes()[:300])
        path.write_bytes(data)
    with pytest.raises(InputError) as info:
        read_image(path, "CT")
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(info.value) and "itk" not in str(info.value).lower()


def test_upper_case_extension_is_read(tmp_path):
    path = _mha(tmp_path).rename(tmp_path / "CT.MHA")  # (SimpleITK would write CT.MHA as a .mhd/.raw pair)
    assert find_single_image(tmp_path, "CT") == path
    assert read_image(path, "CT").GetSize() == (40, 30, 20)


def test_2d_and_vector_images_are_refused(tmp_path):
    flat = write_image(sitk.GetImageFromArray(np.zeros((5, 5), np.float32)), tmp_path / "flat.mha")
    with pytest.raises(InputError, match="is 2-D, expected a 3-D volume"):
        read_image(flat, "CT")
    vector = sitk.GetImageFromArray(np.zeros((3, 4, 5, 2), np.float32), isVector=True)
    path = write_image(vector, tmp_path / "vector.mha")
    with pytest.raises(InputError, match="2 components per voxel"):
        read_image(path, "PET")


def test_find_single_image(tmp_path):
    with pytest.raises(InputError, match="CT folder is missing"):
        find_single_image(tmp_path / "ct", "CT")
    (tmp_path / "ct").mkdir()
    (tmp_path / "ct" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"no CT file with a supported extension: found notes\.txt \(expected \.mha"):
        find_single_image(tmp_path / "ct", "CT")
    write_image(volume(), tmp_path / "ct" / "a.mha")
    assert find_single_image(tmp_path / "ct", "CT").name == "a.mha"
    write_image(volume(), tmp_path / "ct" / "b.nii.gz")
    with pytest.raises(InputError, match=r"expected exactly one CT file, found 2: a\.mha, b\.nii\.gz"):
        find_single_image(tmp_path / "ct", "CT")


def test_strip_image_suffix():
    assert strip_image_suffix("CHUM-001__CT.nii.gz") == "CHUM-001__CT"
    assert strip_image_suffix("x.MHA") == "x"
    assert strip_image_suffix("plain") == "plain"
