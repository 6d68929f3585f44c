"""The algorithm entry point end to end, on real files in temporary folders.

Cases come from the synthetic generator in Grand Challenge layout; the bundled models are used.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.pipeline import Algorithm, parse_tasks
from hecktor import interface
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import find_single_image, read_image
from synthetic import generate_case, write_grand_challenge_layout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gc_cases(tmp_path_factory) -> Path:
    """Two small cases; the second has its CT axes flipped by the generator's seed choice or by hand."""
    root = tmp_path_factory.mktemp("gc")
    cases = [generate_case("CHUM-001", seed=11, size="small"), generate_case("MDA-002", seed=12, size="small")]
    write_grand_challenge_layout(cases, root)
    return root / "inputs"


@pytest.fixture(scope="module")
def algorithm() -> Algorithm:
    return Algorithm(parse_tasks("all"), device="cpu")


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def check_outputs(case_dir: Path, out: Path) -> None:
    label_path = find_single_image(out / interface.SEGMENTATION.relative_path, "segmentation")
    assert label_path.name == interface.SEGMENTATION_FILENAME
    label = read_image(label_path)
    ct = read_image(find_single_image(case_dir / interface.CT.relative_path))
    assert label.GetPixelID() == sitk.sitkUInt8
    assert grid_differences(Grid.of(label), Grid.of(ct)) == []
    assert set(np.unique(sitk.GetArrayViewFromImage(label))) <= {0, 1, 2}
    risk = json.loads((out / interface.RFS.relative_path).read_text())
    assert isinstance(risk, float) and math.isfinite(risk)
    status = json.loads((out / interface.HPV_STATUS.relative_path).read_text())
    assert isinstance(status, bool)
    probability = json.loads((out / interface.HPV_PROBABILITY.relative_path).read_text())
    assert 0.0 <= probability <= 1.0


def test_all_outputs_valid_and_input_untouched(gc_cases, algorithm, tmp_path):
    for case_dir in sorted(gc_cases.iterdir()):
        before = tree_digest(case_dir)
        out = tmp_path / case_dir.name
        result = algorithm.run(case_dir, out)
        check_outputs(case_dir, out)
        assert tree_digest(case_dir) == before
        assert {"read inputs", "total"} <= set(result.timings)


def test_same_input_same_outputs(gc_cases, algorithm, tmp_path):
    case_dir = sorted(gc_cases.iterdir())[0]
    algorithm.run(case_dir, tmp_path / "a")
    algorithm.run(case_dir, tmp_path / "b")
    for socket in (interface.RFS, interface.HPV_STATUS, interface.HPV_PROBABILITY):
        assert (tmp_path / "a" / socket.relative_path).read_text() == (
            tmp_path / "b" / socket.relative_path
        ).read_text()
    a = sitk.GetArrayFromImage(read_image(tmp_path / "a" / interface.SEGMENTATION.relative_path / "output.mha"))
    b = sitk.GetArrayFromImage(read_image(tmp_path / "b" / interface.SEGMENTATION.relative_path / "output.mha"))
    np.testing.assert_array_equal(a, b)


