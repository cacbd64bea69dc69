"""What the archive keeps: the importance of each record and which records go when it is full."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from riscmoe.registry import register

# Kinds of records (see ``riscmoe.archive.sqlite_archive``).
KINDS = ("unexplained", "mistake", "close_call", "sample")


@runtime_checkable
class ArchivePolicy(Protocol):
    """Importance and eviction, together (the storage, ``Archive``, applies them).

    Contract:

    - ``importance(kinds, rng)`` -> (n,) float64 importances of new records of the given
      kinds (names from ``KINDS``), drawing any randomness from ``rng``.
    - ``evict(labels, importance, n)`` -> positions (n,) into the stored records (given as
      their labels (N,) and importances (N,), oldest first) that go, when ``n`` records
      must make room. The same columns always give the same positions.
    """

    def importance(self, kinds: Sequence[str], rng: np.random.Generator) -> np.ndarray: ...

    def evict(self, labels: np.ndarray, importance: np.ndarray, n: int) -> np.ndarray: ...


@register("archive", "balanced")
@dataclass(frozen=True)
class Balanced:
    """Every label keeps its share; within a label the least important record goes first.

    Each record's importance is its kind's weight plus a random part below 1, which makes
    eviction among equals a uniform random draw. One record at a time, the label holding the
    most records (the smallest such label on a tie) gives up its least important one (the
    earliest on a tie), so mistakes outlive close calls, which outlive plain samples.

    Args:
        sample, close_call, mistake, unexplained: the weight of each kind of record.
    """

    sample: float = field(default=1.0, metadata={"min": 0.0})
    close_call: float = field(default=1.5, metadata={"min": 0.0})
    mistake: float = field(default=2.0, metadata={"min": 0.0})
    unexplained: float = field(default=4.0, metadata={"min": 0.0})

    def importance(self, kinds: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        weights = {k: float(getattr(self, k)) for k in KINDS}
        return np.array([weights[k] for k in kinds]) + rng.random(len(kinds))

    def evict(self, labels: np.ndarray, importance: np.ndarray, n: int) -> np.ndarray:
        uniq, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        # Every label's records, least important first: label by label, in the order they go.
        order = np.lexsort((np.arange(len(labels)), importance, inverse))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        given = np.zeros(len(uniq), np.int64)
        drop = []
        for _ in range(n):
            lab = int(np.argmax(counts))
            drop.append(order[starts[lab] + given[lab]])
            given[lab] += 1
            counts[lab] -= 1
        return np.array(drop, np.int64)
