"""A member's model: a small network that says how sure it is that an input is its own."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Verifier:
    """A small MLP that scores "this input belongs to my member" (one logit per input).

    The model only runs on inputs its meta-model (or the routing policy) lets through, so
    its job is the fine border: telling its class from the look-alikes that reach it.

    Args:
        in_dim: flattened input size D.
        hidden: width of the hidden layer.
        lr: Adam learning rate.
        seed: seed of the initial weights.
    """

    def __init__(self, in_dim: int, hidden: int = 128, lr: float = 2e-3, seed: int = 0) -> None:
        self.in_dim, self.hidden, self.lr = in_dim, hidden, lr
        # fork_rng keeps the global torch RNG untouched: a seed fixes every member exactly
        # without side effects on the caller's own randomness.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        try:
            # One fused kernel per step (CPU support arrived in torch 2.4).
            self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @property
    def macs_per_input(self) -> int:
        """Multiply-accumulates for one forward pass (a machine-independent cost)."""
        return self.in_dim * self.hidden + self.hidden

    @torch.no_grad()
    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B,) logits of "mine"."""
        return self.net(X).squeeze(1)

    def fit_step(self, X: torch.Tensor, target: torch.Tensor, steps: int = 1) -> float:
        """Take ``steps`` Adam steps on binary targets (B,) in {0, 1}, classes balanced."""
        pos = target.sum()
        neg = len(target) - pos
        # Balance positives and negatives so that a member with few look-alikes in its
        # batch still learns to refuse them.
        w = torch.where(target > 0.5, 0.5 / pos.clamp(min=1), 0.5 / neg.clamp(min=1)) * len(target)
        loss_value = 0.0
        for _ in range(steps):
            self.opt.zero_grad(set_to_none=True)
            loss = F.binary_cross_entropy_with_logits(self.net(X).squeeze(1), target, weight=w)
            loss.backward()
            self.opt.step()
            loss_value = float(loss.detach())
        return loss_value

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state)
