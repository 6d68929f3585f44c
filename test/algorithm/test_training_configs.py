"""Recipes (``--config``): an option given on the command line always wins, even at its default value; a recipe
may extend another."""

from __future__ import annotations

import argparse

import pytest

from algorithm.training import hpv, prognosis
from algorithm.training.recipes import UNSET, RecipeError, apply_recipe, bundled_names, tabular_options


def _parse(module: object, name: str, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="model_name"))  # type: ignore[attr-defined]
    args = parser.parse_args([name, "--data", "data", "--out", "out", *argv])
    return apply_recipe(args, 2 if name == "prognosis" else 3, module.DEFAULTS)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "model", "features"),
    [
        ((), "icare", None),
        (("--config", "paper_deephit_ehr_ct_pet"), "deephit", "clinical+imaging"),
        (("--config", "paper_deephit_ehr_ct_pet", "--model", "icare"), "icare", "clinical+imaging"),  # = default
        (("--config", "paper_coxph_clinical", "--features", "clinical+imaging"), "cox", "clinical+imaging"),
        (("--model", "cox"), "cox", None),
    ],
)
def test_prognosis_explicit_flags_win(argv: tuple[str, ...], model: str, features: str | None) -> None:
    args = _parse(prognosis, "prognosis", *argv)
    assert (args.model, args.features) == (model, features)


def test_hpv_explicit_flags_win() -> None:
    args = _parse(hpv, "hpv", "--config", "paper_hpv_densenet121_clinical", "--encoder", "resnet18")
    assert (args.model, args.encoder) == ("cnn", "resnet18")
    args = _parse(hpv, "hpv", "--config", "paper_hpv_densenet121_clinical", "--model", "features")
    assert (args.model, args.encoder) == ("features", "densenet121")
    args = _parse(hpv, "hpv")
    assert (args.model, args.encoder) == ("features", "resnet18")
    assert UNSET not in vars(args).values()


#: The dataset paper's settings the bundled Task 2/3 recipes must resolve to (through their ``extends`` chains).
PAPER = {
    "paper_coxph_clinical": (2, {"model": "cox", "features": "clinical"}),
    "paper_coxph_ehr_ct_pet": (2, {"model": "cox", "features": "clinical+imaging"}),
    "paper_deephit_ehr_ct_pet": (2, {"model": "deephit", "features": "clinical+imaging"}),
    "paper_mtlr_ehr_ct_pet": (2, {"model": "mtlr", "features": "clinical+imaging"}),
    "paper_icare_ehr_ct_pet": (2, {"model": "icare", "features": "clinical+imaging"}),
    "paper_icare_ehr_ct_pet_dose": (2, {"model": "icare", "features": "clinical+imaging+dose"}),
    "paper_hpv_resnet18_clinical": (3, {"model": "cnn", "encoder": "resnet18"}),
    "paper_hpv_densenet121_clinical": (3, {"model": "cnn", "encoder": "densenet121"}),
}


def test_bundled_recipes_resolve_to_the_paper_settings() -> None:
    assert sorted(bundled_names(2) + bundled_names(3)) == sorted(PAPER)
    for name, (task, options) in PAPER.items():
        assert tabular_options(name, task) == options, name


def test_recipe_extends_a_file_beside_it_and_explicit_flags_still_win(tmp_path) -> None:
    (tmp_path / "base.json").write_text('{"task": 2, "options": {"model": "cox", "features": "clinical"}}')
    (tmp_path / "mine.json").write_text('{"task": 2, "extends": "base", "options": {"model": "mtlr"}}')
    assert tabular_options(tmp_path / "mine.json", 2) == {"model": "mtlr", "features": "clinical"}
    args = _parse(prognosis, "prognosis", "--config", str(tmp_path / "mine.json"), "--features", "clinical+imaging")
    assert (args.model, args.features) == ("mtlr", "clinical+imaging")
    (tmp_path / "loop.json").write_text('{"task": 2, "extends": "loop", "options": {}}')
    with pytest.raises(RecipeError, match="extends itself"):
        tabular_options(tmp_path / "loop.json", 2)
    with pytest.raises(RecipeError, match="for Task 2, not Task 3"):
        tabular_options(tmp_path / "mine.json", 3)


def test_segmentation_recipe_extends_and_flags_win(tmp_path) -> None:
    from algorithm.training import segmentation as train_seg

    mine = tmp_path / "mine.json"
    mine.write_text('{"extends": "synthetic_2mm_segresnet", "sw_overlap": 0.5, "training": {"epochs": 3}}')
    base = train_seg.load_config(train_seg.resolve_config("synthetic_2mm_segresnet"))
    config = train_seg.load_config(mine)
    assert config.sw_overlap == 0.5 and config.architecture == base.architecture
    assert config.training["epochs"] == 3 and config.training["batch_size"] == base.training["batch_size"]
    args = argparse.Namespace(epochs=7, steps_per_epoch=None, batch_size=None, lr=None, seed=None, n_folds=None)
    assert train_seg.settings_from(config, args).epochs == 7


def test_an_unknown_recipe_is_one_usage_line_before_any_work(tmp_path, capsys) -> None:
    from algorithm.cli import main

    argv = ["train", "prognosis", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--config", "nope"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Task 2 configuration 'nope' not found" in err[-1] and "paper_coxph_clinical" in err[-1]
    assert not (tmp_path / "o").exists()
