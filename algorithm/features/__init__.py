"""Features of a case for Tasks 2 and 3: imaging features of the segmented lesions and clinical inputs.

``extract_features(ct, pet, label, rt_dose=None) -> dict[str, float]`` (see :mod:`.imaging` for the
table of names and units) and ``clinical_features(record)`` (see :mod:`.clinical`).
"""

from algorithm.features.clinical import (
    ANY_CLINICAL_FEATURE_NAMES,
    CATEGORICAL_CLINICAL,
    CLINICAL_FEATURE_NAMES,
    CLINICAL_FEATURE_NAMES_2026,
    clinical_features,
)
from algorithm.features.imaging import (
    DOSE_FEATURE_NAMES,
    FEATURES_VERSION,
    IMAGING_FEATURE_NAMES,
    MODEL_IMAGING_FEATURE_NAMES,
    SCALE_DEPENDENT_FEATURE_NAMES,
    empty_features,
    extract_features,
)

__all__ = [
    "ANY_CLINICAL_FEATURE_NAMES",
    "CATEGORICAL_CLINICAL",
    "CLINICAL_FEATURE_NAMES",
    "CLINICAL_FEATURE_NAMES_2026",
    "DOSE_FEATURE_NAMES",
    "FEATURES_VERSION",
    "IMAGING_FEATURE_NAMES",
    "MODEL_IMAGING_FEATURE_NAMES",
    "SCALE_DEPENDENT_FEATURE_NAMES",
    "clinical_features",
    "empty_features",
    "extract_features",
]
