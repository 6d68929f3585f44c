"""Every published-method configuration in algorithm/segmentation/configs trains and segments end to end on CPU.

The bundled configs are full size (1 mm, GPU-sized networks); here each is loaded by NAME, shrunk
programmatically (4 mm grid, tiny patch and filters, two training steps), trained on a shared tiny synthetic
cohort through ``python -m algorithm train segmentation`` and run through :class:`Segmenter`, which must
return a uint8 label on exactly the CT grid. The recipe (architecture, input channels, windows, locator
method, ensemble) stays the config's own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from algorithm.segmentation import SegmentationConfig, Segmenter
from algorithm.segmentation.config import ModelError
from algorithm.segmentation.locate import Box
from algorithm.segmentation.normalise import stack_channels
from algorithm.segmentation.preprocess import locate_box, region_target
from algorithm.training import segmentation as train_cli
from algorithm.training.recipes import RecipeError
from algorithm.training.seg_data import find_cases
from hecktor.geometry import Grid, grid_differences
from hecktor.imageio import read_image
from synthetic import generate_cohort, write_training_layout

#: Tiny network sizes per architecture (the config's other network settings are kept).
TINY_KWARGS: dict[str, dict[str, Any]] = {
    "UNet": {"channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1},
    "SegResNet": {"init_filters": 8, "blocks_down": [1, 1, 1], "blocks_up": [1, 1]},
    # batch norm: a 32^3 patch leaves one voxel at the bottleneck, where instance norm cannot train
    "SwinUNETR": {"feature_size": 12, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 3, 6], "norm_name": "batch"},
    "DynUNet": {"kernel_size": [3, 3, 3], "strides": [1, 2, 2], "upsample_kernel_size": [2, 2], "filters": [4, 8, 16]},
}
TINY_TRAINING = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 1, "n_folds": 2, "val_every": 1}
FINE_GRID = {"spacing_mm": [4.0, 4.0, 4.0], "crop_size_mm": [160.0, 160.0, 192.0]}


def tiny(name: str, **overrides: Any) -> SegmentationConfig:
    """The bundled config ``name`` shrunk for a CPU smoke test (its recipe unchanged)."""
    config = SegmentationConfig.load(train_cli.resolve_config(name))
    data = config.to_dict()
    kwargs = dict(data["network_kwargs"])
    kwargs.update(TINY_KWARGS[config.architecture])
    patch = [32, 32, 32] if config.architecture == "SwinUNETR" else [16, 16, 16]
    batch = 2 if config.architecture == "SwinUNETR" else 1
    data.update(
        network_kwargs=kwargs,
        patch_size=patch,
        folds=[0],
        sw_overlap=0.0,
        sw_batch_size=1,
        training={**data["training"], **TINY_TRAINING, "batch_size": batch},
        **FINE_GRID,
    )
    data.update(overrides)
    return SegmentationConfig.from_dict(data)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small synthetic cases in the organisers' layout, shared by every configuration."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("method_data")
    write_training_layout(generate_cohort(n=4, seed=0, size="small"), root)
    return root


@pytest.fixture(scope="module")
def case_images(dataset: Path) -> tuple[sitk.Image, sitk.Image]:
    case = find_cases(dataset)[0]
    return read_image(case.ct), read_image(case.pet)


def train(config: SegmentationConfig, dataset: Path, out: Path, *extra: str) -> Path:
    """Train fold 0 of ``config`` through the CLI; the model folder."""
    path = config.save(out.parent / f"{out.name}.json")
    argv = ["--data", str(dataset), "--out", str(out), "--config", str(path), "--folds", "0", "--threads", "1"]
    assert train_cli.main([*argv, *extra]) == 0
    assert (out / "fold_0.pt").is_file()
    return out


def assert_on_ct_grid(label: sitk.Image, ct: sitk.Image) -> None:
    assert label.GetPixelID() == sitk.sitkUInt8
    assert grid_differences(Grid.of(label), Grid.of(ct)) == []
    assert set(np.unique(sitk.GetArrayViewFromImage(label))) <= {0, 1, 2}


# ------------------------------------------------------------------------------------------- the configs
@pytest.mark.slow  # training: left out of `make test-fast`
@pytest.mark.parametrize(
    ("name", "architecture"),
    [("paper_unet_1mm", "UNet"), ("paper_segresnet_1mm", "SegResNet"), ("paper_swinunetr_1mm", "SwinUNETR")],
)
def test_paper_benchmark_configs_train_and_segment(
    name: str, architecture: str, dataset: Path, case_images: tuple[sitk.Image, sitk.Image], tmp_path: Path
) -> None:
    full = SegmentationConfig.load(train_cli.resolve_config(name))
    assert full.architecture == architecture and full.spacing_mm == [1.0, 1.0, 1.0]
    assert full.channels_order == ["CT", "PET"] and full.folds == [0, 1, 2, 3, 4]
    model = train(tiny(name), dataset, tmp_path / "model")
    seg = Segmenter.load(model, device="cpu")
    assert seg.config.architecture == architecture
    ct, pet = case_images
    assert_on_ct_grid(seg.segment(ct, pet), ct)


@pytest.mark.slow  # training: left out of `make test-fast`
def test_sjtu_coarse_to_fine_trains_and_segments(
    dataset: Path, case_images: tuple[sitk.Image, sitk.Image], tmp_path: Path
) -> None:
    base = "sjtu_coarse_to_fine/"
    locator_full = SegmentationConfig.load(train_cli.resolve_config(base + "locator"))
    assert locator_full.spacing_mm == [2.0, 2.0, 3.0] and locator_full.ct_window_hu == [-110.0, 190.0]
    assert locator_full.channels_order == ["CT"] and locator_full.target == "region"
    ensemble_full = SegmentationConfig.load(train_cli.resolve_config(base + "ensemble_monai_approx"))
    assert ensemble_full.crop_size_mm == [144.0] * 3 and ensemble_full.locate.method == "network"

    locator = train(
        tiny(base + "locator", spacing_mm=[8.0, 8.0, 8.0], crop_size_mm=[256.0, 256.0, 320.0]),
        dataset,
        tmp_path / "locator",
    )
    members = {}
    for name in ("resenc_unet_monai_approx", "segresnet"):
        members[name] = train(tiny(base + name), dataset, tmp_path / name, "--locator", str(locator))
    resenc = SegmentationConfig.load(members["resenc_unet_monai_approx"])
    assert resenc.channels_order == ["CT", "CT^2", "cbrt(CT)", "PET"] and resenc.in_channels == 4
    assert resenc.network_kwargs["res_block"] is True

    model = tmp_path / "model"
    tiny_ensemble = ensemble_full.to_dict()
    tiny_ensemble.update(folds=[0], **FINE_GRID)
    SegmentationConfig.from_dict(tiny_ensemble).save(model / "config.json")
    shutil.copytree(locator, model / "locator", ignore=shutil.ignore_patterns("cache", "checkpoints"))
    for name, folder in members.items():
        shutil.copytree(folder, model / "members" / name, ignore=shutil.ignore_patterns("cache", "checkpoints"))

    seg = Segmenter.load(model, device="cpu")
    assert [m.name for m in seg.members] == ["resenc_unet_monai_approx", "segresnet"] and seg.locator is not None
    ct, pet = case_images
    assert_on_ct_grid(seg.segment(ct, pet), ct)

    # a member on another crop grid is refused, naming it
    bad = json.loads((model / "members" / "segresnet" / "config.json").read_text())
    bad["crop_size_mm"] = [64.0, 64.0, 64.0]
    (model / "members" / "segresnet" / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match=r"segresnet.*crop_size_mm"):
        Segmenter.load(model, device="cpu")


# ---------------------------------------------------------------------------------------- the pieces
def test_config_names_resolve_and_unknown_names_list_the_bundled_ones() -> None:
    assert train_cli.resolve_config("paper_unet_1mm").name == "paper_unet_1mm.json"
    assert train_cli.resolve_config("sjtu_coarse_to_fine/segresnet.json").parent.name == "sjtu_coarse_to_fine"
    with pytest.raises(RecipeError, match="paper_swinunetr_1mm"):
        train_cli.resolve_config("no_such_config")


def test_all_bundled_configs_load_with_consistent_channels() -> None:
    for path in sorted(train_cli.CONFIG_DIR.rglob("*.json")):
        config = SegmentationConfig.load(path)
        assert config.in_channels == len(config.channels_order), path


def test_ensemble_config_cannot_be_trained_directly(dataset: Path, tmp_path: Path) -> None:
    argv = ["--data", str(dataset), "--out", str(tmp_path / "m"), "--config", "sjtu_coarse_to_fine/ensemble"]
    assert train_cli.main(argv) == 2


def test_channel_recipes_and_validation() -> None:
    ct = np.array([[[-1000.0, -110.0, 40.0, 190.0, 900.0]]], dtype=np.float32)
    pet = np.array([[[0.0, 1.0, 5.0, 10.0, 50.0]]], dtype=np.float32)
    config = SegmentationConfig(channels_order=["CT", "CT^2", "cbrt(CT)", "PET"], ct_window_hu=[-110.0, 190.0])
    assert config.in_channels == 4
    x = stack_channels(ct.copy(), pet.copy(), config)
    np.testing.assert_allclose(x[0].ravel(), [-1, -1, 0, 1, 1], atol=1e-6)
    np.testing.assert_allclose(x[1], x[0] ** 2, atol=1e-6)
    np.testing.assert_allclose(x[2], np.cbrt(x[0]), atol=1e-6)
    np.testing.assert_allclose(x[3].ravel(), [0, 0.1, 0.5, 1.0, 4.0], atol=1e-6)
    # the default recipe is unchanged
    default = SegmentationConfig()
    assert default.in_channels == 2 and stack_channels(ct.copy(), pet.copy(), default).shape[0] == 2
    with pytest.raises(ModelError, match="in_channels"):
        SegmentationConfig(channels_order=["CT", "CT^2", "PET"], in_channels=2)
    with pytest.raises(ModelError, match="divisible by 32"):
        SegmentationConfig(architecture="SwinUNETR", patch_size=[48, 48, 48])
    with pytest.raises(ModelError, match=r"locate\.method"):
        SegmentationConfig(locate={"method": "magic"})


@pytest.mark.slow  # training: left out of `make test-fast`
def test_network_locator_is_used_and_falls_back_to_the_heuristic(
    case_images: tuple[sitk.Image, sitk.Image], caplog: pytest.LogCaptureFixture
) -> None:
    ct, pet = case_images
    config = SegmentationConfig(crop_size_mm=[96.0, 96.0, 96.0], locate={"method": "network"})
    found = Box((0.0, 0.0, 0.0), (96.0, 96.0, 96.0), "network")

    class Fake:
        def __init__(self, box: Box | None) -> None:
            self.box = box

        def locate(self, ct: sitk.Image, pet: sitk.Image, crop_size_mm: list[float]) -> Box | None:
            return self.box

    assert locate_box(ct, pet, config, Fake(found)) is found
    with caplog.at_level("WARNING"):
        fallback = locate_box(ct, pet, config, Fake(None))
    assert fallback.method != "network" and "found no head-and-neck region" in caplog.text


def test_region_target_is_the_dilated_lesion_union() -> None:
    label = np.zeros((9, 9, 9), dtype=np.uint8)
    label[4, 4, 4] = 2
    region = region_target(label, (2.0, 2.0, 2.0), 4.0)
    assert region.dtype == np.uint8 and set(np.unique(region)) == {0, 1}
    assert region[4, 4, 6] == 1 and region[4, 4, 7] == 0


@pytest.mark.slow  # training: left out of `make test-fast`
def test_network_locator_centres_the_fine_box_on_its_region(
    case_images: tuple[sitk.Image, sitk.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    from algorithm.segmentation.locate_net import NetworkLocator

    ct, pet = case_images
    grid = Grid((20, 20, 20), (4.0, 4.0, 4.0), tuple(np.asarray(ct.GetOrigin()) - 10.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    mask = np.zeros((20, 20, 20), dtype=bool)
    mask[8:13, 4:9, 10:15] = True  # z 8..12, y 4..8, x 10..14: centre index (x, y, z) = (12, 6, 10)
    mask[0, 0, 0] = True  # a stray voxel: only the largest component counts
    locator = NetworkLocator.__new__(NetworkLocator)
    monkeypatch.setattr(NetworkLocator, "mask", lambda self, ct, pet: (mask, grid))
    box = locator.locate(ct, pet, [8.0, 8.0, 8.0])
    assert box is not None and box.method == "network"
    expected = np.asarray(grid.origin) + 4.0 * np.array([12.0, 6.0, 10.0])
    np.testing.assert_allclose(box.centre_mm, expected, atol=1e-6)
    monkeypatch.setattr(NetworkLocator, "mask", lambda self, ct, pet: (np.zeros_like(mask), grid))
    assert locator.locate(ct, pet, [8.0, 8.0, 8.0]) is None
