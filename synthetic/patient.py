"""A synthetic patient without images: anatomy, lesions, clinical record, HPV status and outcome.

Generative story (all per patient, from :mod:`synthetic.seeds` streams):

1. structure: GTVp present (97 %), number of GTVn (0: 15 %, 1: 30 %, 2: 25 %, 3: 15 %, 4: 10 %, 5: 5 %);
2. anatomy and lesions (physical volumes in mm^3, SUVmax);
3. clinical values (true values, then blanks at realistic, centre-dependent rates);
4. HPV: logit = a + 0.5 (nodes - 2) - 0.9 tobacco - 0.035 (age - 61) + 0.06 (SUVmax_p - 10) + noise,
   status ~ Bernoulli(sigmoid(logit)); ``oracle_hpv_prob`` = sigmoid(logit), noise included; the
   status is recorded as unknown (``hpv`` = None) for 8 % of patients, who are left out of Task 3;
5. outcome: log-hazard ``oracle_risk`` = 0.6 log(V_p / 12 cm^3) + 0.05 (SUVmax_p - 10) + 0.25 nodes
   + 0.03 (age - 61) + 0.9 HPV-negative + 0.3 tobacco + 0.35 PS + 1.2 M1 - 0.3 treatment + frailty;
   event time ~ Weibull(shape 1.3, scale from the hazard), censoring ~ U(300, 3000) days;
   ``rfs_days`` = min(event, censoring) rounded to whole days, ``relapse`` = event observed;
6. T and N stages (HECKTOR 2026) from the drawn lesions by AJCC-like rules, 10 % one step off
   (:mod:`synthetic.staging`); T is unknown without a primary.

The oracle values use the TRUE clinical values, also where the record shows them as missing, and
include terms no input reveals (the frailty, the latent HPV status in the hazard, the HPV logit's
noise). The *achievable* values drop those hidden terms: ``achievable_risk`` is the log-hazard without
frailty and HPV, ``achievable_hpv_prob`` the noise-free HPV probability. They are the ceilings a model
of the observable inputs (images and the complete clinical record) can reach; judge models by them.
Calibration over 3 x 1000 patients: oracle C-index 0.74-0.77 with ~22 % relapses (78 % censored),
oracle HPV AUC 0.77-0.80 with ~66 % HPV-positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hecktor import clinical as ck
from hecktor.labels import GTVN, GTVP
from hecktor.patients import centre_of
from synthetic.anatomy import Anatomy, draw_anatomy
from synthetic.centres import center_id, centre_habits
from synthetic.lesions import Lesion, draw_lesions
from synthetic.seeds import stream
from synthetic.staging import draw_stages

#: Probabilities of 0..5 involved nodes.
NODE_COUNT_PROBS = (0.15, 0.30, 0.25, 0.15, 0.10, 0.05)
P_NO_PRIMARY = 0.03
P_PLANNING = 0.40
#: Base missing rates of the clinical fields (a centre adds its ``missing_boost``).
MISSING_RATES: dict[str, float] = {
    ck.AGE: 0.01,
    ck.GENDER: 0.01,
    ck.TOBACCO: 0.30,
    ck.ALCOHOL: 0.35,
    ck.PERFORMANCE: 0.25,
    ck.TREATMENT: 0.03,
    ck.M_STAGE: 0.03,
}
P_MX = 0.06  # M-stage recorded as "Mx" (unknown) rather than blank
P_HPV_MISSING = 0.08
HPV_INTERCEPT = 1.4
BASELINE_HAZARD_PER_DAY = 5.5e-6
WEIBULL_SHAPE = 1.3
FOLLOW_UP_DAYS = (300.0, 3000.0)
#: GTVp volume (mm^3) and SUVmax assumed in the risk model when there is no primary.
NO_PRIMARY_VOLUME_MM3 = 2000.0
NO_PRIMARY_SUV = 5.0


@dataclass(frozen=True)
class PatientPlan:
    """Everything about a patient except the images. Units: days, mm, mm^3, SUV."""

    patient_id: str
    centre: str
    seed: int
    anatomy: Anatomy
    lesions: tuple[Lesion, ...]
    clinical_true: dict[str, Any]
    clinical: dict[str, Any]
    hpv_true: int
    hpv: int | None
    oracle_hpv_prob: float
    oracle_risk: float
    achievable_risk: float
    achievable_hpv_prob: float
    rfs_days: float
    relapse: int
    has_planning: bool
    setup_shift_mm: tuple[float, float, float]
    features: dict[str, float] = field(default_factory=dict)
    t_stage: str | None = None
    n_stage: str | None = None
    oracle_t_stage: str | None = None
    oracle_n_stage: str | None = None

    @property
    def n_nodes(self) -> int:
        return sum(1 for les in self.lesions if les.label == GTVN)

    @property
    def has_primary(self) -> bool:
        return any(les.label == GTVP for les in self.lesions)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def draw_structure(seed: int, patient_id: str) -> tuple[bool, int]:
    """(GTVp present, number of GTVn) as drawn for this patient without overrides."""
    rng = stream(seed, patient_id, "structure")
    with_primary = bool(rng.random() >= P_NO_PRIMARY)
    n_nodes = int(rng.choice(len(NODE_COUNT_PROBS), p=NODE_COUNT_PROBS))
    return with_primary, n_nodes


def _draw_clinical(rng: np.random.Generator, centre: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(true values, recorded values with ``None`` for blanks); M-stage as "M0"/"M1" (recorded may be "Mx")."""
    tobacco = int(rng.random() < 0.55)
    true: dict[str, Any] = {
        ck.AGE: int(np.clip(round(rng.normal(61.0, 9.0)), 30, 90)),
        ck.GENDER: int(rng.random() < 0.8),
        ck.TOBACCO: tobacco,
        ck.ALCOHOL: int(rng.random() < (0.65 if tobacco else 0.35)),
        ck.PERFORMANCE: int(rng.choice(4, p=(0.55, 0.33, 0.09, 0.03))),
        ck.TREATMENT: int(rng.random() < 0.7),
        ck.M_STAGE: "M1" if rng.random() < 0.04 else "M0",
        ck.CENTER: center_id(centre),
    }
    boost = centre_habits(centre).missing_boost
    recorded = dict(true)
    for name, rate in MISSING_RATES.items():
        extra = boost / 5 if name in (ck.AGE, ck.GENDER) else boost
        if rng.random() < rate + extra:
            recorded[name] = None
    if recorded[ck.M_STAGE] is not None and rng.random() < P_MX:
        recorded[ck.M_STAGE] = "Mx"
    return true, recorded


