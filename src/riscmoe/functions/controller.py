"""The controller of the functions domain: reuse a stored function when one applies, else create one.

Per task:

1. the meta-models (``ApplicabilityIndex``) filter the library by signature, refute
   functions whose known outputs contradict an example, and rank the rest;
2. candidates are verified on the task's examples (seeds in this process, every other
   function in the sandbox), by policy:

   - ``first``: in rank order, a few at a time; the first that reproduces every example answers;
   - ``best``: the top ``max_verify`` are verified; of those that pass, the highest score
     (then the smallest) answers;
   - ``mixture``: every passing function answers each query; the answer is their vote,
     weighted by ``exp(score - best score)``;

3. when none passes, the creators are asked in turn; what one returns is checked, verified
   on every example and stored (deduplicated), then answers the queries.

Status per task: "reused", "created" or "failed". The controller never reads
``task.expected``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from riscmoe.functions.creator import Creator
from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.meta import ApplicabilityIndex, Candidate
from riscmoe.functions.sandbox import UnsafeSourceError, check_source
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import canonical, values_equal

POLICIES = ("first", "best", "mixture")
STATUSES = ("reused", "created", "failed")


@dataclass
class TaskResult:
    """What the controller did for one task."""

    name: str
    status: str  # one of STATUSES
    function: str | None  # the stored function that answered (a mixture's best-scored one)
    answers: list  # one per query; None where the function failed on it
    seconds: float
    candidates: int = 0  # functions of the task's signature
    refuted: int = 0  # of those, excluded by known outputs without running
    verified: int = 0  # functions run on the examples
    passing: list = field(default_factory=list)  # functions that reproduced every example
    creator: str | None = None  # provenance of the creator that made the function
    created_action: str | None = None  # "added", "kept" (a twin exists) or "replaced"
    creator_stats: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # why creators failed, queries that failed

    def to_answer_line(self) -> dict:
        """The answers-file line: name, answers, status, function."""
        return {"name": self.name, "answers": self.answers, "status": self.status, "function": self.function}


class FunctionController:
    """Answers tasks from the library, growing it through creators when nothing applies.

    Args:
        library: the function library (grows as tasks are solved).
        policy: one of ``POLICIES``.
        creators: asked in order when no stored function passes (default: none).
        index: the meta-models (default ``ApplicabilityIndex()``).
        max_verify: most candidates verified per task.
        batch: candidates verified per round trip under ``first``.

    Example:
        >>> from riscmoe.functions.synthesis import SynthesisCreator
        >>> lib = FunctionLibrary(":memory:")
        >>> ctl = FunctionController(lib, creators=[SynthesisCreator(budget=2.0)])
        >>> r = ctl.solve(Task("sq1", [((1,), 2), ((2,), 5), ((5,), 26)], [(10,)]))
        >>> r.status, r.answers
        ('created', [101])
        >>> ctl.solve(Task("sq1_again", [((3,), 10), ((4,), 17)], [(6,)])).status
        'reused'
    """

    def __init__(
        self,
        library: FunctionLibrary,
        policy: str = "best",
        creators: Sequence[Creator] = (),
        index: ApplicabilityIndex | None = None,
        max_verify: int = 64,
        batch: int = 8,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        for c in creators:
            if not isinstance(c, Creator):
                raise TypeError(f"{c!r} is not a creator: it needs a provenance attribute and create(task, library)")
        if max_verify < 1 or batch < 1:
            raise ValueError(f"max_verify and batch must be at least 1, got {max_verify} and {batch}")
        self.library, self.policy, self.creators = library, policy, list(creators)
        self.index = index if index is not None else ApplicabilityIndex()
        self.max_verify, self.batch = max_verify, batch

    # ------------------------------------------------------------------ solve
    def solve(self, task: Task) -> TaskResult:
        """Answer one task's queries, reusing or creating a function."""
        t0 = time.perf_counter()
        cands, refuted = self.index.rank(task, self.library)
        res = TaskResult(task.name, "failed", None, [None] * len(task.queries), 0.0, len(cands) + refuted, refuted)
        passing = self._verify(task, cands[: self.max_verify], res)
        if passing:
            res.status = "reused"
            res.passing = [c.name for c, _ in passing]
            self._answer_with(task, [c for c, _ in passing], res, [outs for _, outs in passing])
        else:
            self._create(task, res)
        res.seconds = time.perf_counter() - t0
        return res

    def solve_many(self, tasks: Sequence[Task], callback: Callable[[TaskResult], Any] | None = None) -> list[TaskResult]:
        """``solve`` each task in order (the library grows along the way); ``callback`` after each."""
        out = []
        for t in tasks:
            r = self.solve(t)
            out.append(r)
            if callback is not None:
                callback(r)
        return out

    # --------------------------------------------------------------- verify
    def _verify(self, task: Task, cands: list[Candidate], res: TaskResult) -> list[tuple[Candidate, list]]:
        """Candidates that reproduce every example, by policy, with their outcomes on the queries.

        Examples and queries go in the same batch: one round trip verifies and answers.
        """
        n_ex = len(task.examples)
        args = [a for a, _ in task.examples] + list(task.queries)
        step = self.batch if self.policy == "first" else len(cands)
        passing: list[tuple[Candidate, list]] = []
        for s in range(0, len(cands), max(1, step)):
            chunk = cands[s : s + step]
            outcomes = self.library.run_many([c.name for c in chunk], args)
            res.verified += len(chunk)
            for c, outs in zip(chunk, outcomes):
                if all(o.ok and values_equal(o.value, want, task.signature.output) for o, (_, want) in zip(outs, task.examples)):
                    passing.append((c, outs[n_ex:]))
            if passing and self.policy == "first":
                return passing[:1]
        if self.policy == "best" and passing:
            passing.sort(key=lambda p: (-p[0].score, p[0].size))
            return passing[:1]
        return passing

    def _answer_with(self, task: Task, passing: list[Candidate], res: TaskResult, outcomes: list | None = None) -> None:
        """Answer the queries with the passing functions (their query outcomes if already run)."""
        res.function = passing[0].name
        if not task.queries:
            self.library.record_use([c.name for c in passing], _task_text(task))
            return
        if outcomes is None:
            outcomes = self.library.run_many([c.name for c in passing], task.queries)
        if len(passing) == 1:
            res.answers = [o.value if o.ok else None for o in outcomes[0]]
        else:
            top = max(c.score for c in passing)
            weights = [math.exp(c.score - top) for c in passing]
            res.answers = [_vote([outs[q] for outs in outcomes], weights) for q in range(len(task.queries))]
        failed = [q for q, a in enumerate(res.answers) if a is None]
        if failed:
            res.notes.append(f"no answer for queries {failed}")
        self.library.record_use([c.name for c in passing], _task_text(task))

    # --------------------------------------------------------------- create
    def _create(self, task: Task, res: TaskResult) -> None:
        for creator in self.creators:
            try:
                source = creator.create(task, self.library)
            except Exception as exc:  # a creator's failure (network, model) must not stop the run
                res.notes.append(f"{creator.provenance} creator failed: {type(exc).__name__}: {exc}")
                continue
            res.creator_stats = dict(getattr(creator, "last", {}) or {})
            if source is None:
                res.notes.append(f"{creator.provenance} creator found nothing ({res.creator_stats.get('reason', 'no source')})")
                continue
            try:
                check_source(source)
            except UnsafeSourceError as exc:
                res.notes.append(f"{creator.provenance} creator's source refused: {exc}")
                continue
            name = self.library.free_name(task.name)
            try:
                added = self.library.add(name, source, task.signature, task.description or f"made for task {task.name}",
                                         provenance=creator.provenance, examples=task.examples)
            except ValueError as exc:
                res.notes.append(f"{creator.provenance} creator's function rejected: {exc}")
                continue
            res.status, res.creator, res.created_action = "created", creator.provenance, added.action
            if added.action == "kept" and not self._passes(task, added.name):
                # Its twin behaves alike on the probes but not on these examples: answer with
                # the new function itself (verified above), reported under the twin's name.
                outs = self.library.sandbox.run_many([(source, check_source(source).name, list(task.queries))], self.library.sources())[0]
                res.function, res.answers = added.name, [o.value if o.ok else None for o in outs]
                res.notes.append(f"stored twin {added.name} differs on the examples; answered with the new source")
                return
            self._answer_with(task, [Candidate(added.name, 0.0, 0, self.library.get(added.name).size)], res)
            return

    def _passes(self, task: Task, name: str) -> bool:
        outs = self.library.run(name, [a for a, _ in task.examples])
        return all(o.ok and values_equal(o.value, w, task.signature.output) for o, (_, w) in zip(outs, task.examples))


def _task_text(task: Task) -> str:
    return f"{task.name} {task.description}".strip()


def _vote(outcomes: list, weights: list[float]) -> Any:
    """The answer with the most weight among successful outcomes (None if all failed)."""
    tally: dict[Any, float] = {}
    value: dict[Any, Any] = {}
    for o, w in zip(outcomes, weights):
        if o.ok:
            k = canonical(o.value)
            tally[k] = tally.get(k, 0.0) + w
            value.setdefault(k, o.value)
    if not tally:
        return None
    return value[max(tally, key=lambda k: tally[k])]
