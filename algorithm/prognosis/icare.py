"""ICARE survival model (Rebaud et al., HECKTOR 2022 winner), fitted and applied with plain arrays.

This is the algorithm of the reference package ``icare`` 0.1.0 (``IcareSurvival`` bagged by
``BaggedIcareSurvival``, what the organisers' baseline calls), re-written so that a fitted model is a
JSON list of plain numbers (the package's estimators are only picklable, and 0.1.0 no longer runs
with scikit-learn >= 1.8: ``check_array(force_all_finite=...)``). With the default settings and the
same seed it draws the same bootstrap resamples as the package and gives the same risks (float32
rounding apart); ``test/algorithm/test_icare_reference.py`` checks that against the package.

One bag (``IcareSurvival``):

1. draw a bootstrap resample of the training cases (and, when a setting lists several values, one
   value of each: rho, cmin, max_features);
2. keep a random fraction ``max_features`` of the features (default 1: all);
3. shuffle them and, when ``rho`` < 1, drop each feature whose absolute Pearson correlation (pairwise
   complete rows) with *any earlier* feature of that order exceeds ``rho`` (the package's rule);
4. score each remaining feature used as a risk with every method of ``sign_method`` (default, as the
   package: ``tAUC,harrell,uno``: the mean time-dependent cumulative/dynamic AUC at the 10th-81st
   percentiles of the times, Harrell's C, Uno's C truncated at the last event time, as scikit-survival
   computes them (:mod:`.icare_scores`), on the rows where the feature is known). A method's sign is -1 when its score
   is below 0.5, else +1. The feature is kept only when every method gives the same sign and, when
   ``cmin`` > 0, the mean of max(score, 1 - score) over the methods is >= ``cmin``;
5. standardise the kept features with the resample's mean and std (ddof 1, as pandas), multiply by the
   sign and average over the features (NaN entries skipped: ``nanmean``);
6. standardise that output with its mean and std (ddof 0) on the resample.

The ensemble risk is the mean over bags (bags with no kept feature, and bags that cannot score a
case, are skipped). Higher risk = earlier event. Times in days.

Deviations from the package, all in corner cases: a score that cannot be computed (no comparable
pair; zero censoring survival at a tied last time, where scikit-survival raises) leaves that method out
of the sign vote for that feature and bag (no method left: feature dropped), where the package would
count a NaN as a +1 sign or stop with the exception; empty bags are left out rather than
predicting a constant 1 (which cannot change the ranking). Several values per setting are drawn
independently per bag (the package draws one dict from a list of dicts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from algorithm.prognosis.icare_scores import column_scores

#: The package's sign methods (``IcareSurvival(sign_method=...)``).
SIGN_METHODS = ("tAUC", "harrell", "uno")
#: The package's per-bag seed range (``rng.integers(low=0, high=99999999)``).
_SEED_HIGH = 99999999


@dataclass
class IcareSettings:
    """Hyper-parameters; each bag draws one value from each tuple (defaults: the package's defaults).

    ``rho`` 1.0 means no correlation filter (the package's ``rho=None``); ``cmin`` 0.0 means no score
    threshold (``cmin=None``). ``sign_method``: comma-separated subset of :data:`SIGN_METHODS`.
    """

    n_bags: int = 100
    rho: tuple[float, ...] = (1.0,)
    cmin: tuple[float, ...] = (0.0,)
    max_features: tuple[float, ...] = (1.0,)
    sign_method: str = "tAUC,harrell,uno"

    def __post_init__(self) -> None:
        methods = self.methods()
        if not methods or any(m not in SIGN_METHODS for m in methods):
            raise ValueError(f"sign_method {self.sign_method!r}: expected a comma-separated subset of {SIGN_METHODS}")

    def methods(self) -> list[str]:
        return [m.strip() for m in self.sign_method.split(",") if m.strip()]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class IcareBag:
    """One fitted bag: column indices, signs (+1/-1), feature mean/std, output mean/std."""

    features: list[int]
    signs: list[float]
    mean: list[float]
    std: list[float]
    out_mean: float = 0.0
    out_std: float = 1.0
    settings: dict[str, float] = field(default_factory=dict)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Sign-averaged standardised features of the rows of ``x`` (NaN where a row has none)."""
        if not self.features:
            return np.full(x.shape[0], np.nan)
        z = (x[:, self.features] - np.asarray(self.mean)) / np.asarray(self.std) * np.asarray(self.signs)
        finite = np.isfinite(z)
        counts = finite.sum(axis=1)
        sums = np.where(finite, z, 0.0).sum(axis=1)
        out = np.full(x.shape[0], np.nan)
        np.divide(sums, counts, out=out, where=counts > 0)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.raw(x) - self.out_mean) / self.out_std

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IcareBag:
        return cls(
            features=[int(i) for i in data["features"]],
            signs=[float(s) for s in data["signs"]],
            mean=[float(m) for m in data["mean"]],
            std=[float(s) for s in data["std"]],
            out_mean=float(data.get("out_mean", 0.0)),
            out_std=float(data.get("out_std", 1.0)),
            settings={str(k): float(v) for k, v in dict(data.get("settings", {})).items()},
        )


def drop_correlated(x: np.ndarray, order: Sequence[int], rho: float) -> list[int]:
    """The package's filter: walk ``order`` and drop a column whose |Pearson r| with any earlier column of
    ``order`` (dropped or not) exceeds ``rho``; correlations over the rows where both are finite (pandas
    ``DataFrame.corr``), an undefined correlation never drops."""
    order = [int(j) for j in order]
    if len(order) < 2:
        return order
    import pandas as pd

    with np.errstate(all="ignore"):
        r = pd.DataFrame(x[:, order]).corr(method="pearson").abs().to_numpy()
    upper = np.triu(np.nan_to_num(r, nan=0.0), k=1)
    return [j for k, j in enumerate(order) if not (upper[:, k] > rho).any()]


def feature_scores(x: np.ndarray, time: np.ndarray, event: np.ndarray, methods: Sequence[str]) -> np.ndarray:
    """Scores (p, len(methods)) of each column of ``x`` used as a risk, per sign method (NaN: not computable).

    Computed as the package does: times in float32, each column on the rows where it is finite."""
    time32 = np.asarray(time, dtype=np.float32).astype(np.float64)
    return column_scores(time32, np.asarray(event, dtype=bool), x, list(methods))


def fit_bag(
    x: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    rho: float,
    cmin: float,
    max_features: float,
    rng: np.random.Generator,
    methods: Sequence[str] = SIGN_METHODS,
) -> IcareBag:
    """Fit one ICARE model on the rows given (already resampled), following the module's steps 2-6.

    ``rng`` is the bag's own generator (the package seeds it with the bag's seed, as the resample)."""
    p = x.shape[1]
    candidates = np.arange(p)
    if max_features < 1:
        candidates = rng.choice(candidates, max(1, int(max_features * p)), replace=False)
    rng.shuffle(candidates)
    kept = drop_correlated(x, candidates, rho) if rho < 1 else [int(j) for j in candidates]
    x32 = x.astype(np.float32).astype(np.float64)  # the package scores float32 features
    scores = feature_scores(x32[:, kept], time, event, methods) if kept else np.zeros((0, len(methods)))
    features, signs = [], []
    for j, s in zip(kept, scores, strict=True):
        s = s[np.isfinite(s)]  # a method that cannot score this resample is left out (the package would stop)
        if s.size == 0:
            continue
        sign = np.where(s < 0.5, -1.0, 1.0)
        if len(np.unique(sign)) != 1:
            continue
        if cmin > 0 and float(np.mean(np.maximum(s, 1.0 - s))) < cmin:
            continue
        features.append(j)
        signs.append(float(sign[0]))
    mean, std = [], []
    for j in features:
        col = x[:, j][np.isfinite(x[:, j])]
        mean.append(float(col.mean()))
        s = float(col.std(ddof=1)) if col.size > 1 else 0.0
        std.append(s if s > 0 else 1e-6)
    settings = {"rho": rho, "cmin": cmin, "max_features": max_features}
    bag = IcareBag(features, signs, mean, std, settings=settings)
    raw = bag.raw(x)
    raw = raw[np.isfinite(raw)]
    if raw.size:
        bag.out_mean = float(raw.mean())
        bag.out_std = float(raw.std()) if raw.std() > 0 else 1e-6
    return bag


def _draw(rng: np.random.Generator, values: Sequence[float]) -> float:
    """One value of a setting; a single value draws nothing (so default runs follow the package's RNG)."""
    return float(values[0]) if len(values) == 1 else float(rng.choice(values))


def fit_icare(
    x: np.ndarray, time: np.ndarray, event: np.ndarray, settings: IcareSettings | None = None, seed: int = 0
) -> list[IcareBag]:
    """Fit the bagged ICARE ensemble on ``x`` (n, p; NaN allowed), ``time`` (days) and ``event`` (bool).

    Seeding as ``BaggedIcareSurvival(random_state=seed)``: a generator from ``seed`` draws each bag's
    seed; the bag's resample and its feature draws come from a generator of that seed."""
    settings = settings or IcareSettings()
    methods = settings.methods()
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    time, event = np.asarray(time), np.asarray(event, dtype=bool)
    n = x.shape[0]
    bags = []
    for _ in range(settings.n_bags):
        bag_seed = int(rng.integers(low=0, high=_SEED_HIGH, size=1)[0])
        rho, cmin, max_features = (_draw(rng, v) for v in (settings.rho, settings.cmin, settings.max_features))
        idx = np.random.default_rng(bag_seed).choice(np.arange(n), n, replace=True)
        bag_rng = np.random.default_rng(bag_seed)
        bag = fit_bag(x[idx], time[idx], event[idx], rho, cmin, max_features, bag_rng, methods)
        if bag.features:
            bags.append(bag)
    return bags


def predict_icare(bags: Sequence[IcareBag], x: np.ndarray) -> np.ndarray:
    """Mean of the bags' standardised outputs per row; NaN for rows no bag can score."""
    x = np.asarray(x, dtype=np.float64)
    if not bags:
        return np.full(x.shape[0], np.nan)
    preds = np.vstack([bag.predict(x) for bag in bags])
    finite = np.isfinite(preds)
    counts = finite.sum(axis=0)
    out = np.full(x.shape[0], np.nan)
    np.divide(np.where(finite, preds, 0.0).sum(axis=0), counts, out=out, where=counts > 0)
    return out
