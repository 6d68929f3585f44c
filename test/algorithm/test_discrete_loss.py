"""DeepHit / MTLR losses against pycox's formulas (pycox 0.3: ``nll_pmf``, ``nll_mtlr``, ``pair_rank_mat``,
``rank_loss_deephit_single``, ``DeepHitSingleLoss``), re-computed here in numpy from their published
definitions, so that they are checked where pycox is not installed; ``test_discrete_reference.py`` runs the
installed package itself (requirements-reference.txt)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithm.prognosis.discrete import DiscreteSettings, deephit_loss, nll_loss, pmf_from_logits


def _pad(phi: np.ndarray) -> np.ndarray:
    return np.concatenate([phi, np.zeros((phi.shape[0], 1))], axis=1)


def _pycox_nll_pmf(phi: np.ndarray, idx: np.ndarray, events: np.ndarray, eps: float = 1e-7) -> float:
    phi = _pad(phi)
    gamma = phi.max(1)
    cumsum = np.exp(phi - gamma[:, None]).cumsum(1)
    sum_ = cumsum[:, -1]
    part1 = (phi[np.arange(len(idx)), idx] - gamma) * events
    part2 = -np.log(np.maximum(sum_, 0) + eps)
    part3 = np.log(np.maximum(sum_ - cumsum[np.arange(len(idx)), idx], 0) + eps) * (1 - events)
    return float(np.mean(-(part1 + part2 + part3)))


def _pycox_rank_mat(idx: np.ndarray, events: np.ndarray) -> np.ndarray:
    n = len(idx)
    mat = np.zeros((n, n))
    for i in range(n):
        if events[i] == 0:
            continue
        for j in range(n):
            if idx[i] < idx[j] or (idx[i] == idx[j] and events[j] == 0):
                mat[i, j] = 1
    return mat


def _pycox_rank_loss(phi: np.ndarray, idx: np.ndarray, events: np.ndarray, sigma: float) -> float:
    phi = _pad(phi)
    pmf = np.exp(phi - phi.max(1, keepdims=True))
    pmf /= pmf.sum(1, keepdims=True)
    y = np.zeros_like(pmf)
    y[np.arange(len(idx)), idx] = 1.0
    r = pmf.cumsum(1) @ y.T  # r[a, b] = F_a(T_b)
    r = (np.diag(r)[None, :] - r).T  # R_ij = F_i(T_i) - F_j(T_i)
    loss = _pycox_rank_mat(idx, events) * np.exp(-r / sigma)
    return float(loss.mean(1).mean())


def _case(seed: int, n: int = 40, k: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=2.0, size=(n, k)), rng.integers(0, k, n), (rng.random(n) < 0.5).astype(float)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deephit_loss_is_pycoxs(seed: int) -> None:
    phi, idx, events = _case(seed)
    s = DiscreteSettings()
    assert (s.alpha, s.sigma) == (0.2, 0.1)  # pycox's DeepHitSingle defaults
    expected = s.alpha * _pycox_nll_pmf(phi, idx, events) + (1 - s.alpha) * _pycox_rank_loss(phi, idx, events, s.sigma)
    pmf = pmf_from_logits(torch.as_tensor(phi, dtype=torch.float64), "deephit")
    ours = deephit_loss(pmf, torch.as_tensor(idx), torch.as_tensor(events > 0), s.alpha, s.sigma)
    assert float(ours) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("seed", [3, 4])
def test_mtlr_nll_is_pycoxs(seed: int) -> None:
    phi, idx, events = _case(seed)
    phi = phi / 4  # summed logits: keep the tail masses far above pycox's epsilon
    reverse_cumsum = np.flip(np.flip(phi, 1).cumsum(1), 1)  # pycox's cumsum_reverse
    expected = _pycox_nll_pmf(reverse_cumsum, idx, events)
    pmf = pmf_from_logits(torch.as_tensor(phi, dtype=torch.float64), "mtlr")
    ours = float(nll_loss(pmf, torch.as_tensor(idx), torch.as_tensor(events > 0)))
    assert ours == pytest.approx(expected, rel=1e-6)
