"""What a model creator is: it makes a new member when no member can deal with some inputs."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection, Member
from riscmoe.meta.protocol import Verdict
from riscmoe.models.protocol import ModelFactory


@runtime_checkable
class Creator(Protocol):
    """Makes members from the archive of unexplained inputs.

    Contract:

    - ``ready(archive, min_examples)`` -> the label ids (ascending) for which a member can
      be made now. It changes nothing.
    - ``create(label, archive, collection, model, seen, rng)`` -> the new ``Member``: its
      meta-model added to the collection's bank (``collection.add``) from inputs of
      ``label``, its model built by the factory ``model`` (``model.build(in_dim, i)`` for the
      i-th member: the factory the estimator hands over adds its own seed) and trained; the archive's records may be relabelled (e.g. the inputs that prompted
      the member become its representative sample). ``seen`` is the count of examples
      learned so far (the member's ``created_at``); randomness comes from ``rng``.
    """

    def ready(self, archive: Archive, min_examples: int) -> list[int]: ...

    def create(self, label: int, archive: Archive, collection: Collection, model: ModelFactory, seen: int,
               rng: np.random.Generator) -> Member: ...


@runtime_checkable
class MemberCreator(Creator, Protocol):
    """A creator that is itself a member of the collection: its meta-model means "no other
    member copes with this input", and the controller routes inputs to it (to creation) in
    the same batched verdict and cascade as every other member.

    Contract (besides ``Creator``'s):

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
