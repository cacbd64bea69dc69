"""What a routing policy is: which members' models run on an input, and how their answers combine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the protocols load without torch (the functions domain never imports it)
    import torch

from riscmoe.meta.protocol import Verdict


@runtime_checkable
class RoutingPolicy(Protocol):
    """One way of answering, run by the controller's generic cascade (``Controller.route``).

    Contract:

    - ``candidates(verdict, accepted, k)`` -> ``(order, valid, forced)``, each (B, k): the
      members each input may be routed to, in the order their models run (``order``: member
      indices), whether each may run at all (``valid``: only accepted members, as
      ``accepted`` (B, M) says, may; valid ones first), and which run whatever the cascade
      decided (``forced``: e.g. close calls). Members that accept come first.
    - ``stop_at``: a model's probability of "mine" at which the cascade stops for that
      input (no further candidate runs unless forced); None: every valid candidate runs.
    - ``combine(verdict, order, probs, labels)`` -> ``(label, member, confidence)``, each
      (B,): the answer from the models that ran. ``probs`` (B, k) holds each candidate's
      model probability of "mine" where it ran and -1 where it did not; ``labels`` (M,) is
      each member's label id. An input no model ran on gets label -1, member -1 and
      confidence 0; a confidence lies in [0, 1].

    Everything a policy reads comes through the verdict's protocol (``conf``, ``rank``,
    ``log_posterior``), so one policy works with every kind of meta-model bank.
    """

    @property
    def stop_at(self) -> float | None: ...

    def candidates(self, verdict: Verdict, accepted: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...

    def combine(self, verdict: Verdict, order: torch.Tensor, probs: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...
