"""The Grand Challenge interface table of HECKTOR: which socket lives at which relative path.

Matching is always done by ``relative_path`` (stable across the 2025 ``interface`` and 2026
``socket`` payload keys); slugs are given for building payloads and for documentation.

Paths are relative to ``/input`` (algorithm inputs) or ``/output`` (algorithm outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    IMAGE = "image"  # a folder holding exactly one .mha/.tif image
    JSON = "json"  # a JSON file holding a bare value


@dataclass(frozen=True)
class Socket:
    slug: str
    relative_path: str
    kind: Kind
    title: str

    @property
    def is_image(self) -> bool:
        return self.kind is Kind.IMAGE


# Inputs (relative to /input).
CT = Socket("ct-image", "images/ct", Kind.IMAGE, "CT")
PET = Socket("pet-image", "images/pet", Kind.IMAGE, "PET")
EHR = Socket("ehr", "ehr.json", Kind.JSON, "Clinical record")
PLANNING_CT = Socket("ct-planning-image", "images/ct-planning", Kind.IMAGE, "Planning CT")
RT_DOSE = Socket("rt-dose-image", "images/rt-dose", Kind.IMAGE, "RT dose")

# Outputs (relative to /output).
SEGMENTATION = Socket(
    "tumor-lymph-node-segmentation",
    "images/tumor-lymph-node-segmentation",
    Kind.IMAGE,
    "Tumour and lymph node segmentation",
)
RFS = Socket("rfs", "rfs.json", Kind.JSON, "Recurrence-free survival risk")
HPV_STATUS = Socket("hpv-status", "hpv-status.json", Kind.JSON, "HPV status")
HPV_PROBABILITY = Socket("hpv-probability", "hpv-probability.json", Kind.JSON, "HPV probability")
#: Optional Task 2 output of models that predict survival curves (DeepHit, MTLR):
#: ``{"times_days": [...], "survival": [...]}``; the evaluation's integrated Brier score reads it.
RFS_SURVIVAL_CURVE = Socket("rfs-survival-curve", "rfs-survival-curve.json", Kind.JSON, "RFS survival curve")

#: Output file name inside an image output folder (GC accepts any single .mha there).
SEGMENTATION_FILENAME = "output.mha"

#: Inputs of each task's phase, required first.
TASK_INPUTS: dict[int, tuple[Socket, ...]] = {
    1: (CT, PET, EHR),
    2: (CT, PET, EHR, PLANNING_CT, RT_DOSE),
    3: (CT, PET, EHR),
}
#: Inputs that may be absent for a case.
OPTIONAL_INPUTS: frozenset[Socket] = frozenset({PLANNING_CT, RT_DOSE})

#: Outputs of each task's phase. Task 3's probability and Task 2's survival curve are ours (optional),
#: used for the AUC and the integrated Brier score when present.
TASK_OUTPUTS: dict[int, tuple[Socket, ...]] = {
    1: (SEGMENTATION,),
    2: (RFS, RFS_SURVIVAL_CURVE),
    3: (HPV_STATUS, HPV_PROBABILITY),
}
#: Outputs a job may leave out (ours, beyond the phase's official sockets).
OPTIONAL_OUTPUTS: frozenset[Socket] = frozenset({HPV_PROBABILITY, RFS_SURVIVAL_CURVE})
#: The output whose presence identifies a task's phase in predictions.json.
TASK_KEY_OUTPUT: dict[int, Socket] = {1: SEGMENTATION, 2: RFS, 3: HPV_STATUS}

ALL_SOCKETS: tuple[Socket, ...] = (
    CT,
    PET,
    EHR,
    PLANNING_CT,
    RT_DOSE,
    SEGMENTATION,
    RFS,
    HPV_STATUS,
    HPV_PROBABILITY,
    RFS_SURVIVAL_CURVE,
)
BY_RELATIVE_PATH: dict[str, Socket] = {s.relative_path: s for s in ALL_SOCKETS}


def tasks_of_outputs(relative_paths: set[str]) -> list[int]:
    """Tasks whose key output is among ``relative_paths`` (sorted)."""
    return sorted(t for t, s in TASK_KEY_OUTPUT.items() if s.relative_path in relative_paths)
