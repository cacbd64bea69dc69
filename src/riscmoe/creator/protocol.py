"""What a model creator is: it makes a new member when no member can deal with some inputs."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection, Member
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
