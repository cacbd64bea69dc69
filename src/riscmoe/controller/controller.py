"""The controller: routes each input to the members whose meta-models accept it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from riscmoe.collection.collection import Collection
from riscmoe.meta.gaussian import MetaOutput

POLICIES = ("first", "best", "mixture")


@dataclass
class Routing:
    """What the controller decided for a batch.

    label: (B,) label id answered, -1 for "unknown" (no member accepted, nor came near).
    member: (B,) index of the member that answered, -1 if none (or a mixture's top one).
    n_run: (B,) how many members' models ran on each input.
    confidence: (B,) confidence of the answer in [0, 1] (0 when unknown): the answering
        member's meta-model confidence times its model's probability (a mixture: the
        confidence-weighted vote for the answer, over at least one unit of confidence).
        The model alone cannot tell an input unlike anything it was trained on; the
        meta-model's typicality test can, so both must agree for a high confidence.
    """

    label: torch.Tensor
    member: torch.Tensor
    n_run: torch.Tensor
    confidence: torch.Tensor


class Controller:
    """Route inputs to members by a named policy.

    Policies, all over the members whose meta-model confidence reaches ``threshold``:

    - ``first``: members in the order they were created; the first whose model is sure
      the input is its own (probability of "mine" >= ``sure``) answers. At most
      ``max_experts`` models run.
    - ``best``: the most confident meta-model goes first (ranked by the log of the
      confidence, which keeps its resolution where confidences sit near 1 or near 0); the
      next one runs while the models that ran are unsure, or while its meta-model's log
      posterior lies within ``close`` nats of the first one's (a close call, which the
      models settle). The answer is the member whose meta-model and model agree most: the
      highest ``log posterior + model_weight * log p(mine)`` among those that ran.
    - ``mixture``: the ``max_experts`` most confident members all run; their outputs are
      combined per label, weighted by meta-model confidence.

    In ``first``, when no model that ran is sure, the ``best`` rule picks among them.
    When no meta-model accepts but the most confident one is near its threshold (its
    confidence at least ``floor``), that member alone runs and answers, with the low
    confidence it has: the input is unusual for what the member knows, not unlike
    everything known. Below ``floor`` the answer is "unknown" (label -1).

    Args:
        policy: one of ``POLICIES``.
        threshold: meta-model confidence needed to accept.
        max_experts: most members whose model may run on one input.
        sure: a model's probability of "mine" from which the cascade stops.
        model_weight: weight of a model's log probability against its meta-model's
            log posterior when choosing the answer.
        close: in ``best``, a further member's model also runs when its meta-model's log
            posterior is within this many nats of the top one's (0 turns this off).
        floor: least meta-model confidence for which an input no member accepts still
            gets an answer from the most confident member (0: never; at or above
            ``threshold``: the same as 0, every answer needs an accepting member).
    """

    def __init__(
        self,
        policy: str = "best",
        threshold: float = 1e-3,
        max_experts: int = 3,
        sure: float = 0.1,
        model_weight: float = 0.5,
        close: float = 3.0,
        floor: float = 0.0,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.policy, self.threshold, self.max_experts = policy, threshold, max_experts
        self.sure, self.model_weight, self.close = sure, model_weight, close
        self.floor = floor

    def candidates(self, conf: torch.Tensor, rank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Members each input may be routed to, in policy order: (B, k) indices and validity.

        Args:
            conf: meta-model confidences (B, M).
            rank: an order of the same (B, M), higher first (the log confidences).
        """
        B, M = conf.shape
        k = min(self.max_experts, M)
        accepted = conf >= self.threshold
        if self.policy == "first":
            idx = torch.arange(M, dtype=conf.dtype).expand(B, M)
            key = torch.where(accepted, -idx, -idx - M)  # accepted first, then by creation order
        else:
            key = torch.where(accepted, rank, rank - (rank.max() - rank.min() + 1.0))
        order = key.topk(k, dim=1).indices  # (B, k)
        return order, accepted.gather(1, order)

    @torch.no_grad()
    def route(self, collection: Collection, X: torch.Tensor, meta: MetaOutput) -> Routing:
        """Decide every input of a batch given its features X (B, F) and the meta-models' verdict."""
        conf = meta.conf
        B, M = conf.shape
        label = torch.full((B,), -1, dtype=torch.long)
        member = torch.full((B,), -1, dtype=torch.long)
        n_run = torch.zeros(B, dtype=torch.long)
        answer_conf = torch.zeros(B)
        if M == 0:
            return Routing(label, member, n_run, answer_conf)
        order, valid = self.candidates(conf, meta.rank)  # (B, k)
        if 0.0 < self.floor < self.threshold:
            # Nobody accepts, but the most confident member is near its threshold: it answers.
            near = ~valid[:, 0] & (conf.max(1).values >= self.floor)
            if near.any():
                order[near, 0] = meta.rank[near].argmax(1)
                valid[near, 0] = True
        k = order.shape[1]
        probs = torch.full((B, k), -1.0)
        active = valid[:, 0].clone()
        # Gaussian log posterior of each candidate: what the answer weighs models against.
        log_post = F.logsigmoid(meta.odds.gather(1, order))  # (B, k)
        if self.policy == "best" and self.close > 0:
            close_call = valid[:, :1] & (log_post[:, :1] - log_post < self.close)  # (B, k)
        else:
            close_call = torch.zeros_like(valid)
        for j in range(k):
            rows = torch.nonzero((active | close_call[:, j]) & valid[:, j]).squeeze(1)
            if len(rows) == 0:
                break
            probs[rows, j] = self._run(collection, X, rows, order[rows, j])
            n_run[rows] += 1
            if self.policy != "mixture":
                # A cascade stops at the first model that is sure of its input.
                active = active & (probs[:, j] < self.sure)
        ran = probs >= 0
        if self.policy == "mixture":
            labels = collection.labels()[order]  # (B, k)
            n_labels = int(collection.labels().max()) + 1
            weight = torch.where(ran, conf.gather(1, order) * probs.clamp(min=0.0), torch.zeros_like(probs))
            scores = torch.zeros(B, n_labels).scatter_add_(1, labels, weight)
            best = scores.argmax(1)
            total = torch.where(ran, conf.gather(1, order), torch.zeros_like(probs)).sum(1)
            top = torch.where(ran & (labels == best[:, None]), weight, torch.full_like(weight, -1.0)).argmax(1)
            answered = ran.any(1)
            label = torch.where(answered, best, label)
            member = torch.where(answered, order.gather(1, top[:, None]).squeeze(1), member)
            answer_conf = torch.where(answered, scores.gather(1, best[:, None]).squeeze(1) / total.clamp(min=1.0), answer_conf)
        else:
            # Meta-model and model agreeing most; in "first", the first sure model wins.
            combined = log_post + self.model_weight * torch.log(probs.clamp(min=1e-12))
            pick = torch.where(ran, combined, torch.full_like(combined, float("-inf"))).argmax(1)
            if self.policy == "first":
                claimed = (probs >= self.sure).float()
                pick = torch.where(claimed.any(1), claimed.argmax(1), pick)
            answered = ran.any(1)
            chosen = order.gather(1, pick[:, None]).squeeze(1)
            member = torch.where(answered, chosen, member)
            label = torch.where(answered, collection.labels()[chosen], label)
            answer_conf = torch.where(answered, probs.gather(1, pick[:, None]).squeeze(1) * conf.gather(1, chosen[:, None]).squeeze(1), answer_conf)
        return Routing(label, member, n_run, answer_conf)

    @staticmethod
    def _run(collection: Collection, X: torch.Tensor, rows: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
        """Run each row's chosen member model, grouped by member: returns (len(rows),) probabilities."""
        out = torch.empty(len(rows))
        for m in torch.unique(members).tolist():
            sel = members == m
            model = collection.members[m].model
            out[sel] = torch.sigmoid(model.logits(X[rows[sel]]))
            collection.members[m].n_answered += int(sel.sum())
        return out
