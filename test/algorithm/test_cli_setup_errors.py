"""``python -m algorithm run`` refuses what it cannot use before any work, in one line, and keeps start-up short."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hecktor import interface
from hecktor.clinical import read_clinical_json
from hecktor.imageio import find_single_image
from synthetic import generate_case, write_grand_challenge_layout

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "HECKTOR_TASKS"}
    full_env.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "algorithm", *args], capture_output=True, text=True, cwd=REPO, env=full_env, timeout=600
    )


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-case")
    write_grand_challenge_layout([generate_case("CHUM-001", seed=3, size="small")], root)
    return root / "inputs" / "CHUM-001"


def last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--tasks", "4"], None, "python -m algorithm run: error: --tasks='4': unknown task '4'"),
        ([], {"HECKTOR_TASKS": "seg"}, "python -m algorithm run: error: HECKTOR_TASKS='seg': unknown task 'seg'"),
        (["--output", "{file}"], None, "python -m algorithm run: error: output {file}: is a file, not a folder"),
        (["--output", "{file}/out"], None, "output {file}/out: the folder cannot be created (Not a directory)"),
    ],
)
def test_usage_errors_exit_2_in_one_line_before_any_work(case_dir, tmp_path, args, env, expected) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    args = [a.format(file=file) for a in args]
    if "--output" not in args:
        args += ["--output", str(tmp_path / "out")]
    proc = run_cli("run", "--input", str(case_dir), *args, env=env)
    assert proc.returncode == 2, proc.stderr
    assert expected.format(file=file) in last_line(proc)
    assert "Traceback" not in proc.stderr and "read inputs" not in proc.stderr and "load models" not in proc.stderr


def test_bad_input_fails_before_the_models_load(case_dir, tmp_path) -> None:
    broken = tmp_path / "case"
    shutil.copytree(case_dir, broken)
    ct = find_single_image(broken / interface.CT.relative_path)
    ct.write_bytes(ct.read_bytes()[:300])
    proc = run_cli("run", "--input", str(broken), "--output", str(tmp_path / "out"), "--device", "cpu")
    assert proc.returncode == 1
    assert last_line(proc).startswith(f"error: {ct}: CT file is truncated"), proc.stderr
    assert "load models" not in proc.stderr


def test_stale_outputs_are_removed_and_a_pathological_ehr_falls_back_to_missing(case_dir, tmp_path) -> None:
    case = tmp_path / "case"
    shutil.copytree(case_dir, case)
    (case / "ehr.json").write_text("[" * 100_000 + "]" * 100_000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "rfs-survival-curve.json").write_text('{"times_days": [1], "survival": [1]}')  # from an earlier run
    (out / "hpv-status.json").write_text("true")
    proc = run_cli("run", "--input", str(case), "--output", str(out), "--device", "cpu", env={"HECKTOR_TASKS": "2"})
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["rfs.json"]  # the bundled ICARE draws no curve
    assert "removed rfs-survival-curve.json" in proc.stderr and "nested too deep" in proc.stderr


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deep to parse"),
        ('{"Age": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deep to parse"),
        ("\udcff", "not valid JSON"),
        (" " * (2 << 20), "more than a clinical record can hold"),
    ],
)
def test_any_parser_failure_of_ehr_json_gives_the_all_missing_record(tmp_path, text, note) -> None:
    path = tmp_path / "ehr.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    record = read_clinical_json(path)
    assert all(value is None for value in record.values.values())
    assert record.notes and note in record.notes[-1] and str(path) in record.notes[-1]


def test_trailing_comma_of_the_organisers_sample_is_accepted(tmp_path) -> None:
    path = tmp_path / "ehr.json"
    path.write_text(json.dumps({"Age": 56, "Gender": 1})[:-1] + ",}")
    assert read_clinical_json(path).get("Age") == 56


def test_help_imports_no_heavy_library() -> None:
    """``--help`` builds its parser without torch, MONAI, SimpleITK or numpy (the time: bench/startup.py)."""
    code = (
        "import sys\nfrom algorithm.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'monai', 'SimpleITK', 'numpy') if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0 and "python -m algorithm" in proc.stdout
    assert last_line(proc) == "[]"
    train = run_cli("train", "--help")
    assert train.returncode == 0 and "segmentation" in train.stdout
