"""The controller: a generic cascade that routes each input to members, under a routing policy."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from riscmoe.collection.collection import Collection
from riscmoe.controller.cascade import cascade
from riscmoe.controller.protocol import RoutingPolicy
from riscmoe.meta.protocol import Verdict
from riscmoe import registry


@dataclass
class Routing:
    """What the controller decided for a batch.

    label: (B,) label id answered, -1 for "unknown" (no member accepted, nor came near).
    member: (B,) index of the member that answered, -1 if none.
    n_run: (B,) how many members' models ran on each input.
    confidence: (B,) confidence of the answer in [0, 1] (0 when unknown), as the policy
        combines it (the shipped ones: the answering member's meta-model confidence times
        its model's probability, or a mixture's confidence-weighted vote). The model alone
        cannot tell an input unlike anything it was trained on; the meta-model's
        typicality test can, so both must agree for a high confidence.
    model_runs: (M,) inputs each member's model ran on.
    """

    label: torch.Tensor
    member: torch.Tensor
    n_run: torch.Tensor
    confidence: torch.Tensor
    model_runs: torch.Tensor


class Controller:
    """Route inputs to members: candidates from the policy, models run in cascade (``riscmoe.controller.cascade``), answers combined by the policy.

    Every policy works over the members whose meta-model confidence reaches
    ``threshold``. When none accepts but the most confident one is near its threshold (its
    confidence at least ``floor``), that member alone counts as accepting: the input is
    unusual for what the member knows, not unlike everything known, and it answers with the
    low confidence it has. Below ``floor`` the answer is "unknown" (label -1).

    Args:
        policy: a ``RoutingPolicy``, or the name of a registered one (``first``, ``best``, ``mixture``).
        threshold: meta-model confidence needed to accept.
        max_experts: most members whose model may run on one input.
        floor: least confidence for which an input no member accepts still gets an answer
            from the most confident member (0: never; at or above ``threshold``: the same).
    """

    def __init__(self, policy: RoutingPolicy | str = "best", threshold: float = 1e-3, max_experts: int = 3, floor: float = 0.0) -> None:
        policy = registry.spec("policy", policy)
        if not isinstance(policy, RoutingPolicy):
            raise TypeError(f"policy must be a routing policy (candidates, combine, stop_at: see riscmoe.controller.protocol) "
                            f"or one of {', '.join(registry.kinds('policy'))}; got {type(policy).__name__}")
        self.policy, self.threshold, self.max_experts, self.floor = policy, threshold, max_experts, floor

    def accepted(self, conf: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """(B, M) members that accept each input, with the near-threshold top member of an input nobody accepts."""
        accepted = conf >= self.threshold
        if 0.0 < self.floor < self.threshold:
            near = ~accepted.any(1) & (conf.max(1).values >= self.floor)
            if near.any():
                rows = torch.nonzero(near).squeeze(1)
                accepted[rows, rank[rows].argmax(1)] = True
        return accepted

    @torch.no_grad()
    def route(self, collection: Collection, X: torch.Tensor, meta: Verdict) -> Routing:
        """Decide every input of a batch given its features X (B, F) and the bank's verdict on them."""
        conf = meta.conf
        B, M = conf.shape
        n_run = torch.zeros(B, dtype=torch.long)
        runs = torch.zeros(M, dtype=torch.long)
        if M == 0:
            none = torch.full((B,), -1, dtype=torch.long)
            return Routing(none, none.clone(), n_run, torch.zeros(B), runs)
        ran = cascade(self.policy, meta, self.accepted(conf, meta.rank), min(self.max_experts, M),
                      lambda rows, members: collection.run_models(X, rows, members, runs))
        label, member, confidence = self.policy.combine(meta, ran.order, ran.probs, collection.labels())
        return Routing(label, member, ran.n_run, confidence, runs)
