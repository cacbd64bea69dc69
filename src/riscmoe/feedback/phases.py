"""Feedback in phases: fast state during a phase, consolidation at its end."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection
from riscmoe.feedback.learner import Continuous
from riscmoe.feedback.protocol import Context, FeedbackReport
from riscmoe.meta.protocol import Lesson, Verdict
from riscmoe.registry import register


@register("feedback", "phases")
@dataclass(frozen=True)
class Phases(Continuous):
    """``continuous``'s lessons, applied in phases of ``phase_length`` examples.

    During a phase each labelled batch changes only fast state: the archive (unexplained
    inputs, mistakes, close calls, samples: at once, as ``continuous`` does) and the rows
    each member's model will learn, held in the member (``Member.hold``, saved with it).
    The members' models, the bank's statistics and borders, and the creation of members
    wait for the phase's end, when ``consolidate`` applies the whole phase at once: the
    bank learns every held positive and the borders of every held input (with archived
    inputs replayed, as ``continuous`` does), then each model steps on its held rows,
    ``min_rows`` at a time with its rehearsal, then the creator makes the members the
    archive is ready for. Answers in between come from the state of the last
    consolidation (``prepare()`` consolidates at once; so does the end of ``fit``), so
    they never see half a phase.

    A phase is counted in examples learned, never in tasks: the learner is not told
    where the stream's tasks begin.

    Args:
        phase_length: examples per phase.
        (the other settings: ``continuous``'s, applied at consolidation.)
    """

    phase_length: int = field(default=512, metadata={"min": 1})

    def learn(self, collection: Collection, archive: Archive, X: torch.Tensor, Z: torch.Tensor, y: torch.Tensor,
              meta: Verdict, rng: np.random.Generator, context: Context) -> FeedbackReport:
        """Archive the batch's important inputs and hold its rows for the members' models (nothing else changes)."""
        return self._learn(collection, archive, X, Z, y, meta, rng, context, defer=True)

    def phase_ends(self, seen: int, n: int) -> bool:
        """Whether the phase boundary (a multiple of ``phase_length`` examples) falls within this batch."""
        return (seen + n) // self.phase_length > seen // self.phase_length

    def consolidate(self, collection: Collection, archive: Archive, rng: np.random.Generator,
                    context: Context) -> FeedbackReport:
        """Apply the phase held back: the bank (positives, borders), then each member's model."""
        report = FeedbackReport()
        held = [(m, *m.take()) for m in collection.members if len(m.held)]
        if not held:
            return report
        # The bank first, as in ``continuous``: every held positive and the borders near them.
        positives = [(m.index, Z[t > 0.5]) for m, Z, t in held if bool((t > 0.5).any())]
        lesson = Lesson(border_rate=1.0, positives=positives)
        if positives:
            Zp = torch.cat([Z for _, Z in positives])  # (n, F)
            row_label = torch.cat([torch.full((len(Z),), collection.members[i].label, dtype=torch.long) for i, Z in positives])
            verdict = collection.meta.evaluate(Zp, exact=False)
            same = collection.labels()[None, :] == row_label[:, None]  # (n, M)
            lesson.border = self._border_cases(collection, archive, verdict, same, rng, 1.0, context)
            report.border_updates = sum(len(cols) for _, _, cols, _ in lesson.border)
        collection.meta.learn(lesson)
        columns = (archive.ids(), archive.labels(), archive.members())
        for member, Z, t in held:
            n_pos = int((t > 0.5).sum())
            member.n_positive += n_pos
            member.n_negative += len(t) - n_pos
            report.positives += n_pos
            report.negatives += len(t) - n_pos
            for i in range(0, len(Z), self.min_rows):
                self._step(member, Z[i : i + self.min_rows], t[i : i + self.min_rows], archive, rng, columns)
            report.members_trained += 1
        return report
