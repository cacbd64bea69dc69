"""The shipped routing policies: ``first``, ``best`` and ``mixture``."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from riscmoe.meta.protocol import Verdict
from riscmoe.registry import register


def by_rank(verdict: Verdict, accepted: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best-ranked members of each input, accepting ones first: (order, valid), (B, k)."""
    rank = verdict.rank
    # Members that do not accept sit below every accepting one (rank keeps its resolution
    # where confidences are near 0 or 1).
    key = torch.where(accepted, rank, rank - (rank.max() - rank.min() + 1.0))
    order = key.topk(k, dim=1).indices
    return order, accepted.gather(1, order)


def _agreeing(verdict: Verdict, order: torch.Tensor, probs: torch.Tensor, model_weight: float) -> torch.Tensor:
    """(B,) position of the candidate whose meta-model and model agree most, among those that ran (probs >= 0):
    the highest ``log posterior + model_weight * log p(mine)``."""
    log_post = verdict.log_posterior.gather(1, order)  # (B, k)
    combined = log_post + model_weight * torch.log(probs.clamp(min=1e-12))
    return torch.where(probs >= 0, combined, torch.full_like(combined, float("-inf"))).argmax(1)


def _answer(verdict: Verdict, order: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor,
            pick: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Label, member and confidence (meta-model confidence times model probability) of the picked candidates."""
    B = len(order)
    answered = (probs >= 0).any(1)
    chosen = order.gather(1, pick[:, None]).squeeze(1)
    member = torch.where(answered, chosen, torch.full((B,), -1, dtype=torch.long))
    label = torch.where(answered, labels[chosen], torch.full((B,), -1, dtype=torch.long))
    conf = probs.gather(1, pick[:, None]).squeeze(1) * verdict.conf.gather(1, chosen[:, None]).squeeze(1)
    return label, member, torch.where(answered, conf, torch.zeros(B))


@register("policy", "first")
@dataclass(frozen=True)
class First:
    """Members in the order they were created: the first whose model is sure the input is
    its own (probability of "mine" at least ``sure``) answers; when none that ran is sure,
    the one whose meta-model and model agree most (``best``'s rule).

    Args:
        sure: a model's probability of "mine" from which the cascade stops.
        model_weight: weight of a model's log probability against its meta-model's log
            posterior when choosing among unsure ones.
    """

    sure: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})
    model_weight: float = field(default=0.5, metadata={"min": 0.0})

    @property
    def stop_at(self) -> float | None:
        return self.sure

    def candidates(self, verdict: Verdict, accepted: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, M = accepted.shape
        idx = torch.arange(M, dtype=verdict.conf.dtype).expand(B, M)
        key = torch.where(accepted, -idx, -idx - M)  # accepted first, then by creation order
        order = key.topk(k, dim=1).indices
        valid = accepted.gather(1, order)
        return order, valid, torch.zeros_like(valid)

    def combine(self, verdict: Verdict, order: torch.Tensor, probs: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pick = _agreeing(verdict, order, probs, self.model_weight)
        claimed = (probs >= self.sure).float()
        pick = torch.where(claimed.any(1), claimed.argmax(1), pick)  # the first sure model wins
        return _answer(verdict, order, probs, labels, pick)


@register("policy", "best")
@dataclass(frozen=True)
class Best:
    """The most confident meta-model goes first; the next runs while the models that ran are
    unsure, or while its meta-model's log posterior lies within ``close`` nats of the first
    one's (a close call, which the models settle). The answer is the member whose
    meta-model and model agree most: the highest ``log posterior + model_weight * log
    p(mine)`` among those that ran.

    Args:
        sure: a model's probability of "mine" from which the cascade stops.
        model_weight: weight of a model's log probability against its meta-model's log posterior.
        close: a further member also runs when its log posterior is within this many nats
            of the top one's (0 turns this off).
    """

    sure: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})
    model_weight: float = field(default=0.5, metadata={"min": 0.0})
    close: float = field(default=3.0, metadata={"min": 0.0})

    @property
    def stop_at(self) -> float | None:
        return self.sure

    def candidates(self, verdict: Verdict, accepted: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        order, valid = by_rank(verdict, accepted, k)
        if self.close > 0:
            log_post = verdict.log_posterior.gather(1, order)  # (B, k)
            forced = valid[:, :1] & (log_post[:, :1] - log_post < self.close)
        else:
            forced = torch.zeros_like(valid)
        return order, valid, forced

    def combine(self, verdict: Verdict, order: torch.Tensor, probs: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pick = _agreeing(verdict, order, probs, self.model_weight)
        return _answer(verdict, order, probs, labels, pick)


@register("policy", "mixture")
@dataclass(frozen=True)
class Mixture:
    """The ``max_experts`` most confident accepting members all run; their outputs are
    combined per label, weighted by meta-model confidence (a standard mixture of experts).
    The answer's confidence is the weighted vote for it over at least one unit of
    confidence; its member is the one that gave the vote most weight."""

    @property
    def stop_at(self) -> float | None:
        return None

    def candidates(self, verdict: Verdict, accepted: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        order, valid = by_rank(verdict, accepted, k)
        return order, valid, torch.zeros_like(valid)

    def combine(self, verdict: Verdict, order: torch.Tensor, probs: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B = len(order)
        ran = probs >= 0
        conf = verdict.conf.gather(1, order)
        cand_labels = labels[order]  # (B, k)
        n_labels = int(labels.max()) + 1
        weight = torch.where(ran, conf * probs.clamp(min=0.0), torch.zeros_like(probs))
        scores = torch.zeros(B, n_labels).scatter_add_(1, cand_labels, weight)
        best = scores.argmax(1)
        total = torch.where(ran, conf, torch.zeros_like(probs)).sum(1)
        top = torch.where(ran & (cand_labels == best[:, None]), weight, torch.full_like(weight, -1.0)).argmax(1)
        answered = ran.any(1)
        none = torch.full((B,), -1, dtype=torch.long)
        label = torch.where(answered, best, none)
        member = torch.where(answered, order.gather(1, top[:, None]).squeeze(1), none)
        confidence = torch.where(answered, scores.gather(1, best[:, None]).squeeze(1) / total.clamp(min=1.0), torch.zeros(B))
        return label, member, confidence
