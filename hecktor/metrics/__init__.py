"""Metric maths of HECKTOR: pure functions, numpy arrays in, numbers or frozen dataclasses out.

Shared core: the evaluation scores the leaderboard with it and the algorithm's trainers report their
cross-validation figures with it, so the two share one definition.

One module per metric family, each with its exact formula and conventions in the docstrings
(see ``docs/hecktor-reference.md``, "Metric definitions"):

- :mod:`hecktor.metrics.overlap`: per-label volumes (mm^3), Dice, aggregated Dice (Task 1).
- :mod:`hecktor.metrics.lesions`: GTVn lesion detection counts and F1 (Task 1).
- :mod:`hecktor.metrics.surface`: HD95 in mm (Task 1, optional).
- :mod:`hecktor.metrics.concordance`: Harrell's C-index with missing risks counted as ties (Task 2).
- :mod:`hecktor.metrics.classification`: balanced accuracy, sensitivity, specificity, AUC (Task 3).
- :mod:`hecktor.metrics.bootstrap`: seeded percentile bootstrap intervals over cases.

No file I/O, no torch, no MONAI. Submodules are imported on demand (``surface`` pulls in scipy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def floats_or_nan(values: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """A flat float64 array of ``values``, ``None`` as NaN."""
    array = np.asarray(values).reshape(-1)
    if array.dtype == object:
        array = np.array([np.nan if x is None else float(x) for x in array], dtype=np.float64)
    return array.astype(np.float64)
