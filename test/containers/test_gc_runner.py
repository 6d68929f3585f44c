"""The algorithm images under Grand Challenge's own runner: the real ``sagemaker-shim`` from PyPI, S3 on 127.0.0.1.

What a participant sees of a failed job is the last stderr line of the image's process, which the shim keeps in
the signed ``inference_result.json`` (``user_process_last_stderr_lines``) and in its log; these tests check that
line, that a model which cannot load is reported at once (not after the shim's 300 s health timeout), that
SIGTERM stops the invoke server within the shim's grace period, and that inputs converted by ``panimg`` (as
Grand Challenge converts uploads) are processed. See :mod:`gc_runner` for how the shim is run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import SimpleITK as sitk
from container_helpers import check_outputs, empty_folder
from gc_runner import GCJob, run_gc_job

pytestmark = pytest.mark.container

CASE_LIMIT_S = 900.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def panimg_case(example_cases: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An example case whose CT and PET were uploaded as NIfTI and converted by panimg, as Grand Challenge does."""
    from panimg import convert

    source = example_cases[0]
    work = tmp_path_factory.mktemp("panimg")
    case = work / "case"
    shutil.copytree(source, case)
    for folder in ("ct", "pet"):
        (original,) = sorted((source / "images" / folder).iterdir())
        upload = work / f"upload-{folder}"
        upload.mkdir()
        sitk.WriteImage(sitk.ReadImage(str(original)), str(upload / f"{source.name}__{folder.upper()}.nii.gz"))
        result = convert(input_directory=upload, output_directory=work / f"converted-{folder}")
        (converted,) = [f.file for f in result.new_image_files if f.file.suffix == ".mha"]
        target = case / "images" / folder
        empty_folder(target)
        (target / converted.name).write_bytes(converted.read_bytes())
    return case


def broken_case(source: Path, target: Path, how: str) -> Path:
    """``source`` with its CT cut to 300 bytes (``truncated``) or emptied (``empty``)."""
    shutil.copytree(source, target)
    (ct,) = sorted((target / "images" / "ct").iterdir())
    ct.write_bytes(ct.read_bytes()[:300] if how == "truncated" else b"")
    return target


def assert_clean_teardown(job: GCJob) -> None:
    shim = "\n".join(job.shim_lines())
    assert "Process group terminated" in shim and "escalating to SIGKILL" not in shim, job.describe()
    assert not any("terminate called" in line for line in job.user_lines("stderr")), job.describe()


def test_invoke_image_under_sagemaker_shim(engine, algorithm_image, panimg_case, example_cases, tmp_path) -> None:
    """A panimg-converted case succeeds (signed result, valid outputs); a truncated CT fails with its reason as
    the last stderr line, also after the shim stopped the server (no shutdown or access-log line after it)."""
    truncated = broken_case(example_cases[0], tmp_path / "truncated", "truncated")
    job = run_gc_job(
        engine,
        algorithm_image,
        [("panimg", panimg_case, CASE_LIMIT_S), ("truncated", truncated, 300)],
        tmp_path / "job",
    )
    assert job.exit_code == 0, job.describe()
    assert job.runtime_setup["return_code"] == 0 and job.runtime_setup["signature_ok"], job.describe()
    good, bad = job.results["panimg"], job.results["truncated"]
    assert good["return_code"] == 0 and good["signature_ok"] and good["invoke_duration"], job.describe()
    check_outputs(panimg_case, job.outputs / "panimg", {1, 2, 3})
    (ct,) = sorted((truncated / "images" / "ct").iterdir())
    reason = bad["user_process_last_stderr_lines"][-1].rstrip("\n")  # kept as read, newline included
    assert bad["return_code"] == 1 and bad["signature_ok"], job.describe()
    assert reason.startswith(f"error: /input/images/ct/{ct.name}: CT file is truncated"), reason
    assert job.user_lines("stderr")[-1] == reason, job.describe()  # still last after the shim's SIGTERM
    assert_clean_teardown(job)


