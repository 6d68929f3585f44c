"""Model components: one descriptor format, one error class, one loader per task, one class per kind."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from algorithm.model_files import KINDS, ModelComponent, ModelError, load_model
from algorithm.models import BUNDLED_MODEL_DIR
from algorithm.prognosis import fit_prognosis_model, load_prognosis_model
from algorithm.prognosis.risk import RISK_KINDS, Preprocessing, RiskModel
from algorithm.tabular import Imputer, Scaler


def test_one_error_class_for_every_task() -> None:
    from algorithm.segmentation.config import ModelError as SegmentationModelError
    from algorithm.tabular import ModelError as TabularModelError

    assert SegmentationModelError is ModelError is TabularModelError


@pytest.mark.parametrize(
    ("task", "kind"),
    [("segmentation", "monai"), ("prognosis", "main+fallback"), ("hpv", "features"), ("staging", "logistic")],
)
def test_bundled_folders_have_a_descriptor_and_load_through_the_task_loader(task: str, kind: str) -> None:
    descriptor = json.loads((BUNDLED_MODEL_DIR / task / "model.json").read_text())
    assert (descriptor["format"], descriptor["format_version"], descriptor["kind"]) == (f"hecktor-kit/{task}", 1, kind)
    options = {"device": "cpu"} if task == "segmentation" else {}
    model = load_model(task, BUNDLED_MODEL_DIR / task, **options)
    assert isinstance(model, ModelComponent)
    summary = model.describe()
    assert summary["task"] == task and summary["kind"] == kind
    json.dumps(summary)  # JSON-able


def _copy(task: str, tmp_path: Path) -> Path:
    folder = tmp_path / task
    shutil.copytree(BUNDLED_MODEL_DIR / task, folder)
    return folder


@pytest.mark.parametrize("task", ["segmentation", "prognosis", "hpv", "staging"])
def test_unusable_descriptors_give_one_line_naming_the_file(task: str, tmp_path: Path) -> None:
    folder = _copy(task, tmp_path)
    descriptor = json.loads((folder / "model.json").read_text())
    cases = {
        "unknown .* model kind 'nope'": {**descriptor, "kind": "nope"},
        "expected a 'hecktor-kit/": {**descriptor, "format": "hecktor-kit/other"},
        "version 7 is not supported": {**descriptor, "format_version": 7},
    }
    for message, data in cases.items():
        (folder / "model.json").write_text(json.dumps(data))
        with pytest.raises(ModelError, match=message) as info:
            load_model(task, folder)
        assert str(info.value).startswith(str(folder / "model.json")) and "\n" not in str(info.value)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(task, folder)


def test_segmentation_descriptor_names_its_config_and_config_only_folders_still_load(tmp_path: Path) -> None:
    folder = _copy("segmentation", tmp_path)
    descriptor = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**descriptor, "config": "../config.json"}))
    with pytest.raises(ModelError, match="plain file name"):
        load_model("segmentation", folder, device="cpu")
    (folder / "config.json").rename(folder / "recipe.json")
    (folder / "model.json").write_text(json.dumps({**descriptor, "config": "recipe.json"}))
    assert load_model("segmentation", folder, device="cpu").config.folds == [0]
    (folder / "recipe.json").rename(folder / "config.json")
    (folder / "model.json").unlink()  # an ensemble member / locator / older folder: config.json alone
    assert load_model("segmentation", folder, device="cpu").config.folds == [0]


def test_each_task_has_its_loader() -> None:
    from algorithm.hpv import HPVModel, load_hpv_model
    from algorithm.prognosis import PrognosisModel
    from algorithm.segmentation import Segmenter, load_segmentation_model

    assert isinstance(load_segmentation_model(BUNDLED_MODEL_DIR / "segmentation", device="cpu"), Segmenter)
    assert isinstance(load_prognosis_model(BUNDLED_MODEL_DIR / "prognosis"), PrognosisModel)
    assert isinstance(load_hpv_model(BUNDLED_MODEL_DIR / "hpv"), HPVModel)


def test_a_file_without_kind_is_of_the_tasks_first_kind(tmp_path: Path) -> None:
    for task in ("prognosis", "hpv"):
        folder = _copy(task, tmp_path)
        data = json.loads((folder / "model.json").read_text())
        del data["kind"]
        (folder / "model.json").write_text(json.dumps(data))
        assert type(load_model(task, folder)).__name__ == KINDS[task][next(iter(KINDS[task]))].split(":")[1]


def _cohort(n: int = 80, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = ["gtvp_mtv_ml", "gtvp_tbr_max", "clinical_age", "clinical_gender"]
    x = rng.normal(size=(n, len(names)))
    x[:, 0] = rng.lognormal(2.0, 0.8, n)
    t = rng.exponential(np.exp(-(0.8 * np.log(x[:, 0]) + 0.5 * x[:, 2]))) * 500 + 1
    c = rng.uniform(100, 1500, n)
    return x, names, np.minimum(t, c).round() + 1, t <= c


@pytest.mark.parametrize("kind", ["icare", "cox", "deephit", "mtlr"])
def test_each_risk_kind_round_trips_through_its_class(kind: str, tmp_path: Path) -> None:
    from algorithm.prognosis.discrete import DiscreteSettings

    x, names, t, e = _cohort()
    extra = {"discrete_settings": DiscreteSettings(epochs=5)} if kind in ("deephit", "mtlr") else {}
    model = fit_prognosis_model(x, names, t, e, kind, **extra)
    assert model.main.kind == kind and type(model.main).__name__ == RISK_KINDS[kind].split(":")[1]
    model.save(tmp_path)
    loaded = load_prognosis_model(tmp_path)
    assert type(loaded.main) is type(model.main) and loaded.main.kind == kind
    np.testing.assert_array_equal(loaded.predict_table(x, names), model.predict_table(x, names))
    assert loaded.has_curves == (kind in ("deephit", "mtlr"))
    data = json.loads((tmp_path / "model.json").read_text())
    data["main"]["kind"] = "nope"
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="unknown risk model kind 'nope'"):
        load_prognosis_model(tmp_path)


@dataclass
class _MedianAge(RiskModel):
    """A plug-in kind as another engineer would add one: risk = age above the stored median."""

    kind: ClassVar[str] = "median_age"
    median: float = 0.0

    def risk(self, x: np.ndarray) -> np.ndarray:
        return self.prep.imputer.transform(x)[:, self.feature_names.index("clinical_age")] - self.median

    def params(self) -> dict[str, Any]:
        return {"median_age": {"median": self.median}}

    @classmethod
    def from_params(cls, prep: Preprocessing, data: Any, model_dir: Path | None) -> _MedianAge:
        return cls(prep, median=float(data["median_age"]["median"]))


def test_a_new_risk_kind_plugs_in_with_one_registry_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(RISK_KINDS, "median_age", f"{__name__}:_MedianAge")
    x, names, t, e = _cohort()
    model = fit_prognosis_model(x, names, t, e, "cox")
    prep = Preprocessing(names, Imputer.fit(x, names), Scaler.fit(x))
    model.main = _MedianAge(prep, median=float(np.median(x[:, 2])))
    model.save(tmp_path)
    loaded = load_prognosis_model(tmp_path)
    assert isinstance(loaded.main, _MedianAge)
    np.testing.assert_allclose(loaded.main.predict_matrix(x), x[:, 2] - np.median(x[:, 2]))


def test_cnn_input_normalisation_travels_in_its_model_file(tmp_path: Path) -> None:
    import SimpleITK as sitk

    from algorithm.features import CLINICAL_FEATURE_NAMES
    from algorithm.hpv import load_hpv_model
    from algorithm.hpv.cnn import CnnHPVModel, FusionNet, InputNormalisation, crop_case
    from algorithm.hpv.model import fit_classifier

    names = list(CLINICAL_FEATURE_NAMES)
    rng = np.random.default_rng(0)
    clin = rng.normal(size=(20, len(names)))
    y = np.arange(20) % 2
    fallback = fit_classifier(clin, names, y)
    net = FusionNet("resnet10", len(names), embed=4, hidden=8)
    norm = InputNormalisation((-100.0, 200.0), "linear", 5.0, 15.0)
    model = CnnHPVModel("resnet10", names, Imputer.fit(clin, names), Scaler.fit(clin), net, fallback, norm=norm)
    model.embed, model.hidden = 4, 8
    model.save(tmp_path)
    data = json.loads((tmp_path / "model.json").read_text())
    assert data["kind"] == "cnn" and data["input"]["ct_window_hu"] == [-100.0, 200.0]
    assert load_hpv_model(tmp_path).norm == norm

    ct = sitk.GetImageFromArray(rng.normal(0, 300, (24, 24, 24)).astype(np.float32))
    pet = sitk.GetImageFromArray(rng.gamma(2.0, 2.0, (24, 24, 24)).astype(np.float32))
    # a file written before the block existed: the values the code had fixed, so the same crops as before
    del data["input"]
    (tmp_path / "model.json").write_text(json.dumps(data))
    legacy = load_hpv_model(tmp_path)
    assert legacy.norm == InputNormalisation()
    before = crop_case(ct, pet, None, 32.0, 2.0)  # the former hard-coded normalisation (the defaults)
    explicit = InputNormalisation((-200.0, 300.0), "log1p", 10.0, 20.0, -1024.0)
    np.testing.assert_array_equal(crop_case(ct, pet, None, 32.0, 2.0, legacy.norm), before)
    np.testing.assert_array_equal(crop_case(ct, pet, None, 32.0, 2.0, explicit), before)
    assert not np.array_equal(crop_case(ct, pet, None, 32.0, 2.0, norm), before)
    data["input"] = {"ct_window": [0, 1]}
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="unknown input normalisation keys: ct_window"):
        load_hpv_model(tmp_path)
