"""A synthetic cohort: patient IDs spread over the centres, cohort-level guarantees, generation.

IDs are dealt round-robin over the centres of the reference in its order: ``CHUM-001``,
``CHUS-001``, ..., ``CHUN-001``, ``CHUM-002``, ... Cohort-level guarantees, applied as overrides of
the per-patient draws (so a case is still ``generate_case(pid, seed, size, **overrides)``):

* the first 20 cases always have a GTVp (a case without one only appears from case 21 on);
* a cohort of 5 or more cases has at least one case without GTVn and one CT with a flipped axis
  among its first 20 cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthetic.acquisition import drawn_ct_flip
from synthetic.case import SyntheticCase, generate_case
from synthetic.centres import CENTRES
from synthetic.patient import draw_structure
from synthetic.seeds import stream

#: Cases at the start of a cohort that always have a GTVp.
ALWAYS_PRIMARY_FIRST = 20
#: Smallest cohort guaranteed to hold a case without GTVn.
MIN_COHORT_FOR_NO_NODES = 5


@dataclass(frozen=True)
class CaseSpec:
    """A cohort member: its patient ID and the overrides :func:`generate_case` gets."""

    patient_id: str
    overrides: dict[str, Any] = field(default_factory=dict)


def cohort_patient_ids(n: int, centres: tuple[str, ...] = CENTRES) -> list[str]:
    """``n`` patient IDs dealt round-robin over ``centres`` (``CHUM-001``, ``CHUS-001``, ...)."""
    return [f"{centres[k % len(centres)]}-{k // len(centres) + 1:03d}" for k in range(n)]


def plan_cohort(n: int, seed: int, size: str = "small") -> list[CaseSpec]:
    """The cohort's members with the overrides that enforce the cohort-level guarantees."""
    ids = cohort_patient_ids(n)
    specs = []
    structures = [draw_structure(seed, pid) for pid in ids]
    for k, (pid, (has_primary, _nodes)) in enumerate(zip(ids, structures, strict=True)):
        overrides: dict[str, Any] = {}
        if k < ALWAYS_PRIMARY_FIRST and not has_primary:
            overrides["with_primary"] = True
        specs.append(CaseSpec(pid, overrides))
    head = min(n, ALWAYS_PRIMARY_FIRST)
    if n < MIN_COHORT_FOR_NO_NODES:
        return specs
    pick = np.random.default_rng(seed)
    no_nodes_at = 1 + int(pick.integers(head - 1))
    flip_at = (no_nodes_at + 1 + int(pick.integers(head - 2))) % head
    if all(nodes > 0 for _p, nodes in structures[:head]):
        specs[no_nodes_at].overrides["n_nodes"] = 0
    if not any(drawn_ct_flip(stream(seed, pid, "grids", size)) for pid in ids[:head]):
        specs[flip_at].overrides["flip_ct"] = True
    return specs


def iter_cohort(n: int, seed: int, size: str = "small") -> Iterator[SyntheticCase]:
    """Generate the cohort lazily, one case at a time (for large or realistic cohorts)."""
    for spec in plan_cohort(n, seed, size):
        yield generate_case(spec.patient_id, seed, size, **spec.overrides)


def generate_cohort(n: int, seed: int = 0, size: str = "small") -> list[SyntheticCase]:
    """``n`` cases (see :func:`plan_cohort` for IDs and guarantees), deterministic per (n, seed, size).

    Case k of a cohort does not depend on n, except that the no-GTVn guarantee may pick it.
    """
    return list(iter_cohort(n, seed, size))
