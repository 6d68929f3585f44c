"""CPU smoke runs of every named configuration of the dataset paper (algorithm.training.recipes).

A few training steps on a tiny synthetic cohort; the model is saved, loaded, and predicts a finite value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from algorithm.hpv import load_hpv_model  # noqa: E402
from algorithm.prognosis import PrognosisModel  # noqa: E402
from algorithm.training import hpv as train_hpv  # noqa: E402
from algorithm.training import prognosis as train_prognosis  # noqa: E402
from algorithm.training.cases import load_cases  # noqa: E402
from algorithm.training.recipes import RecipeError, apply_recipe, bundled_names, tabular_options  # noqa: E402

FAST = ["--folds", "2", "--bags", "4", "--bootstrap", "10", "--epochs", "5"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synthetic = pytest.importorskip("synthetic")
    out = tmp_path_factory.mktemp("cohort")
    synthetic.write_training_layout(synthetic.generate_cohort(24, seed=3, size="small"), out)
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")  # features computed once for every configuration


@pytest.mark.slow  # training: left out of `make test-fast`
@pytest.mark.parametrize("name", bundled_names(2))
def test_prognosis_config(name: str, cohort: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    argv = ["--data", str(cohort), "--out", str(out), "--cache", str(cache), "--config", name, *FAST]
    assert train_prognosis.main(argv) == 0
    model = PrognosisModel.load(out)
    options = tabular_options(name, 2)
    assert model.training["config"] == name and model.training["features"] == options["features"]
    assert model.main.kind in (options["model"], "constant")
    names = model.main.feature_names
    if options["features"] == "clinical":
        assert all(n.startswith("clinical_") for n in names)
    if options["features"] == "clinical+imaging":
        assert not any("_dose_" in n for n in names)
    assert math.isfinite(model.predict_risk(None, None))
    case = load_cases(cohort, task=2)[0][0]
    assert math.isfinite(model.predict_risk({n: 1.0 for n in names}, case.clinical))
    curve = model.predict_survival(None, case.clinical)
    if options["model"] in ("deephit", "mtlr"):
        assert model.has_curves
        times, surv = curve
        assert len(times) == len(surv) >= 1 and np.all(np.diff(times) > 0)
        assert np.all(np.isfinite(surv)) and np.all(np.diff(surv) <= 1e-12) and 0 <= min(surv) <= max(surv) <= 1
        data = json.loads((out / "model.json").read_text())
        assert (out / data["main"]["network"]["weights"]).is_file()
        state = torch.load(out / data["main"]["network"]["weights"], weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())
    else:
        assert curve is None


@pytest.mark.slow  # training: left out of `make test-fast`
@pytest.mark.parametrize("name", bundled_names(3))
def test_hpv_config(name: str, cohort: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    argv = ["--data", str(cohort), "--out", str(out), "--cache", str(cache), "--config", name]
    assert train_hpv.main([*argv, "--folds", "2", "--epochs", "1", "--holdout", str(cohort)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    # the CNN trainer logs progress per epoch (stage, k of n, elapsed, eta) and the epoch's loss
    assert "CNN HPV training: epoch 1/1 (elapsed" in captured.err and "mean training loss" in captured.err
    assert "F1-macro" in printed and "Held-out" in printed
    model = load_hpv_model(out)
    record = json.loads((out / "model.json").read_text())
    assert record["kind"] == "cnn"
    assert record["training"]["holdout"]["n_cases"] > 0 and 0.0 <= record["training"]["holdout"]["auc"] <= 1.0
    assert model.encoder == tabular_options(name, 3)["encoder"]
    positive, p = model.predict(None, None)  # no images: the clinical fallback
    assert isinstance(positive, bool) and 0.0 <= p <= 1.0
    case = load_cases(cohort, task=3)[0][0]
    from hecktor.imageio import read_image

    images = (read_image(case.ct, "CT"), read_image(case.pet, "PET"), read_image(case.label, "mask"))
    positive, p = model.predict(None, case.clinical, images=images)
    assert isinstance(positive, bool) and math.isfinite(p) and 0.0 <= p <= 1.0


def test_explicit_option_wins_and_task_is_checked() -> None:
    import argparse

    args = argparse.Namespace(config="paper_deephit_ehr_ct_pet", model="cox", features=None)
    apply_recipe(args, 2, train_prognosis.DEFAULTS)
    assert args.model == "cox" and args.features == "clinical+imaging"
    with pytest.raises(RecipeError):
        apply_recipe(argparse.Namespace(config="paper_hpv_resnet18_clinical"), 2, {})
