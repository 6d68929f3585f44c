"""Inner-CV choice that keeps the default unless a candidate is better by more than one standard error."""

from __future__ import annotations

import numpy as np

from algorithm.prognosis.cox import RIDGE_ALPHAS, fit_cox
from algorithm.tabular.nested_cv import choose, inner_folds


def _score(y: np.ndarray) -> object:
    return lambda te, pred: float(-np.mean((y[te] - pred) ** 2))


def test_default_kept_against_noise_and_replaced_by_a_clearly_better_candidate() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = 2 * x + rng.normal(scale=0.5, size=200)
    folds = inner_folds((y > 0).astype(int), 5, seed=0)
    zero = lambda tr, te: np.zeros(len(te))  # noqa: E731 - the default: predicts 0
    wiggle = lambda tr, te: np.full(len(te), 0.01 * rng.normal())  # noqa: E731 - no better than 0
    fitted = lambda tr, te: x[te] * np.polyfit(x[tr], y[tr], 1)[0]  # noqa: E731 - clearly better
    assert choose([zero, wiggle], _score(y), folds).index == 0
    choice = choose([zero, wiggle, fitted], _score(y), folds)
    assert choice.index == 2 and "beats the default" in choice.reason
    assert choice.scores.shape == (3, len(folds)) and choice.mean_scores[2] > choice.mean_scores[0]


def test_a_failing_candidate_scores_nan_and_is_never_chosen() -> None:
    y = np.arange(40.0)
    folds = inner_folds(np.arange(40) % 2, 4, seed=0)

    def broken(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        raise ValueError("does not converge")

    choice = choose([lambda tr, te: y[te], broken], _score(y), folds)
    assert choice.index == 0 and np.isnan(choice.scores[1]).all() and choice.mean_scores[1] is None


def test_cox_penalty_choice_records_every_candidate() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(150, 6))
    t = rng.exponential(np.exp(-(0.8 * z[:, 0] - 0.5 * z[:, 1]))) * 300 + 1
    e = rng.random(150) < 0.6
    coef, info = fit_cox(z, t, e, seed=0)
    assert len(info["inner_c_index"]) >= len(RIDGE_ALPHAS) and info["chosen"] in info["inner_c_index"]
    assert coef[0] > 0 and coef[1] < 0
    _, info0 = fit_cox(z, t, e, select=False)
    assert info0["chosen"] == "ridge alpha=1" and info0["inner_c_index"] == {}
