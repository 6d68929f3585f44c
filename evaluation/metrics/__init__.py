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
