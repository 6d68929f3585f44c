"""Metric maths of the HECKTOR evaluation: pure functions, numpy arrays in, numbers or frozen dataclasses out.

One module per metric family, each with its exact formula and conventions in the docstrings
(see ``docs/hecktor-reference.md``, "Metric definitions"):

- :mod:`evaluation.metrics.overlap`: per-label volumes (mm^3), Dice, aggregated Dice (Task 1).
- :mod:`evaluation.metrics.lesions`: GTVn lesion detection counts and F1 (Task 1).
- :mod:`evaluation.metrics.surface`: HD95 in mm (Task 1, optional).
- :mod:`evaluation.metrics.concordance`: Harrell's C-index with missing risks counted as ties (Task 2).
- :mod:`evaluation.metrics.classification`: balanced accuracy, sensitivity, specificity, AUC (Task 3).
- :mod:`evaluation.metrics.bootstrap`: seeded percentile bootstrap intervals over cases.

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
