"""hecktor.dataset_layout: one set of names for the organisers' layout, read by training and evaluation alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from algorithm.training.cases import dataset_root, find_task_csv, load_cases
from algorithm.training.seg_data import find_cases
from evaluation.ground_truth import load_ground_truth
from hecktor import dataset_layout as layout


def test_task_folder_spellings() -> None:
    for name in ("Task 1", "Task_1", "task-1", "TASK1", " Task 1 "):
        assert layout.task_of_dir_name(name) == 1
    for name in ("Task", "Task 12", "Tasks 1", "1"):
        assert layout.task_of_dir_name(name) is None
    assert layout.task_dir(Path("/d"), 2) == Path("/d/Task 2")
    assert layout.csv_path(Path("/d"), 3) == Path("/d/HECKTOR_2025_Training_Task_3.csv")
    assert layout.image_stem("CHUM-001", "pet") == "CHUM-001__PT"


def test_cell_values() -> None:
    assert [layout.parse_binary(v) for v in ("1", "0.0", " true", "No", "2", "", "x")] == [
        True, False, True, False, None, None, None,
    ]  # fmt: skip
    assert layout.is_blank(" NA ") and layout.is_blank("") and not layout.is_blank("0")
    assert layout.parse_float("inf") is None and layout.parse_float("3.5") == 3.5


def _write_layout(root: Path) -> None:
    """Two patients written through the layout's names (empty image files: only names are read here)."""
    for pid in ("CHUM-001", "CHUP-002"):
        for task in layout.TASKS:
            folder = layout.task_dir(root, task) / pid
            folder.mkdir(parents=True)
            for kind in ("ct", "pet"):
                (folder / f"{layout.image_stem(pid, kind)}{layout.NIFTI}").touch()
        (layout.task_dir(root, 1) / pid / f"{layout.label_stem(pid)}{layout.NIFTI}").touch()
    layout.csv_path(root, 2).write_text(
        "PatientID,CenterID,Age,RFS,Relapse\nCHUM-001,1,60,300,1\nCHUP-002,2,55,900,0\n"
    )
    layout.csv_path(root, 3).write_text("PatientID,CenterID,Age,HPV Status\nCHUM-001,1,60,1\nCHUP-002,2,55,\n")


def test_training_and_evaluation_read_the_same_layout(tmp_path: Path) -> None:
    _write_layout(tmp_path)
    assert dataset_root(layout.task_dir(tmp_path, 2)) == tmp_path
    assert find_task_csv(tmp_path, 2) == layout.csv_path(tmp_path, 2)
    assert [c.patient_id for c in find_cases(tmp_path)] == ["CHUM-001", "CHUP-002"]
    cases, _ = load_cases(tmp_path, 2)
    assert [(c.patient_id, c.targets["relapse"]) for c in cases] == [("CHUM-001", 1.0), ("CHUP-002", 0.0)]
    assert cases[0].label == layout.task_dir(tmp_path, 1) / "CHUM-001" / "CHUM-001.nii.gz"
    hpv_cases, notes = load_cases(tmp_path, 3)
    assert [c.patient_id for c in hpv_cases] == ["CHUM-001"] and notes
    gt = load_ground_truth(tmp_path)
    assert gt.layout == "organisers" and sorted(gt.labels) == ["CHUM-001", "CHUP-002"]
    assert gt.outcomes["CHUM-001"].hpv is True and gt.outcomes["CHUP-002"].hpv is None


@pytest.mark.parametrize("value", ["positive", "POS", "+", "1", "1.0", "yes"])
def test_training_hpv_words(value: str) -> None:
    from algorithm.training.cases import _parse_hpv

    assert _parse_hpv(value) == 1.0
