"""Tabular model building blocks shared by the Task 2 and Task 3 models.

Input rows (:func:`design_row`), fitted imputation and scaling stored as JSON (:class:`Imputer`,
:class:`Scaler`), model files (:func:`write_model_json`, :func:`read_model_json`) and cross-validation
helpers (:mod:`algorithm.tabular.cv`).
"""

from algorithm.tabular.preprocess import Imputer, Scaler, apply_log1p, design_row, log1p_names, usable_columns
from algorithm.tabular.serialisation import MODEL_FILE, ModelFileError, read_model_json, write_model_json

__all__ = [
    "MODEL_FILE",
    "Imputer",
    "ModelFileError",
    "Scaler",
    "apply_log1p",
    "design_row",
    "log1p_names",
    "read_model_json",
    "usable_columns",
    "write_model_json",
]