def draw_patient(
    patient_id: str,
    seed: int,
    *,
    with_primary: bool | None = None,
    n_nodes: int | None = None,
    with_planning: bool | None = None,
) -> PatientPlan:
    """Draw a patient deterministically from (``patient_id``, ``seed``); overrides fix the structure.

    Args:
        with_primary: force a GTVp (True) or none (False); drawn when ``None``.
        n_nodes: force this many GTVn (0-5, placement permitting); drawn when ``None``.
        with_planning: force a planning CT + RT dose (Task 2) or none; drawn (40 %) when ``None``.
    """
    centre = centre_of(patient_id)
    drawn_primary, drawn_nodes = draw_structure(seed, patient_id)
    with_primary = drawn_primary if with_primary is None else with_primary
    n_nodes = drawn_nodes if n_nodes is None else int(n_nodes)

    anatomy = draw_anatomy(stream(seed, patient_id, "anatomy"))
    lesions = draw_lesions(stream(seed, patient_id, "lesions"), anatomy, with_primary, n_nodes)
    clinical_true, clinical = _draw_clinical(stream(seed, patient_id, "clinical"), centre)

    rng = stream(seed, patient_id, "outcome")
    primary = [les for les in lesions if les.label == GTVP]
    volume = primary[0].volume_mm3() if primary else NO_PRIMARY_VOLUME_MM3
    suv_p = primary[0].suv if primary else NO_PRIMARY_SUV
    nodes = sum(1 for les in lesions if les.label == GTVN)
    age = float(clinical_true[ck.AGE])
    tobacco = float(clinical_true[ck.TOBACCO])

    hpv_noise = rng.normal(0.0, 1.0)
    hpv_logit_observable = (
        HPV_INTERCEPT + 0.5 * (nodes - 2) - 0.9 * tobacco - 0.035 * (age - 61.0) + 0.06 * (suv_p - 10.0)
    )
    hpv_prob = _sigmoid(hpv_logit_observable + hpv_noise)
    hpv_true = int(rng.random() < hpv_prob)
    hpv = None if rng.random() < P_HPV_MISSING else hpv_true

    risk_observable = (
        0.6 * math.log(volume / 12000.0)
        + 0.05 * (suv_p - 10.0)
        + 0.25 * nodes
        + 0.03 * (age - 61.0)
        + 0.3 * tobacco
        + 0.35 * float(clinical_true[ck.PERFORMANCE])
        + 1.2 * float(clinical_true[ck.M_STAGE] == "M1")
        - 0.3 * float(clinical_true[ck.TREATMENT])
    )
    risk = risk_observable + 0.9 * (1 - hpv_true) + rng.normal(0.0, 0.4)
    event_time = (rng.exponential() / (BASELINE_HAZARD_PER_DAY * math.exp(risk))) ** (1.0 / WEIBULL_SHAPE)
    censor_time = rng.uniform(*FOLLOW_UP_DAYS)
    relapse = int(event_time <= censor_time)
    rfs = float(max(1, round(min(event_time, censor_time))))

    t_stage, n_stage, oracle_t, oracle_n, _geometry = draw_stages(
        lesions, anatomy.shift_mm[0], stream(seed, patient_id, "staging")
    )
    planning_rng = stream(seed, patient_id, "planning")
    drawn_planning = bool(planning_rng.random() < P_PLANNING)
    shift = tuple(float(v) for v in planning_rng.uniform(-8.0, 8.0, 3))
    return PatientPlan(
        patient_id=patient_id,
        centre=centre,
        seed=seed,
        anatomy=anatomy,
        lesions=tuple(lesions),
        clinical_true=clinical_true,
        clinical=clinical,
        hpv_true=hpv_true,
        hpv=hpv,
        oracle_hpv_prob=hpv_prob,
        oracle_risk=float(risk),
        achievable_risk=float(risk_observable),
        achievable_hpv_prob=_sigmoid(hpv_logit_observable),
        rfs_days=rfs,
        relapse=relapse,
        has_planning=drawn_planning if with_planning is None else with_planning,
        setup_shift_mm=shift,  # type: ignore[arg-type]
        features={"gtvp_volume_mm3": volume, "gtvp_suvmax": suv_p, "n_nodes": float(nodes)},
        t_stage=t_stage,
        n_stage=n_stage,
        oracle_t_stage=oracle_t,
        oracle_n_stage=oracle_n,
    )
