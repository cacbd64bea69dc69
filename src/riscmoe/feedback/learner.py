"""The shipped feedback schedule: continuous learning from every labelled batch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection, Member
from riscmoe.feedback.protocol import Context, FeedbackReport
from riscmoe.meta.protocol import Lesson, Verdict
from riscmoe.registry import register


@register("feedback", "continuous")
@dataclass(frozen=True)
class Continuous:
    """Learn from a labelled batch, given every member's meta confidence on it.

    For each input with label y:

    - the member of label y that is most confident (its *owner*) learns it as a positive:
      its meta-model's statistics grow at once and its model trains on it (at its next
      step: see ``min_rows``), whether it accepted the input (answered) or not (almost
      answered: recorded as a close call);
    - every member of another label that accepted the input (answered wrongly) trains
      its model on it as a negative, and the input is archived as a mistake; one that
      almost did (confidence from ``threshold / margin`` up) only has the input archived
      as a close call and its border moved (below);
    - every meta-model whose confidence fell near its threshold (between
      ``threshold / margin`` and ``threshold * margin``: it almost accepted, or barely
      did) moves its border: towards accepting the input if it is its own, away if not.
      That is how borders sharpen;
    - if no member has label y, or the input is far from everything its mature members
      know (novelty below ``threshold / margin``: a new mode), it is archived as
      unexplained for the creator.

    Each member that trains also rehearses from the archive: its own representative
    sample and a draw of other labels' records, so old members do not forget.

    The estimator's ``threshold`` and ``margin`` come with every batch (``Context``).

    Args:
        mature: examples after which a member is trusted to call inputs far from what it
            knows (twice the meta-model's calibration reservoir of 256).
        rehearse_positives: archived inputs of its own each trained member replays.
        rehearse_negatives: archived inputs of other labels each trained member replays.
        rehearse_border: archived inputs replayed to the borders with every batch.
        rehearse_batch: new inputs for which the three counts above apply: a batch of
            that size for the borders, half of it for one member's model. Fewer new
            inputs replay proportionally fewer (down to an eighth), so that replay keeps
            its share of each update: one-example batches do not replay a hundred
            archived inputs per example, nor does each of the ten members that a batch
            of ten labels trains.
        steps: optimiser steps per member per batch.
        min_rows: new rows (its own and look-alikes) a member's model gathers before it
            takes a step; until then they are held (``Member.hold``). Every step
            replays the full counts above with them. A stream whose batches bring every
            label a few examples at a time (permuted MNIST: ten labels in each batch of
            64) would otherwise step each model on a handful of rows, five times as often
            per example as a stream of two labels at a time. Gathering 32 rows took the
            permuted stream from 9,309 model steps to 2,094 at the same accuracy (96.41%
            against 96.43%); 64 rows took seed 1 from 3,197 steps to 1,639 (7.2 s of model
            steps against 10.5 s) at the same accuracy: permuted MNIST 96.43% and 96.16%
            (seeds 0, 1; 32 rows: 96.43% and 96.18%), Split Fashion-MNIST 90.05% with
            forgetting 4.59 over seeds 0-2 (32 rows: 90.05%, 4.60), Split MNIST 99.09%
            (seed 0).
    """

    mature: int = field(default=512, metadata={"min": 0})
    rehearse_positives: int = field(default=32, metadata={"min": 0})
    rehearse_negatives: int = field(default=96, metadata={"min": 0})
    rehearse_border: int = field(default=128, metadata={"min": 0})
    rehearse_batch: int = field(default=64, metadata={"min": 1})
    steps: int = field(default=1, metadata={"min": 0})
    min_rows: int = field(default=64, metadata={"min": 1})

    def learn(
        self,
        collection: Collection,
        archive: Archive,
        X: torch.Tensor,
        Z: torch.Tensor,
        y: torch.Tensor,
        meta: Verdict,
        rng: np.random.Generator,
        context: Context,
    ) -> FeedbackReport:
        """Apply one batch: inputs X (B, D), features Z (B, F), label ids y (B,), the meta verdict."""
        return self._learn(collection, archive, X, Z, y, meta, rng, context, defer=False)

    def _learn(
        self,
        collection: Collection,
        archive: Archive,
        X: torch.Tensor,
        Z: torch.Tensor,
        y: torch.Tensor,
        meta: Verdict,
        rng: np.random.Generator,
        context: Context,
        defer: bool,
    ) -> FeedbackReport:
        """The batch's lessons; ``defer`` (feedback in phases) archives at once but only holds
        the members' new rows, leaving the bank and the models to ``Phases.consolidate``."""
        report = FeedbackReport()
        conf = meta.conf
        B, M = conf.shape
        share = self._share(B, self.rehearse_batch)
        threshold, margin = context.threshold, context.margin
        near = threshold / margin
        Xn = X.numpy()
        yn = y.numpy()
        kind = np.full(B, "", dtype=object)  # archive kind chosen for each row, if any
        kind_member = np.full(B, -1, np.int64)
        if M == 0:
            novel = torch.ones(B, dtype=torch.bool) if context.novel is None else context.novel.clone()
            owner = torch.full((B,), -1, dtype=torch.long)
        else:
            labels = collection.labels()
            same = labels[None, :] == y[:, None]  # (B, M)
            # The owner: the label's member ranked highest (log confidences never underflow).
            owner = torch.where(same, meta.rank, torch.full_like(conf, float("-inf"))).max(1).indices
            owner_conf = conf.gather(1, owner[:, None]).squeeze(1)
            has_owner = same.any(1)
            n_pos = torch.tensor([m.n_positive for m in collection.members])
            mature = n_pos[owner.clamp(min=0)] >= self.mature
            # Far from what its own label's member knows (even if near another label's).
            far = has_owner & mature & (meta.typicality(owner) < near)
            novel = ~has_owner | far if context.novel is None else context.novel.clone()
            owner = torch.where(novel, torch.full_like(owner, -1), owner)
            almost = (owner >= 0) & (owner_conf < threshold)
            kind[almost.numpy()] = "close_call"
            kind_member[almost.numpy()] = owner[almost].numpy()
            # Members of other labels that accepted (mistakes) or nearly did (close calls).
            wrong_near = ~same & (conf >= near)  # (B, M)
            wrong_conf = torch.where(wrong_near, conf, torch.full_like(conf, -1.0))
            worst_conf, worst = wrong_conf.max(1)
            is_mistake = (worst_conf >= threshold).numpy()
            is_close = ((worst_conf >= near) & (worst_conf < threshold)).numpy()
            kind[is_close & (kind == "")] = "close_call"
            kind_member[is_close & (kind_member < 0)] = worst.numpy()[is_close & (kind_member < 0)]
            kind[is_mistake] = "mistake"
            kind_member[is_mistake] = worst.numpy()[is_mistake]
            report.mistakes = int(is_mistake.sum())
            border = [] if defer else self._border_cases(collection, archive, meta, same, rng, share, context)
            lesson = Lesson(border=border, border_rate=min(1.0, B / self.rehearse_batch))
            report.border_updates = sum(len(cols) for _, _, cols, _ in lesson.border)
            report.close_calls = int((kind == "close_call").sum())
            # A model only ever runs on inputs its meta-model accepts, so it learns to refuse
            # the look-alikes that were accepted (mistakes); near misses move the border only.
            wrong_accept = ~same & (conf >= threshold)  # (B, M)
            involved = sorted(set(owner[owner >= 0].tolist()) | set(torch.nonzero(wrong_accept.any(0)).squeeze(1).tolist()))
            rows_of = {m: (torch.nonzero(owner == m).squeeze(1), torch.nonzero(wrong_accept[:, m]).squeeze(1)) for m in involved}
            # The bank learns first (its borders, then each member's own inputs): the models'
            # steps below read nothing of it.
            lesson.positives = [(m, Z[pos_rows]) for m, (pos_rows, _) in rows_of.items() if len(pos_rows)]
            if not defer:
                collection.meta.learn(lesson)
            # The archive's columns once per batch; every trained member draws its replay from them.
            columns = (archive.ids(), archive.labels(), archive.members()) if not defer else None
            for m in involved:
                member = collection.members[m]
                pos_rows, neg_rows = rows_of[m]
                if defer:  # counted and learned when the phase is consolidated
                    member.hold(Z[pos_rows], Z[neg_rows])
                    continue
                member.n_positive += len(pos_rows)
                member.n_negative += len(neg_rows)
                if member.hold(Z[pos_rows], Z[neg_rows]) < self.min_rows:
                    continue  # too few new rows for a step of their own yet
                Z_new, t_new = member.take()
                self._step(member, Z_new, t_new, archive, rng, columns)
                report.members_trained += 1
            report.positives = int((owner >= 0).sum())
            report.negatives = int(wrong_accept.sum())
            # A representative sample of each member's own inputs, for rehearsal and as
            # negatives of future members: keep each positive with probability quota/seen.
            plain = (owner >= 0).numpy() & (kind == "")
            for r in np.flatnonzero(plain):
                mem = collection.members[int(owner[r])]
                if rng.random() < min(1.0, 2.0 * context.quota / max(mem.n_positive, 1)):
                    kind[r] = "sample"
                    kind_member[r] = mem.index
        nov = novel.numpy()
        kind[nov] = "unexplained"
        kind_member[nov] = -1
        report.unexplained = int(nov.sum())
        rows = np.flatnonzero(kind != "")
        if len(rows):
            # One insertion for the whole batch: eviction then weighs every new record at once.
            importance = archive.policy.importance(kind[rows].tolist(), rng)
            archive.add(Xn[rows], kind[rows].tolist(), yn[rows], kind_member[rows], importance, step=context.step,
                        features=Z[torch.from_numpy(rows)].numpy())
        return report

    def _step(self, member: Member, Z_new: torch.Tensor, t_new: torch.Tensor, archive: Archive, rng: np.random.Generator,
              columns: tuple | None) -> None:
        """One model step on a member's new rows (n, F) with their targets (n,), plus rehearsal from the archive."""
        share = self._share(len(Z_new), self.rehearse_batch / 2)
        Fr_pos, Fr_neg = self._rehearsal(archive, member.index, member.label, rng, Z_new.shape[1], share, columns)
        Fb = torch.cat([Z_new, torch.from_numpy(Fr_pos), torch.from_numpy(Fr_neg)])
        target = torch.cat([t_new, torch.ones(len(Fr_pos)), torch.zeros(len(Fr_neg))])
        member.model.fit_step(Fb, target, steps=self.steps)

    @staticmethod
    def _share(n_new: int, full: float) -> float:
        """Fraction of the replay counts for ``n_new`` new inputs: 1 from ``full`` on, at least 1/8."""
        return min(1.0, max(n_new / full, 0.125))

    def _border_cases(
        self,
        collection: Collection,
        archive: Archive,
        meta: Verdict,
        same: torch.Tensor,
        rng: np.random.Generator,
        share: float,
        context: Context,
    ) -> list[tuple[Verdict, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Every (input, member) pair near the member's threshold, for the bank's border lesson.

        The stream brings each label in its own time, so the near misses of one moment are
        all of a few labels; archived inputs of every label (mostly earlier mistakes and
        close calls: border cases by construction) are replayed alongside, so that no
        member's border drifts with what happens to arrive now.
        """
        near = context.threshold / context.margin
        cases = []
        draw = archive.ids()
        n_border = round(self.rehearse_border * share)
        if len(draw) > n_border:
            draw = rng.choice(draw, n_border, replace=False)
        replay = collection.meta.evaluate(torch.from_numpy(archive.get_features(draw)), exact=False) if len(draw) else None
        replay_same = collection.labels()[None, :] == torch.from_numpy(archive.get(draw)[1])[:, None] if len(draw) else None
        for out, is_own in ((meta, same), (replay, replay_same)):
            if out is None or is_own is None:
                continue
            band = (out.conf >= near) & (out.conf < context.threshold * context.margin)  # (n, M)
            rows, cols = torch.nonzero(band, as_tuple=True)
            cases.append((out, rows, cols, is_own[rows, cols].float()))
        return cases

    def _rehearsal(
        self,
        archive: Archive,
        member: int,
        label: int,
        rng: np.random.Generator,
        dim: int,
        share: float = 1.0,
        columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of archived inputs to replay: (own label's, other labels'), own mistakes first.

        ``share`` (at most 1) scales the counts of ``rehearse_positives`` and
        ``rehearse_negatives`` to the batch size; ``columns`` are the archive's ids,
        labels and members when the caller already has them."""
        n_pos = max(1, round(self.rehearse_positives * share))
        n_neg = max(2, round(self.rehearse_negatives * share))
        all_ids, labels, members = columns if columns is not None else (archive.ids(), archive.labels(), archive.members())
        own = all_ids[labels == label]
        others = all_ids[labels != label]
        mine = others[members[labels != label] == member]  # the look-alikes it got wrong
        own = rng.choice(own, min(len(own), n_pos), replace=False) if len(own) else own
        n_mine = min(len(mine), n_neg // 2)
        picks = [rng.choice(mine, n_mine, replace=False)] if n_mine else []
        rest = n_neg - n_mine
        if len(others) and rest > 0:
            picks.append(rng.choice(others, min(rest, len(others)), replace=False))
        neg = np.concatenate(picks) if picks else np.zeros(0, np.int64)
        if len(own) + len(neg) == 0:
            return np.zeros((0, dim), np.float32), np.zeros((0, dim), np.float32)
        feats = archive.get_features(np.concatenate([own, neg]))
        return feats[: len(own)], feats[len(own) :]
