"""Discrete-time neural survival models, DeepHit and MTLR, on the imputed, standardised feature vector.

Both follow pycox 0.3 (``DeepHitSingle``, ``MTLR``; the reference implementation). The feature vector
``z`` (p,) goes through an MLP to one logit per cut point of a grid ``0 = c_0 < c_1 < ... < c_K`` (pycox's
``duration_index``; :func:`time_grid`: ``c_1..c_K`` are quantiles of the training event times); a last
logit fixed at 0 stands for "no event up to c_K" (pycox's ``pad_col``). Labels as pycox's
``LabTransDiscreteTime(cuts)`` (:func:`discrete_labels`): an event goes to the first cut at or after its
time, a censoring to the last cut at or before it, a time past ``c_K`` is censored at ``c_K``.

- **DeepHit** (Lee et al., AAAI 2018, single risk): probability mass ``pmf = softmax([logits, 0])`` (mass
  at each cut, then beyond ``c_K``); loss as pycox's ``DeepHitSingleLoss``:
  ``alpha x NLL + (1 - alpha) x ranking``, with the negative log-likelihood (event at cut j:
  ``-log pmf[j]``; censored at cut ``j``: ``-log sum_{k>j} pmf[k]``; mean over cases) and the ranking
  loss ``sum_{i,k} R_ik exp(-(F_i(t_i) - F_k(t_i)) / sigma) / n^2`` (F = cumulative incidence; ``R_ik`` = 1
  when case i had an event and its cut index is below k's, or equal with k censored; the sum over
  all n^2 entries divided by n^2, as pycox's ``mean``); pycox's defaults ``alpha`` 0.2, ``sigma`` 0.1.
- **MTLR** (Yu et al., NeurIPS 2011): the same likelihood on ``pmf = softmax(reverse_cumsum([logits, 0]))``
  (pycox's ``nll_mtlr``), plus the kit's L2 penalty on the output layer (``l2``; 0 = pycox's loss).

Training: full-batch Adam (``lr``, ``weight_decay``) for ``epochs`` steps, seeded. On the same features,
cuts, initial weights and optimiser, pycox's own ``fit`` gives the same model
(``test/algorithm/test_discrete_reference.py``, against the installed package). Before issue 17 the kit
labelled a censoring with the cut *after* it (one interval of survival too many) and had no cut at 0.

Survival curve: ``S(c_k) = 1 - sum_{j <= k} pmf[j]`` at the cuts (a step function, ``S = 1`` before ``c_0``),
as pycox's ``predict_surv``. Risk (higher = earlier event) = minus the restricted mean survival time up to
``c_K``, in days: ``-sum_{k=1}^{K} (c_k - c_{k-1}) S(c_{k-1})``; always finite.

The model is kept here (about 60 lines) rather than run through ``pycox`` at inference: pycox is
unmaintained and pulls numba, h5py, feather and py7zr into the image; ``torchsurv`` 0.2 has no DeepHit or
MTLR. Parameters are a plain state_dict; the architecture and grid live in model.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from algorithm.prognosis.risk import FitData, Preprocessing, RiskModel

DISCRETE_KINDS = ("deephit", "mtlr")


@dataclass
class DiscreteSettings:
    """Architecture and training settings of a DeepHit / MTLR head."""

    hidden: tuple[int, ...] = (32,)
    dropout: float = 0.2
    n_bins: int = 10
    epochs: int = 100
    lr: float = 5e-3
    weight_decay: float = 1e-3
    alpha: float = 0.2  # DeepHit: weight of the NLL; the ranking loss gets 1 - alpha (pycox's DeepHitSingle)
    sigma: float = 0.1  # DeepHit: scale of the ranking loss
    l2: float = 1e-3  # MTLR: L2 penalty on the output layer

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiscreteSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "hidden" in known:
            known["hidden"] = tuple(int(h) for h in known["hidden"])
        return cls(**known)


def time_grid(time: np.ndarray, event: np.ndarray, n_bins: int) -> np.ndarray:
    """Cut points ``0 = c_0 < c_1 < ... < c_K`` (days): 0, then quantiles of the event times (all times if
    no event), unique, > 0. The network has one output per cut (pycox's ``duration_index``)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    base = time[event] if event.sum() >= 2 else time
    q = np.quantile(base, np.linspace(0.0, 1.0, n_bins + 1)[1:])
    grid = np.unique(np.round(q[q > 0], 6))
    if grid.size == 0:
        grid = np.array([max(float(time.max()), 1.0)])
    return np.concatenate([[0.0], grid])


def discrete_labels(time: np.ndarray, event: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cut index, event) of each case as pycox's ``LabTransDiscreteTime(cuts).transform``: an event goes to
    the first cut at or after its time, a censoring to the last cut at or before it; a time past the last
    cut is censored there (``cuts[0]`` must be 0)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool).copy()
    cuts = np.asarray(cuts, dtype=np.float64)
    beyond = time > cuts[-1]
    time = np.where(beyond, cuts[-1], time)
    event[beyond] = False
    after = np.searchsorted(cuts, time, side="left")  # first cut >= t
    before = np.searchsorted(cuts, time, side="right") - 1  # last cut <= t
    return np.where(event, after, np.maximum(before, 0)).astype(np.int64), event


