"""Named training configurations: an option given on the command line always wins, even at its default value."""

from __future__ import annotations

import argparse

import pytest

from algorithm.training import hpv, prognosis
from algorithm.training.configs import UNSET, apply_config


def _parse(module: object, name: str, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="model_name"))  # type: ignore[attr-defined]
    args = parser.parse_args([name, "--data", "data", "--out", "out", *argv])
    return apply_config(args, 2 if name == "prognosis" else 3, module.DEFAULTS)  # type: ignore[attr-defined]


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
