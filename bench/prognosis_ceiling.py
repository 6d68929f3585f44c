"""How far below ``oracle.c_index_achievable`` must a model of the *recorded* inputs stay? (issue 17)

The generator's achievable risk (synthetic/patient.py) uses the TRUE clinical values, also where the record
shows them as missing. This bench redraws each cohort's patients (no images: :func:`synthetic.patient.draw_patient`
is cheap) and scores, on the same cases, against the same follow-up:

- ``achievable``: the generator's ``achievable_risk`` (the model card's oracle);
- ``recorded inputs``: the same formula on the recorded record, a missing value replaced by its population
  mean (no model of the observable inputs can know more without the true values);
- ``true lesions, fitted N``: a ridge Cox (scikit-survival, alpha 1) fitted on N training patients
  (``--train-seeds``, ``--train-cases`` a seed) on the true lesion parameters (log GTVp volume, GTVp
  SUVmax, node count) and the recorded clinical fields the risk uses: what the training-set size costs
  with perfect image features and the generator's own choice of inputs.

    python -m bench.prognosis_ceiling --holdout-seeds 4101 4102 4103 --train-seeds 11 12 13
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import numpy as np

# Population means of the fields the risk uses (synthetic/patient.py: _draw_clinical).
MEANS = {"age": 61.0, "tobacco": 0.55, "performance": 0.6, "treatment": 0.7, "m1": 0.04}


def _plans(n: int, seed: int) -> list[Any]:
    from synthetic.cohort import plan_cohort
    from synthetic.patient import draw_patient

    out = []
    for spec in plan_cohort(n, seed):
        kept = {k: v for k, v in spec.overrides.items() if k in ("with_primary", "n_nodes")}
        out.append(draw_patient(spec.patient_id, seed, **kept))
    return out


def _clinical(plan: Any, true: bool) -> dict[str, float]:
    from hecktor import clinical as ck

    src = plan.clinical_true if true else plan.clinical

    def value(key: str, name: str) -> float:
        v = src.get(key)
        return MEANS[name] if v is None else float(v)

    m = src.get(ck.M_STAGE)
    return {
        "age": value(ck.AGE, "age"),
        "tobacco": value(ck.TOBACCO, "tobacco"),
        "performance": value(ck.PERFORMANCE, "performance"),
        "treatment": value(ck.TREATMENT, "treatment"),
        "m1": MEANS["m1"] if m in (None, "Mx") else float(m == "M1"),
    }


def observable_risk(plan: Any, true: bool) -> float:
    """The generator's observable log-hazard on the true (``true``) or recorded clinical values."""
    f, c = plan.features, _clinical(plan, true)
    return (
        0.6 * math.log(f["gtvp_volume_mm3"] / 12000.0)
        + 0.05 * (f["gtvp_suvmax"] - 10.0)
        + 0.25 * f["n_nodes"]
        + 0.03 * (c["age"] - 61.0)
        + 0.3 * c["tobacco"]
        + 0.35 * c["performance"]
        + 1.2 * c["m1"]
        - 0.3 * c["treatment"]
    )


def _design(plans: list[Any]) -> np.ndarray:
    rows = []
    for p in plans:
        f, c = p.features, _clinical(p, False)
        rows.append([math.log(f["gtvp_volume_mm3"]), f["gtvp_suvmax"], f["n_nodes"], *c.values()])
    return np.array(rows)


def _c(plans: list[Any], risk: Any) -> float:
    from algorithm.tabular.cv import harrell_c

    t = np.array([p.rfs_days for p in plans])
    e = np.array([bool(p.relapse) for p in plans])
    return harrell_c(t, e, np.asarray(risk, dtype=float))


def main(argv: list[str] | None = None) -> int:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    parser = argparse.ArgumentParser(prog="python -m bench.prognosis_ceiling", description=__doc__.split("\n")[0])
    parser.add_argument("--holdout-seeds", type=int, nargs="+", default=[4101, 4102, 4103])
    parser.add_argument("--holdout-cases", type=int, default=200)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--train-cases", type=int, default=600, help="training patients drawn per seed")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    holdouts = {s: _plans(args.holdout_cases, s) for s in args.holdout_seeds}
    for plans in holdouts.values():  # the formula here must be the generator's
        gap = max(abs(observable_risk(p, True) - p.achievable_risk) for p in plans)
        if gap > 1e-9:
            raise SystemExit(f"observable_risk differs from the generator's achievable_risk by {gap:g}")
    train: list[Any] = []
    rows: dict[str, list[float]] = {
        "achievable (generator)": [_c(p, [q.achievable_risk for q in p]) for p in holdouts.values()],
        "recorded inputs, true coefficients": [
            _c(p, [observable_risk(q, False) for q in p]) for p in holdouts.values()
        ],
    }
    for seed in args.train_seeds:
        train += _plans(args.train_cases, seed)
        x = _design(train)
        mu, sd = x.mean(0), x.std(0) + 1e-12
        y = Surv.from_arrays(np.array([bool(p.relapse) for p in train]), np.array([p.rfs_days for p in train]))
        coef = CoxPHSurvivalAnalysis(alpha=1.0).fit((x - mu) / sd, y).coef_
        rows[f"true lesions, Cox fitted on {len(train)}"] = [
            _c(p, ((_design(p) - mu) / sd) @ coef) for p in holdouts.values()
        ]
    head = "| C-index | " + " | ".join(f"seed {s}" for s in holdouts) + " |"
    print(head + "\n|" + "---|" * (len(holdouts) + 1))
    for name, vals in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
