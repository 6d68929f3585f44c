"""Named configurations reproducing the dataset paper's benchmarks (arXiv 2509.00367).

``python -m algorithm train prognosis|hpv --config NAME --data DATASET --out DIR``: a configuration sets
the model options below; an option also given explicitly on the command line wins over the configuration.

| name | task | options | the paper's setting |
|---|---|---|---|
| ``paper_coxph_clinical`` | 2 | ``--model cox --features clinical`` | CoxPH, EHR only |
| ``paper_coxph_ehr_ct_pet`` | 2 | ``--model cox --features clinical+imaging`` | CoxPH, EHR + CT + PET |
| ``paper_deephit_ehr_ct_pet`` | 2 | ``--model deephit --features clinical+imaging`` | DeepHit, EHR + CT + PET |
| ``paper_mtlr_ehr_ct_pet`` | 2 | ``--model mtlr --features clinical+imaging`` | MTLR, EHR + CT + PET |
| ``paper_icare_ehr_ct_pet`` | 2 | ``--model icare --features clinical+imaging`` | ICARE, EHR+CT+PET (best, C 0.67) |
| ``paper_icare_ehr_ct_pet_dose`` | 2 | ``--model icare --features clinical+imaging+dose`` | ICARE with RT dose |
| ``paper_hpv_resnet18_clinical`` | 3 | ``--model cnn --encoder resnet18`` | ResNet18 + clinical MLP (best) |
| ``paper_hpv_densenet121_clinical`` | 3 | ``--model cnn --encoder densenet121`` | DenseNet121 + clinical MLP |

Our imaging features are hand-crafted PET/CT features of the segmented lesions (not the paper's
radiomics / deep features), so figures are comparable in setting, not in implementation.
"""

from __future__ import annotations

import argparse
from typing import Any

from hecktor.errors import HecktorError

#: name -> (task, options); option names are the argparse destinations.
CONFIGS: dict[str, tuple[int, dict[str, Any]]] = {
    "paper_coxph_clinical": (2, {"model": "cox", "features": "clinical"}),
    "paper_coxph_ehr_ct_pet": (2, {"model": "cox", "features": "clinical+imaging"}),
    "paper_deephit_ehr_ct_pet": (2, {"model": "deephit", "features": "clinical+imaging"}),
    "paper_mtlr_ehr_ct_pet": (2, {"model": "mtlr", "features": "clinical+imaging"}),
    "paper_icare_ehr_ct_pet": (2, {"model": "icare", "features": "clinical+imaging"}),
    "paper_icare_ehr_ct_pet_dose": (2, {"model": "icare", "features": "clinical+imaging+dose"}),
    "paper_hpv_resnet18_clinical": (3, {"model": "cnn", "encoder": "resnet18"}),
    "paper_hpv_densenet121_clinical": (3, {"model": "cnn", "encoder": "densenet121"}),
}


class ConfigError(HecktorError):
    """Unknown configuration, or one of another task."""


def names_for(task: int) -> list[str]:
    return [n for n, (t, _) in CONFIGS.items() if t == task]


class _Unset:
    """Marker of an option a configuration may set that was not given on the command line."""

    def __repr__(self) -> str:
        return "<not given>"


#: Parser default of the options a configuration may set (see :func:`add_config_argument`).
UNSET: Any = _Unset()


def configurable_options(task: int) -> set[str]:
    """The options (argparse destinations) some configuration of ``task`` sets."""
    return {key for t, options in CONFIGS.values() if t == task for key in options}


def add_config_argument(parser: argparse.ArgumentParser, task: int) -> None:
    """Add ``--config``; the options a configuration may set default to :data:`UNSET` (call after adding them),
    so that :func:`apply_config` tells an option given on the command line from one left at its default."""
    parser.add_argument(
        "--config",
        default=None,
        choices=names_for(task),
        help="named configuration of the dataset paper (options given explicitly win)",
    )
    parser.set_defaults(**dict.fromkeys(sorted(configurable_options(task)), UNSET))


def apply_config(args: argparse.Namespace, task: int, defaults: dict[str, Any]) -> argparse.Namespace:
    """Resolve the options of ``args.config``: an option given explicitly always wins (even when it equals its
    default); an option not given (:data:`UNSET`, ``None`` or absent) takes the configuration's value, else
    its value in ``defaults``.

    Raises:
        ConfigError: unknown configuration, or one of another task.
    """
    name = getattr(args, "config", None)
    options: dict[str, Any] = {}
    if name:
        if name not in CONFIGS:
            raise ConfigError(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
        config_task, options = CONFIGS[name]
        if config_task != task:
            raise ConfigError(f"configuration {name!r} is for Task {config_task}, not Task {task}")
    for key in sorted(configurable_options(task) | set(options) | set(defaults)):
        value = getattr(args, key, None)
        if value is UNSET or value is None:
            setattr(args, key, options.get(key, defaults.get(key)))
    return args
