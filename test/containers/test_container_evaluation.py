"""The evaluation image scores predictions trees, as Grand Challenge runs it once per submission."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from container_helpers import EXAMPLES, GROUND_TRUTH_MOUNT, Engine, InvokeSession, finite_numbers

from hecktor.predictions_tree import JobSpec, write_predictions_tree

pytestmark = pytest.mark.container


def _score(engine: Engine, image: str, predictions: Path, ground_truth: Path, work: Path) -> dict:
    dirs = {"input_dir": predictions, "output_dir": work / "output", "scratch": work / "scratch"}
    for path in [predictions, *predictions.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    # Grand Challenge's default for an evaluation: 2 vCPU and ~7 GiB.
    result = engine.run_job(
        image, dirs=dirs, extra_mounts=[(ground_truth, GROUND_TRUTH_MOUNT)], memory="7g", timeout=600
    )
    assert result.returncode == 0, f"evaluation failed: {result.stderr[-3000:]}"
    metrics_path = dirs["output_dir"] / "metrics.json"
    assert metrics_path.is_file(), f"no metrics.json: {result.stderr[-3000:]}"
    metrics = json.loads(metrics_path.read_text(), parse_constant=lambda name: math.nan)
    assert isinstance(metrics.get("aggregates"), dict) and metrics["aggregates"], metrics
    assert not finite_numbers(metrics["aggregates"]), finite_numbers(metrics["aggregates"])
    return metrics


@pytest.mark.parametrize("task", [1, 2, 3])
def test_evaluation_scores_the_algorithm_containers_outputs(
    task: int,
    engine: Engine,
    evaluation_image: str,
    invoke_session: InvokeSession,
    ground_truth_dir: Path,
    tmp_path: Path,
) -> None:
    jobs = [JobSpec(patient, outputs) for patient, outputs in invoke_session.outputs.items()]
    write_predictions_tree(tmp_path / "predictions", jobs, task)
    metrics = _score(engine, evaluation_image, tmp_path / "predictions", ground_truth_dir, tmp_path)
    assert len(metrics.get("results", metrics.get("case", []))) == len(jobs), metrics


@pytest.mark.parametrize("task", [1, 2, 3])
def test_evaluation_scores_the_example_predictions(
    task: int, engine: Engine, evaluation_image: str, ground_truth_dir: Path, tmp_path: Path
) -> None:
    example = EXAMPLES / "predictions" / f"task{task}"
    if not (example / "predictions.json").is_file():
        pytest.skip(f"no example predictions tree at {example}")
    shutil.copytree(example, tmp_path / "predictions")
    _score(engine, evaluation_image, tmp_path / "predictions", ground_truth_dir, tmp_path)
