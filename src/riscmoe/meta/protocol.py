"""What a meta-model bank is: every member's "should I run on this input?", evaluated in one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the protocols load without torch (the functions domain never imports it)
    import torch


@runtime_checkable
class Verdict(Protocol):
    """A bank's verdict on a batch of B inputs for its M members (what ``MetaBank.evaluate`` returns).

    Contract (shapes are exact; every value finite):

    - ``conf`` (B, M): confidence in [0, 1] that each member should run; a member accepts
      an input when it reaches the estimator's ``threshold``, the same for every member.
    - ``rank`` (B, M): an order of the same, higher first (e.g. the log of ``conf``, which
      keeps its resolution near 0 and 1).
    - ``log_posterior`` (B, M): log probability that the input is this member's rather than
      another member's (the "which member" part alone); routing policies weigh it against
      the members' models.
    - ``typicality(members)`` (B,): how typical each input is of the member given for it
      (``members`` (B,)), in [0, 1], small for an input unlike what that member knows:
      feedback's test for a new mode of a known label.

    The verdict is also what the bank learns borders from (see ``Lesson``): it may carry
    whatever the bank needs for that, in fields of its own.
    """

    conf: torch.Tensor
    rank: torch.Tensor

    @property
    def log_posterior(self) -> torch.Tensor: ...

    def typicality(self, members: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Lesson:
    """What one batch of feedback teaches a bank, applied by ``MetaBank.learn`` in this order.

    border: labelled (input, member) pairs near that member's threshold: ``(verdict, rows,
        members, target)`` with ``rows`` and ``members`` (n,) indexing the verdict's inputs
        and members, and ``target`` (n,) 1 where the input is the member's own, 0 where not.
        The bank moves its members' borders towards accepting their own and refusing others.
    border_rate: scales the border step (a batch's step is the same whatever its size).
    positives: ``(member, Z)`` pairs in order: features (n, F) of inputs that are the
        member's own; its statistics grow by them.
    """

    border: list[tuple[Verdict, torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    border_rate: float = 1.0
    positives: list[tuple[int, torch.Tensor]] = field(default_factory=list)


@runtime_checkable
class MetaBank(Protocol):
    """The meta-models of a whole collection, evaluated together.

    Contract:

    - ``add(Z)`` makes the meta-model of a new member from its first examples (n, F) and
      returns its index (0, 1, 2, ... in order of creation; the collection's order).
    - ``learn(lesson)`` applies a ``Lesson``.
    - ``evaluate(Z, exact=True)`` gives the ``Verdict`` on features (B, F) for every member
      in one batched call, each input's verdict its own (the same whatever else is in the
      batch). It reads the fit that ``add`` and ``learn`` keep and does no refit of its own,
      so its cost does not depend on what was learned before it. ``exact=False`` is a
      training loop's own query (the shipped bank then skips its pair tests and first stage).
    - ``prepare()`` brings the fit exactly up to date with everything learned (refits,
      caches): what an evaluation calls first.
    - ``len(bank)`` is the member count; ``macs_per_input()`` the multiply-adds to evaluate
      every member on one input and ``n_parameters()`` the numbers the bank answers with,
      each None where unknown.
    - ``save_state`` / ``load_state`` (see ``riscmoe.persistence.protocol.Persistent``);
      ``info["members"]`` is the member count, and an ``info["per_member"]`` list of small
      dicts, if present, is shown by ``riscmoe inspect``.
    """

    def add(self, Z: torch.Tensor) -> int: ...

    def learn(self, lesson: Lesson) -> None: ...

    def evaluate(self, Z: torch.Tensor, exact: bool = True) -> Verdict: ...

    def prepare(self) -> None: ...

    def __len__(self) -> int: ...

    def macs_per_input(self) -> int | None: ...

    def n_parameters(self) -> int | None: ...

    def save_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]: ...

    def load_state(self, arrays: dict[str, torch.Tensor], info: dict[str, Any]) -> None: ...


class MetaBankKind(Protocol):
    """A registered bank kind: builds an empty bank for features of size ``dim``."""

    def build(self, dim: int, seed: int) -> MetaBank: ...


@dataclass
class Scores:
    """A ``Verdict`` made from scores over a list of candidate members, for domains whose
    meta-models score candidates rather than evaluate a bank (the functions domain's
    applicability index gives each stored function of a task's signature a score).

    ``conf`` (B, M) in [0, 1], ``rank`` (B, M) higher first, ``log_posterior`` (B, M) and
    ``typical`` (B, M) in [0, 1] (how much of each input the member's known behaviour
    covers), each as the domain computes them: torch tensors or numpy arrays, all alike.
    """

    conf: torch.Tensor
    rank: torch.Tensor
    log_posterior: torch.Tensor
    typical: torch.Tensor

    def typicality(self, members: torch.Tensor) -> torch.Tensor:
        from riscmoe.controller.arrays import ops

        return ops(self.typical).gather(self.typical, members[:, None])[:, 0]
