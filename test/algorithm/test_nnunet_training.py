"""nnU-Net backend end to end (slow): ``train segmentation --backend nnunet`` on a tiny synthetic cohort runs
nnU-Net's own planning, preprocessing and a few training iterations; the trained-model folder nnU-Net wrote then
runs unchanged through ``python -m algorithm run``, is scored by the evaluation, and keeps the mask on the CT grid
for CT grids of other spacing, origin and direction."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from grids import flipped_x

from algorithm.segmentation import Segmenter
from algorithm.segmentation.config import ModelError, SegmentationConfig
from algorithm.segmentation.ensemble import write_descriptor
from algorithm.segmentation.network import build_network, state_dict_cpu
from algorithm.training.segmentation import resolve_config
from evaluation.cli import main as evaluation_main
from synthetic import generate_case, write_grand_challenge_layout

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
#: The trained-model folder of the session's smoke run (test/conftest.py: NNUNET_RESULTS): the SJTU member's
#: plans (ResEnc-L) and input [CT, CT^2, cbrt(CT), PET].
RESULTS_NAME = "nnUNetTrainer_kitSmoke__nnUNetResEncUNetLPlans__3d_fullres"


@pytest.fixture(scope="module")
def trained(nnunet_trained: Path) -> Path:
    """The session's smoke training (test/conftest.py)."""
    return nnunet_trained


def test_training_writes_an_nnunet_dataset_splits_and_a_trained_model_folder(trained: Path) -> None:
    raw = trained / "nnUNet_raw" / "Dataset501_HECKTOR"
    dataset = json.loads((raw / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "CT", "1": "CT^2", "2": "cbrt(CT)", "3": "PET"}
    assert dataset["labels"] == {"background": 0, "GTVp": 1, "GTVn": 2}
    for case in (raw / "labelsTr").iterdir():  # every channel on the label's grid (nnU-Net's requirement)
        pid = case.name.removesuffix(".nii.gz")
        label = sitk.ReadImage(str(case))
        for c in range(4):
            image = sitk.ReadImage(str(raw / "imagesTr" / f"{pid}_{c:04d}.nii.gz"))
            assert image.GetSize() == label.GetSize() and image.GetOrigin() == label.GetOrigin()
    splits = json.loads((trained / "nnUNet_preprocessed" / "Dataset501_HECKTOR" / "splits_final.json").read_text())
    assert len(splits) == 2
    for split in splits:
        centres = lambda ids: {p.split("-")[0] for p in ids}  # noqa: E731
        assert not centres(split["train"]) & centres(split["val"])
    results = trained / "nnUNet_results" / "Dataset501_HECKTOR" / RESULTS_NAME
    for name in ("dataset.json", "plans.json", "fold_0/checkpoint_final.pth"):
        assert (results / name).is_file(), name
        assert (trained / "segmentation" / name).is_file(), name
    assert (results / "fold_0" / "validation").is_dir()  # nnU-Net's own final validation ran
    architecture = json.loads((results / "plans.json").read_text())["configurations"]["3d_fullres"]["architecture"]
    assert architecture["network_class_name"].endswith("ResidualEncoderUNet")  # ResEnc-L: 1-3-4-6-6-6 blocks
    assert architecture["arch_kwargs"]["n_blocks_per_stage"][:4] == [1, 3, 4, 6]


def test_nnunet_folder_runs_unchanged_through_algorithm_run_and_is_scored(trained: Path, tmp_path: Path) -> None:
    # The folder exactly as nnU-Net wrote it (no kit config.json), as a participant brings it.
    results = trained / "nnUNet_results" / "Dataset501_HECKTOR" / RESULTS_NAME
    model = tmp_path / "model"
    model.mkdir()
    (model / "segmentation").symlink_to(results, target_is_directory=True)
    cases = [generate_case("CHUM-101", seed=31, size="small"), generate_case("MDA-102", seed=32, size="small")]
    root = tmp_path / "gc"
    write_grand_challenge_layout(cases, root)
    for case_dir in sorted((root / "inputs").iterdir()):
        out = root / "outputs" / case_dir.name
        argv = [sys.executable, "-m", "algorithm", "run", "--input", str(case_dir), "--output", str(out),
                "--tasks", "1", "--device", "cpu", "--model-dir", str(model)]  # fmt: skip
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "backend nnU-Net v2" in done.stderr and "patch [32, 32, 32]" in done.stderr
        assert "folds ['0']" in done.stderr
    metrics_path = tmp_path / "metrics.json"
    argv = ["score-folder", "--predictions", str(root / "outputs"), "--data", str(root / "ground_truth"), "--task", "1"]
    assert evaluation_main([*argv, "--output", str(metrics_path), "--bootstrap", "0"]) == 0
    aggregates = json.loads(metrics_path.read_text())["aggregates"]
    assert aggregates["task1_n_cases"] == 2 and aggregates.get("task1_n_missing_predictions", 0) == 0


def _resampled(image: sitk.Image, spacing: tuple[float, ...], shift_mm: tuple[float, ...], angle: float) -> sitk.Image:
    rotation = sitk.VersorTransform((0, 0, 1), angle)
    direction = np.asarray(rotation.GetMatrix()).reshape(3, 3) @ np.asarray(image.GetDirection()).reshape(3, 3)
    extent = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing())
    size = [int(e / s) for e, s in zip(extent, spacing, strict=True)]
    origin = np.asarray(image.GetOrigin()) + np.asarray(shift_mm)
    return sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, origin.tolist(), spacing,
                         direction.ravel().tolist(), -1024.0, sitk.sitkInt16)  # fmt: skip


