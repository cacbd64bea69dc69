"""The creator as a member of the collection: its meta-model means "no other member copes"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection, Member, run_member_models
from riscmoe.creator.creator import FromArchive
from riscmoe.creator.protocol import Creation
from riscmoe.meta.protocol import Verdict
from riscmoe.registry import register

# Bounds of the creator member's (log) border: at the bottom it takes only inputs no
# member gives 1e-30; at the top its confidence is 1 on every input.
_LOG_LOWEST, _LOG_HIGHEST = math.log(1e-30), 30.0


@dataclass
class CreatorBorder:
    """The creator member's learned state: its border ``b`` (log), the log of the best
    other member's confidence at and below which the creator member accepts an input
    (its confidence ``threshold * e**b / s`` reaches ``threshold``). It starts at
    ``log(threshold / margin)``, the confidence under which ``predict`` says "unknown"
    with the default creator, and may rise above 0 (then it accepts every input, with a
    confidence that still falls as the best other member's rises)."""

    log_border: float
    updates: int = 0  # near-border inputs it has learned from

    def to_info(self) -> dict[str, Any]:
        return {"log_border": self.log_border, "updates": self.updates}

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> "CreatorBorder":
        log_border, updates = float(info["log_border"]), int(info["updates"])
        if not _LOG_LOWEST <= log_border <= _LOG_HIGHEST or updates < 0:
            raise ValueError(f"the creator member's saved border {info} is out of range")
        return cls(log_border, updates)


def best_other(verdict: Verdict) -> torch.Tensor:
    """(B,) log of the best member's confidence on each input (-inf-like when there is no member)."""
    conf = verdict.conf
    if conf.shape[1] == 0:
        return torch.full((conf.shape[0],), _LOG_LOWEST - 1.0)
    return torch.log(conf.max(1).values.clamp(min=1e-38))


@dataclass
class WithCreator:
    """A bank's verdict (B, M) with the creator member as column M (a ``Verdict``)."""

    base: Verdict
    conf: torch.Tensor  # (B, M + 1)
    rank: torch.Tensor  # (B, M + 1)
    log_creator: torch.Tensor  # (B,) the creator member's log confidence

    @property
    def log_posterior(self) -> torch.Tensor:
        # Its own log confidence: weighed by the policies against each member's log
        # posterior and its model's log probability, as any member's is.
        return torch.cat([self.base.log_posterior, self.log_creator[:, None]], 1)

    def typicality(self, members: torch.Tensor) -> torch.Tensor:
        M = self.base.conf.shape[1]
        out = torch.ones(len(members))
        known = members < M
        if bool(known.any()):
            out[known] = self.base.typicality(members[known])
        return out


class CreationModel:
    """The creator member's "model": the act of creation takes every input routed to it
    (probability of "mine" 1). What it does with them (archive them as unexplained, make
    a member once enough gather) is feedback's and the creator's work, once labelled."""

    n_parameters = 0
    macs_per_input = 0

    def logits(self, Z: torch.Tensor) -> torch.Tensor:
        return torch.full((len(Z),), 30.0)


@dataclass
class _Entry:
    model: CreationModel


class _CollectionWithCreator:
    """The collection as the controller sees it with the creator member last."""

    def __init__(self, collection: Collection, label: int) -> None:
        self.members = [*collection.members, _Entry(CreationModel())]
        self._labels = torch.cat([collection.labels(), torch.tensor([label], dtype=torch.long)])

    def labels(self) -> torch.Tensor:
        return self._labels

    def run_models(self, Z: torch.Tensor, rows: torch.Tensor, members: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
        return run_member_models(self.members, Z, rows, members, runs)


@register("creator", "as-member")
@dataclass(frozen=True)
class AsMember:
    """The creator as one more member of the collection.

    Its meta-model reads the bank's verdict: it accepts an input when the best other
    member's confidence ``s`` falls below its border ``b`` ("no other member copes"), with
    confidence ``threshold * b / s`` (capped at 1), so that the controller's own cascade,
    under any routing policy, routes novel inputs to it like any member. Inputs routed to
    it are archived as unexplained (feedback's ``Context.novel``), and once
    ``min_examples`` of one label gathered it makes a member, as ``from-archive`` does;
    ``predict`` answers "unknown" for an input routed to it.

    In the cascade its model (creation) is sure of every input (probability of "mine"
    1) and its log posterior is its log confidence, so a policy such as ``best`` routes an
    input to creation when its confidence outweighs every member that ran, each member
    counted by its log posterior plus its model's weighted log probability: members
    whose models refuse the input leave it to creation.

    Its border is learned from feedback on its routing, as a member's model learns from
    its mistakes: an input that needed creation (no member has its label) but was routed
    elsewhere moves ``b`` up; one routed to it for which a member of its label existed
    moves ``b`` down; by ``border_rate`` nats when a whole batch disagrees.

    Args:
        steps: full-batch training steps at creation (``from-archive``'s).
        max_negatives: most archived inputs of other labels used at creation.
        border_rate: nats the border moves when a whole batch disagrees. It starts at
            ``threshold / margin`` (log -11.5 by default) and has to climb to around +2
            before a new label's inputs outweigh the members whose models refuse them: on
            scikit-learn's digits in 5 tasks of 2 labels (about 280 inputs each, batches
            of 32, seed 0) a rate of 1 scored 47% with most labels never given a member,
            3 scored 86%, 8 scored 95% (10 members); split MNIST at 8: 98.70%, 19 members.
    """

    steps: int = field(default=40, metadata={"min": 0})
    max_negatives: int = field(default=256, metadata={"min": 0})
    border_rate: float = field(default=8.0, metadata={"min": 0.0})

    def _maker(self) -> FromArchive:
        return FromArchive(steps=self.steps, max_negatives=self.max_negatives)

    def ready(self, archive: Archive, min_examples: int) -> list[int]:
        return self._maker().ready(archive, min_examples)

    def create(self, label: int, creation: Creation) -> Member:
        return self._maker().create(label, creation)

    def start(self, threshold: float, margin: float) -> CreatorBorder:
        return CreatorBorder(math.log(threshold / margin))

    def extend(self, verdict: Verdict, state: CreatorBorder, threshold: float) -> WithCreator:
        # log(threshold * b / s), at most 0 (confidence 1)
        log_c = (math.log(threshold) + state.log_border - best_other(verdict)).clamp(max=0.0)  # (B,)
        conf = torch.cat([verdict.conf, log_c.exp()[:, None]], 1)
        rank = torch.cat([verdict.rank, log_c[:, None]], 1)
        return WithCreator(verdict, conf, rank, log_c)

    def member(self, collection: Collection, label: int) -> _CollectionWithCreator:
        return _CollectionWithCreator(collection, label)

    def learn_border(self, state: CreatorBorder, verdict: Verdict, own: torch.Tensor, taken: torch.Tensor) -> int:
        s = best_other(verdict)  # (B,)
        # Its mistakes, as a member's model learns from its wrong accepts: inputs that needed
        # creation but the controller routed elsewhere (up: a higher border raises its
        # confidence), and inputs routed to it that a member of their label existed for (down).
        up = int((own & ~taken).sum())
        down = int((~own & taken).sum())
        if up == down == 0:
            return 0
        step = self.border_rate * (up - down) / len(s)
        state.log_border = float(min(_LOG_HIGHEST, max(_LOG_LOWEST, state.log_border + step)))
        state.updates += up + down
        return up + down
