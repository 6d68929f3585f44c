"""Tabular model building blocks shared by the Task 2 and Task 3 models.

Input rows (:func:`design_row`), fitted imputation and scaling stored as JSON (:class:`Imputer`,
:class:`Scaler`), model files (:func:`write_model_json`, :func:`read_model_json`, from
:mod:`algorithm.model_files`) and cross-validation helpers (:mod:`algorithm.tabular.cv`).
"""

from algorithm.model_files import (
    MODEL_FILE,
    ModelError,
    created_stamp,
    read_model_json,
    write_model_json,
)
from algorithm.tabular.preprocess import (
    CATEGORICAL_FILLS,
    Imputer,
    Scaler,
    apply_log1p,
    as_rows,
    design_row,
    fit_preprocessing,
    imaging_names,
    log1p_names,
    main_and_clinical_inputs,
    rows_without_imaging,
    take_columns,
    usable_columns,
)

__all__ = [
    "CATEGORICAL_FILLS",
    "MODEL_FILE",
    "Imputer",
    "ModelError",
    "Scaler",
    "apply_log1p",
    "as_rows",
    "created_stamp",
    "design_row",
    "fit_preprocessing",
    "imaging_names",
    "log1p_names",
    "main_and_clinical_inputs",
    "read_model_json",
    "rows_without_imaging",
    "take_columns",
    "usable_columns",
    "write_model_json",
]
