"""The HECKTOR 2026 algorithm image (`make build-algorithm EDITION=2026`): exec mode by default, one job writes
the mask, T stage, N stage and RFS for a synthetic 2026 case, and the evaluation scores them as a 2026 phase."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from container_helpers import ROOT, Engine, last_line, model_mounts, stage_case, written_files

from hecktor import interface
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import find_single_image, read_image
from hecktor.predictions_tree import JobSpec, write_predictions_tree
from hecktor.staging import N_STAGES, T_STAGES
from synthetic import generate_case, write_grand_challenge_layout

pytestmark = pytest.mark.container

OUTPUTS_2026 = {
    f"{interface.SEGMENTATION_2026.relative_path}/{interface.SEGMENTATION_FILENAME}",
    interface.T_STAGE.relative_path,
    interface.N_STAGE.relative_path,
    interface.RFS.relative_path,
}


@pytest.fixture(scope="module")
def case_2026(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gc2026")
    write_grand_challenge_layout([generate_case("CHUS-001", seed=26, flip_ct=True)], root, edition="2026")
    return root


def test_image_is_2026_and_exec_by_default(engine: Engine, algorithm_2026_image: str) -> None:
    config = engine.inspect(algorithm_2026_image).get("Config") or {}
    assert "HECKTOR_EDITION=2026" in (config.get("Env") or [])
    labels = config.get("Labels") or {}
    assert labels.get("org.hecktor.edition") == "2026"
    assert "org.grand-challenge.api-method" not in labels, "the 2026 template's images have no invoke label"
    assert config.get("Cmd") == ["run"]


def test_exec_job_writes_the_four_outputs_and_is_scored(
    engine: Engine, algorithm_2026_image: str, case_2026: Path, dirs, tmp_path: Path
) -> None:
    case = case_2026 / "inputs" / "CHUS-001"
    stage_case(case, dirs["input_dir"])
    result = engine.run_job(algorithm_2026_image, [], dirs=dirs, extra_mounts=model_mounts())
    assert result.returncode == 0, f"{algorithm_2026_image} failed: {result.stderr[-3000:]}"
    out = dirs["output_dir"]
    assert written_files(out) == OUTPUTS_2026
    assert "rfs.json" in result.stderr and "as time" in result.stderr, "the rfs_output setting is logged"
    if not os.environ.get("HECKTOR_CONTAINER_MODEL"):  # the image's own weights: its 2026 RFS model (rfs/)
        assert "RFS model (2026)" in result.stderr and "model of edition 2026" in result.stderr
    label = read_image(find_single_image(out / interface.SEGMENTATION_2026.relative_path))
    ct = read_image(find_single_image(case / interface.CT.relative_path))
    assert label.GetPixelID() == sitk.sitkUInt8 and grid_differences(Grid.of(label), Grid.of(ct)) == []
    assert set(np.unique(sitk.GetArrayViewFromImage(label))) <= {0, 1, 2}
    assert json.loads((out / "t-stage.json").read_text()) in T_STAGES
    assert json.loads((out / "n-stage.json").read_text()) in N_STAGES
    assert math.isfinite(json.loads((out / "rfs.json").read_text()))

    write_predictions_tree(tmp_path / "eval" / "input", [JobSpec("CHUS-001", out)], edition="2026")
    proc = subprocess.run(
        [sys.executable, "-m", "evaluation", "--input", str(tmp_path / "eval" / "input"), "--ground-truth",
         str(case_2026 / "ground_truth"), "--output", str(tmp_path / "eval")],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    aggregates = json.loads((tmp_path / "eval" / "metrics.json").read_text())["aggregates"]
    assert aggregates["t_stage_n_cases"] == 1 and "final_score" in aggregates


def test_bad_input_fails_with_one_line(engine: Engine, algorithm_2026_image: str, case_2026: Path, dirs) -> None:
    stage_case(case_2026 / "inputs" / "CHUS-001", dirs["input_dir"], corrupt_ct=True)
    result = engine.run_job(algorithm_2026_image, [], dirs=dirs, timeout=300)
    assert result.returncode != 0
    assert "images/ct" in last_line(result.stderr), result.stderr[-2000:]
    assert not written_files(dirs["output_dir"])
