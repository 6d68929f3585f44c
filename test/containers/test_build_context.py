"""Image provenance: the build context (.dockerignore) keeps trainers' caches, checkpoints and logs out of the
images, and the container tests refuse an image whose source-commit label is not this checkout's.

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
from container_helpers import ROOT, Engine, checkout_commit

pytestmark = pytest.mark.container

MODEL = "algorithm/resources/model"
SHIPPED = [
    f"{MODEL}/segmentation/model.json",
    f"{MODEL}/segmentation/config.json",
    f"{MODEL}/segmentation/fold_0.pt",
    f"{MODEL}/prognosis/model.json",
    f"{MODEL}/hpv/model.json",
]
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


@pytest.mark.parametrize("same_commit", [True, False], ids=["this-commit", "other-commit"])
def test_images_of_another_commit_are_refused_with_the_rebuild_command(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_commit: bool
) -> None:
    head = checkout_commit()
    if head is None:
        pytest.skip("not a git checkout")
    monkeypatch.delenv("HECKTOR_ALLOW_OTHER_COMMIT", raising=False)
    commit = head if same_commit else "0" * 40
    (tmp_path / "Containerfile").write_text(f'FROM scratch\nLABEL org.hecktor.source-commit="{commit}"\n')
    image = f"localhost/hecktor-commit-test-{uuid.uuid4().hex[:10]}:latest"
    engine("build", "--network", "none", "-q", "-t", image, "-f", str(tmp_path / "Containerfile"), str(tmp_path),
           timeout=300, check=True)  # fmt: skip
    try:
        if same_commit:
            assert engine.image_exists(image)
        else:
            with pytest.raises(pytest.fail.Exception, match=r"built from commit 000000000000.*make build"):
                engine.image_exists(image)
            monkeypatch.setenv("HECKTOR_ALLOW_OTHER_COMMIT", "1")
            assert engine.image_exists(image)
    finally:
        engine("rmi", "--force", image, timeout=60)
