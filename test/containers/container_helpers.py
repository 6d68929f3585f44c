"""Run the built images the way Grand Challenge runs jobs, and check what they write.

Every container starts with ``--network none --read-only --user 1000:1000 --memory 16g``, the
capabilities dropped, ``/input`` mounted read-only, a scratch volume on ``/tmp`` and ``/output`` the only
other writable place; no GPU.

Settings (the Makefile exports the first four):
    HECKTOR_ENGINE             engine command, e.g. ``podman --runtime runc`` (default: docker when its daemon
                               answers, else podman, with runc when installed)
    HECKTOR_ALGORITHM_IMAGE    default ``hecktor-algorithm:latest``; the phase images are ``<repo>:task1..3``
    HECKTOR_ALGORITHM_2026_IMAGE  default ``hecktor-algorithm:2026`` (``make build-algorithm EDITION=2026``)
    HECKTOR_EVALUATION_IMAGE   default ``hecktor-evaluation:latest`` (invoke mode)
    HECKTOR_EVALUATION_EXEC_IMAGE  default ``hecktor-evaluation:latest-exec``
    HECKTOR_CONTAINER_MEMORY   default ``16g`` (``0``: no limit, for hosts whose memory cgroup is unusable)
    HECKTOR_REQUIRE_CONTAINERS ``1`` turns "no engine / no image / no examples" from a skip into a failure (CI)
    HECKTOR_CONTAINER_MODEL    a model folder (segmentation/, prognosis/, hpv/) mounted read-only at /opt/ml/model
                               in every algorithm run, as Grand Challenge mounts a model tarball; without it, the
                               exec runs use the weights baked into the image and the invoke run mounts a copy of
                               algorithm/resources/model there
    HECKTOR_CONTAINER_TIMEOUT  seconds one container run may take before it counts as a hang (default 900)
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import SimpleITK as sitk

from hecktor import interface

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(os.environ.get("HECKTOR_EXAMPLES") or ROOT / "ground_truth_examples")
GROUND_TRUTH_MOUNT = "/opt/ml/input/data/ground_truth"
PORT = 4743
#: Seconds one container run may take before the test calls it a hang (GC: 10-15 min per case on a T4).
JOB_TIMEOUT = float(os.environ.get("HECKTOR_CONTAINER_TIMEOUT", "900"))


def model_mounts(default: Path | None = None) -> list[tuple[Path, str]]:
    """``[(model folder, "/opt/ml/model")]`` from HECKTOR_CONTAINER_MODEL, else ``default``, else nothing."""
    folder = os.environ.get("HECKTOR_CONTAINER_MODEL") or default
    return [(Path(folder).resolve(), "/opt/ml/model")] if folder else []


def unavailable(reason: str) -> None:
    """Skip (or, with HECKTOR_REQUIRE_CONTAINERS=1, fail) a test that lacks an engine, image or data."""
    if os.environ.get("HECKTOR_REQUIRE_CONTAINERS") == "1":
        pytest.fail(f"{reason} (HECKTOR_REQUIRE_CONTAINERS=1)", pytrace=False)
    pytest.skip(reason)


def detect_engine() -> list[str] | None:
    """HECKTOR_ENGINE, else docker when its daemon answers, else podman (as the Makefile picks it)."""
    text = os.environ.get("HECKTOR_ENGINE", "").strip()
    if text:
        return shlex.split(text)
    if shutil.which("docker"):
        try:
            if subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0:
                return ["docker"]
        except subprocess.TimeoutExpired:
            pass
    if shutil.which("podman"):
        os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "docker" / "containers.conf"))
        return ["podman", "--runtime", "runc"] if shutil.which("runc") else ["podman"]
    return None


def checkout_commit() -> str | None:
    """This checkout's HEAD commit, or ``None`` outside a git work tree."""
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def refuse_other_commit(image: str, labels: dict[str, str]) -> None:
    """Fail (with the rebuild command) when ``image``'s ``org.hecktor.source-commit`` label is not this checkout's
    HEAD: a same-tag image from another checkout or an older commit is not what these tests are about.
    HECKTOR_ALLOW_OTHER_COMMIT=1 accepts it (e.g. to test a released image)."""
    head = checkout_commit()
    built = labels.get("org.hecktor.source-commit", "")
    if head is None or built == head or os.environ.get("HECKTOR_ALLOW_OTHER_COMMIT") == "1":
        return
    pytest.fail(
        f"image {image} was built from commit {built[:12] or 'unknown (no org.hecktor.source-commit label)'}, this"
        f" checkout is at {head[:12]}: rebuild it here, e.g. `make build build-phases` with the same ALGORITHM_REPO /"
        " EVALUATION_IMAGE / BASE variables (or set HECKTOR_ALLOW_OTHER_COMMIT=1 to test it anyway)",
        pytrace=False,
    )


