"""Task 3: HPV status from imaging features + clinical data (calibrated logistic regression).

``load_hpv_model(dir).predict(features, clinical) -> (is_positive, probability)`` (see :mod:`.loader`,
:mod:`.model` and, for the CNN + clinical model, :mod:`.cnn`).
"""

from algorithm.hpv.loader import load_hpv_model
from algorithm.hpv.model import FORMAT, FORMAT_VERSION, HPVModel, best_threshold, fit_hpv_model

__all__ = ["FORMAT", "FORMAT_VERSION", "HPVModel", "best_threshold", "fit_hpv_model", "load_hpv_model"]