def test_segmentation_failure_falls_back_to_empty_mask(gc_cases, algorithm, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated CUDA out of memory")

    monkeypatch.setattr(algorithm.segmenter, "segment", broken)
    case_dir = sorted(gc_cases.iterdir())[0]
    result = algorithm.run(case_dir, tmp_path)
    check_outputs(case_dir, tmp_path)
    label = sitk.GetArrayFromImage(read_image(tmp_path / interface.SEGMENTATION.relative_path / "output.mha"))
    assert not label.any()
    assert any("segmentation failed" in f for f in result.fallbacks)


def test_implausibly_large_lesions_are_warned_about_and_written(gc_cases, algorithm, tmp_path, monkeypatch, caplog):
    def everything_is_tumour(ct, pet, **kwargs):
        array = np.zeros(sitk.GetArrayViewFromImage(ct).shape, dtype=np.uint8)
        array[: array.shape[0] // 2] = 1
        array[array.shape[0] // 2 :] = 2
        label = sitk.GetImageFromArray(array)
        label.CopyInformation(ct)
        return label

    monkeypatch.setattr(algorithm.segmenter, "segment", everything_is_tumour)
    case_dir = sorted(gc_cases.iterdir())[0]
    result = algorithm.run(case_dir, tmp_path)
    check_outputs(case_dir, tmp_path)
    notes = [n for n in result.notes if n.startswith("implausible segmentation")]
    assert len(notes) == 2 and "GTVp" in notes[0] and "GTVn" in notes[1]
    assert any("implausible segmentation: GTVn" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_plausible_segmentation_gives_no_volume_warning(gc_cases, algorithm, tmp_path):
    result = algorithm.run(sorted(gc_cases.iterdir())[0], tmp_path)
    assert not [n for n in result.notes if n.startswith("implausible")]


def test_missing_clinical_record_still_gives_outputs(gc_cases, algorithm, tmp_path):
    import shutil

    case_dir = tmp_path / "case"
    shutil.copytree(sorted(gc_cases.iterdir())[0], case_dir)
    (case_dir / "ehr.json").unlink()
    algorithm.run(case_dir, tmp_path / "out")
    check_outputs(case_dir, tmp_path / "out")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "algorithm", *args], capture_output=True, text=True, cwd=REPO, env=full_env, timeout=600
    )


def test_cli_task_selection_writes_only_that_phase(gc_cases, tmp_path):
    case_dir = sorted(gc_cases.iterdir())[0]
    proc = run_cli(
        "run", "--input", str(case_dir), "--output", str(tmp_path), "--device", "cpu", env={"HECKTOR_TASKS": "2"}
    )
    assert proc.returncode == 0, proc.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["rfs.json"]
    # (issue 19) no silent start-up: importing torch and MONAI is a logged stage with its time, before the models
    assert proc.stderr.index("import torch and MONAI done in") < proc.stderr.index("load models ...")


def test_cli_train_start_up_is_logged():
    proc = run_cli("train", "hpv", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "import torch and MONAI done in" in proc.stderr and "--data" in proc.stdout


@pytest.mark.parametrize("damage", ["missing-ct", "corrupt-pet"])
def test_cli_unreadable_input_fails_with_one_line(gc_cases, tmp_path, damage):
    import shutil

    case_dir = tmp_path / "case"
    shutil.copytree(sorted(gc_cases.iterdir())[0], case_dir)
    if damage == "missing-ct":
        shutil.rmtree(case_dir / interface.CT.relative_path)
        expected = "CT folder is missing"
    else:
        pet = find_single_image(case_dir / interface.PET.relative_path)
        pet.write_bytes(b"\x00" * 100)
        expected = "PET file is not a MetaImage (.mha) image"
    proc = run_cli("run", "--input", str(case_dir), "--output", str(tmp_path / "out"), "--device", "cpu")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last, proc.stderr
    assert "Traceback" not in proc.stderr


def test_parse_tasks():
    assert parse_tasks(None) == {1, 2, 3}
    assert parse_tasks("all") == {1, 2, 3}
    assert parse_tasks("1, 3") == {1, 3}
    with pytest.raises(ValueError, match="unknown task '4'"):
        parse_tasks("4")


def test_survival_curve_written_when_the_model_gives_one(gc_cases, algorithm, tmp_path, monkeypatch):
    monkeypatch.setattr(
        algorithm.prognosis, "predict_survival", lambda features, clinical: ([100.0, 900.0], [0.9, 0.4])
    )
    algorithm.run(sorted(gc_cases.iterdir())[0], tmp_path)
    curve = json.loads((tmp_path / interface.RFS_SURVIVAL_CURVE.relative_path).read_text())
    assert curve == {"times_days": [100.0, 900.0], "survival": [0.9, 0.4]}


def test_bundled_icare_model_writes_no_curve(gc_cases, algorithm, tmp_path):
    algorithm.run(sorted(gc_cases.iterdir())[0], tmp_path)
    assert not (tmp_path / interface.RFS_SURVIVAL_CURVE.relative_path).exists()


def test_writing_refuses_non_finite_values(tmp_path):
    from algorithm.writing import write_json_value

    with pytest.raises(ValueError, match="non-finite"):
        write_json_value(float("nan"), tmp_path, interface.RFS)
    with pytest.raises(ValueError, match="non-finite"):
        write_json_value({"times_days": [1.0], "survival": [float("inf")]}, tmp_path, interface.RFS_SURVIVAL_CURVE)
    assert not any(tmp_path.iterdir())
