"""HECKTOR 2026 RFS model-card figures: the 2026 RFS model against the 2025 one and the generator's ceilings.

On each held-out synthetic 2026 cohort (``python -m synthetic --edition 2026``: ``<PID>/`` folders,
``HECKTOR_2026_Training.csv``, ``synthetic_metadata.json``), with ground-truth masks, Harrell's C of

- ``rfs_2026``: the bundled (or ``--model-dir``) 2026 RFS model (``rfs/``: HPV status an input, no M-stage);
- ``prognosis_2025``: the 2025 Task 2 model on the same 2026 inputs (M-stage absent: imputed; HPV unused), what
  the 2026 edition wrote before it had its own model;
- ``oracle``: the generator's latent log-hazard (frailty and true HPV included);
- ``achievable_2025``: ``oracle.c_index_achievable``'s risk (no frailty, no HPV: the 2025 inputs' ceiling);
- ``achievable_2026``: that risk plus the generator's HPV term ``0.9 (1 - HPV)`` with the true status (the 2026
  inputs' ceiling; its small M-stage term, which 2026 records lack, is kept).

    python -m bench.rfs_2026_card --holdout DIR [DIR ...] --cache DIR [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

#: The generator's log-hazard term of an HPV-negative tumour (synthetic/patient.py).
HPV_NEGATIVE_LOG_HAZARD = 0.9


def cohort_figures(holdout: Path, cache: Path, model_dir: Path) -> dict[str, float]:
    from algorithm.features import ANY_CLINICAL_FEATURE_NAMES
    from algorithm.prognosis import PrognosisModel
    from algorithm.tabular.cv import report_cindex
    from algorithm.training.cases import load_cases
    from algorithm.training.feature_cache import compute_features, design_matrix

    cases, _notes = load_cases(holdout, 2, edition="2026")
    x, names = design_matrix(cases, compute_features(cases, cache / holdout.name), ANY_CLINICAL_FEATURE_NAMES)
    time_days = np.array([c.targets["rfs_days"] for c in cases])
    event = np.array([c.targets["relapse"] for c in cases]).astype(bool)
    meta = {s["PatientID"]: s for s in json.loads((holdout / "synthetic_metadata.json").read_text())["cases"]}
    rows = [meta[c.patient_id] for c in cases]
    risks = {
        "rfs_2026": PrognosisModel.load(model_dir / "rfs").predict_table(x, names),
        "prognosis_2025": PrognosisModel.load(model_dir / "prognosis").predict_table(x, names),
        "oracle": np.array([r["oracle_risk"] for r in rows]),
        "achievable_2025": np.array([r["achievable_risk"] for r in rows]),
        "achievable_2026": np.array(
            [r["achievable_risk"] + HPV_NEGATIVE_LOG_HAZARD * (1 - r["hpv_true"]) for r in rows]
        ),
    }
    out = {key: round(report_cindex(time_days, event, risk), 4) for key, risk in risks.items()}
    return {"n_cases": len(cases), "n_events": int(event.sum()), **out}


def main(argv: list[str] | None = None) -> int:
    from algorithm.models import BUNDLED_MODEL_DIR

    parser = argparse.ArgumentParser(prog="python -m bench.rfs_2026_card", description=__doc__.splitlines()[0])
    parser.add_argument("--holdout", type=Path, nargs="+", required=True, help="held-out synthetic 2026 cohorts")
    parser.add_argument("--cache", type=Path, required=True, help="feature cache folder (one sub-folder per cohort)")
    parser.add_argument("--model-dir", type=Path, default=BUNDLED_MODEL_DIR, help="folder with rfs/ and prognosis/")
    args = parser.parse_args(argv)
    for holdout in args.holdout:
        print(json.dumps({"cohort": holdout.name, **cohort_figures(holdout, args.cache, args.model_dir)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
