"""The toy words domain's parts, registered under its own domain name."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riscmoe.meta.protocol import Scores
from riscmoe.registry import register

DOMAIN = "toy-words"


def common_ending(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


class SuffixBank:
    """Every member's meta-model at once: the share of its ending that a word ends with."""

    def __init__(self) -> None:
        self.endings: list[str] = []

    def __len__(self) -> int:
        return len(self.endings)

    def add(self, ending: str) -> int:
        self.endings.append(ending)
        return len(self.endings) - 1

    def evaluate(self, words: list[str]) -> Scores:
        common = np.array([[common_ending(w, e) for e in self.endings] for w in words], np.float64).reshape(len(words), len(self))
        share = common / np.array([len(e) for e in self.endings], np.float64)
        return Scores(conf=share.astype(np.float32), rank=common + share, log_posterior=2.0 * common,
                      typical=share.astype(np.float32))


@register("meta", "suffix-bank", domains=(DOMAIN,))
@dataclass(frozen=True)
class Suffixes:
    def build(self) -> SuffixBank:
        return SuffixBank()


@dataclass
class EndsWith:
    """A member's model: "mine" when the word ends with its ending."""

    ending: str

    def prob(self, word: str) -> float:
        return 1.0 if word.endswith(self.ending) else 0.0


@dataclass
class Member:
    ending: str
    label: str
    model: EndsWith


@register("creator", "last-letters", domains=(DOMAIN,))
@dataclass(frozen=True)
class LastLetters:
    """Makes a member from one labelled word no member answered: its last ``letters`` letters."""

    letters: int = field(default=3, metadata={"min": 1})

    def create(self, need: tuple[str, str], context: SuffixBank) -> Member | None:
        word, label = need
        if len(word) < self.letters:
            return None  # nothing to make within this creator's rule
        ending = word[-self.letters:]
        context.add(ending)
        return Member(ending, label, EndsWith(ending))
