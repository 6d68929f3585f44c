"""The algorithm image in both of Grand Challenge's modes: exec (one case per run) and invoke (HTTP)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from container_helpers import Engine, InvokeSession, check_outputs, last_line, model_mounts, stage_case

pytestmark = pytest.mark.container


@pytest.mark.parametrize("task", [1, 2, 3])
def test_exec_mode_writes_exactly_the_outputs_of_its_phase(
    task: int, engine: Engine, phase_images: dict[int, tuple[str, list[str]]], example_cases: list[Path], dirs
) -> None:
    image, options = phase_images[task]
    case = example_cases[0]
    stage_case(case, dirs["input_dir"])
    result = engine.run_job(image, ["run"], dirs=dirs, options=options, extra_mounts=model_mounts())
    assert result.returncode == 0, f"{image} run failed: {result.stderr[-3000:]}"
    check_outputs(case, dirs["output_dir"], {task})
    if task == 1 and not os.environ.get("HECKTOR_CONTAINER_MODEL"):
        assert "/opt/app/algorithm/resources/model/segmentation" in result.stderr, "not the baked-in weights"


def test_exec_mode_fails_fast_with_a_one_line_reason_on_a_corrupt_ct(
    engine: Engine, algorithm_image: str, example_cases: list[Path], dirs
) -> None:
    exec_image = f"{algorithm_image}-exec"
    # The exec-mode image runs a case with no argument; the invoke image needs `run`.
    image, args = (exec_image, []) if engine.image_exists(exec_image) else (algorithm_image, ["run"])
    stage_case(example_cases[0], dirs["input_dir"], corrupt_ct=True)
    result = engine.run_job(image, args, dirs=dirs, timeout=300, extra_mounts=model_mounts())
    assert result.returncode != 0
    reason = last_line(result.stderr)
    assert reason.startswith("error:") and "images/ct" in reason, result.stderr[-3000:]
    assert not any(dirs["output_dir"].rglob("*.mha")), "no output may be left for a case that failed"


def test_invoke_mode_serves_every_example_case(invoke_session: InvokeSession) -> None:
    assert invoke_session.answers, "no case was invoked"
    for patient, answer in invoke_session.answers.items():
        assert answer["status"] == 201, f"{patient}: {answer}"
        check_outputs(invoke_session.cases[patient], invoke_session.outputs[patient], {1, 2, 3})
    # The weights came from the model mounted at /opt/ml/model, as Grand Challenge mounts a model tarball.
    assert "/opt/ml/model/segmentation" in invoke_session.logs, invoke_session.logs[-3000:]


def test_invoke_mode_answers_a_corrupt_ct_with_400_and_keeps_serving(invoke_session: InvokeSession) -> None:
    answer = invoke_session.broken
    assert answer["status"] == 400, answer
    error = json.loads(answer["body"])["error"]
    assert "images/ct" in error and "\n" not in error, error
    assert "invoke failed (400)" in invoke_session.logs, invoke_session.logs[-3000:]
    assert invoke_session.health_after_broken["status"] == 200


def test_invoke_mode_stops_cleanly_on_sigterm(invoke_session: InvokeSession) -> None:
    assert invoke_session.exit_code == 0, invoke_session.logs[-3000:]
    assert invoke_session.stop_seconds < 20, "SIGTERM was ignored: the engine had to kill the server"
