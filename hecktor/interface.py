"""The Grand Challenge interface table of HECKTOR: which socket lives at which relative path.

Matching is always done by ``relative_path`` (stable across the 2025 ``interface`` and 2026
``socket`` payload keys); slugs are given for building payloads and for documentation.

Paths are relative to ``/input`` (algorithm inputs) or ``/output`` (algorithm outputs).

Two editions are declared side by side (:data:`EDITIONS`; :func:`edition` reads the setting):

- **2025** (the default): three tasks, each its own phase (:data:`TASK_INPUTS`, :data:`TASK_OUTPUTS`).
- **2026** (``BioMedIA-MBZUAI/HECKTOR2026``): one job per case writes all four outputs
  (``EDITION_OUTPUTS["2026"]``); the ``ehr.json`` carries ``HPV Status`` as an input and no M-stage.
  The evaluation scores it as the tasks :data:`PHASE_2026_TASKS`: segmentation (1), RFS (2) and the
  T/N staging (:data:`STAGING_TASK`), then the weighted final score.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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

# HECKTOR 2026 outputs (``rfs.json`` keeps the 2025 path and slug: :data:`RFS`).
SEGMENTATION_2026 = Socket(
    "head-neck-tumor-segmentation",
    "images/head-neck-tumor-segmentation",
    Kind.IMAGE,
    "Head and neck tumour segmentation",
)
T_STAGE = Socket("t-stage", "t-stage.json", Kind.JSON, "T stage")
N_STAGE = Socket("n-stage", "n-stage.json", Kind.JSON, "N stage")

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

#: The editions the kit serves, the default, and the environment variable that chooses one.
EDITIONS: tuple[str, ...] = ("2025", "2026")
DEFAULT_EDITION = "2025"
EDITION_ENV = "HECKTOR_EDITION"
#: Inputs and outputs of one job, per edition (2025: every task's, the union of the three phases).
EDITION_INPUTS: dict[str, tuple[Socket, ...]] = {
    "2025": (CT, PET, EHR, PLANNING_CT, RT_DOSE),
    "2026": (CT, PET, EHR),
}
EDITION_OUTPUTS: dict[str, tuple[Socket, ...]] = {
    "2025": (SEGMENTATION, RFS, RFS_SURVIVAL_CURVE, HPV_STATUS, HPV_PROBABILITY),
    "2026": (SEGMENTATION_2026, T_STAGE, N_STAGE, RFS),
}
#: Meaning of a 2026 ``rfs.json`` when no setting says otherwise: a predicted RFS time in days (higher = later),
#: per the organisers' latest template text (``BioMedIA-MBZUAI/HECKTOR2026``, "RFS in days"); ``"risk"``: higher =
#: earlier relapse. The environment variable sets it for the algorithm and the evaluation alike.
RFS_OUTPUTS: tuple[str, ...] = ("time", "risk")
DEFAULT_RFS_OUTPUT_2026 = "time"
RFS_OUTPUT_ENV = "HECKTOR_RFS_OUTPUT"
#: The evaluation's task number of the 2026 T and N staging (tasks 1 and 2 keep their 2025 meaning).
STAGING_TASK = 4
#: The tasks a 2026 phase is scored as, and the output that identifies each.
PHASE_2026_TASKS: tuple[int, ...] = (1, 2, STAGING_TASK)
TASK_KEY_OUTPUT_2026: dict[int, Socket] = {1: SEGMENTATION_2026, 2: RFS, STAGING_TASK: T_STAGE}


#: How a 2026 phase's parts are named in logs (one unified task: the numbers are the evaluation's own).
TASK_NAMES_2026: dict[int, str] = {1: "2026 segmentation", 2: "2026 RFS", STAGING_TASK: "2026 staging"}


def task_name(task: int, edition: str = DEFAULT_EDITION) -> str:
    """How logs and messages name an evaluation task: ``Task 1`` .. ``Task 3``, ``2026 staging``; in a 2026
    phase ``2026 segmentation`` and ``2026 RFS`` too."""
    if task == STAGING_TASK or edition == "2026":
        return TASK_NAMES_2026.get(task, f"Task {task}")
    return f"Task {task}"


#: Outputs only a 2026 job writes: their presence makes a submission a 2026 phase.
OUTPUTS_ONLY_2026: frozenset[Socket] = frozenset({SEGMENTATION_2026, T_STAGE, N_STAGE})

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
    SEGMENTATION_2026,
    T_STAGE,
    N_STAGE,
)
BY_RELATIVE_PATH: dict[str, Socket] = {s.relative_path: s for s in ALL_SOCKETS}


def edition(value: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The edition in force: ``value`` (a flag) when given, else ``$HECKTOR_EDITION``, else 2025.

    Raises:
        ValueError: the value is not one of :data:`EDITIONS` (the message names where it came from).
    """
    environ = os.environ if environ is None else environ
    source, raw = ("--edition", value) if value is not None else (EDITION_ENV, environ.get(EDITION_ENV, ""))
    text = str(raw).strip()
    if not text:
        return DEFAULT_EDITION
    if text not in EDITIONS:
        raise ValueError(f"{source}={text!r}: the edition must be one of {', '.join(EDITIONS)}")
    return text


def edition_of_outputs(relative_paths: set[str]) -> str | None:
    """``"2026"`` when a 2026-only output is among ``relative_paths``, ``"2025"`` when a 2025 task's key
    output is, else ``None`` (nothing to tell, e.g. only failed jobs)."""
    if any(s.relative_path in relative_paths for s in OUTPUTS_ONLY_2026):
        return "2026"
    if any(s.relative_path in relative_paths for s in TASK_KEY_OUTPUT.values()):
        return "2025"
    return None


def key_outputs(edition_name: str) -> dict[int, Socket]:
    """Task number -> the output identifying it, in ``edition_name``."""
    return TASK_KEY_OUTPUT_2026 if edition_name == "2026" else TASK_KEY_OUTPUT


def tasks_of_outputs(relative_paths: set[str], edition_name: str = DEFAULT_EDITION) -> list[int]:
    """Tasks whose key output is among ``relative_paths`` (sorted); in 2026 the staging task is also
    recognised from ``n-stage.json`` alone."""
    keys = key_outputs(edition_name)
    found = {t for t, s in keys.items() if s.relative_path in relative_paths}
    if edition_name == "2026" and N_STAGE.relative_path in relative_paths:
        found.add(STAGING_TASK)
    return sorted(found)
