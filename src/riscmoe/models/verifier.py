"""A member's model: a small network that says how sure it is that an input is its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from riscmoe.registry import register


# The fused Adam kernel (the one torch.optim.Adam(fused=True) calls; CPU support since
# torch 2.4), used directly; older builds take the same update written out.
def _fused_adam_or_none():
    fn = getattr(torch, "_fused_adam_", None)
    if fn is None:
        return None
    try:  # a CPU kernel exists from torch 2.4 on
        one = [torch.zeros(1)]
        fn(one, [torch.zeros(1)], [torch.zeros(1)], [torch.zeros(1)], [], [torch.ones(())], lr=0.1, beta1=0.9, beta2=0.999,
           weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
    except (RuntimeError, NotImplementedError, TypeError):
        return None
    return fn


_FUSED_ADAM = _fused_adam_or_none()


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

    def __init__(self, in_dim: int, hidden: int = 64, lr: float = 2e-3, seed: int = 0) -> None:
        self.in_dim, self.hidden, self.lr = in_dim, hidden, lr
        # fork_rng keeps the global torch RNG untouched: a seed fixes every member exactly
        # without side effects on the caller's own randomness. Only the CPU generator is
        # seeded (the one the layers draw from): ``torch.manual_seed`` also queues a seed for
        # each accelerator, with a stack trace each, which made loading 2,000 members 5 s slower.
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        for p in self.net.parameters():
            p.requires_grad_(False)
        # Adam's moments, one pair per parameter (see ``fit_step``).
        self._m = [torch.zeros_like(p) for p in self.net.parameters()]
        self._v = [torch.zeros_like(p) for p in self.net.parameters()]
        self._t = 0

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

    @torch.no_grad()
    def fit_step(self, X: torch.Tensor, target: torch.Tensor, steps: int = 1) -> float:
        """Take ``steps`` Adam steps on binary targets (B,) in {0, 1}, classes balanced.

        The loss is the class-balanced mean binary cross-entropy. Its gradients are written
        out (two layers need four products) and Adam (Kingma & Ba, 2015; betas 0.9 and
        0.999) is applied in place: no autograd graph and no ``torch.optim``, whose first
        use imports the compiler stack (over a second of start-up on CPU).
        """
        pos = target.sum()
        neg = len(target) - pos
        # Balance positives and negatives so that a member with few look-alikes in its
        # batch still learns to refuse them.
        w = torch.where(target > 0.5, 0.5 / pos.clamp(min=1), 0.5 / neg.clamp(min=1))  # sums to 1 (mean of weighted terms)
        W1, b1, W2, b2 = self.net[0].weight, self.net[0].bias, self.net[2].weight, self.net[2].bias
        loss_value = 0.0
        for _ in range(steps):
            pre = torch.addmm(b1, X, W1.T)  # (B, H)
            h = pre.clamp(min=0.0)
            z = (h @ W2.T).squeeze(1) + b2  # (B,)
            loss_value = float((w * F.binary_cross_entropy_with_logits(z, target, reduction="none")).sum())
            dz = w * (torch.sigmoid(z) - target)  # (B,)
            dh = dz[:, None] * W2 * (pre > 0)  # (B, H)
            grads = (dh.T @ X, dh.sum(0), (dz @ h)[None, :], dz.sum().reshape(1))
            self._adam(grads)
        return loss_value

    def _adam(self, grads: tuple[torch.Tensor, ...], beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self._t += 1
        params = list(self.net.parameters())
        if _FUSED_ADAM is not None:
            steps = [torch.tensor(float(self._t)) for _ in params]
            _FUSED_ADAM(params, list(grads), self._m, self._v, [], steps, lr=self.lr, beta1=beta1, beta2=beta2,
                        weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
            return
        c1, c2 = 1.0 - beta1**self._t, 1.0 - beta2**self._t
        for p, g, m, v in zip(params, grads, self._m, self._v):
            m.mul_(beta1).add_(g, alpha=1.0 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            denom = (v / c2).sqrt_().add_(eps)
            p.addcdiv_(m, denom, value=-self.lr / c1)

    def optimizer_state(self) -> dict[str, torch.Tensor]:
        """Adam's moments and step count, so that a reloaded model trains on as it would have."""
        state = {f"m{i}": m.contiguous() for i, m in enumerate(self._m)}
        state.update({f"v{i}": v.contiguous() for i, v in enumerate(self._v)})
        state["t"] = torch.tensor([self._t], dtype=torch.int64)
        return state

    def load_optimizer_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore ``optimizer_state``'s output; raises ValueError if it does not fit."""
        n = len(self._m)
        try:
            m = [state[f"m{i}"].float() for i in range(n)]
            v = [state[f"v{i}"].float() for i in range(n)]
            t = int(state["t"].reshape(-1)[0])
        except (KeyError, IndexError) as exc:
            raise ValueError(f"optimiser state lacks {exc}") from None
        if any(a.shape != p.shape for a, p in zip(m + v, list(self.net.parameters()) * 2)):
            raise ValueError("optimiser state does not match the model's parameter shapes")
        self._m, self._v, self._t = [a.clone() for a in m], [a.clone() for a in v], t

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state)

    def save_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The weights (``net.*``) and Adam's state (``optim.*``); notes: the sizes."""
        arrays = {f"net.{k}": v for k, v in self.state_dict().items()}
        arrays.update({f"optim.{k}": v for k, v in self.optimizer_state().items()})
        return arrays, {"in_dim": self.in_dim, "hidden": self.hidden}

    def load_state(self, arrays: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
        """Restore ``save_state``'s output; ValueError names the part that does not fit."""
        net = {k[len("net."):]: v for k, v in arrays.items() if k.startswith("net.")}
        optim = {k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")}
        try:
            self.load_state_dict(net)
        except RuntimeError as exc:
            raise ValueError(f"weights do not fit: {exc}") from None
        try:
            self.load_optimizer_state(optim)
        except ValueError as exc:
            raise ValueError(f"optimiser state: {exc}") from None


@register("model", "verifier")
@dataclass(frozen=True)
class VerifierKind:
    """The shipped member model: a one-hidden-layer MLP trained by Adam (``Verifier``).

    Args:
        hidden: width of the hidden layer.
        lr: Adam learning rate.
    """

    hidden: int = field(default=64, metadata={"min": 1})
    lr: float = field(default=2e-3, metadata={"above": 0.0})

    def build(self, in_dim: int, seed: int) -> Verifier:
        return Verifier(in_dim, hidden=self.hidden, lr=self.lr, seed=seed)
