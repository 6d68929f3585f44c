"""How should the Task 2 model fill blank clinical fields? Centre-grouped CV on TRAINING cohorts only (issue 17).

The bundled configuration (Cox, nested-CV penalty, every feature) is cross-validated (5 folds grouped by centre,
stratified, seed 0: the trainer's folds) on each training cohort with four ways of filling the blanks of the
categorical clinical fields (tobacco, alcohol, performance status, treatment, M-stage, gender; imaging blanks and age
keep the training median in every variant):

- ``most_frequent``: the training set's most frequent value (the kit before issue 17);
- ``mean``: the training mean of the codes (``clinical_fill="mean"``, scikit-learn ``SimpleImputer(strategy="mean")``);
- ``indicators``: most frequent + a 0/1 missing-indicator column for each clinical field blank in > 5 % of the cases;
- ``iterative``: scikit-learn ``IterativeImputer`` (BayesianRidge, 10 rounds, clipped to the observed range) over
  the clinical columns, each predicted from the others (tobacco from alcohol, ...).

Every transform is fitted on the training folds only. Printed: pooled out-of-fold Harrell's C and fold mean per
variant, the difference to ``most_frequent`` with a 95 % paired bootstrap interval (300 resamples), and per fold.

    python -m bench.prognosis_imputation --cohort NAME DIR [DIR ...] [--cohort ...] --cache CACHE
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

VARIANTS = ("most_frequent", "mean", "indicators", "iterative")


def _load(dirs: list[Path], cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    from bench.prognosis_card import cohort_features

    xs, t, e, g, names = [], [], [], [], []
    for d in dirs:
        cases, x, names = cohort_features(d, 2, "ground-truth", cache)
        xs.append(x)
        t += [c.targets["rfs_days"] for c in cases]
        e += [c.targets["relapse"] for c in cases]
        g += [c.centre for c in cases]
    return np.vstack(xs), np.array(t, float), np.array(e).astype(bool), np.array(g), names


def _transform(variant: str, xtr: np.ndarray, xte: np.ndarray, names: list[str]):
    """(train rows, test rows, names, clinical_fill) of ``variant``, fitted on ``xtr``."""
    from algorithm.features import ANY_CLINICAL_FEATURE_NAMES
    from algorithm.tabular import apply_log1p, log1p_names

    clin = [j for j, n in enumerate(names) if n in ANY_CLINICAL_FEATURE_NAMES]
    if variant in ("most_frequent", "mean"):
        return xtr, xte, names, variant
    if variant == "indicators":
        cols = [j for j in clin if np.isnan(xtr[:, j]).mean() > 0.05]
        extra = [f"{names[j]}_blank" for j in cols]
        return (
            np.hstack([xtr, np.isnan(xtr[:, cols]).astype(float)]),
            np.hstack([xte, np.isnan(xte[:, cols]).astype(float)]),
            [*names, *extra],
            "most_frequent",
        )
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    logs = log1p_names(names)
    ltr, lte = apply_log1p(xtr, names, logs)[:, clin], apply_log1p(xte, names, logs)[:, clin]
    imp = IterativeImputer(
        max_iter=10, random_state=0, min_value=np.nanmin(ltr, 0), max_value=np.nanmax(ltr, 0), skip_complete=True
    )
    xtr, xte = xtr.copy(), xte.copy()
    xtr[:, clin], xte[:, clin] = imp.fit_transform(ltr), imp.transform(lte)
    return xtr, xte, names, "most_frequent"


def cross_validate(x, t, e, g, names, variants=VARIANTS) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Out-of-fold risks and per-fold C of each variant (the trainer's folds)."""
    import warnings

    from algorithm.prognosis import fit_prognosis_model
    from algorithm.tabular.cv import make_folds, report_cindex

    splits, _ = make_folds(g, e, 5, 0)
    oof = {v: np.full(len(e), np.nan) for v in variants}
    per_fold: dict[str, list[float]] = {v: [] for v in variants}
    for k, (tr, te) in enumerate(splits, 1):
        for v in variants:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # IterativeImputer's early-stopping ConvergenceWarning
                a, b, nn, fill = _transform(v, x[tr], x[te], names)
            model = fit_prognosis_model(a, nn, t[tr], e[tr], "cox", seed=0, clinical_fill=fill)
            oof[v][te] = model.predict_table(b, nn)
            per_fold[v].append(report_cindex(t[te], e[te], oof[v][te]))
        print(f"  fold {k} of {len(splits)} done", flush=True)
    return oof, per_fold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prognosis_imputation", description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", nargs="+", action="append", required=True, metavar="NAME DIR", help="repeatable")
    parser.add_argument("--cache", type=Path, required=True, help="the trainers' feature cache folder")
    args = parser.parse_args(argv)
    from algorithm.tabular.cv import report_cindex

    start = time.perf_counter()
    print("| cohort | fill | pooled C | fold mean | d pooled vs most_frequent [95 % paired bootstrap] | d per fold |")
    print("|---|---|---|---|---|---|")
    rows = []
    for name, *dirs in args.cohort:
        x, t, e, g, names = _load([Path(d) for d in dirs], args.cache)
        print(f"  {name}: {len(e)} cases, {int(e.sum())} events", flush=True)
        oof, per_fold = cross_validate(x, t, e, g, names)
        rng = np.random.default_rng(0)
        boots = [rng.integers(0, len(e), len(e)) for _ in range(300)]
        base = oof["most_frequent"]
        for v in VARIANTS:
            d = report_cindex(t, e, oof[v]) - report_cindex(t, e, base)
            bd = [report_cindex(t[i], e[i], oof[v][i]) - report_cindex(t[i], e[i], base[i]) for i in boots]
            dpf = " / ".join(f"{a - b:+.4f}" for a, b in zip(per_fold[v], per_fold["most_frequent"], strict=True))
            rows.append(
                f"| {name} | {v} | {report_cindex(t, e, oof[v]):.4f} | {np.mean(per_fold[v]):.4f} | "
                f"{d:+.4f} [{np.percentile(bd, 2.5):+.4f}, {np.percentile(bd, 97.5):+.4f}] | {dpf} |"
            )
    print("\n".join(rows))
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
