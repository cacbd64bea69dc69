"""The shipped routing policies: ``first``, ``best`` and ``mixture``.

They are shared by every domain: recognition hands them torch tensors, the functions domain
numpy arrays (``riscmoe.controller.arrays`` keeps each in its own type), and the shapes below
hold for both. ``Tensor`` stands for either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from riscmoe.controller.arrays import ops
from riscmoe.meta.protocol import Verdict
from riscmoe.registry import ALL_DOMAINS, register

Tensor = Any  # a torch tensor or a numpy array


def by_rank(verdict: Verdict, accepted: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k best-ranked members of each input, accepting ones first: (order, valid), (B, k)."""
    xp, rank = ops(verdict.rank), verdict.rank
    # Members that do not accept sit below every accepting one (rank keeps its resolution
    # where confidences are near 0 or 1).
    key = xp.where(accepted, rank, rank - (rank.max() - rank.min() + 1.0))
    order = xp.topk(key, k)
    return order, xp.gather(accepted, order)


def _agreeing(verdict: Verdict, order: Tensor, probs: Tensor, model_weight: float) -> Tensor:
    """(B,) position of the candidate whose meta-model and model agree most, among those that ran (probs >= 0):
    the highest ``log posterior + model_weight * log p(mine)``."""
    xp = ops(probs)
    log_post = xp.gather(verdict.log_posterior, order)  # (B, k)
    combined = log_post + model_weight * xp.log_clamped(probs, 1e-12)
    return xp.where(probs >= 0, combined, xp.full(combined.shape, float("-inf"), dtype=combined.dtype)).argmax(1)


def _answer(verdict: Verdict, order: Tensor, probs: Tensor, labels: Tensor, pick: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Label, member and confidence (meta-model confidence times model probability) of the picked candidates."""
    xp, B = ops(probs), len(order)
    answered = (probs >= 0).any(1)
    chosen = xp.gather(order, pick[:, None])[:, 0]
    member = xp.where(answered, chosen, xp.full((B,), -1, dtype=xp.long))
    label = xp.where(answered, labels[chosen], xp.full((B,), -1, dtype=xp.long))
    conf = xp.gather(probs, pick[:, None])[:, 0] * xp.gather(verdict.conf, chosen[:, None])[:, 0]
    return label, member, xp.where(answered, conf, xp.zeros((B,)))


@register("policy", "first", domains=ALL_DOMAINS)
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

    def candidates(self, verdict: Verdict, accepted: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
        xp, (B, M) = ops(accepted), accepted.shape
        idx = xp.expand(xp.arange(M, dtype=verdict.conf.dtype), (B, M))
        key = xp.where(accepted, -idx, -idx - M)  # accepted first, then by creation order
        order = xp.topk(key, k)
        valid = xp.gather(accepted, order)
        return order, valid, valid & False

    def combine(self, verdict: Verdict, order: Tensor, probs: Tensor,
                labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        xp = ops(probs)
        pick = _agreeing(verdict, order, probs, self.model_weight)
        claimed = xp.as_float(probs >= self.sure)
        pick = xp.where(claimed.any(1), claimed.argmax(1), pick)  # the first sure model wins
        return _answer(verdict, order, probs, labels, pick)


@register("policy", "best", domains=ALL_DOMAINS)
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

    def candidates(self, verdict: Verdict, accepted: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
        order, valid = by_rank(verdict, accepted, k)
        if self.close > 0:
            log_post = ops(order).gather(verdict.log_posterior, order)  # (B, k)
            forced = valid[:, :1] & (log_post[:, :1] - log_post < self.close)
        else:
            forced = valid & False
        return order, valid, forced

    def combine(self, verdict: Verdict, order: Tensor, probs: Tensor,
                labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pick = _agreeing(verdict, order, probs, self.model_weight)
        return _answer(verdict, order, probs, labels, pick)


@register("policy", "mixture", domains=ALL_DOMAINS)
@dataclass(frozen=True)
class Mixture:
    """The ``max_experts`` most confident accepting members all run; their outputs are
    combined per label, weighted by meta-model confidence (a standard mixture of experts).
    The answer's confidence is the weighted vote for it over at least one unit of
    confidence; its member is the one that gave the vote most weight."""

    @property
    def stop_at(self) -> float | None:
        return None

    def candidates(self, verdict: Verdict, accepted: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
        order, valid = by_rank(verdict, accepted, k)
        return order, valid, valid & False

    def combine(self, verdict: Verdict, order: Tensor, probs: Tensor,
                labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        xp, B = ops(probs), len(order)
        ran = probs >= 0
        conf = xp.gather(verdict.conf, order)
        cand_labels = labels[order]  # (B, k)
        n_labels = int(labels.max()) + 1
        zero = xp.zeros(probs.shape, dtype=probs.dtype)
        weight = xp.where(ran, conf * xp.clamp_min(probs, 0.0), zero)
        scores = xp.scatter_add(xp.zeros((B, n_labels), dtype=weight.dtype), cand_labels, weight)
        best = scores.argmax(1)
        total = xp.where(ran, conf, zero).sum(1)
        top = xp.where(ran & (cand_labels == best[:, None]), weight, zero - 1.0).argmax(1)
        answered = ran.any(1)
        none = xp.full((B,), -1, dtype=xp.long)
        label = xp.where(answered, best, none)
        member = xp.where(answered, xp.gather(order, top[:, None])[:, 0], none)
        confidence = xp.where(answered, xp.gather(scores, best[:, None])[:, 0] / xp.clamp_min(total, 1.0), xp.zeros((B,)))
        return label, member, confidence
