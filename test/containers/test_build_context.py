"""The build context (.dockerignore) keeps trainers' caches, checkpoints and logs out of the images.

The README trains into ``algorithm/resources/model/<task>``, where the trainers also write ``cache/`` and
``checkpoints/``. A real build by the engine, from a context with this repository's .dockerignore, shows what
``COPY algorithm`` would ship (no base image needed: ``FROM scratch``, nothing runs).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
from container_helpers import ROOT, Engine

pytestmark = pytest.mark.container

MODEL = "algorithm/resources/model"
SHIPPED = [f"{MODEL}/segmentation/config.json", f"{MODEL}/segmentation/fold_0.pt", f"{MODEL}/prognosis/model.json"]
LEFT_OUT = [
    f"{MODEL}/segmentation/cache/CHUM-001.npz",
    f"{MODEL}/segmentation/checkpoints/fold_0_last.pt",
    f"{MODEL}/segmentation/training.log",
    f"{MODEL}/prognosis/cache/features.csv",
    f"{MODEL}/hpv/cache/holdout/features.csv",
]


def test_caches_and_checkpoints_stay_out_of_the_image(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    (tmp_path / "Containerfile").write_text("FROM scratch\nCOPY algorithm /algorithm\n")
    for relative in [*SHIPPED, *LEFT_OUT]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    image = f"localhost/hecktor-context-test-{uuid.uuid4().hex[:10]}:latest"
    engine("build", "--network", "none", "-q", "-t", image, "-f", str(tmp_path / "Containerfile"), str(tmp_path),
           timeout=300, check=True)  # fmt: skip
    container = engine("create", image, "/none", timeout=60, check=True).stdout.strip()
    try:
        tar = subprocess.run([*engine.command, "export", container], capture_output=True, timeout=120, check=True)
        with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
            names = {m.name.rstrip("/") for m in archive.getmembers()}
    finally:
        engine("rm", "--force", container, timeout=60)
        engine("rmi", "--force", image, timeout=60)
    assert set(SHIPPED) <= names
    assert not set(LEFT_OUT) & names, sorted(set(LEFT_OUT) & names)
