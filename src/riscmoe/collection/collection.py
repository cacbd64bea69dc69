"""The collection: members, each a meta-model (in a shared bank) paired with a model."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from riscmoe.meta.gaussian import GaussianMetaBank, MetaOutput
from riscmoe.encoders.random_features import RandomConvEncoder, RandomReLUEncoder
from riscmoe.models.verifier import Verifier


@dataclass
class Member:
    """One member of the collection.

    Its meta-model is row ``index`` of the collection's ``GaussianMetaBank``; its model is
    ``model``. ``label`` is the internal label id it answers with.
    """

    index: int
    label: int
    model: Verifier
    created_at: int  # examples the system had seen when this member was made
    reason: str = "unexplained"  # why the creator made it
    n_positive: int = 0  # examples of its own it has learned from
    n_negative: int = 0  # look-alikes it has learned to refuse
    n_answered: int = 0  # inputs its model ran on in predict calls
    extra: dict = field(default_factory=dict)


class Collection:
    """Members plus the shared machinery that evaluates all their meta-models at once.

    Args:
        encoder: the fixed feature map every meta-model and model works in.
        meta: the bank holding every member's meta-model.
    """

    def __init__(self, encoder: RandomConvEncoder | RandomReLUEncoder, meta: GaussianMetaBank) -> None:
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

    def evaluate(self, Z: torch.Tensor, exact: bool = True) -> MetaOutput:
        """Every member's meta-model on encoded inputs (B, F), in one batched pass."""
        return self.meta.evaluate(Z, exact=exact)

    def add(self, label: int, Z: torch.Tensor, model: Verifier, created_at: int, reason: str) -> Member:
        index = self.meta.add(Z)
        member = Member(index=index, label=label, model=model, created_at=created_at, reason=reason, n_positive=len(Z))
        self.members.append(member)
        return member
