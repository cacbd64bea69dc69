"""The collection: members, each a meta-model (in a shared bank) paired with a model."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from riscmoe.encoders.protocol import Encoder
from riscmoe.meta.protocol import MetaBank, Verdict
from riscmoe.models.protocol import MemberModel


@dataclass
class Member:
    """One member of the collection.

    Its meta-model is member ``index`` of the collection's bank; its model is ``model``.
    ``label`` is the internal label id it answers with.
    """

    index: int
    label: int
    model: MemberModel
    created_at: int  # examples the system had seen when this member was made
    reason: str = "unexplained"  # why the creator made it
    n_positive: int = 0  # examples of its own it has learned from
    n_negative: int = 0  # look-alikes it has learned to refuse
    # New rows its model has not stepped on yet (features, and 1 for its own, 0 for a
    # look-alike): feedback gathers a few before each step (see ``Feedback.min_rows``).
    held: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0))
    held_target: torch.Tensor = field(default_factory=lambda: torch.zeros(0))

    def hold(self, Z_pos: torch.Tensor, Z_neg: torch.Tensor) -> int:
        """Add new rows for the model (its own, then look-alikes); returns how many are held."""
        parts = [Z_pos.float(), Z_neg.float()]
        if len(self.held):
            parts.insert(0, self.held)
        self.held = torch.cat(parts)
        self.held_target = torch.cat([self.held_target, torch.ones(len(Z_pos)), torch.zeros(len(Z_neg))])
        return len(self.held)

    def take(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held rows and their targets, leaving none held."""
        Z, target = self.held, self.held_target
        self.held, self.held_target = torch.zeros(0, 0), torch.zeros(0)  # as a new member's (``hold`` starts afresh)
        return Z, target


class Collection:
    """Members plus the shared machinery that evaluates all their meta-models at once.

    Args:
        encoder: the fixed feature map every meta-model and model works in.
        meta: the bank holding every member's meta-model.
    """

    def __init__(self, encoder: Encoder, meta: MetaBank) -> None:
        self.encoder = encoder
        self.meta = meta
        self.members: list[Member] = []

    def __len__(self) -> int:
        return len(self.members)

    def labels(self) -> torch.Tensor:
        """Label id of each member, (M,)."""
        return torch.tensor([m.label for m in self.members], dtype=torch.long)

    def encode(self, X: torch.Tensor) -> torch.Tensor:
        """Shared features of flattened inputs: (B, D) -> (B, F)."""
        return self.encoder(X)

    def evaluate(self, Z: torch.Tensor, exact: bool = True) -> Verdict:
        """Every member's meta-model on encoded inputs (B, F), in one batched pass."""
        return self.meta.evaluate(Z, exact=exact)

    def run_models(self, Z: torch.Tensor, rows: torch.Tensor, members: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
        """Member ``members[i]``'s model on input ``Z[rows[i]]``, grouped by member: (n,) probabilities of
        "mine"; ``runs`` (M,) counts the inputs each model ran on."""
        return run_member_models(self.members, Z, rows, members, runs)

    def add(self, label: int, Z: torch.Tensor, model: MemberModel, created_at: int, reason: str) -> Member:
        index = self.meta.add(Z)
        member = Member(index=index, label=label, model=model, created_at=created_at, reason=reason, n_positive=len(Z))
        self.members.append(member)
        return member


def run_member_models(members: list, Z: torch.Tensor, rows: torch.Tensor, chosen: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
    """``Collection.run_models`` over any list of members (entries with a ``model``)."""
    out = torch.empty(len(rows))
    for m in torch.unique(chosen).tolist():
        sel = chosen == m
        out[sel] = torch.sigmoid(members[m].model.logits(Z[rows[sel]]))
        runs[m] += int(sel.sum())
    return out
