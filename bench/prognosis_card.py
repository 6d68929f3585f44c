"""Task 2 / Task 3 model-card table: models on fresh synthetic cohorts against the generator's achievable oracle.

For each held-out cohort (a training-layout synthetic cohort with ``synthetic_metadata.json``) it scores

- the bundled (or ``--model-dir``) Task 2 risk model and Task 3 HPV model, on ground-truth masks and,
  with ``--predicted-masks``, on the masks the bundled segmentation model predicts (the container's view:
  features from its own segmentation; masks cached under ``CACHE/predicted/seg-<weights fingerprint>/<cohort>/``);
- with ``--train DIR``, comparison models fitted here on that cohort's ground-truth masks: ICARE with the
  reference package's default rule (the kit's default), ICARE with the kit's previous Harrell-only rule
  and hyper-parameter draws, Cox with the nested-CV penalty choice (the kit's) and the default ridge fit.

Each figure is put against ``oracle.c_index_achievable`` / ``oracle.hpv_auc_achievable`` (the generator's
risk without the unobservable frailty/noise terms, see synthetic/README.md): gap = oracle - model. The views
on the first ``--predicted-cases`` cases are put against the same oracle recomputed on those cases (from the
per-case ``achievable_risk`` / ``achievable_hpv_prob`` of ``synthetic_metadata.json``). The last columns give
mean and sample standard deviation over the cohorts.

    python -m bench.prognosis_card --holdout DIR [DIR ...] --cache DIR [--train DIR] [--predicted-masks]
        [--model-dir DIR] [--bags 100] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from bench.masks import container_masks


def cohort_features(
    data: Path, task: int, masks: str | Path, cache: Path, only: set[str] | None = None
) -> tuple[list[Any], np.ndarray, list[str]]:
    """Cases, design matrix and names; features cached in ``cache`` as the trainers' ``--cache`` does."""
    from algorithm.training.cases import load_cases
    from algorithm.training.feature_cache import compute_features, design_matrix

    cases, _ = load_cases(data, task, masks)
    cases = [c for c in cases if c.ct is not None and c.pet is not None and c.label is not None]
    if only is not None:
        cases = [c for c in cases if c.patient_id in only]
    x, names = design_matrix(cases, compute_features(cases, cache))
    return cases, x, names


def _oracle(data: Path) -> dict[str, Any]:
    from algorithm.training.cases import synthetic_oracle

    oracle = synthetic_oracle(data)
    if oracle is None:
        raise SystemExit(f"{data}: no synthetic_metadata.json oracle block (not a synthetic cohort?)")
    return oracle


def subset_oracle(data: Path, only: set[str]) -> dict[str, float]:
    """The achievable C-index and HPV AUC of the generator on the cases of ``data`` in ``only`` (the per-case
    values of ``synthetic_metadata.json``; on every case they give its ``oracle`` block)."""
    from sklearn.metrics import roc_auc_score

    from algorithm.tabular.cv import harrell_c

    meta = json.loads((data / "synthetic_metadata.json").read_text())
    cases = [c for c in meta["cases"] if c["PatientID"] in only]
    t = np.array([c["rfs_days"] for c in cases], dtype=float)
    e = np.array([bool(c["relapse"]) for c in cases])
    known = [c for c in cases if c.get("hpv") is not None]
    return {
        "c_index_achievable": harrell_c(t, e, np.array([c["achievable_risk"] for c in cases], dtype=float)),
        "hpv_auc_achievable": float(
            roc_auc_score([int(c["hpv"]) for c in known], [c["achievable_hpv_prob"] for c in known])
        ),
        "n_cases": len(cases),
    }


