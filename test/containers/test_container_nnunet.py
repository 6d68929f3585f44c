"""An nnU-Net trained-model folder, exactly as nnU-Net wrote it, as the algorithm image's ``/opt/ml/model/segmentation``
(Grand Challenge's model tarball): invoke mode under the real ``sagemaker-shim`` and exec mode, each on an example
case; the mask is uint8 on the exact CT grid and the log names the nnU-Net backend. The folder comes from the
session's smoke training (test/conftest.py: nnU-Net's planning and a few iterations, about 1.5 min)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from container_helpers import Engine, check_outputs, stage_case
from gc_runner import run_gc_job

pytestmark = [pytest.mark.container, pytest.mark.slow]
CASE_LIMIT_S = 900.0


@pytest.fixture(scope="module")
def nnunet_model(nnunet_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder whose ``segmentation/`` is nnU-Net's own trained-model folder, no kit file added."""
    model = tmp_path_factory.mktemp("nnunet_model")
    shutil.copytree(nnunet_results, model / "segmentation", ignore=shutil.ignore_patterns("validation"))
    assert not (model / "segmentation" / "config.json").exists()
    for path in [model, *model.rglob("*")]:  # readable by the container's uid 1000 (pytest's folders are 0700)
        path.chmod(0o755 if path.is_dir() else 0o644)
    return model


def _assert_nnunet_log(text: str) -> None:
    assert "segmentation model /opt/ml/model/segmentation: backend nnU-Net v2" in text, text[-3000:]
    assert "nnUNetTrainer_kitSmoke" in text and "configuration 3d_fullres" in text, text[-3000:]


def test_invoke_image_runs_an_nnunet_folder_under_sagemaker_shim(
    engine: Engine, algorithm_image: str, example_cases: list[Path], nnunet_model: Path, tmp_path: Path
) -> None:
    case = example_cases[0]
    cases = [("nnunet", case, CASE_LIMIT_S)]
    job = run_gc_job(engine, algorithm_image, cases, tmp_path / "job", model_dir=nnunet_model)
    assert job.exit_code == 0 and job.runtime_setup["return_code"] == 0, job.describe()
    result = job.results["nnunet"]
    assert result["return_code"] == 0 and result["signature_ok"] and result["invoke_duration"], job.describe()
    check_outputs(case, job.outputs / "nnunet", {1, 2, 3})  # uint8, the CT's size, spacing, origin, direction
    _assert_nnunet_log("\n".join(job.user_lines("stdout") + job.user_lines("stderr")))  # the server logs to stdout


def test_exec_mode_runs_an_nnunet_folder(
    engine: Engine, algorithm_image: str, example_cases: list[Path], nnunet_model: Path, dirs
) -> None:
    case = example_cases[0]
    stage_case(case, dirs["input_dir"])
    result = engine.run_job(algorithm_image, ["run"], dirs=dirs, extra_mounts=[(nnunet_model, "/opt/ml/model")])
    assert result.returncode == 0, result.stderr[-3000:]
    check_outputs(case, dirs["output_dir"], {1, 2, 3})
    _assert_nnunet_log(result.stderr)
