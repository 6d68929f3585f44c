"""Shared core of the HECKTOR container kit.

Everything the algorithm and the evaluation containers both need lives here, written once: the
Grand Challenge interface table (:mod:`hecktor.interface`), image reading and checks
(:mod:`hecktor.imageio`, :mod:`hecktor.geometry`), the clinical record schema
(:mod:`hecktor.clinical`), patient identifiers (:mod:`hecktor.patients`), Grand Challenge payloads
(:mod:`hecktor.payloads`), logging with timings (:mod:`hecktor.progress`) and the metric maths
(:mod:`hecktor.metrics`). Nothing here imports torch or MONAI, the evaluation or the algorithm.
"""

__version__ = "0.1.0"
