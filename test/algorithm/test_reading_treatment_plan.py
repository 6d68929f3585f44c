"""The planning CT and RT dose are read only for a job whose tasks use them (Task 2, the 2026 edition)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from algorithm.pipeline import read_and_check, uses_treatment_plan
from hecktor import interface
from synthetic import generate_case, write_grand_challenge_layout


@pytest.fixture(scope="module")
def case_with_bad_dose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small case whose RT dose file is unreadable (a fallback, noted when it is read)."""
    root = tmp_path_factory.mktemp("gc_dose")
    write_grand_challenge_layout([generate_case("CHUM-001", seed=11, size="small")], root)
    case_dir = next((root / "inputs").iterdir())
    dose_dir = case_dir / interface.RT_DOSE.relative_path
    shutil.rmtree(dose_dir, ignore_errors=True)
    dose_dir.mkdir(parents=True)
    (dose_dir / "dose.mha").write_bytes(b"\x00" * 64)
    return case_dir


def test_which_jobs_use_the_treatment_plan() -> None:
    assert uses_treatment_plan({1, 2, 3}, "2025") and uses_treatment_plan({2}, "2025")
    assert not uses_treatment_plan({1}, "2025") and not uses_treatment_plan({1, 3}, "2025")
    assert uses_treatment_plan({1}, "2026")  # one job writes every 2026 output, RFS included


def test_a_task_1_job_does_not_read_the_rt_dose(case_with_bad_dose: Path) -> None:
    checked = read_and_check(case_with_bad_dose, treatment_plan=False)
    assert checked.case.rt_dose is None and checked.case.planning_ct is None
    assert not any("RT dose" in note for note in checked.result.notes)


def test_a_task_2_job_reads_it_and_notes_why_it_is_ignored(case_with_bad_dose: Path) -> None:
    checked = read_and_check(case_with_bad_dose, treatment_plan=True)
    assert checked.case.rt_dose is None
    notes = [n for n in checked.result.notes if n.startswith("RT dose ignored")]
    assert len(notes) == 1 and "dose.mha" in notes[0], checked.result.notes
