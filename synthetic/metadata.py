"""``synthetic_metadata.json``: how a cohort was made and the oracle scores models can be judged against.

The oracle C-index is Harrell's C of ``oracle_risk`` (the latent log-hazard) against (RFS, Relapse),
computed with ``sksurv.metrics.concordance_index_censored``; the oracle AUC is the ROC AUC of
``oracle_hpv_prob`` against the known HPV statuses (``sklearn.metrics.roc_auc_score``). Either is
``null`` when undefined (no comparable pair, or a single HPV class). ``c_index_achievable`` and
``hpv_auc_achievable`` score ``achievable_risk`` and ``achievable_hpv_prob`` the same way: the
ceilings for a model that sees only the images and the complete clinical record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthetic.case import SyntheticCase

GENERATOR = "hecktor.synthetic"
#: Bumped whenever the same seed would give different data.
GENERATOR_VERSION = "1.1.0"
METADATA_FILENAME = "synthetic_metadata.json"


def case_summary(case: SyntheticCase) -> dict[str, Any]:
    """The per-case metadata kept while writing a layout (no images)."""
    return {
        "PatientID": case.patient_id,
        "centre": case.centre,
        "seed": case.seed,
        "size": case.size,
        "coverage": case.coverage,
        "rfs_days": case.rfs_days,
        "relapse": case.relapse,
        "hpv": case.hpv,
        "hpv_true": case.hpv_true,
        "oracle_risk": round(case.oracle_risk, 6),
        "oracle_hpv_prob": round(case.oracle_hpv_prob, 6),
        "achievable_risk": round(case.achievable_risk, 6),
        "achievable_hpv_prob": round(case.achievable_hpv_prob, 6),
        "has_primary": case.has_primary,
        "n_nodes": case.n_nodes,
        "has_planning": case.planning_ct is not None,
        "ct_direction": [round(v) for v in case.ct.GetDirection()],
        "pet_direction": [round(v) for v in case.pet.GetDirection()],
    }


def oracle_scores(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Oracle C-index (RFS) and AUC (HPV) over the cases, with the counts they rest on."""
    from sklearn.metrics import roc_auc_score
    from sksurv.exceptions import NoComparablePairException
    from sksurv.metrics import concordance_index_censored

    event = np.array([bool(s["relapse"]) for s in summaries])
    time = np.array([float(s["rfs_days"]) for s in summaries])
    known = [s for s in summaries if s["hpv"] is not None]
    labels = [int(s["hpv"]) for s in known]

    def c_index_of(key: str) -> float | None:
        if len(summaries) < 2 or not event.any():  # one case, or all censored: no comparable pair
            return None
        risk = np.array([float(s[key]) for s in summaries])
        try:
            return float(concordance_index_censored(event, time, risk)[0])
        except NoComparablePairException:  # no event, or no event earlier than another time
            return None

    def auc_of(key: str) -> float | None:
        return float(roc_auc_score(labels, [float(s[key]) for s in known])) if len(set(labels)) == 2 else None

    return {
        "c_index": c_index_of("oracle_risk"),
        "c_index_achievable": c_index_of("achievable_risk"),
        "hpv_auc_achievable": auc_of("achievable_hpv_prob"),
        "n_cases": len(summaries),
        "n_events": int(event.sum()),
        "hpv_auc": auc_of("oracle_hpv_prob"),
        "n_hpv_known": len(known),
        "n_hpv_positive": int(sum(labels)),
    }


def write_metadata(out_dir: str | Path, summaries: Sequence[dict[str, Any]], layout: str) -> Path:
    """Write ``out_dir/synthetic_metadata.json`` (sorted keys, stable across runs)."""
    seeds = sorted({s["seed"] for s in summaries})
    sizes = sorted({s["size"] for s in summaries})
    data = {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "layout": layout,
        "seed": seeds[0] if len(seeds) == 1 else seeds,
        "size": sizes[0] if len(sizes) == 1 else sizes,
        "n": len(summaries),
        "oracle": oracle_scores(summaries),
        "cases": list(summaries),
    }
    path = Path(out_dir) / METADATA_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
