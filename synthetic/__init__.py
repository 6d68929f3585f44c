"""Synthetic HECKTOR cohorts: PET/CT scans, labels, clinical records and outcomes with known oracles.

Quick use::

    from synthetic import generate_case, generate_cohort, write_training_layout
    case = generate_case(patient_id="CHUM-001", seed=123, size="small")
    write_training_layout(generate_cohort(n=20, seed=7), "data/synthetic")

Command line: ``python -m synthetic --out DIR --cases N --seed S [--size small|realistic]
[--layout training|grand-challenge]``. The committed ``ground_truth_examples/`` are rebuilt with
``python -m synthetic.examples``.

Everything is deterministic per seed; see :mod:`synthetic.patient` for the generative model
of clinical values and outcomes, :mod:`synthetic.acquisition` for the scan grids.
"""

from synthetic.case import SyntheticCase, generate_case
from synthetic.cohort import cohort_patient_ids, generate_cohort, iter_cohort, plan_cohort
from synthetic.gc_layout import write_grand_challenge_layout
from synthetic.metadata import GENERATOR_VERSION, oracle_scores
from synthetic.training_layout import write_training_layout

__all__ = [
    "GENERATOR_VERSION",
    "SyntheticCase",
    "cohort_patient_ids",
    "generate_case",
    "generate_cohort",
    "iter_cohort",
    "oracle_scores",
    "plan_cohort",
    "write_grand_challenge_layout",
    "write_training_layout",
]
