"""nnU-Net backend, the fast part: imports kept off torchvision/timm, folder recognition, dataset.json, options,
centre-grouped splits. The trained-model tests (a folder made by nnU-Net itself) are in test_nnunet_training.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from algorithm.segmentation.config import ModelError
from algorithm.segmentation.nnunet.channels import stack_input
from algorithm.segmentation.nnunet.folder import dataset_info, is_nnunet_model_dir
from algorithm.segmentation.nnunet.options import NnUNetOptions
from algorithm.training.nnunet import centre_grouped_folds
from hecktor.errors import HecktorError

REPO = Path(__file__).resolve().parents[2]


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_kits_nnunet_paths_import_neither_torchvision_nor_timm() -> None:
    modules = _imported_after(
        "import algorithm.segmentation.nnunet.segmenter, algorithm.training.nnunet\n"
        "import algorithm.training.nnunet_trainers\n"
        "import nnunetv2.inference.predict_from_raw_data, nnunetv2.run.run_training\n"
        "import nnunetv2.experiment_planning.plan_and_preprocess_api\n"
        "from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet"
    )
    assert "nnunetv2" in modules
    assert not modules & {"torchvision", "timm"}


def test_the_monai_path_does_not_import_nnunet() -> None:
    modules = _imported_after("import algorithm.segmentation, algorithm.pipeline, algorithm.segmentation.nnunet")
    assert "nnunetv2" not in modules


def _nnunet_folder(root: Path, channel_names: dict, labels: dict, folds=("0",)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps({"channel_names": channel_names, "labels": labels}))
    (root / "plans.json").write_text("{}")
    for k in folds:
        (root / f"fold_{k}").mkdir()
        (root / f"fold_{k}" / "checkpoint_final.pth").write_bytes(b"")
    return root


def test_folder_recognition_and_channel_and_label_mapping(tmp_path: Path) -> None:
    folder = _nnunet_folder(tmp_path / "m", {"0": "ct", "1": "PET"}, {"background": 0, "GTVp": 1, "GTVn": 2})
    assert is_nnunet_model_dir(folder)
    info = dataset_info(folder)
    assert info.channels == ("CT", "PET") and info.label_map == {0: 0, 1: 1, 2: 2}
    swapped = _nnunet_folder(tmp_path / "s", {"1": "CT", "0": "Pt"}, {"background": 0, "node": 1, "tumor": 2})
    assert dataset_info(swapped).channels == ("PET", "CT")
    assert dataset_info(swapped).label_map == {0: 0, 1: 2, 2: 1}
    (folder / "fold_0" / "checkpoint_final.pth").unlink()
    assert not is_nnunet_model_dir(folder)  # no checkpoint, no nnU-Net model
    assert not is_nnunet_model_dir(REPO / "algorithm" / "resources" / "model" / "segmentation")


@pytest.mark.parametrize(
    ("channels", "labels", "message"),
    [
        ({"0": "CT", "1": "MRI"}, {"background": 0, "GTVp": 1}, "'MRI'"),
        ({"0": "CT"}, {"background": 0, "liver": 3}, "'liver'"),
        ({"0": "CT"}, {"background": 0, "GTVp": [1, 2]}, "region-based"),
    ],
)
def test_unusable_dataset_json_is_a_one_line_model_error(tmp_path: Path, channels, labels, message) -> None:
    folder = _nnunet_folder(tmp_path / "m", channels, labels)
    with pytest.raises(ModelError, match=message) as info:
        dataset_info(folder)
    assert "dataset.json" in str(info.value) and "\n" not in str(info.value)


def test_kit_options_beside_the_folder(tmp_path: Path) -> None:
    assert NnUNetOptions.load(tmp_path) == NnUNetOptions()
    (tmp_path / "config.json").write_text(json.dumps({"crop_size_mm": [100, 100, 100], "tta": False, "folds": [1]}))
    options = NnUNetOptions.load(tmp_path)
    assert options.crop_size_mm == [100, 100, 100] and not options.tta and options.folds == [1]
    (tmp_path / "config.json").write_text(json.dumps({"crop_sise_mm": [1, 2, 3]}))
    with pytest.raises(ModelError, match=r"unknown keys.*crop_sise_mm"):
        NnUNetOptions.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"locate": {"method": "nnunet"}}))  # never silently ignored
    with pytest.raises(ModelError, match=r"config\.json: locate\.method 'nnunet' is not available.*ensemble"):
        NnUNetOptions.load(tmp_path)


def test_channels_are_raw_values_and_the_sjtu_ct_enhancements() -> None:
    import numpy as np

    ct = np.array([[[-1000.0, 0.0, 1000.0]]], dtype=np.float32)
    pet = np.array([[[0.0, np.nan, 5.0]]], dtype=np.float32)
    image = stack_input(("CT", "CT^2", "cbrt(CT)", "PET"), ct, pet)
    assert image.shape == (4, 1, 1, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image[:, 0, 0, 0], [-1000.0, 1.0, -1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(image[:, 0, 0, 2], [1000.0, 1.0, 1.0, 5.0], rtol=1e-6)
    assert image[3, 0, 0, 1] == 0.0  # NaN PET -> 0


def test_splits_group_folds_by_centre() -> None:
    ids = [f"CHUM-{i:03d}" for i in range(6)] + [f"MDA-{i:03d}" for i in range(4)] + ["HGJ-001", "HGJ-002", "USZ-001"]
    splits = centre_grouped_folds(ids, 3)
    assert len(splits) == 3
    assert sorted(p for s in splits for p in s["val"]) == sorted(ids)  # each case validated exactly once
    for split in splits:
        val_centres = {p.split("-")[0] for p in split["val"]}
        train_centres = {p.split("-")[0] for p in split["train"]}
        assert not val_centres & train_centres  # a fold's validation centres are unseen in its training
        assert sorted(split["train"] + split["val"]) == sorted(ids)
    assert [len(s["val"]) for s in splits] == [6, 4, 3]
    with pytest.raises(HecktorError, match="4 centre"):
        centre_grouped_folds(ids, 5)


def test_the_locator_target_is_the_dilated_lesion_union_on_the_whole_scan_box(tmp_path: Path) -> None:
    import numpy as np
    import SimpleITK as sitk

    from algorithm.segmentation.locate import whole_scan_box
    from algorithm.training.nnunet import write_raw_case
    from algorithm.training.seg_data import TrainingCase
    from synthetic import generate_case

    case = generate_case("CHUM-301", seed=51, size="small")
    paths = {}
    for name, image in (("ct", case.ct), ("pet", case.pet), ("label", case.label)):
        paths[name] = tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(image, str(paths[name]))
    raw = tmp_path / "raw"
    for sub in ("imagesTr", "labelsTr"):
        (raw / sub).mkdir(parents=True)
    options = NnUNetOptions(crop_size_mm=[400.0, 400.0, 600.0], locate={"method": "whole-scan"})
    write_raw_case(TrainingCase("CHUM-301", paths["ct"], paths["pet"], paths["label"]), options, ("CT",), raw, 20.0)
    region = sitk.ReadImage(str(raw / "labelsTr" / "CHUM-301.nii.gz"))
    ct = sitk.ReadImage(str(raw / "imagesTr" / "CHUM-301_0000.nii.gz"))
    assert not (raw / "imagesTr" / "CHUM-301_0001.nii.gz").exists()  # CT alone
    assert region.GetSize() == ct.GetSize() and region.GetOrigin() == ct.GetOrigin()
    values = sitk.GetArrayViewFromImage(region)
    assert set(np.unique(values)) == {0, 1}
    lesion = sitk.GetArrayViewFromImage(case.label) > 0
    box = whole_scan_box(case.ct, [400.0, 400.0, 600.0])  # larger than the small synthetic CT: all of it
    assert ct.GetSize() == case.ct.GetSize() and box.method == "whole-scan"
    assert values[lesion].all()  # every lesion voxel is in the region (identity-direction CT: same voxels)
    assert values.sum() > 3 * lesion.sum()  # ... dilated by 20 mm


def test_nnunet_trainer_variants_are_found_without_timm() -> None:
    """nnU-Net's own lookup imports its Primus trainers (timm) before its variants: the kit's lookup does not."""
    code = (
        "from algorithm.training.nnunet_trainers import find_trainer_class as f\n"
        "names = ['nnUNetTrainer', 'nnUNetTrainerNoMirroring', 'nnUNetTrainer_250epochs', 'nnUNetTrainer_kitSmoke']\n"
        "assert [f(n).__name__ for n in names] == names, [f(n) for n in names]\n"
        "assert f('nnUNetTrainer_noSuchThing') is None"
    )
    modules = _imported_after(code)
    assert "nnunetv2" in modules and not modules & {"torchvision", "timm"}
