"""Grand Challenge's own runner (``sagemaker-shim`` from PyPI) driving the built images, with S3 on 127.0.0.1.

Grand Challenge wraps every algorithm image in its ``sagemaker-shim``: the shim is the container's entry
point, starts the image's own ENTRYPOINT + CMD, moves inputs and outputs through S3 and signs a result per
task. :func:`run_gc_job` does the same with the real shim, inside the image under test: the shim and a
local S3 server (moto) are installed on the host into ``build/gc-runner/`` (:func:`runner_dirs`, the versions
pinned in ``requirements-dev.txt``) and mounted read-only; ``gc_runner_driver.py`` runs them in the
container (see its docstring), under the same restrictions as every other container test (no network,
read-only root, non-root user, capabilities dropped).

``sagemaker-shim`` 0.8 declares Python 3.12 only (Grand Challenge ships it as a frozen binary); it runs on
the images' Python 3.11 and is installed with ``--ignore-requires-python``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from container_helpers import ROOT, Engine, unavailable

RUNNER_DIR = ROOT / "build" / "gc-runner"
DRIVER = Path(__file__).resolve().parent / "gc_runner_driver.py"
#: What goes into each runner folder: packages named in requirements-dev.txt (their pins are read from there).
RUNNER_PACKAGES = {"shim": ("sagemaker-shim",), "s3": ("moto[s3]", "flask", "flask-cors")}


def _pins(names: Sequence[str]) -> list[str]:
    text = (ROOT / "requirements-dev.txt").read_text()
    pins = []
    for name in names:
        match = re.search(rf"^({re.escape(name)}==[^\s;#]+)", text, re.MULTILINE)
        assert match, f"requirements-dev.txt pins no {name}"
        pins.append(match.group(1))
    return pins


def runner_dirs() -> dict[str, Path]:
    """``{"shim": folder, "s3": folder}``, installed on first use (pip ``--target``; needs PyPI once)."""
    folders = {}
    for key, names in RUNNER_PACKAGES.items():
        pins = _pins(names)
        folder = RUNNER_DIR / key
        stamp = folder / ".pins"
        if not (stamp.is_file() and stamp.read_text() == "\n".join(pins)):
            shutil.rmtree(folder, ignore_errors=True)
            command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            command += ["--ignore-requires-python", "--target", str(folder), *pins]
            try:
                proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
            except subprocess.TimeoutExpired:
                unavailable(f"installing {' '.join(pins)} took more than 15 min")
            if proc.returncode != 0:
                unavailable(f"cannot install {' '.join(pins)} into {folder}: {proc.stderr[-1500:]}")
            stamp.write_text("\n".join(pins))
        folders[key] = folder
    return folders


@dataclass
class GCJob:
    """What the shim did: its exit status and wall time, the signed results it uploaded, its log, the outputs."""

    exit_code: int
    seconds: float
    runtime_setup: dict | None
    results: dict[str, dict | None]
    log: list[dict]
    outputs: Path
    container_stderr: str

    def user_lines(self, source: str) -> list[str]:
        """Lines the image's own process wrote to ``source`` (``"stdout"``/``"stderr"``), as the shim logged them.

        The shim logs a child's stdout at INFO and its stderr at WARNING, marked ``internal: false``.
        """
        level = {"stdout": "INFO", "stderr": "WARNING"}[source]
        return [r["log"] for r in self.log if r.get("internal") is False and r.get("level") == level]

    def shim_lines(self) -> list[str]:
        return [r["log"] for r in self.log if r.get("internal") is not False]

    def describe(self) -> str:
        tail = "\n".join(
            f"{r.get('level')} {'ext' if r.get('internal') is False else 'shim'}: {r['log']}" for r in self.log[-60:]
        )
        return f"exit {self.exit_code} after {self.seconds:.1f} s; log tail:\n{tail}\n{self.container_stderr[-2000:]}"


def run_gc_job(
    engine: Engine,
    image: str,
    cases: Sequence[tuple[str, Path, float]],
    work: Path,
    *,
    model_dir: Path | None = None,
    health_timeout_s: int | None = None,
    timeout: float = 1500,
) -> GCJob:
    """Run ``cases`` (``(pk, case folder, time limit s)``, in order; the shim stops at the first failure) as one
    Grand Challenge job list through the real shim in ``image``; the api method is the image's label.

    ``model_dir``: what the shim would unpack from a model tarball into ``/opt/ml/model`` (it is placed there
    directly: the shim's extraction uses ``tarfile``'s ``filter=``, which the local base's Python 3.11.2 lacks).
    """
    config = engine.inspect(image)["Config"]
    api_method = (config.get("Labels") or {}).get("org.grand-challenge.api-method", "exec")
    job, results = work / "job", work / "results"
    job.mkdir(parents=True)
    results.mkdir()
    results.chmod(0o777)
    if model_dir is not None:
        shutil.copytree(model_dir, work / "model")
    else:
        (work / "model").mkdir()
    for path in [work / "model", *(work / "model").rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o644)
    tasks = []
    for pk, case, timeout_s in cases:
        shutil.copytree(case, job / "cases" / pk)
        tasks.append({"pk": pk, "case": f"/gc-job/cases/{pk}", "timeout_s": timeout_s})
    for path in [job, *job.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    spec = {
        "api_method": api_method,
        "entrypoint": config.get("Entrypoint"),
        "cmd": config.get("Cmd"),
        "shim": "/gc-runner/shim",
        "s3": "/gc-runner/s3",
        "results": "/gc-results",
        "health_timeout_s": health_timeout_s,
        "shim_timeout_s": timeout - 60,
        "tasks": tasks,
    }
    (job / "spec.json").write_text(json.dumps(spec))
    dirs = {"input_dir": work / "input", "output_dir": work / "output", "scratch": work / "scratch"}
    dirs["input_dir"].mkdir()
    dirs["input_dir"].chmod(0o777)  # here the shim (the platform's part) writes the inputs
    runner = runner_dirs()
    options = [
        o.replace(f"{dirs['input_dir']}:/input:ro", f"{dirs['input_dir']}:/input")
        for o in engine.gc_options(
            **dirs,
            extra_mounts=[
                (runner["shim"], "/gc-runner/shim"),
                (runner["s3"], "/gc-runner/s3"),
                (DRIVER, "/gc-runner/driver.py"),
                (job, "/gc-job"),
            ],
        )
    ]
    options += ["-v", f"{results}:/gc-results", "-v", f"{work / 'model'}:/opt/ml/model"]
    name = f"hecktor-test-gc-{uuid.uuid4().hex[:12]}"
    command = ["run", "--rm", "--name", name, *options, "--entrypoint", "python", image]
    try:
        proc = engine(*command, "-I", "/gc-runner/driver.py", "/gc-job/spec.json", timeout=timeout)
    except subprocess.TimeoutExpired:
        engine("rm", "--force", name, timeout=60)
        raise
    summary_file = results / "summary.json"
    assert proc.returncode == 0 and summary_file.is_file(), f"driver failed ({proc.returncode}): {proc.stderr[-3000:]}"
    summary = json.loads(summary_file.read_text())
    return GCJob(
        exit_code=summary["exit_code"],
        seconds=summary["seconds"],
        runtime_setup=summary["runtime_setup"],
        results=summary["results"],
        log=summary["log"],
        outputs=results,
        container_stderr=proc.stderr,
    )
