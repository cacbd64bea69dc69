"""Meta-models of the function library: which stored functions may solve a task, ranked.

Every stored function's meta-model is one row of an index, evaluated for all functions at
once. Three tests, cheapest first:

1. **Signature filter**: only functions of exactly the task's signature are candidates.
2. **Known behaviour**: each function's outputs are already known on its probe inputs
   (its fingerprint) and on the examples it was verified on. A task example whose input is
   among them either agrees (evidence for) or disagrees (the function is *refuted* without
   running it).
3. **Applicability score**, a fixed linear model over features of (task, function):

   ``score = w_text * cos(task text, function text) + w_known * agreements
   + w_use * log(1 + uses) + w_trust * log(2 * reliability) - w_size * size``

   where texts are hashed bags of words (``dim`` buckets, L2-normalised): the function's
   name, description and the texts of the tasks it has answered before, so the text
   part *learns* from every task the function solves (``FunctionLibrary.record_use``), and
   ``reliability`` is the held-back evidence for the function (``FunctionRecord.reliability``:
   0.5 with none, so the term is 0; above for one confirmed on held-back examples, below
   for one that looked right for a task and was refuted by its held-back example).

The controller then verifies the candidates on the task's examples in score order.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

import numpy as np

from riscmoe.registry import config, register
from riscmoe.functions.library import FunctionLibrary, FunctionRecord, probe_inputs
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import canonical

_STOP = frozenset("a an the of to in on and or is are be by for with from its it each every that this as at".split())


def tokens(text: str) -> list[str]:
    """Lower-case word tokens (identifiers split at ``_``), stop words out, plural ``s`` off."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("_", " "))
    out = []
    for w in words:
        if w in _STOP:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def embed(texts: list[str], dim: int = 512) -> np.ndarray:
    """Hashed bag-of-words vectors (n, dim), L2-normalised (all-zero for empty text)."""
    X = np.zeros((len(texts), dim), np.float32)
    for i, t in enumerate(texts):
        for w in tokens(t):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
            X[i, h % dim] += 1.0
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norm, 1e-12)


@dataclass
class Candidate:
    """A function the meta-models let through for a task, with its score and evidence."""

    name: str
    score: float
    agree: int  # task examples whose output this function is known to give
    size: int


@register("meta", "applicability", domains=("functions",))
@dataclass(frozen=True)
class Applicability:
    """The functions domain's meta-model bank as a kind: builds an ``ApplicabilityIndex`` (see it
    for the weights' meaning) over every stored function of a library."""

    dim: int = field(default=512, metadata={"min": 1})
    w_text: float = 1.0
    w_known: float = 0.5
    w_use: float = 0.1
    w_trust: float = 0.5
    w_size: float = 0.002

    def build(self) -> "ApplicabilityIndex":
        return ApplicabilityIndex(**config(self))


