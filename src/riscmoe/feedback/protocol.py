"""What a feedback schedule is: how labelled batches change the collection, its borders and the archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection
from riscmoe.meta.protocol import Verdict


@dataclass(frozen=True)
class Context:
    """What the estimator tells feedback about the batch beyond the batch itself.

    threshold: meta-model confidence at which a member accepts (the controller's).
    margin: confidences from ``threshold / margin`` to ``threshold * margin`` are near the border.
    quota: records of its own each member may keep in the archive, on average.
    step: examples learned before this batch (stamped on archived records).
    novel: (B,) the inputs the controller routed to creation, when a creator is a member of
        the collection (``riscmoe.creator.protocol.MemberCreator``): feedback archives
        exactly these as unexplained instead of applying its own novelty rule. None: its own rule.
    """

    threshold: float
    margin: float
    quota: int
    step: int
    novel: torch.Tensor | None = None


@dataclass
class FeedbackReport:
    """What one batch of feedback did (counts of inputs)."""

    positives: int = 0
    negatives: int = 0
    unexplained: int = 0
    mistakes: int = 0
    close_calls: int = 0
    members_trained: int = 0
    border_updates: int = 0


@runtime_checkable
class FeedbackSchedule(Protocol):
    """When and how labelled answers are learned from.

    Contract: ``learn(collection, archive, X, Z, y, verdict, rng, context)`` takes one
    labelled batch (inputs X (B, D), their features Z (B, F), label ids y (B,), and the
    bank's verdict on Z, computed before any change) and applies what the schedule
    learns from it now: members' models, the bank (through ``MetaBank.learn``) and the
    archive (through ``Archive.add``, with the archive's own policy for importance). It
    returns a ``FeedbackReport``. Randomness comes from ``rng`` only, so that a seed fixes
    everything. The shipped ``continuous`` schedule learns from every batch at once; a
    schedule in phases may hold some of it back and apply it later.
    """

    def learn(self, collection: Collection, archive: Archive, X: torch.Tensor, Z: torch.Tensor, y: torch.Tensor,
              verdict: Verdict, rng: np.random.Generator, context: Context) -> FeedbackReport: ...


@runtime_checkable
class Consolidating(Protocol):
    """A feedback schedule in phases: ``learn`` keeps only fast state during a phase, and
    ``consolidate`` applies what the phase held back.

    Contract:

    - ``phase_ends(seen, n)``: whether a phase ends within a batch of ``n`` examples that
      follows ``seen`` learned ones (a phase is counted in examples, never in tasks: the
      learner is not told the stream's boundaries).
    - ``consolidate(collection, archive, rng, context)`` applies everything held back since
      the last consolidation (members' models, the bank's statistics and borders) and
      returns a ``FeedbackReport``; with nothing held back it changes nothing. The
      estimator calls it at each phase end, from ``prepare()`` and at the end of ``fit``,
      and makes members (the creator) only then, so that answers never see half a phase.
    """

    def phase_ends(self, seen: int, n: int) -> bool: ...

    def consolidate(self, collection: Collection, archive: Archive, rng: np.random.Generator,
                    context: Context) -> FeedbackReport: ...
