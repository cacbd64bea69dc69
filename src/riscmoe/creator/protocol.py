"""What a model creator is: it makes a new member when no member can deal with some inputs.

One protocol for every domain: ``create(need, context)`` makes a member for a need that no
member meets, from what the domain hands over as its context, or returns None when it found
nothing within its budget. Each domain says what a need, a context and a made member are:

- recognition (``ArchiveCreator``): the need is a label whose unexplained inputs gathered in
  the archive, the context a ``Creation`` (archive, collection, model factory, ...), and
  the made member a ``Member`` added to the collection;
- functions (``riscmoe.functions.creator.FunctionCreator``): the need is a task no stored
  function solves, the context the function library, and the made member the source of one
  function, which the functions controller verifies and stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the protocol loads without torch (the functions domain never imports it)
    import numpy as np
    import torch

    from riscmoe.archive.sqlite_archive import Archive
    from riscmoe.collection.collection import Collection, Member
    from riscmoe.meta.protocol import Verdict
    from riscmoe.models.protocol import ModelFactory


@runtime_checkable
class Creator(Protocol):
    """Makes a new member for a need no member meets: ``create(need, context)`` -> the member, or None."""

    def create(self, need: Any, context: Any) -> Any: ...


@dataclass
class Creation:
    """What recognition hands its creator: ``archive`` (the unexplained inputs and samples),
    ``collection`` (to add the member to), ``model`` (the member-model factory: the i-th
    member's model is ``model.build(in_dim, i)``, the estimator's factory adding its own
    seed), ``seen`` (examples learned so far: the member's ``created_at``) and ``rng``."""

    archive: Archive
    collection: Collection
    model: ModelFactory
    seen: int
    rng: np.random.Generator


@runtime_checkable
class ArchiveCreator(Creator, Protocol):
    """Recognition's creator: makes members from the archive of unexplained inputs.

    Contract:

    - ``ready(archive, min_examples)`` -> the label ids (ascending) for which a member can
      be made now. It changes nothing.
    - ``create(label, creation)`` -> the new ``Member``: its meta-model added to the
      collection's bank (``creation.collection.add``) from inputs of ``label``, its model
      built by ``creation.model`` and trained; the archive's records may be relabelled (e.g.
      the inputs that prompted the member become its representative sample). Randomness
      comes from ``creation.rng``.
    """

    def ready(self, archive: Archive, min_examples: int) -> list[int]: ...

    def create(self, label: int, creation: Creation) -> Member: ...


@runtime_checkable
class MemberCreator(ArchiveCreator, Protocol):
    """A creator that is itself a member of the collection: its meta-model means "no other
    member copes with this input", and the controller routes inputs to it (to creation) in
    the same batched verdict and cascade as every other member.

    Contract (besides ``ArchiveCreator``'s):

    - ``start(threshold, margin)`` -> the creator member's learned state (a small object
      with ``to_info()`` / ``from_info(info)`` for saves), before any feedback.
    - ``extend(verdict, state, threshold)`` -> the bank's verdict (B, M) with the creator
      member as one more column (B, M + 1), in the same units: it accepts an input when its
      confidence reaches ``threshold``.
    - ``member(collection, label)`` -> a view of the collection with the creator member last,
      answering with the label id ``label`` (none of the members' own), for the controller.
    - ``learn_border(state, verdict, own, taken)``: feedback on the creator member's border
      from the bank's verdict, ``own`` (B,): the inputs that really needed creation (no
      member of their label), and ``taken`` (B,): those the controller routed to it.
      Returns the count of inputs it learned from.
    """

    def start(self, threshold: float, margin: float) -> Any: ...

    def extend(self, verdict: Verdict, state: Any, threshold: float) -> Verdict: ...

    def member(self, collection: Collection, label: int) -> Any: ...

    def learn_border(self, state: Any, verdict: Verdict, own: torch.Tensor, taken: torch.Tensor) -> int: ...
