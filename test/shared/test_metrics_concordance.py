"""hecktor.metrics.concordance: Harrell's C, tied times/risks as sksurv and lifelines, missing risks as ties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from lifelines.utils import concordance_index
from sksurv.metrics import concordance_index_censored

from hecktor.metrics.concordance import ConcordanceResult, harrell_cindex


def test_hand_computed_no_ties() -> None:
    result = harrell_cindex([1, 2, 3], [1, 1, 0], [3.0, 2.0, 1.0])
    # Comparable: (0,1), (0,2), (1,2); all concordant.
    assert result == ConcordanceResult(1.0, 3.0, 0.0, 0.0, 3, 0, 0, 0)
    assert harrell_cindex([1, 2, 3], [1, 1, 0], [1.0, 2.0, 3.0]).cindex == 0.0


def test_hand_computed_tied_times() -> None:
    time = np.array([2.0, 2.0, 2.0, 5.0])
    event = np.array([1, 1, 0, 1])
    risk = np.array([0.5, 0.9, 0.7, 0.1])
    # Comparable: (0,2) event vs censored at the same time, (0,3), (1,2), (1,3); (0,1) two events at t=2: not.
    # (0,2): 0.5 < 0.7 discordant; the three others concordant.
    result = harrell_cindex(time, event, risk)
    assert (result.cindex, result.concordant, result.discordant, result.tied_risk) == (0.75, 3, 1, 0)
    assert (result.comparable, result.tied_time) == (4, 2)
    assert result.cindex == concordance_index_censored(event.astype(bool), time, risk)[0]
    assert result.cindex == concordance_index(time, -risk, event)


def test_hand_computed_tied_risks() -> None:
    # Comparable: (0,1), (0,2), (1,2). (0,1) tied risk -> 0.5; (0,2), (1,2) concordant.
    result = harrell_cindex([1, 2, 3], [1, 1, 0], [2.0, 2.0, 1.0])
    assert (result.cindex, result.tied_risk, result.concordant) == (2.5 / 3, 1, 2)


def test_missing_risks_count_as_ties_with_everyone() -> None:
    time, event = [1, 2, 3, 4], [1, 1, 1, 0]
    # Comparable pairs: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3) = 6; the 3 with patient 1 score 0.5,
    # (0,2), (0,3), (2,3) are concordant: C = (3 + 1.5) / 6.
    expected = ConcordanceResult(0.75, 3.0, 0.0, 3.0, 6, 1, 0, 3)
    for missing in (None, float("nan"), float("inf"), -float("inf")):
        assert harrell_cindex(time, event, [0.9, missing, 0.5, 0.1]) == expected
    assert harrell_cindex(np.array(time), np.array(event), np.array([0.9, None, 0.5, 0.1], dtype=object)) == expected
    all_missing = harrell_cindex(time, event, [None] * 4)
    assert (all_missing.cindex, all_missing.n_missing_predictions, all_missing.tied_missing) == (0.5, 4, 6)


def test_no_comparable_pair_is_nan() -> None:
    for time, event in (([1, 2, 3], [0, 0, 0]), ([5], [1]), ([], []), ([1, 1], [1, 1])):
        result = harrell_cindex(time, event, [0.5] * len(time))
        assert math.isnan(result.cindex)
        assert result.comparable == 0


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="lengths"):
        harrell_cindex([1, 2], [1, 0], [0.1])
    with pytest.raises(ValueError, match="0/1"):
        harrell_cindex([1, 2], [2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        harrell_cindex([1, float("nan")], [1, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="tied_tol"):
        harrell_cindex([1, 2], [1, 0], [0.1, 0.2], tied_tol=-1.0)
    assert harrell_cindex([1, 2], [True, False], [0.2, 0.1]).cindex == 1.0


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = int(rng.integers(2, 80))
    time = rng.integers(1, int(rng.integers(2, 30)), n).astype(float)  # many tied times
    event = rng.random(n) < rng.uniform(0.2, 0.9)
    event[rng.integers(n)] = True
    tied_risks = rng.random() < 0.5
    risk = rng.integers(0, int(rng.integers(1, 6)), n).astype(float) if tied_risks else rng.normal(size=n)
    return time, event, risk


@pytest.mark.parametrize("seed", range(5))
def test_matches_sksurv_and_lifelines_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(40):
        time, event, risk = _random_case(rng)
        ours = harrell_cindex(time, event.astype(int), risk)
        try:
            sk = concordance_index_censored(event, time, risk)
        except Exception:  # sksurv raises when there is no comparable pair
            assert ours.comparable == 0 and math.isnan(ours.cindex)
            continue
        assert ours.cindex == sk[0]
        assert (ours.concordant, ours.discordant, ours.tied_risk, ours.tied_time) == tuple(sk[1:])
        assert ours.comparable == sk[1] + sk[2] + sk[3]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert ours.cindex == pytest.approx(concordance_index(time, -risk, event), rel=1e-12, abs=0)
        checked += 1
    assert checked > 30


def test_large_n_spans_several_blocks() -> None:
    rng = np.random.default_rng(7)
    n = 2500
    time = rng.integers(1, 400, n).astype(float)
    event = rng.random(n) < 0.4
    risk = np.round(rng.normal(size=n), 2)
    ours = harrell_cindex(time, event, risk)
    sk = concordance_index_censored(event, time, risk)
    assert ours.cindex == sk[0]
    assert (ours.concordant, ours.discordant, ours.tied_risk, ours.tied_time) == tuple(sk[1:])


def test_where_sksurv_and_lifelines_disagree_we_follow_lifelines() -> None:
    # Risks 1e-9 apart: sksurv ties them (|diff| <= 1e-8), lifelines (the organisers' baseline) does not.
    time = np.array([1.0, 2.0, 3.0])
    event = np.array([True, True, False])
    risk = np.array([1.0, 1.0 + 1e-9, 0.0])
    sk = concordance_index_censored(event, time, risk)[0]
    ll = concordance_index(time, -risk, event)
    assert sk == 2.5 / 3 and ll == 2 / 3
    assert harrell_cindex(time, event, risk).cindex == ll
    assert harrell_cindex(time, event, risk, tied_tol=1e-8).cindex == sk


@pytest.mark.parametrize("seed", range(3))
def test_scale_of_the_risk_does_not_matter_and_lifelines_agrees(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(20):
        time, event, base = _random_case(rng)
        values = set()
        for scale in (1e-9, 1.0, 1e9):
            risk = base * scale
            ours = harrell_cindex(time, event, risk)
            if ours.comparable == 0:
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ll = concordance_index(time, -risk, event)
            assert ours.cindex == pytest.approx(ll, rel=1e-12, abs=0)
            values.add(ours.cindex)
        assert len(values) <= 1, values


def test_risks_within_5e_9_keep_their_order() -> None:
    # Every risk within 5e-9 of the others: sksurv's tolerance says 0.5 whatever their order, lifelines 14/15.
    time = np.array([5.0, 8.0, 12.0, 20.0, 25.0, 30.0, 41.0])
    event = np.array([1, 1, 0, 1, 0, 1, 0], dtype=bool)
    risk = 1.0 + np.array([5.0, 4.0, 1.0, 3.0, 2.0, 0.5, 2.5]) * 1e-9
    ll = concordance_index(time, -risk, event)
    assert harrell_cindex(time, event, risk).cindex == pytest.approx(ll, rel=1e-12, abs=0)
    assert ll == 14 / 15
    assert harrell_cindex(time, event, risk, tied_tol=1e-8).cindex == 0.5
