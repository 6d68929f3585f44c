"""HECKTOR algorithm container: Task 1 segmentation, Task 2 recurrence-free survival risk, Task 3 HPV status.

Stages of a case's journey, one module or package each: :mod:`algorithm.reading` (read /input) ->
:mod:`algorithm.checks` (validate) -> :mod:`algorithm.segmentation` (locate, crop, resample, infer,
post-process, map back to the CT grid) -> :mod:`algorithm.features` -> :mod:`algorithm.prognosis` and
:mod:`algorithm.hpv` -> :mod:`algorithm.writing` (write /output). :mod:`algorithm.pipeline` strings them
together with logged fallbacks; :mod:`algorithm.cli` and :mod:`algorithm.server` are thin shells.
"""
