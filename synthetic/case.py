"""One synthetic HECKTOR case: :class:`SyntheticCase` and :func:`generate_case`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import SimpleITK as sitk

from synthetic.acquisition import draw_acquisition
from synthetic.centres import centre_habits
from synthetic.imaging import render_ct, render_dose, render_label, render_pet
from synthetic.patient import draw_patient
from synthetic.seeds import stream


@dataclass
class SyntheticCase:
    """A synthetic patient with images, clinical record and outcomes.

    Images are SimpleITK images in LPS: ``ct`` int16 HU; ``pet`` float32 SUV on its own grid;
    ``label`` uint8 (0 background, 1 GTVp, 2 GTVn) exactly on the CT grid; ``planning_ct`` (int16 HU)
    and ``rt_dose`` (float32 Gy, own grid) for the Task 2 subset, else ``None``.

    ``clinical`` has exactly the CSV clinical columns (Age in years, Gender 1 = male, Tobacco /
    Alcohol Consumption 0/1, Performance Status 0-4, Treatment 0/1 (1 = chemoradiotherapy, 70 %; 0 = radiotherapy
    only), M-stage "M0"/"M1"/"Mx", CenterID) with ``None`` where missing. ``rfs_days`` (days) and ``relapse``
    (0/1) are the Task 2 targets, ``hpv`` (0/1, ``None`` when unknown) the Task 3 target. ``oracle_risk`` is the latent
    log-hazard RFS was drawn from; ``oracle_hpv_prob`` the probability HPV was drawn from.
    ``achievable_risk`` and ``achievable_hpv_prob`` drop the terms no input reveals (see
    :mod:`synthetic.patient`).
    ``t_stage``/``n_stage`` are the HECKTOR 2026 targets ("T1".."T4", ``None`` without a primary;
    "N0".."N3") and ``oracle_t_stage``/``oracle_n_stage`` the rule's stages they were drawn from
    (:mod:`synthetic.staging`).
    ``lesions`` describes each lesion (label, centre in mm LPS, radii in mm, SUV, volume in mm^3).
    """

    patient_id: str
    centre: str
    ct: sitk.Image
    pet: sitk.Image
    label: sitk.Image
    planning_ct: sitk.Image | None
    rt_dose: sitk.Image | None
    clinical: dict[str, object]
    rfs_days: float
    relapse: int
    hpv: int | None
    oracle_risk: float
    oracle_hpv_prob: float
    achievable_risk: float
    achievable_hpv_prob: float
    lesions: list[dict[str, Any]]
    seed: int = 0
    size: str = "small"
    coverage: str = "head"
    clinical_true: dict[str, object] = field(default_factory=dict)
    hpv_true: int = 0
    t_stage: str | None = None
    n_stage: str | None = None
    oracle_t_stage: str | None = None
    oracle_n_stage: str | None = None

    @property
    def n_nodes(self) -> int:
        """Number of GTVn lesions."""
        return sum(1 for les in self.lesions if les["label"] == 2)

    @property
    def has_primary(self) -> bool:
        """True when the case has a GTVp."""
        return any(les["label"] == 1 for les in self.lesions)


def generate_case(
    patient_id: str = "CHUM-001",
    seed: int = 0,
    size: str = "small",
    *,
    with_primary: bool | None = None,
    n_nodes: int | None = None,
    with_planning: bool | None = None,
    flip_ct: bool | None = None,
    coverage: str | None = None,
) -> SyntheticCase:
    """Generate one case, deterministically from (``patient_id``, ``seed``, ``size``) and the overrides.

    The patient (anatomy, lesions, clinical record, outcomes) depends only on ``patient_id`` and
    ``seed``; ``size`` (``"small"`` or ``"realistic"``) changes only the scans' grids and noise.

    Args:
        with_primary: force a GTVp or none; drawn (97 % present) when ``None``.
        n_nodes: force the number of GTVn (0-5); drawn when ``None``.
        with_planning: force a planning CT + RT dose or none; drawn (40 %) when ``None``.
        flip_ct: force or forbid a flipped CT axis; drawn (20 %) when ``None``.
        coverage: CT field of view ``"head"``, ``"thorax"`` or ``"whole-body"``; drawn when ``None``.
    """
    plan = draw_patient(patient_id, seed, with_primary=with_primary, n_nodes=n_nodes, with_planning=with_planning)
    habits = centre_habits(plan.centre)
    acq = draw_acquisition(
        stream(seed, patient_id, "grids", size), plan.anatomy, size, coverage=coverage, flip_ct=flip_ct
    )
    ct = render_ct(plan, acq.ct, habits, stream(seed, patient_id, "ct", size))
    pet = render_pet(plan, acq.pet, habits, stream(seed, patient_id, "pet", size))
    label = render_label(plan, acq.ct)
    planning_ct = rt_dose = None
    if plan.has_planning:
        rng = stream(seed, patient_id, "planning", size)
        planning_ct = render_ct(plan, acq.planning_ct, habits, rng, shift_mm=plan.setup_shift_mm)
        rt_dose = render_dose(plan, acq.dose)
    return SyntheticCase(
        patient_id=patient_id,
        centre=plan.centre,
        ct=ct,
        pet=pet,
        label=label,
        planning_ct=planning_ct,
        rt_dose=rt_dose,
        clinical=dict(plan.clinical),
        rfs_days=plan.rfs_days,
        relapse=plan.relapse,
        hpv=plan.hpv,
        oracle_risk=plan.oracle_risk,
        oracle_hpv_prob=plan.oracle_hpv_prob,
        achievable_risk=plan.achievable_risk,
        achievable_hpv_prob=plan.achievable_hpv_prob,
        lesions=[les.describe() for les in plan.lesions],
        seed=seed,
        size=size,
        coverage=acq.coverage,
        clinical_true=dict(plan.clinical_true),
        hpv_true=plan.hpv_true,
        t_stage=plan.t_stage,
        n_stage=plan.n_stage,
        oracle_t_stage=plan.oracle_t_stage,
        oracle_n_stage=plan.oracle_n_stage,
    )