def build_mlp(n_in: int, n_out: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def pmf_from_logits(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """(n, K) logits -> (n, K+1) probability mass (the last column: no event up to ``c_K``)."""
    full = torch.cat([logits, torch.zeros_like(logits[:, :1])], dim=1)
    if kind == "mtlr":
        full = torch.flip(torch.cumsum(torch.flip(full, [1]), dim=1), [1])
    return torch.softmax(full, dim=1)


def nll_loss(pmf: torch.Tensor, idx: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Discrete-time negative log-likelihood as pycox's ``nll_pmf`` (see the module docstring); ``idx``
    from :func:`discrete_labels`."""
    eps = 1e-7
    p_event = pmf.gather(1, idx[:, None])[:, 0]
    surv_after = 1.0 - torch.cumsum(pmf, dim=1).gather(1, idx[:, None])[:, 0]
    ll = torch.where(event, torch.log(p_event + eps), torch.log(surv_after.clamp(min=0.0) + eps))
    return -ll.mean()


def rank_loss(
    pmf: torch.Tensor, idx: torch.Tensor, event: torch.Tensor, time: torch.Tensor | None, sigma: float
) -> torch.Tensor:
    """DeepHit's ranking loss as pycox's ``rank_loss_deephit_single``: sum over the comparable pairs (i, k)
    of ``exp(-(F_i(t_i) - F_k(t_i)) / sigma)``, divided by n^2. Pairs: an event for i and interval index
    ``idx_i < idx_k``, or ``idx_i == idx_k`` with k censored (pycox's ``pair_rank_mat``; ``time`` unused)."""
    n = pmf.shape[0]
    cif = torch.cumsum(pmf, dim=1)
    f_at = cif[:, idx]  # (n, n): F_row(t_col)
    diag = f_at.diagonal()
    pairs = event[:, None] & ((idx[:, None] < idx[None, :]) | ((idx[:, None] == idx[None, :]) & ~event[None, :]))
    diff = diag[:, None] - f_at.T  # F_i(t_i) - F_k(t_i)
    return torch.where(pairs, torch.exp(-diff / sigma), torch.zeros_like(diff)).sum() / (n * n)


def deephit_loss(pmf: torch.Tensor, idx: torch.Tensor, event: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """pycox's ``DeepHitSingleLoss``: ``alpha * NLL + (1 - alpha) * ranking`` (module docstring)."""
    return alpha * nll_loss(pmf, idx, event) + (1.0 - alpha) * rank_loss(pmf, idx, event, None, sigma)


@dataclass
class DiscreteSurvival:
    """A fitted DeepHit / MTLR head: kind, settings, grid and the MLP (parameters in ``net``)."""

    kind: str
    n_features: int
    grid: list[float]
    settings: DiscreteSettings = field(default_factory=DiscreteSettings)
    net: nn.Module | None = None
    history: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        return build_mlp(self.n_features, len(self.grid), self.settings.hidden, self.settings.dropout)

    def pmf(self, z: np.ndarray) -> np.ndarray:
        assert self.net is not None
        self.net.eval()
        with torch.no_grad():
            logits = self.net(torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(-1, self.n_features))
            return pmf_from_logits(logits, self.kind).double().numpy()

    def survival(self, z: np.ndarray) -> np.ndarray:
        """(n, K + 1) survival probabilities at the cuts ``c_0 = 0 .. c_K``."""
        pmf = self.pmf(z)
        surv = 1.0 - np.cumsum(pmf, axis=1)[:, :-1]
        return np.clip(np.where(np.isfinite(surv), surv, 1.0), 0.0, 1.0)

    def risk(self, z: np.ndarray) -> np.ndarray:
        """Minus the restricted mean survival time up to the last grid time (days)."""
        surv = self.survival(z)
        grid = np.asarray(self.grid)
        widths = np.diff(np.concatenate([[0.0], grid]))
        before = np.concatenate([np.ones((len(surv), 1)), surv[:, :-1]], axis=1)  # S on (c_{k-1}, c_k]
        return -(before * widths).sum(axis=1)

    def to_dict(self, weights: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n_features": self.n_features,
            "time_grid_days": list(self.grid),
            "settings": self.settings.to_dict(),
            "weights": weights,
            "history": self.history,
        }

    def save_weights(self, path: Path) -> None:
        assert self.net is not None
        torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model_dir: Path) -> DiscreteSurvival:
        kind = str(data["kind"])
        if kind not in DISCRETE_KINDS:
            raise ValueError(f"unknown discrete survival kind {kind!r}")
        head = cls(
            kind=kind,
            n_features=int(data["n_features"]),
            grid=[float(t) for t in data["time_grid_days"]],
            settings=DiscreteSettings.from_dict(data.get("settings", {})),
            history=dict(data.get("history", {})),
        )
        name = str(data["weights"])
        if Path(name).name != name:
            raise ValueError(f"weights file {name!r} must be a plain file name beside model.json")
        net = head.build()
        state = torch.load(Path(model_dir) / name, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        head.net = net
        return head


def fit_discrete(
    kind: str,
    z: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    settings: DiscreteSettings | None = None,
    seed: int = 0,
) -> DiscreteSurvival:
    """Fit a DeepHit or MTLR head on standardised ``z`` (n, p, no NaN) by full-batch Adam."""
    if kind not in DISCRETE_KINDS:
        raise ValueError(f"unknown discrete survival kind {kind!r}")
    settings = settings or DiscreteSettings()
    grid = time_grid(time, event, settings.n_bins)
    head = DiscreteSurvival(kind, int(z.shape[1]), [float(t) for t in grid], settings)
    torch.manual_seed(seed)
    net = head.build()
    x = torch.as_tensor(np.asarray(z, dtype=np.float32))
    labels, observed = discrete_labels(time, event, grid)
    idx = torch.as_tensor(labels, dtype=torch.long)
    e = torch.as_tensor(observed)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    losses = []
    for _ in range(max(1, settings.epochs)):
        net.train()
        opt.zero_grad()
        pmf = pmf_from_logits(net(x), kind)
        deephit = kind == "deephit"
        loss = deephit_loss(pmf, idx, e, settings.alpha, settings.sigma) if deephit else nll_loss(pmf, idx, e)
        if kind == "mtlr" and settings.l2 > 0:
            last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
            loss = loss + settings.l2 * last.weight.pow(2).sum()
        if not torch.isfinite(loss):
            break
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    head.net = net
    head.history = {"epochs_run": len(losses), "final_loss": round(losses[-1], 5) if losses else None}
    return head


@dataclass
class DiscreteRisk(RiskModel):
    """DeepHit / MTLR as a risk model (:mod:`.risk`): the head on the standardised features; ``kind`` is the
    head's. Its MLP parameters are a state_dict beside ``model.json`` (``<role>_<kind>.pt``)."""

    has_curves: ClassVar[bool] = True
    head: DiscreteSurvival | None = None
    weights_file: str = ""

    @property  # type: ignore[override]
    def kind(self) -> str:  # deephit | mtlr, from the head
        return self.head.kind if self.head is not None else "deephit"

    def risk(self, x: np.ndarray) -> np.ndarray:
        assert self.head is not None
        return self.head.risk(self.standardised(x))

    def survival_matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.head is not None
        return np.asarray(self.head.grid, dtype=np.float64), self.head.survival(self.standardised(self._rows(x)))

    def params(self) -> dict[str, Any]:
        assert self.head is not None
        return {"network": self.head.to_dict(self.weights_file)}

    def save_files(self, model_dir: Path, role: str) -> None:
        assert self.head is not None
        self.weights_file = self.weights_file or f"{role}_{self.kind}.pt"
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        self.head.save_weights(Path(model_dir) / self.weights_file)

    @classmethod
    def from_params(cls, prep: Preprocessing, data: Mapping[str, Any], model_dir: Path | None) -> DiscreteRisk:
        if model_dir is None:
            raise ValueError(f"a {data['kind']} model needs its folder to load the weights")
        head = DiscreteSurvival.from_dict(data["network"], Path(model_dir))
        if head.n_features != len(prep.feature_names):
            raise ValueError("network inputs and feature_names differ in length")
        missing = str(data.get("missing", "impute"))
        return cls(prep, missing=missing, head=head, weights_file=str(data["network"]["weights"]))

    @classmethod
    def fit(cls, data: FitData) -> DiscreteRisk:
        settings = data.options.get("discrete_settings")
        head = fit_discrete(data.kind, data.z, data.time, data.event, settings, seed=data.seed)
        return cls(data.prep, head=head)
