"""Toy kinds of every part, registered from outside riscmoe's own files (as a user's code would).

Importing this module registers them (names ``toy-*``). Each keeps its part's protocol
and nothing more: simple enough to read in a minute, real enough to learn digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from riscmoe.feedback import FeedbackReport
from riscmoe.meta import Lesson
from riscmoe.registry import register


# ------------------------------------------------------------------------------ encoder
class BlockMeans(torch.nn.Module):
    """Means of 2 x 2 blocks of an image, and optionally their squares: (B, H, W) -> (B, F)."""

    def __init__(self, squares: bool) -> None:
        super().__init__()
        self.squares = squares

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = F.avg_pool2d(x.reshape(len(x), 1, *x.shape[-2:]), 2).flatten(1)
        return torch.cat([m, m * m], 1) if self.squares else m


@register("encoder", "toy-blocks")
@dataclass(frozen=True)
class ToyBlocks:
    """A plain ``torch.nn.Module`` (riscmoe wraps it): block means of (H, W) images."""

    squares: bool = True

    def build(self, input_shape, seed):
        return BlockMeans(self.squares)


# ------------------------------------------------------------------------- meta-models
@dataclass
class CentroidVerdict:
    conf: torch.Tensor  # (B, M)
    rank: torch.Tensor  # (B, M)
    distance: torch.Tensor  # (B, M): squared distance over the member's spread, per feature

    @property
    def log_posterior(self) -> torch.Tensor:
        return torch.log_softmax(-0.5 * self.distance * self.distance.shape[1], dim=1) if self.distance.shape[1] else self.distance

    def typicality(self, members: torch.Tensor) -> torch.Tensor:
        return self.conf.gather(1, members.long()[:, None]).squeeze(1)


class CentroidBank:
    """Each member a centroid with a spherical spread; confidence falls off past one spread."""

    def __init__(self, dim: int, sharpness: float) -> None:
        self.dim, self.sharpness = dim, sharpness
        self.sums = torch.zeros(0, dim, dtype=torch.float64)
        self.squares = torch.zeros(0, dtype=torch.float64)
        self.counts = torch.zeros(0, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.counts)

    def add(self, Z):
        self.sums = torch.cat([self.sums, torch.zeros(1, self.dim, dtype=torch.float64)])
        self.squares = torch.cat([self.squares, torch.zeros(1, dtype=torch.float64)])
        self.counts = torch.cat([self.counts, torch.zeros(1, dtype=torch.float64)])
        self._grow(len(self) - 1, Z)
        return len(self) - 1

    def _grow(self, i, Z):
        Z = Z.double()
        self.sums[i] += Z.sum(0)
        self.squares[i] += (Z * Z).sum()
        self.counts[i] += len(Z)

    def learn(self, lesson: Lesson) -> None:
        for i, Z in lesson.positives:  # (borders: a toy has none)
            self._grow(i, Z)

    def evaluate(self, Z, exact=True):
        if len(self) == 0:
            empty = torch.zeros(len(Z), 0)
            return CentroidVerdict(empty, empty, empty)
        mean = self.sums / self.counts[:, None]  # (M, F)
        spread = (self.squares / self.counts - (mean * mean).sum(1)).clamp(min=1e-6) / self.dim  # (M,)
        d = ((Z.double()[:, None, :] - mean[None]) ** 2).sum(2) / (self.dim * spread)  # (B, M)
        log_conf = -self.sharpness * (d - 1.0).clamp(min=0.0) - 1e-6
        return CentroidVerdict(log_conf.exp().float(), log_conf.float(), d.float())

    def prepare(self) -> None:
        pass

    def macs_per_input(self):
        return 2 * self.dim * len(self)

    def n_parameters(self):
        return len(self) * (self.dim + 2)

    def save_state(self):
        return {"sums": self.sums, "squares": self.squares, "counts": self.counts}, {"members": len(self)}

    def load_state(self, arrays, info):
        sums, squares, counts = arrays["sums"], arrays["squares"], arrays["counts"]
        if sums.shape != (int(info["members"]), self.dim):
            raise ValueError(f"saved centroids have shape {tuple(sums.shape)}")
        self.sums, self.squares, self.counts = sums.clone(), squares.clone(), counts.clone()


@register("meta", "toy-centroids")
@dataclass(frozen=True)
class ToyCentroids:
    sharpness: float = field(default=2.0, metadata={"above": 0.0})

    def build(self, dim, seed):
        return CentroidBank(dim, self.sharpness)


# ------------------------------------------------------------------------------- model
class LinearModel:
    """Logistic regression by plain gradient steps, classes balanced."""

    def __init__(self, in_dim: int, lr: float, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w, self.b, self.lr = torch.randn(in_dim, generator=g) * 0.01, torch.zeros(1), lr

    @property
    def n_parameters(self):
        return len(self.w) + 1

    @property
    def macs_per_input(self):
        return len(self.w)

    def logits(self, Z):
        return Z @ self.w + self.b

    def fit_step(self, Z, target, steps=1):
        pos = target.sum().clamp(min=1)
        neg = (len(target) - target.sum()).clamp(min=1)
        weight = torch.where(target > 0.5, 0.5 / pos, 0.5 / neg)
        loss = 0.0
        for _ in range(steps):
            z = self.logits(Z)
            loss = float((weight * F.binary_cross_entropy_with_logits(z, target, reduction="none")).sum())
            err = weight * (torch.sigmoid(z) - target)
            self.w -= self.lr * (Z.T @ err)
            self.b -= self.lr * err.sum()
        return loss

    def save_state(self):
        return {"w": self.w, "b": self.b}, {}

    def load_state(self, arrays, info):
        if arrays["w"].shape != self.w.shape:
            raise ValueError(f"weights of shape {tuple(arrays['w'].shape)} do not fit {tuple(self.w.shape)}")
        self.w, self.b = arrays["w"].clone(), arrays["b"].clone()


@register("model", "toy-linear")
@dataclass(frozen=True)
class ToyLinear:
    lr: float = field(default=0.5, metadata={"above": 0.0})

    def build(self, in_dim, seed):
        return LinearModel(in_dim, self.lr, seed)


# ------------------------------------------------------------------------------ policy
@register("policy", "toy-top1")
@dataclass(frozen=True)
class ToyTop1:
    """Only the best-ranked accepting member runs, and answers."""

    @property
    def stop_at(self):
        return 0.0  # every probability reaches it: the cascade stops after the first model

    def candidates(self, verdict, accepted, k):
        key = torch.where(accepted, verdict.rank, torch.full_like(verdict.rank, -1e30))
        order = key.topk(k, dim=1).indices
        valid = accepted.gather(1, order)
        return order, valid, torch.zeros_like(valid)

    def combine(self, verdict, order, probs, labels):
        ran = probs[:, 0] >= 0
        none = torch.full((len(order),), -1, dtype=torch.long)
        member = torch.where(ran, order[:, 0], none)
        label = torch.where(ran, labels[order[:, 0]], none)
        conf = torch.where(ran, probs[:, 0] * verdict.conf.gather(1, order[:, :1]).squeeze(1), torch.zeros(len(order)))
        return label, member, conf


# ------------------------------------------------------------------------------ archive
@register("archive", "toy-fifo")
@dataclass(frozen=True)
class ToyFifo:
    """The oldest records go first, whatever their kind."""

    weight: float = 1.0

    def importance(self, kinds, rng):
        return np.full(len(kinds), self.weight)

    def evict(self, labels, importance, n):
        return np.arange(n)


# ------------------------------------------------------------------------------ creator
@register("creator", "toy-creator")
@dataclass(frozen=True)
class ToyCreator:
    """A member from a label's unexplained inputs, its model trained against everything else archived."""

    steps: int = field(default=50, metadata={"min": 1})

    def ready(self, archive, min_examples):
        ids = archive.ids(kind="unexplained")
        values, counts = np.unique(archive.get(ids)[1], return_counts=True) if len(ids) else ([], [])
        return [int(v) for v, c in zip(values, counts) if c >= min_examples]

    def create(self, label, creation):
        archive, collection, model, seen, rng = creation.archive, creation.collection, creation.model, creation.seen, creation.rng
        ids = archive.ids(kind="unexplained", label=label)
        pos = archive.get_features(ids)
        others = archive.ids()[archive.labels() != label]
        neg = archive.get_features(others) if len(others) else np.zeros((0, pos.shape[1]), np.float32)
        net = model.build(pos.shape[1], len(collection))
        net.fit_step(torch.from_numpy(np.concatenate([pos, neg])), torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]),
                     steps=self.steps)
        member = collection.add(label, torch.from_numpy(pos), net, created_at=seen, reason="toy")
        archive.update(ids, kind="sample", member=member.index, importance=archive.policy.importance(["sample"] * len(ids), rng))
        return member