class ApplicabilityIndex:
    """All stored functions' meta-models, rebuilt when the library changes.

    Args:
        dim: hashed bag-of-words buckets.
        w_text, w_known, w_use, w_trust, w_size: weights of the score's terms.

    Example:
        >>> lib = FunctionLibrary(":memory:")
        >>> task = Task("tri", [((3,), 6), ((4,), 10)], description="sum of 1 to n")
        >>> ApplicabilityIndex().rank(task, lib)[0][0].name
        'triangular'
    """

    def __init__(self, dim: int = 512, w_text: float = 1.0, w_known: float = 0.5, w_use: float = 0.1, w_trust: float = 0.5,
                 w_size: float = 0.002) -> None:
        self.dim, self.w_text, self.w_known, self.w_use, self.w_trust, self.w_size = dim, w_text, w_known, w_use, w_trust, w_size
        self._revision = -1
        self._library_id = -1
        self._changes = -1
        self.names_: list[str] = []
        self.text_: np.ndarray = np.zeros((0, dim), np.float32)  # (M, dim)
        self.known_: list[dict] = []  # per function: canonical args -> canonical output
        self.uses_: np.ndarray = np.zeros(0, np.float32)  # (M,)
        self.size_: np.ndarray = np.zeros(0, np.float32)  # (M,)
        self.trust_: np.ndarray = np.zeros(0, np.float32)  # (M,) log(2 * reliability)
        self._text_cache: dict[str, np.ndarray] = {}
        self._known_cache: dict[tuple, dict] = {}

    def refresh(self, library: FunctionLibrary) -> None:
        """Rebuild the index if the library changed since the last call."""
        if self._revision == library.revision and self._library_id == id(library):
            return
        recs = library.list()
        if self._library_id == id(library) and self._changes == library.changes and len(recs) == len(self.names_):
            # Only uses changed (no function added or replaced): update those rows in place.
            self.trust_ = _trust(recs)  # confirmations and refutations change with uses, not the library's shape
            for i, r in enumerate(recs):
                if r.uses != self.uses_[i]:
                    self.uses_[i] = r.uses
                    t = _text(r)
                    v = self._text_cache.get(t)
                    if v is None:
                        v = self._text_cache[t] = embed([t], self.dim)[0]
                    self.text_[i] = v
            self._revision = library.revision
            return
        self.names_ = [r.name for r in recs]
        self.sigs_ = [r.signature for r in recs]
        by_sig: dict = {}
        for i, sig in enumerate(self.sigs_):
            by_sig.setdefault(sig, []).append(i)
        self.by_sig_ = {sig: np.array(ix, np.int64) for sig, ix in by_sig.items()}  # signature -> rows
        # Per-function parts are cached by what they depend on: a use only redoes one row.
        texts = [_text(r) for r in recs]
        rows = [self._text_cache.get(t) for t in texts]
        missing = [i for i, v in enumerate(rows) if v is None]
        if missing:
            fresh = embed([texts[i] for i in missing], self.dim)
            for i, v in zip(missing, fresh):
                rows[i] = self._text_cache[texts[i]] = v
        self.text_ = np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)
        self.uses_ = np.array([r.uses for r in recs], np.float32)
        self.size_ = np.array([r.size for r in recs], np.float32)
        self.trust_ = _trust(recs)
        known = []
        for r in recs:
            key = (r.name, r.fingerprint_hash, len(r.examples))
            if key not in self._known_cache:
                self._known_cache[key] = _known(r)
            known.append(self._known_cache[key])
        self.known_ = known
        self._revision, self._library_id, self._changes = library.revision, id(library), library.changes

    def rank(self, task: Task, library: FunctionLibrary) -> tuple[list[Candidate], int]:
        """Candidates for ``task`` best first, and how many were refuted without running."""
        self.refresh(library)
        idx = self.by_sig_.get(task.signature)
        if idx is None:
            return [], 0
        text_q = task.name + " " + task.description
        q = self._text_cache.get(text_q)
        if q is None:
            q = self._text_cache[text_q] = embed([text_q], self.dim)[0]  # (dim,)
        text = self.text_[idx] @ q  # (k,) cosine similarities
        keys = [tuple(canonical(a) for a in args) for args, _ in task.examples]
        wants = [canonical(o) for _, o in task.examples]
        agree = np.zeros(len(idx), np.float32)
        alive = np.ones(len(idx), bool)
        for j, i in enumerate(idx):
            known = self.known_[i]
            for k, w in zip(keys, wants):
                got = known.get(k)
                if got is None:
                    continue
                if _same(got, w):
                    agree[j] += 1
                else:
                    alive[j] = False
                    break
        score = (self.w_text * text + self.w_known * agree + self.w_use * np.log1p(self.uses_[idx])
                 + self.w_trust * self.trust_[idx] - self.w_size * self.size_[idx])
        order = [j for j in np.argsort(-score, kind="stable") if alive[j]]
        cands = [Candidate(self.names_[idx[j]], float(score[j]), int(agree[j]), int(self.size_[idx[j]])) for j in order]
        return cands, int((~alive).sum())


def _trust(recs: list) -> np.ndarray:
    """(M,) ``log(2 * reliability)`` per function: 0 without held-back evidence, + confirmed, - refuted."""
    return np.array([math.log(2 * r.reliability) for r in recs], np.float32)


def _text(r: FunctionRecord) -> str:
    return " ".join([r.name, r.description, *r.solved])


def _known(r: FunctionRecord) -> dict:
    known = {}
    for args, out in zip(probe_inputs(r.signature), r.fingerprint):
        if out != "!":
            known[tuple(canonical(a) for a in args)] = out if not isinstance(out, list) else tuple(out)
    for args, out in r.examples:
        known[tuple(canonical(a) for a in args)] = canonical(out)
    return known


def _same(got, want) -> bool:
    if isinstance(got, float) or isinstance(want, float):
        if isinstance(got, bool) or isinstance(want, bool) or not isinstance(got, (int, float)) or not isinstance(want, (int, float)):
            return False
        return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(got, bool) != isinstance(want, bool):
        return False
    return got == want
