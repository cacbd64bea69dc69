"""The controller of the functions domain: reuse a stored function when one applies, else create one.

Per task:

1. the meta-models (``ApplicabilityIndex``) filter the library by signature, refute
   functions whose known outputs contradict an example, and rank the rest;
2. candidates are verified on the task's examples (seeds in this process, every other
   function in the sandbox), by policy:

   - ``first``: in rank order, a few at a time; the first that reproduces every example answers;
   - ``best``: the top ``max_verify`` are verified; of those that pass, the highest score
     (then the smallest) answers; with a ``chooser`` (a language model, ``LLMChooser``) and
     several passing functions that disagree on the queries, the chooser picks among them;
   - ``mixture``: every passing function answers each query; the answer is their vote,
     weighted by ``exp(score - best score)``;

3. when none passes, the creators are asked in turn; what one returns is checked, verified
   on every example and stored (deduplicated), then answers the queries.

Status per task: "reused", "created" or "failed". The controller never reads
``task.expected``.

Speed on a long sequence (``solve_many``): the verification of several tasks' candidates
goes to the sandbox in one round trip (a window that grows while no function is added and
shrinks when one is: outcomes stay true only while the library's functions do); use counts
are written in one transaction per ``solve_many``; a task on which every creator failed is
remembered with the library's state, and not searched again until the library changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from riscmoe.functions.creator import Creator
from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.meta import ApplicabilityIndex, Candidate
from riscmoe.functions.sandbox import UnsafeSourceError, check_source
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import canonical, values_equal

POLICIES = ("first", "best", "mixture")
MAX_WINDOW = 64  # most tasks whose candidates are verified in one round trip
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
    chosen_by: str = "score"  # "score", or "chooser" when a chooser picked among disagreeing functions
    created_action: str | None = None  # "added", "kept" (a twin exists) or "replaced"
    creator_stats: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # why creators failed, queries that failed

    def to_answer_line(self) -> dict:
        """The answers-file line: name, answers, status, function."""
        return {"name": self.name, "answers": self.answers, "status": self.status, "function": self.function}


class Chooser(Protocol):
    """Picks one of several candidate functions for a task (``riscmoe.functions.llm.LLMChooser``)."""

    def choose(self, task: Task, candidates: dict[str, str]) -> str | None:
        """One name of ``candidates`` (name -> what it is), or None to leave the choice to the scores."""
        ...


class FunctionController:
    """Answers tasks from the library, growing it through creators when nothing applies.

    Args:
        library: the function library (grows as tasks are solved).
        policy: one of ``POLICIES``.
        creators: asked in order when no stored function passes (default: none).
        index: the meta-models (default ``ApplicabilityIndex()``).
        max_verify: most candidates verified per task.
        batch: candidates verified per round trip under ``first``.
        chooser: asked under ``best`` when several verified functions disagree on the queries.
        remember_failures: skip the creators on a task they all failed on with this very library.

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
        chooser: Chooser | None = None,
        remember_failures: bool = True,
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
        self.chooser, self.remember_failures = chooser, remember_failures
        # Prefetched outcomes: (id(task), name) -> outcomes on examples + queries, true while
        # the library's functions are those of ``_prefetched_at`` (its ``changes``).
        self._prefetched: dict[tuple[int, str], list] = {}
        self._prefetched_at = -1
        self._deferring = False  # inside solve_many: use counts are written at its end

    # ------------------------------------------------------------------ solve
    def solve(self, task: Task) -> TaskResult:
        """Answer one task's queries, reusing or creating a function."""
        t0 = time.perf_counter()
        self.library.refresh()  # another process may have stored (or quarantined) functions meanwhile
        cands, refuted = self.index.rank(task, self.library)
        res = TaskResult(task.name, "failed", None, [None] * len(task.queries), 0.0, len(cands) + refuted, refuted)
        passing = self._verify(task, cands[: self.max_verify], res)
        if passing:
            res.status = "reused"
            passing = self._choose(task, passing, res)
            res.passing = [c.name for c, _ in passing]
            self._answer_with(task, [c for c, _ in passing], res, [outs for _, outs in passing])
        elif not self.creators:
            res.notes.append("no stored function reproduces the examples, and there is no creator")
        else:
            key = self._failure_key(task)
            before = self.library.failed_before(key) if self.remember_failures else None
            if before is not None:
                res.notes.append(f"not searched again: every creator failed on this same search with this same library ({before})")
            else:
                restarts = self.library.worker_restarts
                settled = self._create(task, res)
                if not settled and self.library.worker_restarts != restarts:
                    # The worker hung or crashed during the search: it was cut short, not finished.
                    res.notes.append("not remembered as a failure: the sandbox worker died during the search")
                elif not settled and self.remember_failures:
                    self.library.record_failure(key, "; ".join(res.notes) or "no creator found a function")
        res.seconds = time.perf_counter() - t0
        return res

    def solve_many(self, tasks: Sequence[Task], callback: Callable[[TaskResult], Any] | None = None) -> list[TaskResult]:
        """``solve`` each task in order (the library grows along the way); ``callback`` after each.

        Batched: the candidates of the next few tasks are verified in one round trip (their
        time is shared among those tasks' ``seconds``), and use counts are written in one
        transaction at the end (``FunctionLibrary.flush_uses``).
        """
        out: list[TaskResult] = []
        window, upto, share = 4, 0, 0.0
        self._deferring = True
        try:
            for i, t in enumerate(tasks):
                if i >= upto or self._prefetched_at != self.library.changes:
                    if i < upto:  # a function was added: the prefetched outcomes may be stale
                        window = 1
                    elif i > 0:
                        window = min(MAX_WINDOW, window * 2)
                    upto = min(len(tasks), i + window)
                    share = self._prefetch(tasks[i:upto]) / max(1, upto - i)
                r = self.solve(t)
                r.seconds += share
                out.append(r)
                if callback is not None:
                    callback(r)
        finally:
            self._deferring = False
            self._prefetched.clear()
            self.library.flush_uses()
        return out

    def _prefetch(self, tasks: Sequence[Task]) -> float:
        """Run the ranked candidates of ``tasks`` on their examples and queries in one round trip; seconds taken."""
        t0 = time.perf_counter()
        self._prefetched.clear()
        self._prefetched_at = self.library.changes
        jobs, keys = [], []
        for task in tasks:
            cands, _ = self.index.rank(task, self.library)
            args = [a for a, _ in task.examples] + list(task.queries)
            for c in cands[: self.max_verify]:
                jobs.append((c.name, args))
                keys.append((id(task), c.name))
        if jobs:
            for k, outs in zip(keys, self.library.run_jobs(jobs)):
                self._prefetched[k] = outs
        return time.perf_counter() - t0

    def _failure_key(self, task: Task) -> str:
        """What decides whether the creators can succeed: what is searched, and how.

        That is the task's text (the synthesiser orders its building blocks by it, a language
        model reads it), its signature and examples, and the creators' settings (the search
        budget among them); the library's state is compared separately (``failed_before``).
        A creator's settings are its public scalar attributes; those ending in ``_`` are
        state it keeps (counters, replies), not settings, as with learned attributes.
        """
        settings = [[c.provenance, type(c).__name__, sorted((k, v) for k, v in vars(c).items()
                     if not k.startswith("_") and not k.endswith("_") and k != "api_key"
                     and isinstance(v, (int, float, str, bool)))] for c in self.creators]
        text = json.dumps([task.name, task.description, str(task.signature), [[list(a), o] for a, o in task.examples], settings],
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]

    # --------------------------------------------------------------- verify
    def _verify(self, task: Task, cands: list[Candidate], res: TaskResult) -> list[tuple[Candidate, list]]:
        """Candidates that reproduce every example, by policy, with their outcomes on the queries.

        Examples and queries go in the same batch: one round trip verifies and answers.
        Under ``best`` the passing candidates come best first (highest score, then smallest).
        """
        n_ex = len(task.examples)
        args = [a for a, _ in task.examples] + list(task.queries)
        step = self.batch if self.policy == "first" else len(cands)
        fresh = self._prefetched_at == self.library.changes
        passing: list[tuple[Candidate, list]] = []
        for s in range(0, len(cands), max(1, step)):
            chunk = cands[s : s + step]
            known = {c.name: self._prefetched.get((id(task), c.name)) for c in chunk} if fresh else {}
            missing = [c.name for c in chunk if known.get(c.name) is None]
            if missing:
                known.update(zip(missing, self.library.run_many(missing, args)))
            res.verified += len(chunk)
            for c in chunk:
                outs = known[c.name]
                if all(o.ok and values_equal(o.value, want, task.signature.output) for o, (_, want) in zip(outs, task.examples)):
                    passing.append((c, outs[n_ex:]))
            if passing and self.policy == "first":
                return passing[:1]
        if self.policy == "best":
            passing.sort(key=lambda p: (-p[0].score, p[0].size))
        return passing

    def _choose(self, task: Task, passing: list[tuple[Candidate, list]], res: TaskResult) -> list[tuple[Candidate, list]]:
        """Under ``best``: the one passing candidate that answers (the chooser's pick when they disagree)."""
        if self.policy != "best":
            return passing
        if self.chooser is None or len(passing) < 2 or not task.queries:
            return passing[:1]
        answers = {tuple(canonical(o.value) if o.ok else "!" for o in outs) for _, outs in passing}
        if len(answers) < 2:
            return passing[:1]  # they agree on every query: no choice to make
        offered = passing[:8]
        about = {c.name: f"{self.library.get(c.name).description} | {self.library.get(c.name).source}" for c, _ in offered}
        try:
            pick = self.chooser.choose(task, about)
        except Exception as exc:  # a chooser's failure (network, model) falls back to the scores
            res.notes.append(f"chooser failed: {type(exc).__name__}: {exc}")
            return passing[:1]
        chosen = next((p for p in offered if p[0].name == pick), None)
        if chosen is None:
            res.notes.append(f"chooser picked none of {', '.join(about)}; best score answers")
            return passing[:1]
        res.chosen_by = "chooser"
        res.notes.append(f"chooser picked {pick} among {', '.join(about)}")
        return [chosen]

    def _answer_with(self, task: Task, passing: list[Candidate], res: TaskResult, outcomes: list | None = None) -> None:
        """Answer the queries with the passing functions (their query outcomes if already run)."""
        res.function = passing[0].name
        if not task.queries:
            self.library.record_use([c.name for c in passing], _task_text(task), defer=self._deferring)
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
        self.library.record_use([c.name for c in passing], _task_text(task), defer=self._deferring)

    # --------------------------------------------------------------- create
    def _create(self, task: Task, res: TaskResult) -> bool:
        """Ask the creators in turn until one makes a function.

        Returns whether the outcome should *not* be remembered as a failure: True when a
        function was made, or when a creator raised (a server that was down may answer
        next time); False when every creator ran and found nothing that passed.
        """
        transient = False
        for creator in self.creators:
            try:
                source = creator.create(task, self.library)
            except Exception as exc:  # a creator's failure (network, model) must not stop the run
                res.notes.append(f"{creator.provenance} creator failed: {type(exc).__name__}: {exc}")
                transient = True
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
            try:
                added = self.library.add(task.name, source, task.signature, task.description or f"made for task {task.name}",
                                         provenance=creator.provenance, examples=task.examples, allocate=True)
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
                return True
            self._answer_with(task, [Candidate(added.name, 0.0, 0, self.library.get(added.name).size)], res)
            return True
        return transient

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
