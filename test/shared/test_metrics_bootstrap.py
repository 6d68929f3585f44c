"""hecktor.metrics.bootstrap: determinism, the percentile interval, skipped undefined resamples."""

from __future__ import annotations

import numpy as np
import pytest

from hecktor.metrics.bootstrap import bootstrap_ci

VALUES = np.array([0.2, 0.9, 0.4, 0.7, 0.1, 0.8, 0.5, 0.3, 0.6, 1.0])


def _mean(indices: np.ndarray) -> float:
    return float(VALUES[indices].mean())


def test_deterministic_and_seed_dependent() -> None:
    first = bootstrap_ci(_mean, len(VALUES), n_resamples=200, seed=3)
    assert first == bootstrap_ci(_mean, len(VALUES), n_resamples=200, seed=3)
    assert first != bootstrap_ci(_mean, len(VALUES), n_resamples=200, seed=4)
    assert first is not None and first[0] < VALUES.mean() < first[1]


def test_equals_the_documented_procedure() -> None:
    rng = np.random.default_rng(11)
    means = [VALUES[rng.integers(0, 10, size=10)].mean() for _ in range(300)]
    expected = np.percentile(means, [5.0, 95.0])
    assert bootstrap_ci(_mean, 10, n_resamples=300, seed=11, alpha=0.10) == (expected[0], expected[1])


def test_constant_statistic() -> None:
    assert bootstrap_ci(lambda idx: 0.25, 5, n_resamples=50) == (0.25, 0.25)


def test_undefined_resamples_skipped_and_too_many_gives_none() -> None:
    def every_other(nan_first: int):
        calls = {"n": 0}

        def statistic(indices: np.ndarray) -> float | None:
            calls["n"] += 1
            if calls["n"] <= nan_first:
                return None if calls["n"] % 2 else float("nan")
            return float(calls["n"])

        return statistic

    assert bootstrap_ci(every_other(50), 4, n_resamples=100) == pytest.approx(
        tuple(np.percentile(np.arange(51, 101), [2.5, 97.5]))
    )  # exactly half valid: still an interval
    assert bootstrap_ci(every_other(51), 4, n_resamples=100) is None
    assert bootstrap_ci(lambda idx: None, 4, n_resamples=10) is None


def test_degenerate_arguments() -> None:
    assert bootstrap_ci(_mean, 0) is None
    assert bootstrap_ci(_mean, 10, n_resamples=0) is None
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(_mean, 10, alpha=1.5)
