"""``synthetic_metadata.json``: how a cohort was made and the oracle scores models can be judged against.

The oracle C-index is Harrell's C of ``oracle_risk`` (the latent log-hazard) against (RFS, Relapse),
computed with ``sksurv.metrics.concordance_index_censored``; the oracle AUC is the ROC AUC of
``oracle_hpv_prob`` against the known HPV statuses (``sklearn.metrics.roc_auc_score``). Either is
``null`` when undefined (no comparable pair, or a single HPV class). ``c_index_achievable`` and
``hpv_auc_achievable`` score ``achievable_risk`` and ``achievable_hpv_prob`` the same way: the
ceilings for a model that sees only the images and the complete clinical record. A 2026 cohort adds
``t_stage_balanced_accuracy``, ``n_stage_balanced_accuracy`` (the rule's stages against the recorded ones,
``sklearn.metrics.balanced_accuracy_score``; T over the cases with a T stage) and their mean
``staging_score``: the ceilings of a staging model that sees the true lesions.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthetic.case import SyntheticCase

GENERATOR = "hecktor.synthetic"
#: Bumped whenever the same seed would give different data.
GENERATOR_VERSION = "1.1.0"
METADATA_FILENAME = "synthetic_metadata.json"


def case_summary(case: SyntheticCase, edition: str = "2025") -> dict[str, Any]:
    """The per-case metadata kept while writing a layout (no images); 2026 adds the T/N stages."""
    summary = {
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
    if edition == "2026":
        summary.update(
            t_stage=case.t_stage,
            n_stage=case.n_stage,
            oracle_t_stage=case.oracle_t_stage,
            oracle_n_stage=case.oracle_n_stage,
        )
    return summary


def staging_oracle(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Balanced accuracy of the rule's stages against the recorded ones (T over cases with a T stage), their
    mean (the 2026 staging score), and the recorded stages' counts; ``None`` where a set is empty."""
    from sklearn.metrics import balanced_accuracy_score

    out: dict[str, Any] = {}
    for kind in ("t", "n"):
        pairs = [(s[f"{kind}_stage"], s[f"oracle_{kind}_stage"]) for s in summaries if s[f"{kind}_stage"]]
        truth = [t for t, _o in pairs]
        with warnings.catch_warnings():  # a tiny cohort with one stage only: sklearn warns, the value is right
            warnings.simplefilter("ignore", UserWarning)
            out[f"{kind}_stage_balanced_accuracy"] = (
                float(balanced_accuracy_score(truth, [o for _t, o in pairs])) if pairs else None
            )
        out[f"{kind}_stage_counts"] = {v: truth.count(v) for v in sorted(set(truth))}
    t_ba, n_ba = out["t_stage_balanced_accuracy"], out["n_stage_balanced_accuracy"]
    out["staging_score"] = None if t_ba is None or n_ba is None else (t_ba + n_ba) / 2
    return out


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

    scores = {
        "c_index": c_index_of("oracle_risk"),
        "c_index_achievable": c_index_of("achievable_risk"),
        "hpv_auc_achievable": auc_of("achievable_hpv_prob"),
        "n_cases": len(summaries),
        "n_events": int(event.sum()),
        "hpv_auc": auc_of("oracle_hpv_prob"),
        "n_hpv_known": len(known),
        "n_hpv_positive": int(sum(labels)),
    }
    if summaries and "t_stage" in summaries[0]:
        scores.update(staging_oracle(summaries))
    return scores


def write_metadata(
    out_dir: str | Path, summaries: Sequence[dict[str, Any]], layout: str, edition: str = "2025"
) -> Path:
    """Write ``out_dir/synthetic_metadata.json`` (sorted keys, stable across runs)."""
    seeds = sorted({s["seed"] for s in summaries})
    sizes = sorted({s["size"] for s in summaries})
    data = {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "layout": layout,
        **({"edition": edition} if edition != "2025" else {}),
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
