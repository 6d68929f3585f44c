"""Clinical model inputs from a :class:`hecktor.clinical.ClinicalRecord` (NaN where missing, imputed later)."""

from __future__ import annotations

import math
import re

from hecktor.clinical import FEATURE_FIELDS, FEATURE_FIELDS_2026, ClinicalRecord


def clinical_feature_name(field: str) -> str:
    """``"Tobacco Consumption"`` -> ``"clinical_tobacco_consumption"``."""
    return "clinical_" + re.sub(r"[^a-z0-9]+", "_", field.lower()).strip("_")


#: Clinical feature names of the 2025 models, in :data:`hecktor.clinical.FEATURE_FIELDS` order. Units/encodings:
#: age in years; gender 1 = male; tobacco, alcohol 0/1; treatment 1 = chemoradiotherapy, 0 = radiotherapy only;
#: performance status 0-4; M-stage 1 = M1.
CLINICAL_FEATURE_NAMES: tuple[str, ...] = tuple(clinical_feature_name(f) for f in FEATURE_FIELDS)
#: Clinical feature names of the HECKTOR 2026 models (:data:`hecktor.clinical.FEATURE_FIELDS_2026`): HPV status
#: (1 = positive) is an input, M-stage is gone.
CLINICAL_FEATURE_NAMES_2026: tuple[str, ...] = tuple(clinical_feature_name(f) for f in FEATURE_FIELDS_2026)
#: Every clinical feature name of either edition (what :func:`clinical_features` returns; a model column named
#: here is clinical, any other is imaging).
_FIELDS = tuple(dict.fromkeys((*FEATURE_FIELDS, *FEATURE_FIELDS_2026)))
ANY_CLINICAL_FEATURE_NAMES: tuple[str, ...] = tuple(clinical_feature_name(f) for f in _FIELDS)
#: Clinical features imputed by the most frequent value (the others by the median): every one but the age. A
#: missing ``Treatment`` thus becomes the training set's most frequent treatment (chemoradiotherapy in HECKTOR).
CATEGORICAL_CLINICAL: frozenset[str] = frozenset(n for n in ANY_CLINICAL_FEATURE_NAMES if n != "clinical_age")


def clinical_features(record: ClinicalRecord | None) -> dict[str, float]:
    """The record as model inputs over :data:`ANY_CLINICAL_FEATURE_NAMES` (NaN for missing fields, or for
    everything when ``record`` is ``None``); a model takes the columns it was trained on."""
    if record is None:
        return dict.fromkeys(ANY_CLINICAL_FEATURE_NAMES, math.nan)
    return dict(zip(ANY_CLINICAL_FEATURE_NAMES, record.vector(_FIELDS), strict=True))