def comparison_models(train: Path, cache: Path, bags: int) -> dict[str, Any]:
    """Task 2 models fitted on ``train`` (ground-truth masks): name -> PrognosisModel."""
    from algorithm.prognosis import IcareSettings, fit_prognosis_model
    from algorithm.prognosis import risk as risk_module
    from algorithm.prognosis.cox import fit_cox

    cases, x, names = cohort_features(train, 2, "ground-truth", cache)  # the trainer's --cache
    t = np.array([c.targets["rfs_days"] for c in cases])
    e = np.array([c.targets["relapse"] for c in cases]).astype(bool)
    previous = IcareSettings(
        n_bags=bags, rho=(0.7, 0.8, 0.9, 0.95), cmin=(0.5, 0.52, 0.54, 0.56), max_features=(0.5, 0.75, 1.0)
    )
    previous.sign_method = "harrell"
    out: dict[str, Any] = {}
    for name, kind, settings in (
        ("ICARE, package rule (kit default)", "icare", IcareSettings(n_bags=bags)),
        ("ICARE, previous Harrell-only rule", "icare", previous),
        ("Cox, nested-CV penalty (kit)", "cox", None),
    ):
        start = time.perf_counter()
        out[name] = fit_prognosis_model(x, names, t, e, kind, seed=0, icare_settings=settings)
        print(f"  fitted {name} on {len(e)} cases in {time.perf_counter() - start:.0f} s")
    with mock.patch.object(risk_module, "fit_cox", partial(fit_cox, select=False)):
        out["Cox, default ridge fit (alpha 1)"] = fit_prognosis_model(x, names, t, e, "cox", seed=0)
    return out


def score(
    models: dict[str, Any], hpv: Any, data: Path, masks: str | Path, cache: Path, only: set[str] | None = None
) -> dict[str, float]:
    """C-index of each Task 2 model and the HPV model's AUC / balanced accuracy on ``data`` (the cases in
    ``only`` when given)."""
    from algorithm.tabular.cv import report_binary, report_cindex

    row: dict[str, float] = {}
    cases, x, names = cohort_features(data, 2, masks, cache / "holdout", only)  # the trainer's --holdout cache
    t = np.array([c.targets["rfs_days"] for c in cases])
    e = np.array([c.targets["relapse"] for c in cases]).astype(bool)
    for name, model in models.items():
        row[name] = report_cindex(t, e, model.predict_table(x, names))
    if hpv is not None:
        cases, x, names = cohort_features(data, 3, masks, cache / "holdout", only)
        y = np.array([c.targets["hpv"] for c in cases]).astype(int)
        dec, prob = hpv.predict_table(x, names)
        res = report_binary(y, dec, prob)
        row["HPV AUC (bundled)"] = res["auc"]
        row["HPV balanced accuracy (bundled)"] = res["balanced_accuracy"]
    return row


