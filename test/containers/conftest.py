"""Fixtures of the container tests; the machinery is in :mod:`container_helpers`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from container_helpers import EXAMPLES, Engine, InvokeSession, detect_engine, run_invoke_session, unavailable


@pytest.fixture(scope="session")
def engine() -> Engine:
    command = detect_engine()
    if command is None:
        unavailable("no container engine: install podman or docker, then `make build`")
    engine = Engine(command)
    try:
        engine("version", timeout=60, check=True)
    except (AssertionError, OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"container engine {command} does not work here: {exc}")
    return engine


def _built(engine: Engine, image: str) -> str:
    if not engine.image_exists(image):
        unavailable(f"image {image} is not built (make build)")
    return image


@pytest.fixture(scope="session")
def algorithm_image(engine: Engine) -> str:
    """The all-tasks algorithm image (invoke by default)."""
    return _built(engine, os.environ.get("HECKTOR_ALGORITHM_IMAGE") or "hecktor-algorithm:latest")


@pytest.fixture(scope="session")
def algorithm_2026_image(engine: Engine) -> str:
    """The HECKTOR 2026 algorithm image (`make build-algorithm EDITION=2026`, exec mode)."""
    return _built(engine, os.environ.get("HECKTOR_ALGORITHM_2026_IMAGE") or "hecktor-algorithm:2026")


@pytest.fixture(scope="session")
def evaluation_image(engine: Engine) -> str:
    """The evaluation image of `make build` (invoke mode by default)."""
    return _built(engine, os.environ.get("HECKTOR_EVALUATION_IMAGE") or "hecktor-evaluation:latest")


@pytest.fixture(scope="session")
def evaluation_exec_image(engine: Engine) -> str:
    """The exec-mode evaluation image (`make build-evaluation MODE=exec`): runs once per submission."""
    return _built(engine, os.environ.get("HECKTOR_EVALUATION_EXEC_IMAGE") or "hecktor-evaluation:latest-exec")


@pytest.fixture(scope="session")
def phase_images(engine: Engine, algorithm_image: str) -> dict[int, tuple[str, list[str]]]:
    """Per task: the image built for that phase (``make build-phases``) and extra run options; without it, the
    all-tasks image with ``HECKTOR_TASKS`` set (outside CI)."""
    repository = algorithm_image.rsplit(":", 1)[0]
    images = {}
    for task in (1, 2, 3):
        image = f"{repository}:task{task}"
        if engine.image_exists(image):
            images[task] = (image, [])
        elif os.environ.get("HECKTOR_REQUIRE_CONTAINERS") == "1":
            pytest.fail(f"image {image} is not built (make build-phases)", pytrace=False)
        else:
            images[task] = (algorithm_image, ["--env", f"HECKTOR_TASKS={task}"])
    return images


@pytest.fixture(scope="session")
def example_cases() -> list[Path]:
    """The example cases in the algorithm's ``/input`` layout (``ground_truth_examples/inputs/<PID>/``)."""
    inputs = EXAMPLES / "inputs"
    cases = sorted(p for p in inputs.iterdir() if (p / "images" / "ct").is_dir()) if inputs.is_dir() else []
    if not cases:
        unavailable(f"no example cases under {inputs}")
    return cases


@pytest.fixture(scope="session")
def ground_truth_dir() -> Path:
    folder = EXAMPLES / "ground_truth"
    if not folder.is_dir():
        unavailable(f"no example ground truth at {folder}")
    return folder


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    """``input_dir``, ``output_dir`` and ``scratch`` (mounted on /tmp) for one container run."""
    return {"input_dir": tmp_path / "input", "output_dir": tmp_path / "output", "scratch": tmp_path / "scratch"}


@pytest.fixture(scope="session")
def invoke_session(engine: Engine, algorithm_image: str, example_cases: list[Path], tmp_path_factory) -> InvokeSession:
    """The all-tasks image in invoke mode, fed every example case through ``POST /invoke`` (the models load once),
    then a corrupt case; its outputs feed the evaluation tests."""
    return run_invoke_session(engine, algorithm_image, example_cases, tmp_path_factory.mktemp("invoke"))
