"""The toy words domain's loop: the core's cascade and shared policies route; the domain's creator grows members."""

from __future__ import annotations

import numpy as np

from riscmoe import registry
from riscmoe.controller.cascade import cascade

from tests.toy_domain.parts import DOMAIN


class WordSystem:
    def __init__(self, policy: str = "best", creator: str = "last-letters", threshold: float = 0.99, max_experts: int = 3) -> None:
        self.policy = registry.spec("policy", policy, DOMAIN)
        self.creator = registry.spec("creator", creator, DOMAIN)
        self.bank = registry.spec("meta", "suffix-bank", DOMAIN).build()
        self.members: list = []
        self.threshold, self.max_experts = threshold, max_experts

    def answer(self, words: list[str]) -> list[str | None]:
        if not self.members:
            return [None] * len(words)
        verdict = self.bank.evaluate(words)
        ran = cascade(self.policy, verdict, verdict.conf >= self.threshold, min(self.max_experts, len(self.members)),
                      lambda rows, members: np.array([self.members[m].model.prob(words[r]) for r, m in zip(rows, members)]))
        labels = sorted({m.label for m in self.members})
        ids = np.array([labels.index(m.label) for m in self.members])
        label, _, _ = self.policy.combine(verdict, ran.order, ran.probs, ids)
        return [labels[i] if i >= 0 else None for i in label.tolist()]

    def learn(self, words: list[str], labels: list[str]) -> int:
        """Answer each word in turn; one that no member answers makes a member. Returns the members made."""
        made = 0
        for word, label in zip(words, labels):
            if self.answer([word]) == [None]:
                member = self.creator.create((word, label), self.bank)
                if member is not None:
                    self.members.append(member)
                    made += 1
        return made
