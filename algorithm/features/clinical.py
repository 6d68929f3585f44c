"""Clinical model inputs from a :class:`hecktor.clinical.ClinicalRecord` (NaN where missing, imputed later)."""

from __future__ import annotations

import math
import re

from hecktor.clinical import FEATURE_FIELDS, ClinicalRecord


def clinical_feature_name(field: str) -> str:
    """``"Tobacco Consumption"`` -> ``"clinical_tobacco_consumption"``."""
    return "clinical_" + re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")


#: Clinical feature names, in :data:`hecktor.clinical.FEATURE_FIELDS` order. Units/encodings: age in
#: years; gender 1 = male; tobacco, alcohol, treatment 0/1; performance status 0-4; M-stage 1 = M1.
CLINICAL_FEATURE_NAMES: tuple[str, ...] = tuple(clinical_feature_name(f) for f in FEATURE_FIELDS)
#: Clinical features imputed by the most frequent value (the others by the median).
CATEGORICAL_CLINICAL: frozenset[str] = frozenset(n for n in CLINICAL_FEATURE_NAMES if n != "clinical_age")


def clinical_features(record: ClinicalRecord | None) -> dict[str, float]:
    """The record as model inputs (NaN for missing fields, or for everything when ``record`` is ``None``)."""
    if record is None:
        return dict.fromkeys(CLINICAL_FEATURE_NAMES, math.nan)
    return dict(zip(CLINICAL_FEATURE_NAMES, record.vector(), strict=True))
