"""The kit's DeepHit / MTLR against the reference implementation, pycox 0.3.0 (with torchtuples 0.2.2).

pycox and torchtuples are pinned in requirements-dev.txt and installed with ``--no-deps`` (test-only; the
images never get them): pycox declares numba, h5py, feather-format and py7zr, which the kit does not pin.
Of those, only numba and h5py are imported on the path to ``pycox.models``: h5py by the dataset
downloaders (never called here) and numba by ``@numba.jit`` / ``@numba.njit`` on plain-Python loops
(``pair_rank_mat``, the evaluation helpers). The fixture below puts a stand-in for each into
``sys.modules`` for these tests only: the stand-in's ``jit`` runs the decorated Python function unchanged
(what numba compiles it from, so results are the same, only slower). pycox's models, losses and label
transforms then run as published.

Same features, split, cut points, initial weights (same torch seed and architecture), optimiser (full-batch
Adam, same lr / weight decay / epochs) and dropout masks (the torchtuples data loader gets its own generator,
so the global torch RNG draws the same masks in both loops): the kit's risks and pycox's agree.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

from algorithm.prognosis.discrete import (
    DiscreteSettings,
    build_mlp,
    deephit_loss,
    discrete_labels,
    fit_discrete,
    nll_loss,
    pmf_from_logits,
    time_grid,
)
from algorithm.tabular.cv import harrell_c


class _Compiled:
    """numba's dispatcher stand-in: calls the plain function (pycox checks that the class comes from numba)."""

    __module__ = "numba.stand_in"

    def __init__(self, func: Callable[..., Any]) -> None:
        self.py_func = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.py_func(*args, **kwargs)


def _jit(*args: Any, **kwargs: Any) -> Any:
    return _Compiled(args[0]) if args and callable(args[0]) else _Compiled


@pytest.fixture(scope="module")
def pycox() -> Iterator[types.SimpleNamespace]:
    pytest.importorskip("torchtuples", reason="torchtuples (pinned in requirements-dev.txt) is not installed")
    stand_ins = {"numba": types.ModuleType("numba"), "h5py": types.ModuleType("h5py")}
    stand_ins["numba"].jit = stand_ins["numba"].njit = _jit  # type: ignore[attr-defined]
    stand_ins["numba"].prange = range  # type: ignore[attr-defined]
    added = [name for name in stand_ins if name not in sys.modules]
    sys.modules.update({name: stand_ins[name] for name in added})
    try:
        models = pytest.importorskip("pycox.models", reason="pycox (pinned in requirements-dev.txt) is not installed")
        from pycox.models import data, loss

        yield types.SimpleNamespace(
            DeepHitSingle=models.DeepHitSingle, MTLR=models.MTLR, loss=loss, pair_rank_mat=data.pair_rank_mat
        )
    finally:
        for name in added:
            sys.modules.pop(name, None)


def _cohort(n: int, seed: int, p: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised features, follow-up in whole days (ties) and events driven by three of the features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)).astype(np.float32)
    lp = 0.7 * x[:, 0] - 0.5 * x[:, 2] + 0.3 * x[:, 3]
    t = rng.exponential(np.exp(-lp)) * 500
    c = rng.uniform(100, 1500, n)
    return x, np.minimum(t, c).round() + 1, t <= c


def test_labels_and_cuts_are_pycoxs(pycox: types.SimpleNamespace) -> None:
    for seed in range(5):
        _x, t, e = _cohort(150, seed)
        cuts = time_grid(t, e, 10)
        assert cuts[0] == 0.0 and np.all(np.diff(cuts) > 0)
        t_new = np.concatenate([t, [cuts[-1] + 50.0, cuts[-1] + 10.0, 0.5 * cuts[1]]])  # past the grid, early
        e_new = np.concatenate([e, [True, False, False]])
        idx, ev = discrete_labels(t_new, e_new, cuts)
        ref_idx, ref_ev = pycox.DeepHitSingle.label_transform(cuts).transform(t_new, e_new.astype(float))
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(ev, ref_ev.astype(bool))


