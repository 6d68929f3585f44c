"""The evaluation images score predictions trees: exec mode as Grand Challenge runs it once per submission,
invoke mode behind ``POST /invoke``; both write the same metrics.json."""

from __future__ import annotations

import json
import math
import shutil
import uuid
from pathlib import Path

import pytest
from container_helpers import (
    EXAMPLES,
    GROUND_TRUTH_MOUNT,
    Engine,
    InvokeSession,
    finite_numbers,
    invoke_call,
    last_line,
    wait_until_healthy,
)

from hecktor.predictions_tree import JobSpec, write_predictions_tree

pytestmark = pytest.mark.container


def _dirs(predictions: Path, work: Path) -> dict[str, Path]:
    for path in [predictions, *predictions.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return {"input_dir": predictions, "output_dir": work / "output", "scratch": work / "scratch"}


def _score(engine: Engine, image: str, predictions: Path, ground_truth: Path, work: Path) -> dict:
    dirs = _dirs(predictions, work)
    # Grand Challenge's default for an evaluation: 2 vCPU and ~7 GiB.
    result = engine.run_job(
        image, dirs=dirs, extra_mounts=[(ground_truth, GROUND_TRUTH_MOUNT)], memory="7g", timeout=600
    )
    assert result.returncode == 0, f"evaluation failed: {result.stderr[-3000:]}"
    metrics_path = dirs["output_dir"] / "metrics.json"
    assert metrics_path.is_file(), f"no metrics.json: {result.stderr[-3000:]}"
    metrics = json.loads(metrics_path.read_text(), parse_constant=lambda name: math.nan)
    assert isinstance(metrics.get("aggregates"), dict) and metrics["aggregates"], metrics
    # Leaderboard columns are finite numbers; per-centre values may be null (undefined), never NaN.
    leaderboard = {k: v for k, v in metrics["aggregates"].items() if k != "by_centre"}
    assert not finite_numbers(leaderboard), finite_numbers(leaderboard)
    by_centre = finite_numbers(metrics["aggregates"].get("by_centre", {}), "by_centre")
    assert all(bad.endswith("=None") for bad in by_centre), by_centre
    return metrics


@pytest.mark.parametrize("task", [1, 2, 3])
def test_evaluation_scores_the_algorithm_containers_outputs(
    task: int,
    engine: Engine,
    evaluation_exec_image: str,
    invoke_session: InvokeSession,
    ground_truth_dir: Path,
    tmp_path: Path,
) -> None:
    jobs = [JobSpec(patient, outputs) for patient, outputs in invoke_session.outputs.items()]
    write_predictions_tree(tmp_path / "predictions", jobs, task)
    metrics = _score(engine, evaluation_exec_image, tmp_path / "predictions", ground_truth_dir, tmp_path)
    assert len(metrics.get("results", metrics.get("case", []))) == len(jobs), metrics


@pytest.mark.parametrize("task", [1, 2, 3])
def test_evaluation_scores_the_example_predictions(
    task: int, engine: Engine, evaluation_exec_image: str, ground_truth_dir: Path, tmp_path: Path
) -> None:
    example = EXAMPLES / "predictions" / f"task{task}"
    if not (example / "predictions.json").is_file():
        pytest.skip(f"no example predictions tree at {example}")
    shutil.copytree(example, tmp_path / "predictions")
    _score(engine, evaluation_exec_image, tmp_path / "predictions", ground_truth_dir, tmp_path)


def test_invoke_mode_writes_the_exec_modes_metrics(
    engine: Engine, evaluation_image: str, evaluation_exec_image: str, ground_truth_dir: Path, tmp_path: Path
) -> None:
    example = EXAMPLES / "predictions" / "task1"
    if not (example / "predictions.json").is_file():
        pytest.skip(f"no example predictions tree at {example}")
    shutil.copytree(example, tmp_path / "predictions")
    _score(engine, evaluation_exec_image, tmp_path / "predictions", ground_truth_dir, tmp_path / "exec")
    dirs = _dirs(tmp_path / "predictions", tmp_path / "invoke")
    options = engine.gc_options(**dirs, extra_mounts=[(ground_truth_dir, GROUND_TRUTH_MOUNT)], memory="7g")
    name = f"hecktor-test-eval-invoke-{uuid.uuid4().hex[:12]}"
    engine("run", "--detach", "--name", name, *options, evaluation_image, check=True)
    try:
        wait_until_healthy(engine, name, limit=120)
        answer = invoke_call(engine, name, "POST", "/invoke", 600)
        assert answer["status"] == 201, answer
        metrics = (dirs["output_dir"] / "metrics.json").read_bytes()
        assert metrics == (tmp_path / "exec" / "output" / "metrics.json").read_bytes()
        engine("stop", "--time", "30", name, timeout=120)
        exit_code = engine("container", "inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        assert exit_code == "0", engine("logs", name).stderr[-2000:]
    finally:
        engine("rm", "--force", name, timeout=120)


def test_unwritable_output_is_refused_before_scoring(
    engine: Engine, evaluation_exec_image: str, ground_truth_dir: Path, tmp_path: Path
) -> None:
    example = EXAMPLES / "predictions" / "task2"
    if not (example / "predictions.json").is_file():
        pytest.skip(f"no example predictions tree at {example}")
    shutil.copytree(example, tmp_path / "predictions")
    dirs = _dirs(tmp_path / "predictions", tmp_path)
    result = engine.run_job(  # /input is mounted read-only, as on Grand Challenge
        evaluation_exec_image,
        ["--output", "/input"],
        dirs=dirs,
        extra_mounts=[(ground_truth_dir, GROUND_TRUTH_MOUNT)],
        memory="7g",
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert last_line(result.stderr).startswith("evaluation error: cannot write /input/metrics.json"), result.stderr
    assert "not writable (Read-only file system)" in last_line(result.stderr)
    assert "Traceback" not in result.stderr