@dataclass
class Engine:
    """The container engine's command line, with Grand Challenge's run-time restrictions built in."""

    command: list[str]

    def __call__(self, *args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.command, *args], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args[:3])} ... failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def image_exists(self, image: str) -> bool:
        """Whether ``image`` is built; an image built from another commit than this checkout's fails the test."""
        if self("image", "inspect", image, timeout=60).returncode != 0:
            return False
        refuse_other_commit(image, (self.inspect(image).get("Config") or {}).get("Labels") or {})
        return True

    def inspect(self, image: str) -> dict:
        return json.loads(self("image", "inspect", image, timeout=60, check=True).stdout)[0]

    def gc_options(
        self,
        *,
        input_dir: Path,
        output_dir: Path,
        scratch: Path,
        extra_mounts: Sequence[tuple[Path, str]] = (),
        memory: str | None = None,
    ) -> list[str]:
        """``run`` options that reproduce a Grand Challenge job (no network, read-only, non-root)."""
        for folder, mode in ((output_dir, 0o777), (scratch, 0o1777)):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(mode)
        memory = memory or os.environ.get("HECKTOR_CONTAINER_MEMORY", "16g")
        options = ["--network", "none", "--read-only", "--user", "1000:1000", "--shm-size", "2g"]
        if Path(self.command[0]).name == "podman":
            options.append("--read-only-tmpfs=false")  # podman's --read-only would add writable /var/tmp and /run
        options += [] if memory == "0" else ["--memory", memory]
        options += ["--security-opt", "no-new-privileges", "--cap-drop", "ALL"]
        options += ["-v", f"{input_dir}:/input:ro", "-v", f"{output_dir}:/output", "-v", f"{scratch}:/tmp"]
        for host, target in extra_mounts:
            options += ["-v", f"{host}:{target}:ro"]
        return options

    def run_job(
        self,
        image: str,
        args: Sequence[str] = (),
        *,
        dirs: dict[str, Path],
        options: Sequence[str] = (),
        timeout: float = JOB_TIMEOUT,
        **gc: object,
    ) -> subprocess.CompletedProcess[str]:
        """``run --rm`` one container like a Grand Challenge job; one that outlives ``timeout`` is removed."""
        name = f"hecktor-test-{uuid.uuid4().hex[:12]}"
        run_options = [*self.gc_options(**dirs, **gc), *options]
        try:
            return self("run", "--rm", "--name", name, *run_options, image, *args, timeout=timeout)
        except subprocess.TimeoutExpired:
            self("rm", "--force", name, timeout=60)
            raise


