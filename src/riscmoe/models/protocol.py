"""What a member's model is: the small network that runs only when routed to."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class MemberModel(Protocol):
    """One member's model, working on the shared features.

    Contract:

    - ``logits(Z)``: features (B, F) -> (B,) logits of "this input is my member's own"; no
      state changes, and each row's logit its own whatever the batch.
    - ``fit_step(Z, target, steps=1)``: ``steps`` optimiser steps on binary targets (B,) in
      {0, 1}; returns the loss before the last step. The same rows and state always give
      the same result (seeded at construction).
    - ``n_parameters`` and ``macs_per_input`` (None where unknown), for the cost report.
    - ``save_state`` / ``load_state`` (``riscmoe.persistence.protocol.Persistent``), with
      the optimiser's state, so that a loaded model trains on as the saved one would.
    """

    @property
    def n_parameters(self) -> int: ...

    @property
    def macs_per_input(self) -> int | None: ...

    def logits(self, Z: torch.Tensor) -> torch.Tensor: ...

    def fit_step(self, Z: torch.Tensor, target: torch.Tensor, steps: int = 1) -> float: ...

    def save_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]: ...

    def load_state(self, arrays: dict[str, torch.Tensor], info: dict[str, Any]) -> None: ...


class ModelFactory(Protocol):
    """A registered model kind: the factory the creator makes each new member's model with.

    ``build(in_dim, seed)`` returns a fresh ``MemberModel`` for features of size
    ``in_dim``; the same seed gives the same initial model.
    """

    def build(self, in_dim: int, seed: int) -> MemberModel: ...
