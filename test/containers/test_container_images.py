"""What the images are (labels, user, entrypoint, shared layers, pins) and what they may touch at run time."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from container_helpers import ROOT, Engine

pytestmark = pytest.mark.container

# Reports the user, the network interfaces, the memory limit, and which folders the process can write to.
SANDBOX_PROBE = r"""
import json, os, pathlib, socket, tempfile
def writable(folder):
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False
limit = None
for p in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
    if pathlib.Path(p).exists():
        limit = pathlib.Path(p).read_text().strip()
folders = ["/", "/opt/app", "/opt/venv", os.path.expanduser("~"), "/etc", "/var/tmp", "/input", "/output", "/tmp"]
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "interfaces": [n for _, n in socket.if_nameindex()],
                  "memory_limit": limit, "writable": {f: writable(f) for f in folders}}))
"""


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.split(r"==", line, maxsplit=1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_evaluation_requirements_are_the_same_pins_without_torch() -> None:
    runtime = _pins(ROOT / "requirements.txt")
    evaluation = _pins(ROOT / "docker" / "requirements-evaluation.txt")
    assert {"torch", "monai"}.isdisjoint(evaluation)
    assert {name: runtime.get(name) for name in evaluation} == evaluation, "pins differ from requirements.txt"


def test_algorithm_image_metadata(engine: Engine, algorithm_image: str) -> None:
    config = engine.inspect(algorithm_image)["Config"]
    labels = config.get("Labels") or {}
    assert labels.get("org.grand-challenge.api-method") == "invoke"
    assert config["User"] not in ("", "root", "0", "0:0")
    assert config["Entrypoint"] == ["python", "-m", "algorithm"]
    assert config["Cmd"] == ["serve"]
    assert "4743/tcp" in (config.get("ExposedPorts") or {})
    assert "PYTHONUNBUFFERED=1" in config["Env"]
    assert config["WorkingDir"] == "/opt/app"


def test_exec_image_metadata(engine: Engine, algorithm_image: str) -> None:
    image = f"{algorithm_image}-exec" if ":" in algorithm_image else f"{algorithm_image}:latest-exec"
    if not engine.image_exists(image):
        pytest.skip(f"{image} is not built (make build-algorithm MODE=exec)")
    config = engine.inspect(image)["Config"]
    assert "org.grand-challenge.api-method" not in (config.get("Labels") or {})
    assert config["Cmd"] == ["run"]


def test_phase_images_share_every_heavy_layer(
    engine: Engine, algorithm_image: str, phase_images: dict[int, tuple[str, list[str]]]
) -> None:
    base_layers = engine.inspect(algorithm_image)["RootFS"]["Layers"]
    for task, (image, _) in phase_images.items():
        if image == algorithm_image:
            pytest.skip("no per-phase images (make build-phases)")
        info = engine.inspect(image)
        assert f"HECKTOR_TASKS={task}" in info["Config"]["Env"]
        assert info["Config"]["Labels"].get("org.hecktor.tasks") == str(task)
        layers = info["RootFS"]["Layers"]
        shared = next((i for i, (a, b) in enumerate(zip(layers, base_layers, strict=False)) if a != b), len(layers))
        # base, user, requirements, venv: shared; then source (3 steps, rebuilt if the tree changed between builds),
        # the TASK step and the source-commit step.
        assert len(layers) - shared <= 5, f"{image} shares only {shared} of {len(layers)} layers with {algorithm_image}"


def test_evaluation_image_metadata(engine: Engine, evaluation_image: str, evaluation_exec_image: str) -> None:
    for image, invoke in ((evaluation_image, True), (evaluation_exec_image, False)):
        config = engine.inspect(image)["Config"]
        assert config["User"] not in ("", "root", "0", "0:0")
        assert config["Entrypoint"] == ["python", "-m", "evaluation"]
        labels = config.get("Labels") or {}
        if invoke:
            assert labels.get("org.grand-challenge.api-method") == "invoke", image
            assert config.get("Cmd") == ["serve"] and "4743/tcp" in (config.get("ExposedPorts") or {}), image
        else:
            assert "org.grand-challenge.api-method" not in labels, image
            assert not config.get("Cmd"), image


@pytest.mark.parametrize("which", ["algorithm", "evaluation"])
def test_only_output_and_tmp_are_writable(which: str, engine: Engine, request: pytest.FixtureRequest, dirs) -> None:
    image = request.getfixturevalue(f"{which}_image")
    dirs["input_dir"].mkdir()
    result = engine.run_job(image, ["-c", SANDBOX_PROBE], dirs=dirs, options=["--entrypoint", "python"], timeout=120)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["uid"] == 1000 and probe["gid"] == 1000
    assert probe["interfaces"] == ["lo"], "the container must see no network but loopback"
    writable = {folder for folder, ok in probe["writable"].items() if ok}
    assert writable == {"/output", "/tmp"}, probe["writable"]
    if os.environ.get("HECKTOR_CONTAINER_MEMORY", "16g") == "16g" and probe["memory_limit"] not in (None, "max"):
        assert int(probe["memory_limit"]) == 16 * 2**30, "the --memory limit was not applied"
    if which == "evaluation":
        check = engine.run_job(
            image,
            ["-c", "import importlib.util as u; assert u.find_spec('torch') is None and u.find_spec('monai') is None"],
            dirs=dirs,
            options=["--entrypoint", "python"],
            timeout=120,
        )
        assert check.returncode == 0, "the evaluation image must not carry torch or MONAI: " + check.stderr