def test_sigterm_during_an_invoke_stops_the_server_within_the_grace_period(
    engine, algorithm_image, example_cases, tmp_path
) -> None:
    """The shim's time limit expires during an invoke; its SIGTERM must stop the server, not abort it.

    The bundled model runs a small case in about 1.3 s on a quiet machine, so the model given here is the
    bundled one with a 0.9 sliding-window overlap (about 85 times the windows): the invoke is still running
    when the 2 s limit expires, however fast the machine."""
    model = tmp_path / "model"
    shutil.copytree(REPO / "algorithm" / "resources" / "model", model, ignore=shutil.ignore_patterns("cache*", "*.log"))
    config_path = model / "segmentation" / "config.json"
    config = json.loads(config_path.read_text())
    config["sw_overlap"] = 0.9
    config_path.write_text(json.dumps(config, indent=2))
    job = run_gc_job(engine, algorithm_image, [("slow", example_cases[0], 2)], tmp_path / "job", model_dir=model)
    result = job.results["slow"]
    assert result["return_code"] == 1 and result["user_safe_error_message"] == "Time limit exceeded", job.describe()
    assert_clean_teardown(job)
    stdout = "\n".join(job.user_lines("stdout"))
    assert "abandoning the invoke in progress" in stdout and "exit status 143" in stdout, job.describe()


def test_a_model_that_cannot_load_is_reported_at_the_next_health_poll(
    engine, algorithm_image, example_cases, tmp_path
) -> None:
    """Before: the shim polled /health for its 300 s timeout and reported a generic message only."""
    model = tmp_path / "model"
    (model / "segmentation").mkdir(parents=True)
    (model / "segmentation" / "config.json").write_text("{not json")
    job = run_gc_job(engine, algorithm_image, [("case", example_cases[0], 60)], tmp_path / "job", model_dir=model)
    setup = job.runtime_setup
    assert setup["return_code"] == 1 and setup["signature_ok"], job.describe()
    assert "Failed to start" in setup["user_safe_error_message"], setup
    assert job.results["case"] is None
    assert job.seconds < 120, job.describe()
    last = job.user_lines("stderr")[-1]
    assert last.startswith("error: algorithm (tasks 1,2,3) could not load:") and "config.json" in last, last


def test_exec_image_under_sagemaker_shim(engine, algorithm_image, panimg_case, example_cases, tmp_path) -> None:
    """Exec mode: one process per case; bad input fails before the models load, its reason the last line."""
    image = f"{algorithm_image}-exec" if ":" in algorithm_image else f"{algorithm_image}:latest-exec"
    if not engine.image_exists(image):
        pytest.skip(f"{image} is not built (make build-algorithm MODE=exec)")
    empty = broken_case(example_cases[0], tmp_path / "empty", "empty")
    job = run_gc_job(engine, image, [("panimg", panimg_case, CASE_LIMIT_S), ("empty", empty, 300)], tmp_path / "job")
    assert job.exit_code == 0 and job.runtime_setup["return_code"] == 0, job.describe()
    good, bad = job.results["panimg"], job.results["empty"]
    assert good["return_code"] == 0 and good["signature_ok"] and good["exec_duration"], job.describe()
    check_outputs(panimg_case, job.outputs / "panimg", {1, 2, 3})
    (ct,) = sorted((empty / "images" / "ct").iterdir())
    assert bad["return_code"] == 1 and bad["signature_ok"], job.describe()
    assert (
        bad["user_process_last_stderr_lines"][-1].rstrip("\n")
        == f"error: /input/images/ct/{ct.name}: CT file is empty (0 bytes)"
    )
    # checked before the models load: a fraction of the successful case's time (start-up included)
    assert _seconds(bad["exec_duration"]) < 0.5 * _seconds(good["exec_duration"]), (bad, good)


def _seconds(duration: str | float) -> float:
    """A pydantic timedelta as JSON (ISO 8601 ``PT12.5S`` or seconds) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    match = re.fullmatch(r"P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", duration)
    assert match, duration
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
