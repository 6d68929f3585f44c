"""The project is installed into its venv (``make setup``): console scripts and ``python -m`` work from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SCRIPTS = ("hecktor-algorithm", "hecktor-evaluation", "hecktor-synthetic")


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing but the install finds the code
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _script(name: str) -> str:
    path = BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the project is not installed into this venv; run `make setup`")
    return str(path)


@pytest.mark.parametrize("name", SCRIPTS)
def test_console_script_help_from_another_folder(name: str, tmp_path: Path) -> None:
    result = _run([_script(name), "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_python_m_forms_from_another_folder(tmp_path: Path) -> None:
    for module in ("algorithm", "evaluation", "synthetic"):
        result = _run([sys.executable, "-m", module, "--help"], tmp_path)
        assert result.returncode == 0, f"python -m {module}: {result.stderr}"


def test_synthetic_then_evaluation_scripts_end_to_end(tmp_path: Path) -> None:
    """A real run of two entry points from a folder outside the repository: write a cohort, score a CSV of it."""
    run = _run([_script("hecktor-synthetic"), "--out", "cohort", "--cases", "2", "--seed", "3"], tmp_path)
    assert run.returncode == 0, run.stderr
    table = next((tmp_path / "cohort").glob("*Task_2.csv")).read_text().splitlines()
    pids = [line.split(",")[0] for line in table[1:]]
    (tmp_path / "risk.csv").write_text("PatientID,risk\n" + "".join(f"{p},{k}\n" for k, p in enumerate(pids)))
    argv = ["score-folder", "--predictions", "risk.csv", "--data", "cohort", "--task", "2", "--output", "m.json"]
    score = _run([_script("hecktor-evaluation"), *argv, "--bootstrap", "0"], tmp_path)
    assert score.returncode == 0, score.stderr
    assert json.loads((tmp_path / "m.json").read_text())["aggregates"]["task2_n_cases"] == 2
