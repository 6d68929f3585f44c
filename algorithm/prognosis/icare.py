"""ICARE survival model (Rebaud et al., HECKTOR 2022 winner), fitted and applied with plain arrays.

Published algorithm (``icare`` 0.1.0, ``IcareSurvival`` + ``BaggedIcareSurvival``), one bag:

1. draw a bootstrap resample of the training cases and a hyper-parameter set (rho, cmin, max_features);
2. keep a random fraction ``max_features`` of the features;
3. visit them in random order and drop each feature whose absolute Pearson correlation with a feature
   already kept exceeds ``rho`` (the package drops a feature correlated with any earlier one, kept or
   not; the greedy variant here keeps more features and is otherwise the same);
4. for each remaining feature, Harrell's C of the feature used as a risk: sign = +1 when C > 0.5, else
   -1; the feature is kept when max(C, 1 - C) >= ``cmin`` (only Harrell's C is used as sign criterion:
   the package's default also requires agreement with Uno's C and a time-dependent AUC);
5. standardise the kept features with the resample's mean and std (ddof 1, as pandas), multiply by the
   sign and average over the features (NaN entries skipped: ``nanmean``);
6. standardise that output with its mean and std on the resample.

The ensemble risk is the mean over bags (bags with no usable feature for a case are skipped). Higher
risk = earlier event. Every parameter is a plain number, so a fitted model is a JSON list of bags.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from algorithm.tabular.cv import column_cindices


@dataclass
class IcareSettings:
    """Hyper-parameters: each bag draws one value from each tuple."""

    n_bags: int = 100
    rho: tuple[float, ...] = (0.7, 0.8, 0.9, 0.95)
    cmin: tuple[float, ...] = (0.5, 0.52, 0.54, 0.56)
    max_features: tuple[float, ...] = (0.5, 0.75, 1.0)

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
    """Greedy: walk ``order`` and keep a column unless its |Pearson r| with a kept column exceeds ``rho``.

    Correlations use the rows where both columns are finite; an undefined correlation counts as 0.
    """
    kept: list[int] = []
    for j in order:
        ok = True
        for k in kept:
            both = np.isfinite(x[:, j]) & np.isfinite(x[:, k])
            if both.sum() < 3:
                continue
            a, b = x[both, j], x[both, k]
            if a.std() == 0 or b.std() == 0:
                continue
            if abs(float(np.corrcoef(a, b)[0, 1])) > rho:
                ok = False
                break
        if ok:
            kept.append(int(j))
    return kept


def fit_bag(
    x: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    rho: float,
    cmin: float,
    max_features: float,
    rng: np.random.Generator,
) -> IcareBag:
    """Fit one ICARE model on the rows given (already resampled), following the module's steps 2-6."""
    p = x.shape[1]
    n_keep = max(1, int(max_features * p))
    candidates = rng.choice(p, n_keep, replace=False)
    rng.shuffle(candidates)
    kept = drop_correlated(x, candidates, rho) if rho < 1 else [int(j) for j in candidates]
    cidx = column_cindices(time, event, x[:, kept]) if kept else np.zeros(0)
    features, signs = [], []
    for j, c in zip(kept, cidx, strict=True):
        if not math.isfinite(c) or c == 0.5:
            continue
        if max(c, 1.0 - c) >= cmin:
            features.append(j)
            signs.append(1.0 if c > 0.5 else -1.0)
    mean, std = [], []
    for j in features:
        col = x[:, j][np.isfinite(x[:, j])]
        mean.append(float(col.mean()))
        s = float(col.std(ddof=1)) if col.size > 1 else 0.0
        std.append(s if s > 1e-12 else 1e-6)
    bag = IcareBag(features, signs, mean, std, settings={"rho": rho, "cmin": cmin, "max_features": max_features})
    raw = bag.raw(x)
    raw = raw[np.isfinite(raw)]
    if raw.size:
        bag.out_mean = float(raw.mean())
        bag.out_std = float(raw.std()) if raw.std() > 1e-12 else 1e-6
    return bag


def fit_icare(
    x: np.ndarray, time: np.ndarray, event: np.ndarray, settings: IcareSettings | None = None, seed: int = 0
) -> list[IcareBag]:
    """Fit the bagged ICARE ensemble on ``x`` (n, p; NaN allowed), ``time`` (days) and ``event`` (bool)."""
    settings = settings or IcareSettings()
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    bags = []
    for _ in range(settings.n_bags):
        idx = rng.integers(0, n, n)
        bag = fit_bag(
            x[idx],
            np.asarray(time)[idx],
            np.asarray(event)[idx],
            rho=float(rng.choice(settings.rho)),
            cmin=float(rng.choice(settings.cmin)),
            max_features=float(rng.choice(settings.max_features)),
            rng=rng,
        )
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
