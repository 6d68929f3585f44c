"""Task 3: HPV status from imaging features + clinical data (calibrated logistic regression).

``HPVModel.load(dir).predict(features, clinical) -> (is_positive, probability)`` (see :mod:`.model`).
"""

from algorithm.hpv.model import FORMAT, FORMAT_VERSION, HPVModel, best_threshold, fit_hpv_model

__all__ = ["FORMAT", "FORMAT_VERSION", "HPVModel", "best_threshold", "fit_hpv_model"]