def test_the_mask_lies_on_the_exact_ct_grid_whatever_the_grid(trained: Path) -> None:
    segmenter = Segmenter.load(trained / "segmentation", device="cpu")
    case = generate_case("CHUS-103", seed=33, size="small")
    base = segmenter.segment(case.ct, case.pet)
    variants = {
        "flipped x": flipped_x(case.ct),
        "finer, shifted": _resampled(case.ct, (2.0, 2.0, 2.5), (3.3, -4.1, 7.7), 0.0),
        "oblique 12 degrees": _resampled(case.ct, (3.0, 3.0, 3.0), (0.0, 0.0, 0.0), np.deg2rad(12.0)),
    }
    for name, ct in variants.items():
        mask = segmenter.segment(ct, case.pet)
        assert mask.GetPixelID() == sitk.sitkUInt8, name
        assert mask.GetSize() == ct.GetSize(), name
        assert mask.GetSpacing() == ct.GetSpacing() and mask.GetOrigin() == ct.GetOrigin(), name
        assert mask.GetDirection() == ct.GetDirection(), name
        assert set(np.unique(sitk.GetArrayViewFromImage(mask))) <= {0, 1, 2}, name
    # A pure axis flip changes no voxel value: nnU-Net sees the same LPS block, so the mask is the same physically.
    flipped = segmenter.segment(variants["flipped x"], case.pet)
    back = sitk.Resample(flipped, case.ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(base))


def test_a_missing_fold_is_a_model_error(trained: Path) -> None:
    with pytest.raises(ModelError, match="no checkpoint for fold"):
        Segmenter.load(trained / "segmentation", device="cpu", folds=[3])


def test_the_sjtu_ensemble_of_an_nnunet_and_a_monai_member_runs_through_algorithm_run(
    trained: Path, tmp_path: Path
) -> None:
    """The SJTU recipe's folder: nnU-Net's own ResEnc-L folder (4-channel sjtu input) + a kit MONAI SegResNet,
    probabilities averaged with the config's weights, the nnU-Net folder also as the nnU-Net locator."""
    results = trained / "nnUNet_results" / "Dataset501_HECKTOR" / RESULTS_NAME
    model = tmp_path / "model"
    ensemble = model / "segmentation"
    (ensemble / "members").mkdir(parents=True)
    (ensemble / "members" / "resenc_l").symlink_to(results, target_is_directory=True)  # as nnU-Net wrote it
    (ensemble / "locator").symlink_to(results, target_is_directory=True)  # any foreground counts as the region
    segresnet = ensemble / "members" / "segresnet"
    segresnet.mkdir()
    member = SegmentationConfig(
        network_kwargs={"init_filters": 8, "blocks_down": [1, 1, 1, 1], "blocks_up": [1, 1, 1]},
        spacing_mm=[4.0, 4.0, 4.0],
        patch_size=[32, 32, 32],
        crop_size_mm=[160.0, 160.0, 200.0],
        sw_overlap=0.25,
    )
    member.save(segresnet)
    torch.manual_seed(0)
    torch.save(state_dict_cpu(build_network(member)), segresnet / "fold_0.pt")
    recipe = SegmentationConfig.load(resolve_config("sjtu_coarse_to_fine/ensemble")).to_dict()
    assert recipe["members"] == {"resenc_l": 1.0, "segresnet": 1.0} and recipe["locate"]["method"] == "nnunet"
    recipe.update(crop_size_mm=[160.0, 160.0, 200.0], members={"resenc_l": 2.0, "segresnet": 1.0})
    SegmentationConfig.from_dict(recipe).save(ensemble)
    write_descriptor(ensemble)

    case = generate_case("CHUM-104", seed=34, size="small")  # CT and PET differ in spacing and origin ...
    case = dataclasses.replace(case, ct=flipped_x(case.ct), label=flipped_x(case.label))  # ... and direction
    root = tmp_path / "gc"
    write_grand_challenge_layout([case], root)
    (case_dir,) = sorted((root / "inputs").iterdir())
    out = root / "outputs" / case_dir.name
    argv = [sys.executable, "-m", "algorithm", "run", "--input", str(case_dir), "--output", str(out),
            "--tasks", "1", "--device", "cpu", "--model-dir", str(model)]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stderr
    assert "ensemble of 2 member(s) (resenc_l [nnunet, weight 2 = 0.667], segresnet [monai, weight 1 = 0.333])" in log
    assert "backend nnU-Net v2" in log and "channels ['CT', 'CT^2', 'cbrt(CT)', 'PET']" in log
    assert "locator" in log and ("nnU-Net locator: region" in log or "found no head-and-neck region" in log)
    (mask_path,) = [p for p in out.rglob("*") if p.is_file() and "segmentation" in str(p.parent)]
    mask = sitk.ReadImage(str(mask_path))
    assert mask.GetPixelID() == sitk.sitkUInt8 and mask.GetSize() == case.ct.GetSize()
    assert mask.GetSpacing() == case.ct.GetSpacing() and mask.GetOrigin() == case.ct.GetOrigin()
    np.testing.assert_allclose(mask.GetDirection(), case.ct.GetDirection(), atol=1e-12)
    assert mask.GetDirection()[0] == -1.0
    # The same folder as a training locator (the MONAI trainer's --locator): its cache key names its checkpoints.
    from algorithm.segmentation.nnunet.locate import NnUNetLocator

    fingerprint = NnUNetLocator.load(results, "cpu").fingerprint()
    assert fingerprint[1] == ["0"] and "checkpoint_final.pth" in [f[1] for f in fingerprint[3]]