# ----------------------------------------------------------------------------- feedback
@register("feedback", "toy-owner")
@dataclass(frozen=True)
class ToyOwner:
    """Inputs of a label with a member grow its meta-model and train its model; the rest are unexplained."""

    steps: int = field(default=1, metadata={"min": 0})

    def learn(self, collection, archive, X, Z, y, verdict, rng, context):
        report = FeedbackReport()
        labels = collection.labels()
        owner = torch.full((len(y),), -1, dtype=torch.long)
        for m in reversed(range(len(labels))):  # the label's first member owns its inputs
            owner[y == labels[m]] = m
        lesson = Lesson(positives=[(m, Z[owner == m]) for m in range(len(labels)) if bool((owner == m).any())])
        collection.meta.learn(lesson)
        for m, Zm in lesson.positives:
            others = Z[(owner != m) & (owner >= 0)]
            if len(others) and self.steps:
                collection.members[m].model.fit_step(torch.cat([Zm, others]), torch.cat([torch.ones(len(Zm)), torch.zeros(len(others))]),
                                                     steps=self.steps)
                report.members_trained += 1
            collection.members[m].n_positive += len(Zm)
        rows = np.flatnonzero((owner < 0).numpy())
        if len(rows):
            archive.add(X.numpy()[rows], "unexplained", y.numpy()[rows], -1, archive.policy.importance(["unexplained"] * len(rows), rng),
                        step=context.step, features=Z[torch.from_numpy(rows)].numpy())
        report.positives, report.unexplained = int((owner >= 0).sum()), len(rows)
        return report


TOYS = {"encoder": "toy-blocks", "meta": "toy-centroids", "model": "toy-linear", "policy": "toy-top1", "archive": "toy-fifo",
        "creator": "toy-creator", "feedback": "toy-owner"}
