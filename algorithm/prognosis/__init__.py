"""Task 2: recurrence-free survival risk (higher = earlier recurrence) from imaging features + clinical data.

``load_prognosis_model(dir).predict_risk(features, clinical) -> float`` (see :mod:`.model`); the risk
models, one class per kind (:mod:`.risk`): :mod:`.icare` (default, HECKTOR 2022 winner), :mod:`.cox`
(elastic-net Cox), :mod:`.discrete` (DeepHit / MTLR).
"""

from __future__ import annotations

from pathlib import Path

from algorithm.model_files import load_model
from algorithm.prognosis.icare import IcareSettings
from algorithm.prognosis.model import FORMAT, FORMAT_VERSION, MODEL_KINDS, PrognosisModel, fit_prognosis_model


def load_prognosis_model(model_dir: str | Path) -> PrognosisModel:
    """The Task 2 model in ``model_dir`` as the class its ``model.json`` names (:mod:`algorithm.model_files`).

    Raises:
        ModelError: missing, invalid, of another format/version/kind, or inconsistent.
    """
    return load_model("prognosis", model_dir)


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_KINDS",
    "IcareSettings",
    "PrognosisModel",
    "fit_prognosis_model",
    "load_prognosis_model",
]