def stage_case(case: Path, input_dir: Path, *, corrupt_ct: bool = False) -> None:
    """Put ``case`` in ``input_dir`` in place of what was there (keeping the folder: it may be bind-mounted)."""
    input_dir.mkdir(parents=True, exist_ok=True)
    empty_folder(input_dir)
    shutil.copytree(case, input_dir, dirs_exist_ok=True)
    if corrupt_ct:
        for ct in (input_dir / "images" / "ct").iterdir():
            ct.write_bytes(b"ObjectType = Image\nthis is not a CT\n")
    for path in [input_dir, *input_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def empty_folder(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def written_files(output_dir: Path) -> set[str]:
    return {p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*") if p.is_file()}


def check_outputs(case: Path, output_dir: Path, tasks: set[int]) -> dict[str, object]:
    """Assert that ``output_dir`` holds exactly the outputs of ``tasks``, each valid; return the values."""
    allowed = {s.relative_path for t in tasks for s in interface.TASK_OUTPUTS[t]}
    files = written_files(output_dir)
    stray = {f for f in files if not any(f == a or f.startswith(a + "/") for a in allowed)}
    assert not stray, f"outputs of other tasks or stray files: {sorted(stray)}"
    values: dict[str, object] = {}
    if 1 in tasks:
        folder = output_dir / interface.SEGMENTATION.relative_path
        images = sorted(folder.glob("*.mha")) if folder.is_dir() else []
        assert len(images) == 1 and len(list(folder.iterdir())) == 1, f"{folder} must hold one .mha: {files}"
        label = sitk.ReadImage(str(images[0]))
        (ct_path,) = sorted((case / "images" / "ct").iterdir())
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(ct_path))
        reader.ReadImageInformation()
        assert label.GetPixelID() == sitk.sitkUInt8, label.GetPixelIDTypeAsString()
        assert label.GetSize() == reader.GetSize()
        assert label.GetSpacing() == reader.GetSpacing()
        assert label.GetOrigin() == reader.GetOrigin()
        assert label.GetDirection() == reader.GetDirection()
        assert set(sitk.GetArrayViewFromImage(label).ravel().tolist()) <= {0, 1, 2}
        values["segmentation"] = images[0]
    if 2 in tasks:
        risk = json.loads((output_dir / interface.RFS.relative_path).read_text())
        assert isinstance(risk, int | float) and not isinstance(risk, bool) and math.isfinite(risk), risk
        values["rfs"] = risk
    if 3 in tasks:
        status = json.loads((output_dir / interface.HPV_STATUS.relative_path).read_text())
        assert isinstance(status, bool), status
        values["hpv-status"] = status
    return values


def finite_numbers(tree: object, path: str = "aggregates") -> list[str]:
    """JSON paths under ``tree`` whose leaf is null, NaN or infinite (the leaderboard drops such a submission)."""
    if isinstance(tree, dict):
        return [bad for key, value in tree.items() for bad in finite_numbers(value, f"{path}.{key}")]
    if isinstance(tree, list):
        return [bad for i, value in enumerate(tree) for bad in finite_numbers(value, f"{path}[{i}]")]
    if tree is None or (isinstance(tree, float) and not math.isfinite(tree)):
        return [f"{path}={tree!r}"]
    return []


# A client for the invoke API, run with `exec` inside the server's own container (it has no network).
INVOKE_CLIENT = r"""
import json, sys, urllib.error, urllib.request
method, path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
request = urllib.request.Request(f"http://127.0.0.1:4743{path}", method=method, data=b"" if method == "POST" else None)
try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
        status, body = response.status, response.read()
except urllib.error.HTTPError as exc:
    status, body = exc.code, exc.read()
except OSError as exc:
    status, body = 0, str(exc).encode()
print(json.dumps({"status": status, "body": body.decode(errors="replace")}))
"""


def invoke_call(engine: Engine, name: str, method: str, path: str, timeout: float) -> dict:
    """``{"status", "body"}`` of one request to the invoke API of the running container ``name``."""
    result = engine("exec", name, "python", "-c", INVOKE_CLIENT, method, path, str(timeout), timeout=timeout + 60)
    if result.returncode != 0:
        return {"status": -1, "body": result.stderr[-1000:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def wait_until_healthy(engine: Engine, name: str, limit: float = 300) -> float:
    """Poll ``GET /health`` of the running container ``name`` until 200; the seconds it took."""
    start = time.monotonic()
    while True:
        if invoke_call(engine, name, "GET", "/health", 5)["status"] == 200:
            return time.monotonic() - start
        state = engine("container", "inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        if state != "true" or time.monotonic() - start > limit:
            logs = engine("logs", name)
            raise AssertionError(f"the server never became healthy ({state=}):\n{(logs.stdout + logs.stderr)[-3000:]}")
        time.sleep(1)


@dataclass
class InvokeSession:
    """What one invoke-mode container did: an answer per case, the broken case's answer, logs, stop time."""

    answers: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    cases: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    broken: dict = field(default_factory=dict)
    health_after_broken: dict = field(default_factory=dict)
    ready_seconds: float = math.nan
    stop_seconds: float = math.nan
    exit_code: int | None = None
    logs: str = ""


def run_invoke_session(engine: Engine, image: str, cases: Sequence[Path], work: Path) -> InvokeSession:
    """Start ``image`` detached (its default command: the invoke server), wait for ``/health``, then per case:
    stage it in ``/input``, ``POST /invoke``, keep ``/output``; then a case with a corrupt CT; then stop it."""
    dirs = {"input_dir": work / "input", "output_dir": work / "output", "scratch": work / "scratch"}
    dirs["input_dir"].mkdir(parents=True)
    name = f"hecktor-test-invoke-{uuid.uuid4().hex[:12]}"
    session = InvokeSession()

    def call(method: str, path: str, timeout: float) -> dict:
        return invoke_call(engine, name, method, path, timeout)

    model = model_mounts(work / "model")
    if not os.environ.get("HECKTOR_CONTAINER_MODEL"):  # a copy: what GC unpacks from a model tarball
        shutil.copytree(ROOT / "algorithm" / "resources" / "model", work / "model")
    options = engine.gc_options(**dirs, extra_mounts=model)
    engine("run", "--detach", "--name", name, *options, image, check=True)
    try:
        session.ready_seconds = wait_until_healthy(engine, name)
        for case in cases:
            stage_case(case, dirs["input_dir"])
            empty_folder(dirs["output_dir"])
            start = time.monotonic()
            session.answers[case.name] = call("POST", "/invoke", JOB_TIMEOUT)
            session.seconds[case.name] = time.monotonic() - start
            kept = work / "results" / case.name
            shutil.copytree(dirs["output_dir"], kept)
            session.outputs[case.name], session.cases[case.name] = kept, case
        stage_case(cases[0], dirs["input_dir"], corrupt_ct=True)
        empty_folder(dirs["output_dir"])
        session.broken = call("POST", "/invoke", 300)
        session.health_after_broken = call("GET", "/health", 5)
        start = time.monotonic()
        engine("stop", "--time", "30", name, timeout=120)
        session.stop_seconds = time.monotonic() - start
        exit_code = engine("container", "inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        session.exit_code = int(exit_code) if exit_code.lstrip("-").isdigit() else None
        logs = engine("logs", name)
        session.logs = logs.stdout + logs.stderr
    finally:
        engine("rm", "--force", name, timeout=120)
    return session