def table(
    results: dict[str, dict[str, dict[str, float]]],
    oracles: dict[str, dict[str, Any]],
    view_oracles: dict[str, tuple[str, dict[str, dict[str, Any]]]] | None = None,
) -> str:
    """Markdown: one row per (view, model), one column per cohort (value / gap), then mean and sd. A view in
    ``view_oracles`` (view -> (label, cohort -> oracle)) takes its gaps from that oracle (e.g. on a subset)."""
    cohorts = list(oracles)
    view_oracles = view_oracles or {}
    head = "| view | model | " + " | ".join(f"{c} (gap)" for c in cohorts) + " | mean | sd | worst gap |"
    lines = [head, "|" + "---|" * (len(cohorts) + 5)]
    shown = {"oracle": oracles, **dict(view_oracles.values())}
    for row_label, oracle_set in shown.items():
        for key, label in (("c_index_achievable", "achievable C-index"), ("hpv_auc_achievable", "achievable HPV AUC")):
            vals = np.array([float(oracle_set[c][key]) for c in cohorts])
            cells = " | ".join(f"{v:.3f}" for v in vals)
            sd = vals.std(ddof=1) if len(vals) > 1 else 0
            lines.append(f"| {row_label} | {label} | {cells} | {vals.mean():.3f} | {sd:.3f} | |")
    for view, per_cohort in results.items():
        view_oracle = view_oracles.get(view, ("oracle", oracles))[1]
        names = list(next(iter(per_cohort.values())))
        for name in names:
            key = "hpv_auc_achievable" if name.startswith("HPV AUC") else "c_index_achievable"
            vals = np.array([per_cohort[c][name] for c in cohorts])
            gaps = (
                np.array([view_oracle[c][key] - per_cohort[c][name] for c in cohorts])
                if "balanced" not in name
                else np.full(len(cohorts), np.nan)
            )
            cells = [f"{v:.3f}" + ("" if np.isnan(g) else f" ({g:+.3f})") for v, g in zip(vals, gaps, strict=True)]
            worst = "" if np.isnan(gaps).all() else f"{np.nanmax(gaps):+.3f}"
            sd = f"{vals.std(ddof=1):.3f}" if len(vals) > 1 else ""
            lines.append(f"| {view} | {name} | " + " | ".join(cells) + f" | {vals.mean():.3f} | {sd} | {worst} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prognosis_card", description=__doc__.split("\n")[0])
    parser.add_argument("--holdout", type=Path, nargs="+", required=True, help="fresh synthetic cohorts")
    parser.add_argument("--cache", type=Path, required=True, help="feature / predicted-mask cache folder")
    parser.add_argument("--train", type=Path, default=None, help="cohort to fit the comparison models on")
    parser.add_argument("--model-dir", type=Path, default=None, help="model folder (default: the bundled models)")
    parser.add_argument("--predicted-masks", action="store_true", help="also score on the bundled segmentation's masks")
    parser.add_argument(
        "--predicted-cases", type=int, default=None, help="predicted-mask view on the first N cases of each cohort"
    )
    parser.add_argument("--bags", type=int, default=100, help="ICARE bags of the comparison models")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args(argv)

    from algorithm.hpv import HPVModel
    from algorithm.models import resolve_component_dir
    from algorithm.prognosis import PrognosisModel

    start = time.perf_counter()
    prog_dir = args.model_dir / "prognosis" if args.model_dir else resolve_component_dir("prognosis", None)
    hpv_dir = args.model_dir / "hpv" if args.model_dir else resolve_component_dir("hpv", None)
    bundled = {"bundled Task 2 model": PrognosisModel.load(prog_dir)}
    hpv = HPVModel.load(hpv_dir)
    models = {**bundled, **(comparison_models(args.train, args.cache, args.bags) if args.train else {})}
    oracles = {d.name: _oracle(d) for d in args.holdout}
    results: dict[str, dict[str, dict[str, float]]] = {"ground-truth masks": {}}
    view_oracles: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {}
    for d in args.holdout:
        results["ground-truth masks"][d.name] = score(models, hpv, d, "ground-truth", args.cache)
        print(f"  scored {d.name} on ground-truth masks ({time.perf_counter() - start:.0f} s)")
    if args.predicted_masks:
        n = args.predicted_cases
        view = "predicted masks" + (f" (first {n} cases)" if n else "")
        paired = f"ground-truth masks (same {n} cases)"
        results[view] = {}
        subset: dict[str, dict[str, Any]] = {}
        if n:
            results[paired] = {}
            view_oracles[view] = view_oracles[paired] = (f"oracle (same {n} cases)", subset)
        for d in args.holdout:
            masks = container_masks(d, args.cache, n, args.threads)
            only = {p.name.split(".")[0] for p in masks.iterdir()} if n else None
            if only is not None:
                subset[d.name] = subset_oracle(d, only)
            results[view][d.name] = score(bundled, hpv, d, masks, args.cache, only)
            if n:
                results[paired][d.name] = score(bundled, hpv, d, "ground-truth", args.cache, only)
            print(f"  scored {d.name} on predicted masks ({time.perf_counter() - start:.0f} s)")
    print(table(results, oracles, view_oracles))
    print(f"({time.perf_counter() - start:.0f} s; models {prog_dir.parent})")
    if args.json:
        subsets = {label: sets for label, sets in view_oracles.values()}
        payload = {"oracles": oracles, "subset_oracles": subsets, "results": results}
        args.json.write_text(json.dumps(payload, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
