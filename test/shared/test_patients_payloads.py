"""Patient IDs from image names, centres, and Grand Challenge payload entries (2025 and 2026 keys)."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from hecktor import interface
from hecktor.imageio import write_image
from hecktor.patients import centre_of, patient_id_from_image_name
from hecktor.payloads import entry_image_name, entry_relative_path, socket_value
from hecktor.predictions_tree import JobSpec, write_predictions_tree


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("CHUM-001__CT.nii.gz", "CHUM-001"),
        ("CHUM-001.mha", "CHUM-001"),
        ("HGJ-012_CT.nii", "HGJ-012"),
        ("MDA-100__ct.MHA", "MDA-100"),
        ("USZ-7", "USZ-7"),
        ("CHUV-003__PT.nii.gz", "CHUV-003__PT"),
    ],
)
def test_patient_id_from_default_pattern(name, patient):
    assert patient_id_from_image_name(name) == patient


def test_custom_pattern():
    assert patient_id_from_image_name("case_17_image.mha", r"^case_(?P<patient>\d+)_image") == "17"
    assert patient_id_from_image_name("other.mha", r"^case_(?P<patient>\d+)") is None


def test_centre_of():
    assert centre_of("CHUM-001") == "CHUM"
    assert centre_of("mda_12") == "MDA"
    assert centre_of("weird") == "unknown"


def test_entries_readable_with_either_key():
    entry = socket_value(interface.CT, image_name="CHUM-001__CT.nii.gz")
    assert entry_relative_path(entry) == "images/ct" and entry_image_name(entry) == "CHUM-001__CT.nii.gz"
    old = {k: v for k, v in entry.items() if k != "socket"}
    new = {k: v for k, v in entry.items() if k != "interface"}
    assert entry_relative_path(old) == entry_relative_path(new) == "images/ct"
    assert entry_relative_path({"value": 1}) is None


def test_predictions_tree(tmp_path):
    out = tmp_path / "alg-out"
    label = sitk.GetImageFromArray(np.zeros((3, 4, 5), np.uint8))
    write_image(label, out / interface.SEGMENTATION.relative_path / "output.mha")
    (out / "rfs.json").write_text("1.5")
    path = write_predictions_tree(tmp_path / "eval-in", [JobSpec("CHUM-001", out), JobSpec("CHUM-002", None)], 1)
    jobs = json.loads(path.read_text())
    assert len(jobs) == 2
    first = next(j for j in jobs if j["outputs"])
    assert entry_relative_path(first["outputs"][0]) == interface.SEGMENTATION.relative_path
    assert (
        tmp_path / "eval-in" / first["pk"] / "output" / interface.SEGMENTATION.relative_path / "output.mha"
    ).is_file()
    assert entry_image_name(first["inputs"][0]) == "CHUM-001__CT.nii.gz"
    again = write_predictions_tree(tmp_path / "eval-in2", [JobSpec("CHUM-001", out), JobSpec("CHUM-002", None)], 1)
    assert again.read_text() == path.read_text()
