"""HECKTOR evaluation container: scores algorithm jobs of a Grand Challenge submission.

``python -m evaluation`` reads ``/input/predictions.json``, the jobs' outputs under ``/input/<pk>/output/``
and the ground truth under ``/opt/ml/input/data/ground_truth/``, and writes ``/output/metrics.json``.
The metric maths lives in :mod:`hecktor.metrics`; this package locates, checks and reads predictions,
applies the documented conventions and writes the results (see ``docs/evaluation.md``).
Nothing here imports torch or MONAI.
"""

#: Version written to ``metrics.json["version"]``; bump when a metric or a convention changes.
__version__ = "0.2.0"
