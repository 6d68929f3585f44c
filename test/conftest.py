"""Shared fixtures: a small synthetic cohort and a smoke-trained nnU-Net model (each made once per test session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthetic import SyntheticCase, generate_cohort, write_training_layout

REPO = Path(__file__).resolve().parents[1]
NNUNET_SMOKE_ENV = {"nnUNet_n_proc_DA": "0", "HECKTOR_NNUNET_EPOCHS": "2", "HECKTOR_NNUNET_ITERATIONS": "2"}
#: The trained-model folder nnU-Net writes under the smoke training's ``--out``.
NNUNET_RESULTS = Path(
    "nnUNet_results", "Dataset501_HECKTOR", "nnUNetTrainer_kitSmoke__nnUNetResEncUNetLPlans__3d_fullres"
)


@pytest.fixture(scope="session")
def small_cohort() -> list[SyntheticCase]:
    """Six ``small`` synthetic cases (seed 7): CHUM-001 ... CHUV-001, at least one without GTVn and one
    flipped CT. Treat as read-only (the images are shared between tests)."""
    return generate_cohort(n=6, seed=7, size="small")


@pytest.fixture(scope="session")
def nnunet_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``--out`` of a smoke ``train segmentation --backend nnunet`` (a few minutes on 2 cores): 6 cases of 6
    centres, 2 centre-grouped folds, fold 0, a 32^3 patch, 4 base features, 2 epochs x 2 iterations, the SJTU
    member's ResEnc-L plans on [CT, CT^2, cbrt(CT), PET] (the recipe's nnU-Net member). nnU-Net's own
    trained-model folder is ``OUT / NNUNET_RESULTS``; the kit's copy with its ``config.json``, ``OUT/segmentation``."""
    data = tmp_path_factory.mktemp("nnunet_data")
    write_training_layout(generate_cohort(n=6, seed=3, size="small"), data)
    out = tmp_path_factory.mktemp("nnunet_run")
    argv = [sys.executable, "-m", "algorithm", "train", "segmentation", "--backend", "nnunet", "--data", str(data),
            "--out", str(out), "--trainer", "nnUNetTrainer_kitSmoke", "--n-folds", "2", "--folds", "0",
            "--crop-size-mm", "160", "160", "272", "--patch-size", "32", "32", "32", "--base-features", "4",
            "--processes", "1", "--threads", "2", "--device", "cpu", "--plans", "nnUNetResEncUNetLPlans",
            "--channels", "sjtu"]  # fmt: skip
    env = {**os.environ, **NNUNET_SMOKE_ENV}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    (out / "train.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return out


@pytest.fixture(scope="session")
def nnunet_results(nnunet_trained: Path) -> Path:
    """nnU-Net's own trained-model folder of the smoke training (no kit file in it), as a participant brings it."""
    return nnunet_trained / NNUNET_RESULTS