@pytest.mark.parametrize("seed", [0, 1])
def test_losses_are_pycoxs(pycox: types.SimpleNamespace, seed: int) -> None:
    _x, t, e = _cohort(60, seed)
    cuts = time_grid(t, e, 8)
    idx, ev = discrete_labels(t, e, cuts)
    phi = torch.as_tensor(np.random.default_rng(seed).normal(scale=2.0, size=(len(t), len(cuts))), dtype=torch.float32)
    i, evt = torch.as_tensor(idx), torch.as_tensor(ev)
    s = DiscreteSettings()
    rank_mat = torch.as_tensor(pycox.pair_rank_mat(idx, ev.astype(float)))  # float32, as pycox
    ref = pycox.loss.DeepHitSingleLoss(s.alpha, s.sigma)(phi, i, evt.float(), rank_mat)
    ours = deephit_loss(pmf_from_logits(phi, "deephit"), i, evt, s.alpha, s.sigma)
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)
    ref = pycox.loss.NLLMTLRLoss()(phi / 4, i, evt.float())
    ours = nll_loss(pmf_from_logits(phi / 4, "mtlr"), i, evt)
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)


def _rmst_risk(cuts: np.ndarray, surv: np.ndarray) -> np.ndarray:
    widths = np.diff(np.concatenate([[0.0], cuts]))
    before = np.concatenate([np.ones((len(surv), 1)), surv[:, :-1]], axis=1)
    return -(before * widths).sum(axis=1)


def _fit_pycox(
    pycox: types.SimpleNamespace, kind: str, x: np.ndarray, t: np.ndarray, e: np.ndarray, s: DiscreteSettings
) -> tuple[Any, np.ndarray]:
    """pycox's model of ``kind`` trained on (x, t, e) with the kit's cuts, architecture, seed and optimiser."""
    cuts = time_grid(t, e, s.n_bins)
    cls = pycox.DeepHitSingle if kind == "deephit" else pycox.MTLR
    idx, ev = cls.label_transform(cuts).transform(t, e.astype(float))
    torch.manual_seed(0)
    net = build_mlp(x.shape[1], len(cuts), s.hidden, s.dropout)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    if kind == "deephit":
        model = cls(net, opt, alpha=s.alpha, sigma=s.sigma, duration_index=cuts)
    else:  # pycox's MTLR loss plus the kit's L2 penalty on the output layer (the same objective)
        nll = pycox.loss.NLLMTLRLoss()
        last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
        model = cls(net, opt, duration_index=cuts, loss=lambda *a: nll(*a) + s.l2 * last.weight.pow(2).sum())
    loader = model.make_dataloader((x, (idx, ev.astype(np.float32))), batch_size=len(x), shuffle=False)
    loader.generator = torch.Generator().manual_seed(0)  # keeps the global RNG for the dropout masks
    model.fit_dataloader(loader, epochs=s.epochs, verbose=False)
    return model, cuts


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["deephit", "mtlr"])
def test_trained_model_equals_pycoxs_on_the_same_split(pycox: types.SimpleNamespace, kind: str) -> None:
    x, t, e = _cohort(260, 3)
    tr, te = np.arange(200), np.arange(200, 260)
    s = DiscreteSettings(epochs=60)  # the named configurations' architecture, dropout, lr, alpha / sigma, l2
    head = fit_discrete(kind, x[tr], t[tr], e[tr], s, seed=0)
    model, cuts = _fit_pycox(pycox, kind, x[tr], t[tr], e[tr], s)
    np.testing.assert_allclose(head.grid, cuts)
    surv_ref = model.predict_surv(x[te], numpy=True)
    np.testing.assert_allclose(head.survival(x[te]), surv_ref, atol=2e-3)
    c_kit = harrell_c(t[te], e[te], head.risk(x[te]))
    c_ref = harrell_c(t[te], e[te], _rmst_risk(cuts, surv_ref))
    assert abs(c_kit - c_ref) <= 0.005, (c_kit, c_ref)
