"""IPCW (integrated) Brier score against scikit-survival."""

from __future__ import annotations

import numpy as np
import pytest

from hecktor.metrics.brier import brier_scores, default_times, integrated_brier_score, survival_at

sksurv_metrics = pytest.importorskip("sksurv.metrics")
Surv = pytest.importorskip("sksurv.util").Surv


def _cohort(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    time = np.round(rng.exponential(600, n) + 5)  # rounded: ties between events and censorings
    event = rng.random(n) < 0.55
    times = default_times(time)
    rate = rng.uniform(0.5, 2.0, n)[:, None]
    surv = np.exp(-rate * times[None, :] / 700)
    return time, event, times, surv


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sksurv(seed: int) -> None:
    time, event, times, surv = _cohort(seed)
    y = Surv.from_arrays(event=event, time=time)
    _, expected = sksurv_metrics.brier_score(y, y, surv, times)
    np.testing.assert_allclose(brier_scores(time, event, surv, times), expected, rtol=1e-10)
    ibs = sksurv_metrics.integrated_brier_score(y, y, surv, times)
    assert integrated_brier_score(time, event, surv, times) == pytest.approx(ibs, rel=1e-10)


def test_matches_sksurv_with_separate_training_data() -> None:
    time, event, times, surv = _cohort(4)
    train_time, train_event, _, _ = _cohort(5, n=120)
    train_time = np.r_[train_time, time.max() + 1]  # sksurv: test times inside the training follow-up
    train_event = np.r_[train_event, False]
    y_train = Surv.from_arrays(event=train_event, time=train_time)
    y_test = Surv.from_arrays(event=event, time=time)
    expected = sksurv_metrics.integrated_brier_score(y_train, y_test, surv, times)
    got = integrated_brier_score(time, event, surv, times, train_time, train_event)
    assert got == pytest.approx(expected, rel=1e-10)


def test_all_events_and_constant_half() -> None:
    time = np.arange(1.0, 21.0)
    event = np.ones(20, dtype=bool)
    times = default_times(time)
    assert integrated_brier_score(time, event, np.full((20, len(times)), 0.5), times) == pytest.approx(0.25)


def test_survival_at_is_a_right_continuous_step() -> None:
    got = survival_at([10.0, 20.0], [0.8, 0.5], [0.0, 9.9, 10.0, 15.0, 20.0, 99.0])
    np.testing.assert_allclose(got, [1.0, 1.0, 0.8, 0.8, 0.5, 0.5])


def test_needs_two_times() -> None:
    with pytest.raises(ValueError):
        integrated_brier_score(np.array([1.0, 2.0]), np.array([True, False]), np.ones((2, 1)), np.array([1.0]))
