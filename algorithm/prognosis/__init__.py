"""Task 2: recurrence-free survival risk (higher = earlier recurrence) from imaging features + clinical data.

``PrognosisModel.load(dir).predict_risk(features, clinical) -> float`` (see :mod:`.model`); the
models themselves: :mod:`.icare` (default, HECKTOR 2022 winner) and :mod:`.cox` (elastic-net Cox).
"""

from algorithm.prognosis.icare import IcareSettings
from algorithm.prognosis.model import FORMAT, FORMAT_VERSION, MODEL_KINDS, PrognosisModel, fit_prognosis_model

__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_KINDS", "IcareSettings", "PrognosisModel", "fit_prognosis_model"]
