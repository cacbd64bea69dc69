"""The controller of the functions domain: reuse a stored function when one applies, else create one.

Per task:

1. one example is *held back* when the task has at least ``HOLDOUT_MIN_EXAMPLES`` (4):
   the last one. The others (the *fit* examples) choose or make the function; the held-back
   one then checks it. With fewer examples every one is needed to pin the function down,
   and nothing is left to check it on;
2. the meta-models (``ApplicabilityIndex``) filter the library by signature, refute
   functions whose known outputs contradict a fit example, and rank the rest.
   With a ``router`` (a language model as controller, ``riscmoe.functions.router``), the
   model is shown the fit examples and the top of that ranking first and proposes a stored
   function or a composition of two; a proposal that reproduces every example (the
   held-back one included) answers, and step 3 runs only when it does not;
3. candidates are verified on the task's examples (seeds in this process, every other
   function in the sandbox), by policy:

   - ``first``: in rank order, a few at a time; the first that reproduces every example answers;
   - ``best``: the top ``max_verify`` are verified; of those that pass, the highest score
     (then the smallest) answers; with a ``chooser`` (a language model, ``LLMChooser``) and
     several passing functions that disagree on the queries, the chooser picks among them;
   - ``mixture``: every passing function answers each query; the answer is their vote,
     weighted by ``exp(score - best score)``;

   These are the routing policies recognition uses (``riscmoe.controller.policies``), run
   by the same cascade (``riscmoe.controller.cascade``): a candidate's verification is its
   "model", with probability 1 of "mine" when it reproduces every example;

4. when none passes, the creators are asked in turn, shown only the fit examples; what one
   returns is checked, run on the held-back example and, if it reproduces it, verified on
   every example, stored (deduplicated: merged with a stored twin only if the two agree on
   every example either was verified on and on the task's queries) and answers the
   queries. One that misses the held-back example fits the examples it was given but not
   the task: an overfit, not stored. When that happened and no creator made a function that
   passes, they are asked once more on another split: the richest other example held back,
   the one held back before now shown. What they make then is checked on that example like
   the first: an answer nothing checked is never given where there are enough examples (it
   would be right by luck alone: such answers came out wrong on a second pass, when a larger
   library offered other programs that fit). With ``cross_check``, a function that passes
   the check is cross-checked before it is stored: the creator is asked again on the other
   split, and unless that gives a function that passes its own check and answers the
   queries alike, the examples do not decide, and the task is not answered (fewer wrong
   answers, fewer right ones, about 1.5x the creation time: see BENCHMARKS.md).

Status per task: "reused", "created" or "failed". Check per answered task:
"verified" when the function was chosen (or made) without the held-back example and
reproduces it; "fits" when it reproduces every example but nothing checked it (too few
examples, or the held-back example was needed to choose or make it). The controller never
reads ``task.expected``. The library keeps, per function, the examples of every task it
answered (``FunctionRecord.examples``: a function that would replace it must reproduce them),
the held-back examples new to it that it reproduced (``confirmed``), and those it failed after
fitting the rest of a task's examples (``refuted``: it looked right for the task and was not);
the ranking and the synthesiser's component costs read both counts.

Speed on a long sequence (``solve_many``): the verification of several tasks' candidates
goes to the sandbox together (a window that grows while no function is added and
shrinks when one is: outcomes stay true only while the library's functions do), in two round
trips: every candidate on its task's first example, then the rest only for those that reproduced
it (most miss it, and cost one call instead of one per example and query); use counts are written in one transaction per ``solve_many``.

Reruns (the failure memo). A search in which every creator ran and failed is remembered in
the library file (``FunctionLibrary.record_failure``) under three fingerprints, and the
creators are not asked again while all three are the same (``memo`` of the result: "known"):

- the task as the creators see it (``_task_fingerprint``): its name and description (the
  synthesiser orders its building blocks by them, a language model reads them), signature
  and examples in order (the order decides which one is held back), and with
  ``cross_check`` its queries too (the cross-check compares answers on them); never
  ``expected``;
- the settings (``_settings_fingerprint``): each creator's kind and public settings (the
  search budget, the wall-clock limit, the program size, a model's name and server, ...),
  the code of its module and of this one and the riscmoe version, the controller's
  ``holdout_min`` and ``cross_check``: a larger budget or another creator searches again;
- what the creators could read of the library (``_library_view``): each creator's own
  ``library_view(task, library)`` where it has one (the synthesiser's: the building blocks
  it would be offered, in order, with their call sizes and sources), else the library's
  ``state()``. It is taken before the search, so a function stored meanwhile, by another
  task of the same run or another process, makes the next search of the task a new one.

A failed task whose view changed is searched again ("changed"); ``retry_failed`` searches
known failures too ("retried"). Not remembered: a search in which a creator raised (a
server that was down may answer next time), one the sandbox worker did not survive, and
one the wall-clock safety net stopped (on a quieter machine it may finish): each of these
depends on more than the three fingerprints.

Sweeps (``solve_many(..., sweeps=N)``; ``riscmoe functions solve --sweeps``, default 3). A
task that failed early in a sequence saw a smaller library than the sequence leaves: a later
function may reproduce its examples, or change what the creators see, and a second pass would
search it again. After the pass, each sweep solves again, in order, the failed tasks that are
stale (``stale_failures``: the library's ``state()`` or the creators' view differ from what
their solve saw), just as a second pass would solve them; sweeps repeat while any is stale, at
most N times. Every failure the sequence leaves is then remembered against the library as it
leaves it, so a second pass over the same tasks asks the creators nothing (unless the sweeps
stopped at N, or a search was cut short and so not remembered).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from riscmoe import registry
from riscmoe.controller.cascade import cascade
from riscmoe.controller.protocol import RoutingPolicy
from riscmoe.functions.creator import FunctionCreator
from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.meta import ApplicabilityIndex, Candidate
from riscmoe.functions.sandbox import Outcome, UnsafeSourceError, check_source
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import canonical, format_call, values_equal
from riscmoe.meta.protocol import Scores

# The shared routing policies (``riscmoe.controller.policies``), as this domain reads them.
# A candidate's "model" is its verification: its probability of "mine" is 1 when it
# reproduces every example of the task and 0 when not. ``first`` stops at the first that
# does; under ``best`` every candidate is a close call (the index's scores alone do not
# tell which stored function is right), so all are verified and the best-scored one that
# passes answers; ``mixture`` runs them all and pools them.
POLICY_DEFAULTS = {"first": {"sure": 1.0}, "best": {"sure": 1.0, "close": math.inf}}
POLICIES = ("first", "best", "mixture")  # the shipped kinds; any registered kind (or policy object) works


def routing_policy(policy: RoutingPolicy | str) -> RoutingPolicy:
    """The policy object for ``policy``: a registered kind's name gets this domain's settings (``POLICY_DEFAULTS``)."""
    if isinstance(policy, str):
        return registry.kind_class("policy", policy, "functions")(**POLICY_DEFAULTS.get(policy, {}))
    policy = registry.spec("policy", policy, "functions")
    if not isinstance(policy, RoutingPolicy):
        raise TypeError(f"policy must be a routing policy (candidates, combine, stop_at: see riscmoe.controller.protocol) "
                        f"or the name of one; got {type(policy).__name__}")
    return policy
NOT_RUN = "not run: the function missed the task's first example"  # an outcome skipped in verification
MAX_WINDOW = 64  # most tasks whose candidates are verified together
STATUSES = ("reused", "created", "failed")
CHECKS = ("verified", "fits")  # an answered task's check: reproduced a held-back example, or only fits them all
# Tasks with at least this many examples hold the last one back. With 3, two fit examples
# are matched by a line through them (x * 3 - 1 fits 1 -> 2 and 2 -> 5 as well as x * x + 1),
# so the check would mostly reject and cost a second search; three fit examples rule that out.
HOLDOUT_MIN_EXAMPLES = 4


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
    created_action: str | None = None  # "added", "kept" (a twin exists) or "replaced" (the newcomer took its name)
    creator_stats: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # why creators failed, queries that failed
    check: str | None = None  # one of CHECKS once answered, else None
    held_back: int = 0  # examples held back to check the function
    # The failure memo (see the module docstring): "" (no failure remembered for this task and
    # these settings), "known" (not searched: every creator failed on this same search),
    # "changed" (failed before, but the library the creators see changed: searched again),
    # "retried" (failed before on this same search, searched again on request).
    memo: str = ""
    # With a router (a language model as controller): what it proposed and how that went
    # ("proposal", "kind", "names", "verified", "why"), and the index's own first choice
    # beside it ("index_top", "index_top_verified", "index_top_answers"), for routing accuracy.
    route: dict | None = None
    # 0: solved in its place in the sequence; k: solved again by the k-th sweep of ``solve_many``.
    sweep: int = 0
    # What the task's solve saw: the library's ``state()`` at its end and, when the creators
    # were asked or the memo consulted, the fingerprint of the library as they see it (the
    # memo's key); ``solve_many``'s sweeps compare both with the library as it is now.
    seen: tuple | None = field(default=None, repr=False, compare=False)

    def to_answer_line(self) -> dict:
        """The answers-file line: name, answers, status, check, function."""
        return {"name": self.name, "answers": self.answers, "status": self.status, "check": self.check, "function": self.function}


class Chooser(Protocol):
    """Picks one of several candidate functions for a task (``riscmoe.functions.llm.LLMChooser``)."""

    def choose(self, task: Task, candidates: dict[str, str]) -> str | None:
        """One name of ``candidates`` (name -> what it is), or None to leave the choice to the scores."""
        ...


class Router(Protocol):
    """Proposes the stored function (or composition of two) for a task (``riscmoe.functions.router.LLMRouter``)."""

    def propose(self, task: Task, candidates: Sequence[Candidate], library: FunctionLibrary) -> Any:
        """A ``riscmoe.functions.router.Proposal`` (kind, names, text, source, why), or None."""
        ...


class FunctionController:
    """Answers tasks from the library, growing it through creators when nothing applies.

    Args:
        library: the function library (grows as tasks are solved).
        policy: a routing policy shared with recognition (``riscmoe.controller.policies``),
            by name (``first``, ``best``, ``mixture``, or any registered kind: see
            ``POLICY_DEFAULTS``) or as an object. A policy that never stops its cascade
            (``stop_at`` None, as ``mixture``) pools every function that passes.
        creators: asked in order when no stored function passes (default: none).
        index: the meta-models (default ``ApplicabilityIndex()``; a name builds that registered
            ``meta`` kind of the functions domain, e.g. ``"applicability"``).
        max_verify: most candidates verified per task.
        batch: candidates verified per round trip under ``first``.
        chooser: asked under ``best`` when several verified functions disagree on the queries.
        remember_failures: skip the creators on a task they all failed on in this same search
            (same task, settings and library as the creators see it); False: neither read
            nor write the failure memo.
        retry_failed: search known failures again all the same (the memo is still written).
        holdout_min: tasks with at least this many examples hold the last one back to check
            the function (None: never; every answer is then only "fits").
        router: asked first, with the fit examples and the index's ranking, which stored
            function (or composition of two) applies (``LLMRouter``); its proposal is verified
            in the sandbox on every example, the held-back one included, and answers only if it
            reproduces them all (a composition is then stored, made by "llm"). Otherwise the
            index's candidates are verified as without it. ``TaskResult.route`` says what it
            proposed and how the index's first choice did beside it.

    Example:
        >>> from riscmoe.functions.synthesis import SynthesisCreator
        >>> lib = FunctionLibrary(":memory:")
        >>> ctl = FunctionController(lib, creators=[SynthesisCreator(budget=2.0)])
        >>> r = ctl.solve(Task("sq1", [((1,), 2), ((2,), 5), ((5,), 26), ((-3,), 10)], [(10,)]))
        >>> r.status, r.check, r.answers
        ('created', 'verified', [101])
        >>> ctl.solve(Task("sq1_again", [((3,), 10), ((4,), 17)], [(6,)])).status
        'reused'
    """

    def __init__(
        self,
        library: FunctionLibrary,
        policy: RoutingPolicy | str = "best",
        creators: Sequence[FunctionCreator] = (),
        index: ApplicabilityIndex | str | None = None,
        max_verify: int = 64,
        batch: int = 8,
        chooser: Chooser | None = None,
        remember_failures: bool = True,
        holdout_min: int | None = HOLDOUT_MIN_EXAMPLES,
        cross_check: bool = False,
        retry_failed: bool = False,
        router: Router | None = None,
    ) -> None:
        for c in creators:
            if not isinstance(c, FunctionCreator):
                raise TypeError(f"{c!r} is not a creator: it needs a provenance attribute and create(task, library)")
        if max_verify < 1 or batch < 1:
            raise ValueError(f"max_verify and batch must be at least 1, got {max_verify} and {batch}")
        if holdout_min is not None and holdout_min < 2:
            raise ValueError(f"holdout_min must be at least 2 examples (one to fit, one to check) or None, got {holdout_min}")
        if not isinstance(cross_check, bool):
            raise TypeError(f"cross_check must be True or False, got {cross_check!r}")
        self.holdout_min, self.cross_check = holdout_min, cross_check
        self.library, self.policy, self.creators = library, routing_policy(policy), list(creators)
        if isinstance(index, str):  # a meta-model kind of this domain, by name
            index = registry.spec("meta", index, "functions").build()
        self.index = index if index is not None else ApplicabilityIndex()
        self.max_verify, self.batch = max_verify, batch
        self.chooser, self.remember_failures, self.retry_failed = chooser, remember_failures, retry_failed
        self.router = router
        # Prefetched outcomes: (id(task), name) -> outcomes on examples + queries, true while
        # the library's functions are those of ``_prefetched_at`` (its ``changes``).
        self._prefetched: dict[tuple[int, str], list] = {}
        self._prefetched_at = -1
        self._deferring = False  # inside solve_many: use counts are written at its end
        self._splits: dict[int, tuple[Task, Task, list]] = {}  # id(task) -> (task, fit task, held-back examples)

    # ------------------------------------------------------------------ solve
    def solve(self, task: Task) -> TaskResult:
        """Answer one task's queries, reusing or creating a function."""
        t0 = time.perf_counter()
        self.library.refresh()  # another process may have stored (or quarantined) functions meanwhile
        fit, held = self._split(task)
        cands, refuted = self.index.rank(fit, self.library)
        res = TaskResult(task.name, "failed", None, [None] * len(task.queries), 0.0, len(cands) + refuted, refuted, held_back=len(held))
        if self.router is not None and self._ask_router(task, fit, held, cands, res):
            res.seconds = time.perf_counter() - t0
            return res
        routed = self._route(task, fit, cands[: self.max_verify], res)
        if routed.refuted:  # each fitted the fit examples and failed the held-back one: it looked right and was not
            self.library.record_refutation([c.name for c in routed.refuted], held, defer=self._deferring)
        if routed.chosen:
            res.status = "reused"
            chosen = self._choose(task, routed, res)
            res.passing = [c.name for c, _ in chosen]
            # Verified: the held-back example did not shape the choice (the pick among the
            # functions fitting the fit examples alone is the same), as for a made function.
            untouched = not routed.refuted if res.chosen_by == "chooser" else routed.untouched
            res.check = "verified" if held and untouched else "fits"
            self._answer_with(task, [c for c, _ in chosen], res, [outs for _, outs in chosen], held, answers=routed.answers)
        elif not self.creators:
            res.notes.append("no stored function reproduces the examples, and there is no creator")
        else:
            self._search(task, fit, held, res)
        if res.status == "failed":  # what a sweep compares (an answered task is not solved again)
            res.seen = (self.library.state(), res.seen[1] if res.seen else None)
        res.seconds = time.perf_counter() - t0
        return res

    def _ask_router(self, task: Task, fit: Task, held: list, cands: list[Candidate], res: TaskResult) -> bool:
        """Ask the router (shown the fit examples) and verify its proposal on every example; whether it answered.

        The index's first choice is run beside it (examples and queries), so that each task
        records how the two compare (``res.route``). A router that fails (server down) or a
        proposal that does not verify leaves the task to the index's candidates.
        """
        top = cands[0] if cands else None
        info: dict = {"proposal": None, "kind": None, "names": [], "verified": False, "why": "",
                      "index_top": top.name if top else None, "index_top_verified": False, "index_top_answers": None}
        res.route = info
        args = [a for a, _ in task.examples] + list(task.queries)
        n_ex, out_type = len(task.examples), task.signature.output

        def reproduces(outs: list) -> str:
            for o, (a, want) in zip(outs[:n_ex], task.examples):
                if not o.ok:
                    return f"{format_call('f', a)} failed: {o.reason}"
                if not values_equal(o.value, want, out_type):
                    return f"{format_call('f', a)} returned {o.value!r}, expected {want!r}"
            return ""

        try:
            proposal = self.router.propose(fit, cands, self.library)  # type: ignore[union-attr]
        except Exception as exc:  # a router's failure (network, model) leaves the task to the index
            info["kind"], info["why"] = "error", f"{type(exc).__name__}: {exc}"
            res.notes.append(f"router failed: {type(exc).__name__}: {exc}")
            proposal = None
        if proposal is not None:
            info.update(proposal=proposal.text, kind=proposal.kind, names=list(proposal.names), why=proposal.why)
        elif info["kind"] is None:
            info["kind"] = "nothing shown"
        single = proposal.names[0] if proposal is not None and proposal.kind == "function" else None
        names = list(dict.fromkeys(n for n in (single, top.name if top else None) if n))
        outs = dict(zip(names, self.library.run_many(names, args))) if names else {}
        if top is not None:
            info["index_top_verified"] = not reproduces(outs[top.name])
            info["index_top_answers"] = [o.value if o.ok else None for o in outs[top.name][n_ex:]]
        if proposal is None:
            if info["kind"] == "nothing shown":
                res.notes.append("router not asked: no stored function to show it")
            return False
        if proposal.kind not in ("function", "composition"):
            res.notes.append(f"router proposed {proposal.kind}: {proposal.text!r}" + (f" ({proposal.why})" if proposal.why else ""))
            return False
        if single is not None:
            miss = reproduces(outs[single])
            if miss:
                info["why"] = miss
                res.notes.append(f"router proposed {single}, which does not verify: {miss}")
                return False
            info["verified"] = True
            rec = self.library.get(single)
            res.status, res.chosen_by, res.passing = "reused", "router", [single]
            res.check = "verified" if held else "fits"
            res.notes.append(f"router proposed {single}; it reproduces every example")
            self._answer_with(task, [Candidate(single, 0.0, 0, rec.size)], res, [outs[single][n_ex:]], held)
            return True
        from riscmoe.functions.creator import check_on_examples

        failures = check_on_examples(proposal.source, task, self.library, self.library.sandbox)
        if failures:
            info["why"] = failures[0]
            res.notes.append(f"router proposed {proposal.text}, which does not verify: {failures[0]}")
            return False
        outer, inner = proposal.names
        try:
            added = self.library.add(f"{outer}_of_{inner}", proposal.source, task.signature,
                                     task.description or f"{outer} of {inner}, for task {task.name}", provenance="llm",
                                     examples=fit.examples, allocate=True, held_back=held, compare_on=task.queries)
        except ValueError as exc:
            info["why"] = str(exc)
            res.notes.append(f"router's composition {proposal.text} rejected: {exc}")
            return False
        info["verified"] = True
        res.status, res.creator, res.created_action, res.chosen_by = "created", "router", added.action, "router"
        res.check = "verified" if held else "fits"
        res.notes.append(f"router composed {proposal.text}; it reproduces every example")
        self._answer_with(task, [Candidate(added.name, 0.0, 0, self.library.get(added.name).size)], res, held=held)
        return True

    def _search(self, task: Task, fit: Task, held: list, res: TaskResult) -> None:
        """Ask the creators, unless the failure memo says they all failed on this same search."""
        keys = self._memo_keys(task, fit, res.notes) if self.remember_failures else None
        if keys is not None:
            res.seen = (None, keys[2])
            before = self.library.failed_before(keys[0], keys[1])
            if before is not None:
                res.memo = "changed" if before[0] != keys[2] else "retried" if self.retry_failed else "known"
                if res.memo == "known":
                    res.notes.append(f"not searched again: every creator failed on this same search, with the library as "
                                     f"they see it unchanged ({before[1]})")
                    return
        restarts = self.library.worker_restarts
        settled = self._create(task, fit, held, res)
        if res.status == "created" or keys is None:
            return
        if self.library.worker_restarts != restarts:
            # The worker hung or crashed during the search: it was cut short, not finished.
            res.notes.append("not remembered as a failure: the sandbox worker died during the search")
        elif not settled and not self.library.record_failure(*keys, "; ".join(res.notes) or "no creator found a function"):
            res.notes.append("not remembered as a failure: the library file refused the write")

    def _split(self, task: Task) -> tuple[Task, list]:
        """The task as the creators and the ranking see it (the fit examples) and the held-back examples."""
        known = self._splits.get(id(task))
        if known is not None and known[0] is task:
            return known[1], known[2]
        n = len(task.examples)
        if self.holdout_min is None or n < self.holdout_min:
            fit, held = task, []
        else:
            fit = Task(task.name, task.examples[:-1], task.queries, task.description, signature=task.signature)
            held = task.examples[-1:]
        if self._deferring:  # inside solve_many: prefetch and solve split each task once
            self._splits[id(task)] = (task, fit, held)
        return fit, held

    def solve_many(self, tasks: Sequence[Task], callback: Callable[[TaskResult], Any] | None = None, sweeps: int = 0,
                   on_sweep: Callable[[int, list[int]], Any] | None = None) -> list[TaskResult]:
        """``solve`` each task in order (the library grows along the way); ``callback`` after each.

        Batched: the candidates of the next few tasks are verified together (their
        time is shared among those tasks' ``seconds``), and use counts are written in one
        transaction at the end (``FunctionLibrary.flush_uses``).

        ``sweeps``: after the pass, up to this many sweeps over the tasks that failed while the
        library they saw has since changed (``stale_failures``: a function stored, replaced,
        quarantined or made composable since, or the creators would now see the library
        otherwise than when their search failed). Each such task is solved again in file
        order, exactly as a second pass would solve it (the stored functions first, then the
        creators unless the failure memo knows this search), and its result replaces the
        pass's (``TaskResult.sweep`` says which sweep made it); ``on_sweep(k, indices)`` is
        called before sweep ``k``, ``callback`` after each task of it. A sweep that stores a
        function makes the failures before it in that sweep stale again, so sweeps repeat
        until none is stale or ``sweeps`` ran. Every failure then left is remembered against
        the library as the run leaves it, and a second pass over the same tasks searches none
        of them again.
        """
        if not isinstance(sweeps, int) or isinstance(sweeps, bool) or sweeps < 0:
            raise ValueError(f"sweeps must be a whole number of sweeps, 0 or more, got {sweeps!r}")
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
            self._prefetched.clear()
            for k in range(1, sweeps + 1):
                todo = self.stale_failures(tasks, out)
                if not todo:
                    break
                if on_sweep is not None:
                    on_sweep(k, todo)
                for i in todo:
                    r = self.solve(tasks[i])
                    r.sweep = k
                    out[i] = r
                    if callback is not None:
                        callback(r)
        finally:
            self._deferring = False
            self._prefetched.clear()
            self._splits.clear()
            self.library.flush_uses()
        return out

    def stale_failures(self, tasks: Sequence[Task], results: Sequence[TaskResult]) -> list[int]:
        """Indices of the failed ``results`` that solving their task now might change.

        Stale: the library's functions changed since the task was solved (a function stored,
        replaced, quarantined or made composable: one of them may now reproduce its examples),
        or the creators would see the library otherwise than when they failed (their view,
        the failure memo's key: e.g. the synthesiser's order of building blocks, which the
        texts of the tasks its functions answered change). A failed task that is not stale
        would come out the same: its stored functions are those it already tried, and the
        memo knows its search.
        """
        if len(tasks) != len(results):
            raise ValueError(f"{len(tasks)} tasks but {len(results)} results")
        self.library.refresh()
        now = self.library.state()
        out = []
        for i, (task, r) in enumerate(zip(tasks, results)):
            if r.status != "failed" or r.seen is None:
                continue
            state, view = r.seen
            if state != now:
                out.append(i)
            elif view is not None:
                keys = self._memo_keys(task, self._split(task)[0])
                if keys is not None and keys[2] != view:
                    out.append(i)
        return out

    def _prefetch(self, tasks: Sequence[Task]) -> float:
        """Run the ranked candidates of ``tasks`` on their examples and queries together (``_verify_jobs``); seconds taken."""
        t0 = time.perf_counter()
        self._prefetched.clear()
        self._prefetched_at = self.library.changes
        jobs, keys = [], []
        for task in tasks:
            cands, _ = self.index.rank(self._split(task)[0], self.library)
            for c in cands[: self.max_verify]:
                jobs.append((c.name, task))
                keys.append((id(task), c.name))
        if jobs:
            for k, outs in zip(keys, self._verify_jobs(jobs)):
                self._prefetched[k] = outs
        return time.perf_counter() - t0

    def _verify_jobs(self, jobs: Sequence[tuple[str, Task]]) -> list[list]:
        """Outcomes of each (stored function, task) on the task's examples, then its queries: two round trips.

        The first runs every function on its task's first example only; the second runs the
        rest (the other examples and the queries) of the functions that reproduced it. One
        that did not can pass no task it was asked for: its other outcomes are marked not run
        (``NOT_RUN``). Most candidates miss the first example: on a second pass over the 133
        list concepts, verification took 2.8 s instead of 21 s.
        """
        first = self.library.run_jobs([(name, [task.examples[0][0]]) for name, task in jobs])
        rest = [i for i, ((name, task), outs) in enumerate(zip(jobs, first))
                if outs[0].ok and values_equal(outs[0].value, task.examples[0][1], task.signature.output)]
        more = self.library.run_jobs([(jobs[i][0], [a for a, _ in jobs[i][1].examples[1:]] + list(jobs[i][1].queries))
                                      for i in rest]) if rest else []
        out = []
        for (_, task), outs in zip(jobs, first):
            out.append(outs + [Outcome(False, reason=NOT_RUN)] * (len(task.examples) - 1 + len(task.queries)))
        for i, outs in zip(rest, more):
            out[i] = first[i] + outs
        return out

    def known_failure(self, task: Task) -> str | None:
        """Why the creators would not be asked for ``task`` now (every one failed on this same search), else None.

        Only the failure memo's verdict: ``solve`` first tries the stored functions, which a
        task the memo knows may well find among functions stored since.
        """
        keys = self._memo_keys(task, self._split(task)[0])
        before = self.library.failed_before(keys[0], keys[1]) if keys is not None else None
        return before[1] if before is not None and before[0] == keys[2] else None

    def _memo_keys(self, task: Task, fit: Task, notes: list | None = None) -> tuple[str, str, str] | None:
        """The failure memo's fingerprints of this search: (task, settings, library view), or None when a view fails."""
        try:
            view = self._library_view(fit)
        except Exception as exc:  # a creator's view that fails leaves the search unmemoised, never stops it
            if notes is not None:
                notes.append(f"failure memo not used: a creator's library view failed ({type(exc).__name__}: {exc})")
            return None
        return self._task_fingerprint(task), self._settings_fingerprint(), view

    def _task_fingerprint(self, task: Task) -> str:
        """What defines "the same task" for a search: everything of the task the creators and checks read.

        Its name and description (the synthesiser orders its building blocks by them, a
        language model reads them), its signature, and its examples in order (the last one
        is held back, and the second split picks another by position); with ``cross_check``
        also its queries, on which the cross-check compares two functions' answers. Without
        it the queries play no part in whether a function is found, so a task that differs
        only in its queries is the same search. ``expected`` is never read.
        """
        parts = [task.name, task.description, str(task.signature), [[list(a), o] for a, o in task.examples]]
        if self.cross_check:
            parts.append([list(q) for q in task.queries])
        return _digest(parts)

    def _settings_fingerprint(self) -> str:
        """Everything about how the search runs, besides the task and the library.

        Per creator in order: its provenance, kind and public settings (its attributes that
        are scalars or None: the synthesiser's budget, wall-clock limit and program size, a
        model's name, server and temperature; those ending in ``_`` are state it keeps, and
        an API key is no setting), and a hash of its module's code, which holds its search.
        Then this module's code (how what a creator returns is checked), the riscmoe version,
        ``holdout_min`` and ``cross_check``. A larger budget, another creator, another model
        or new search code is another search.
        """
        from riscmoe import __version__

        settings = [[c.provenance, f"{type(c).__module__}.{type(c).__qualname__}", _code_hash(type(c).__module__),
                     sorted((k, v) for k, v in vars(c).items()
                            if not k.startswith("_") and not k.endswith("_") and k != "api_key"
                            and not (k == "base_url" and getattr(c, "server_id", None))  # (an embedded model's port)
                            and (v is None or isinstance(v, (int, float, str, bool))))] for c in self.creators]
        return _digest([settings, _code_hash(__name__), __version__, self.holdout_min, self.cross_check])

    def _library_view(self, task: Task) -> str:
        """A fingerprint of what the creators could read of the library for ``task`` (the task they are shown).

        Each creator's ``library_view(task, library)`` where it has one, else the library's
        ``state()`` (every function in use, as any creator could read it).
        """
        views = []
        for c in self.creators:
            view = getattr(c, "library_view", None)
            views.append(str(view(task, self.library)) if callable(view) else self.library.state())
        return _digest(views)

    # --------------------------------------------------------------- verify
    def _route(self, task: Task, fit: Task, cands: list[Candidate], res: TaskResult) -> "_Routed":
        """Verify the candidates through the shared cascade under the policy, and pick what answers.

        The verdict (``Scores``, one row) gives each candidate its index score as log
        posterior, ``exp(score - top score)`` as confidence, and a rank by score, then size.
        Each candidate's "model" is its verification on the task's examples and queries (one
        verification per round of the cascade, ``_verify_jobs``, unless already prefetched): probability
        1 when it reproduces every example, 0 when not. The policy's ``combine`` picks the
        function from those that passed; a pooling policy (``stop_at`` None) answers each
        query with ``combine`` over the passing functions' answers to it.
        """
        out = _Routed()
        if not cands:
            return out
        k = len(cands)
        n_fit, n_ex = len(fit.examples), len(task.examples)
        fresh = self._prefetched_at == self.library.changes
        out_type = task.signature.output
        score = np.array([c.score for c in cands], np.float64)
        by_score = sorted(range(k), key=lambda j: (-cands[j].score, cands[j].size, j))
        rank = np.empty(k, np.float64)
        rank[by_score] = -np.arange(k, dtype=np.float64)
        typical = np.minimum(1.0, np.array([c.agree / max(1, n_fit) for c in cands], np.float32))
        verdict = Scores(conf=np.exp(score - score.max()).astype(np.float32)[None], rank=rank[None], log_posterior=score[None],
                         typical=typical[None])
        fit_ok, full_ok, outcomes = np.zeros(k, bool), np.zeros(k, bool), {}

        def verify(rows: np.ndarray, members: np.ndarray) -> np.ndarray:
            names = [cands[j].name for j in members.tolist()]
            known = {n: self._prefetched.get((id(task), n)) for n in names} if fresh else {}
            missing = [n for n in names if known.get(n) is None]
            if missing:
                known.update(zip(missing, self._verify_jobs([(n, task) for n in missing])))
            for j, n in zip(members.tolist(), names):
                outs = known[n]
                ok = [o.ok and values_equal(o.value, want, out_type) for o, (_, want) in zip(outs, task.examples)]
                fit_ok[j], full_ok[j] = all(ok[:n_fit]), all(ok)
                outcomes[j] = outs[n_ex:]
            return full_ok[members].astype(np.float32)

        ran = cascade(self.policy, verdict, np.ones((1, k), bool), k, verify, step=self.batch)
        res.verified += int(ran.n_run[0])
        order, did = ran.order[0], ran.probs[0] >= 0
        seq = [int(j) for j, d in zip(order, did) if d]  # candidates verified, in the policy's order
        out.refuted = [cands[j] for j in seq if fit_ok[j] and not full_ok[j]]
        passed = [j for j in seq if full_ok[j]]
        if not passed:
            return out
        pooled = self.policy.stop_at is None
        if pooled:
            # Label of each candidate: its behaviour on the queries (same answers, same label).
            keys = {j: tuple(canonical(o.value) if o.ok else "!" for o in outcomes[j]) for j in seq}
            ids: dict = {}
            labels = np.array([ids.setdefault(keys[j], len(ids)) if j in keys else 0 for j in range(k)], np.int64)
        else:  # one function answers: the pick is a member, whatever the labels
            labels = np.zeros(k, np.int64)
        mask = lambda ok: np.where(ok[order] & did, 1.0, -1.0).astype(np.float32)[None]  # noqa: E731
        _, member, _ = self.policy.combine(verdict, ran.order, mask(full_ok), labels)
        # Without the held-back examples the pick could only differ if one of them refuted a candidate.
        member_fit = self.policy.combine(verdict, ran.order, mask(fit_ok), labels)[1] if out.refuted else member
        if pooled:  # every passing function answers, each query by the policy's vote
            out.chosen = [(cands[j], outcomes[j]) for j in passed]
            out.untouched = not out.refuted
            out.answers = []
            for q in range(len(task.queries)):
                ok_q = np.array([j in outcomes and outcomes[j][q].ok for j in range(k)], bool)
                value: dict = {}
                labels_q = np.array([value.setdefault(canonical(outcomes[j][q].value), (len(value), outcomes[j][q].value))[0]
                                     if ok_q[j] else 0 for j in range(k)], np.int64)
                label_q, _, _ = self.policy.combine(verdict, ran.order, mask(full_ok & ok_q), labels_q)
                out.answers.append(next((v for i, v in value.values() if i == int(label_q[0])), None))
        else:
            j = int(member[0])
            out.chosen = [(cands[j], outcomes[j])] + [(cands[i], outcomes[i]) for i in passed if i != j]
            out.untouched = int(member_fit[0]) == j
        return out

    def _choose(self, task: Task, routed: "_Routed", res: TaskResult) -> list[tuple[Candidate, list]]:
        """The passing functions that answer: the policy's pick (all of them when it pools), or the chooser's.

        The chooser (when given) is asked when several functions pass and disagree on the queries.
        """
        passing = routed.chosen
        if routed.answers is not None:
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

    def _answer_with(self, task: Task, passing: list[Candidate], res: TaskResult, outcomes: list | None = None,
                     held: Sequence = (), answers: list | None = None) -> None:
        """Answer the queries with the passing functions (their query outcomes if already run); count their use.

        Each reproduces every example of the task: they join the examples it is known to be
        verified on; ``held`` (when the check is "verified") may confirm it. ``answers``:
        the queries' answers when several functions answer together (a pooling policy's vote).
        """
        res.function = passing[0].name
        examples, held = task.examples, (held if res.check == "verified" else ())

        def record() -> None:
            self.library.record_use([c.name for c in passing], _task_text(task), defer=self._deferring, examples=examples, held_back=held)

        if not task.queries:
            record()
            return
        if answers is not None:
            res.answers = list(answers)
        else:
            if outcomes is None:
                outcomes = self.library.run_many([c.name for c in passing[:1]], task.queries)
            res.answers = [o.value if o.ok else None for o in outcomes[0]]
        failed = [q for q, a in enumerate(res.answers) if a is None]
        if failed:
            res.notes.append(f"no answer for queries {failed}")
        record()

    # --------------------------------------------------------------- create
    def _create(self, task: Task, fit: Task, held: list, res: TaskResult) -> bool:
        """Ask the creators for a function (shown the fit examples; checked on the held-back ones).

        Returns whether the outcome should *not* be remembered as a failure: True when a
        function was made, when a creator raised (a server that was down may answer next
        time) or when the wall-clock safety net stopped a search (``_cut_short``); False
        when every creator ran to its end and found nothing that passed.
        """
        made, transient, overfit = self._create_round(task, fit, held, res, cross=self.cross_check)
        if not made and overfit:
            # Each function fitted the examples it was shown, none the held-back one: these
            # examples leave room for wrong functions. Another split (another example held
            # back, the one that was held back now shown) gets one more search, and what it
            # makes is checked too: a function nothing checked would answer on luck alone.
            fit2, held2 = _second_split(task)
            res.notes.append(f"searched again with another example held back ({format_call('f', held2[0][0])}) and checked on it")
            made, transient_again, _ = self._create_round(task, fit2, held2, res)
            transient = transient or transient_again
        return made or transient

    def _create_round(self, task: Task, shown: Task, held: list, res: TaskResult, cross: bool = False) -> tuple[bool, bool, bool]:
        """Ask each creator in turn with the ``shown`` task: (made one, one raised or was cut short, one missed the held-back examples).

        ``cross``: a function that passes the held-back check is cross-checked (``_cross_check``)
        before it is stored.
        """
        transient = overfit = False
        for creator in self.creators:
            try:
                source = creator.create(shown, self.library)
            except Exception as exc:  # a creator's failure (network, model) must not stop the run
                res.notes.append(f"{creator.provenance} creator failed: {type(exc).__name__}: {exc}")
                transient = True
                continue
            res.creator_stats = dict(getattr(creator, "last", {}) or {})
            if source is None:
                res.notes.append(f"{creator.provenance} creator found nothing ({res.creator_stats.get('reason', 'no source')})")
                transient = _cut_short(creator, res) or transient
                continue
            try:
                check_source(source)
            except UnsafeSourceError as exc:
                res.notes.append(f"{creator.provenance} creator's source refused: {exc}")
                continue
            missed = self._misses(source, task, held)
            if missed:
                res.notes.append(f"{creator.provenance} creator's function fits the {len(shown.examples)} examples it was shown "
                                 f"but not the held-back one ({missed}): an overfit, not stored")
                overfit = True
                continue
            doubt = self._cross_check(creator, task, source, res) if cross and held and task.queries else ""
            if doubt:
                res.notes.append(doubt)
                transient = _cut_short(creator, res) or transient
                continue
            try:
                # Merged with a stored twin only if the two also agree on this task's queries.
                added = self.library.add(task.name, source, task.signature, task.description or f"made for task {task.name}",
                                         provenance=creator.provenance, examples=shown.examples, allocate=True,
                                         held_back=held, compare_on=task.queries)
            except ValueError as exc:
                res.notes.append(f"{creator.provenance} creator's function rejected: {exc}")
                continue
            res.status, res.creator, res.created_action = "created", creator.provenance, added.action
            res.check = "verified" if held else "fits"
            self._answer_with(task, [Candidate(added.name, 0.0, 0, self.library.get(added.name).size)], res, held=held)
            return True, transient, overfit
        return False, transient, overfit

    def _cross_check(self, creator: FunctionCreator, task: Task, source: str, res: TaskResult) -> str:
        """Why ``source`` is in doubt after another split's search, or "" when that search bears it out.

        The same creator is asked again on another split of the task (``_second_split``:
        another example held back, the first one shown). The task's own rule fits every
        example, so it can be found from either split; a function that fits by chance
        depends on which examples were shown. The second search must give a function that
        passes its own held-back check and answers every query as ``source`` does;
        otherwise (nothing found, an overfit, or other answers) the examples leave room
        for more than one small function, and the task is not answered and nothing stored.
        (On a set of 133 list concepts, ``filter_even(xs[:2]) + halves_swapped(xs)[-2:]``
        for "the first half" fitted all five examples, passed the check, and got every
        query wrong.)
        """
        fit2, held2 = _second_split(task)
        first_stats = res.creator_stats
        try:
            other = creator.create(fit2, self.library)
        except Exception as exc:  # a creator's failure is no evidence either way: the function stands
            res.notes.append(f"{creator.provenance} creator failed on the cross-check: {type(exc).__name__}: {exc}")
            return ""
        res.creator_stats = _add_stats(first_stats, dict(getattr(creator, "last", {}) or {}))
        split = f"another split ({format_call('f', held2[0][0])} held back)"
        head = f"{creator.provenance} creator's function passes the held-back check, but {split}"
        tail = "the examples do not decide: neither answers nor is stored"
        if other is None:
            return f"{head} finds nothing: {tail}"
        if other == source:
            return ""
        try:
            other_name = check_source(other).name
        except UnsafeSourceError as exc:
            return f"{head} gives a source the check refuses ({exc}): {tail}"
        missed = self._misses(other, task, list(task.examples))  # the examples it was shown, then the one held back
        if missed:
            return f"{head} gives a function that misses an example ({missed}): {tail}"
        mine, theirs = self.library.sandbox.run_many(
            [(source, check_source(source).name, list(task.queries)), (other, other_name, list(task.queries))], self.library.sources())
        for q, a, b in zip(task.queries, mine, theirs):
            if a.ok != b.ok or (a.ok and not values_equal(a.value, b.value, task.signature.output)):
                shown = lambda o: repr(o.value) if o.ok else "fails"  # noqa: E731
                return f"{head} gives one that also passes and answers {format_call('f', q)} with {shown(b)} instead of {shown(a)}: {tail}"
        return ""

    def _misses(self, source: str, task: Task, held: list) -> str:
        """How ``source`` misses the held-back examples, e.g. "f(7) returned 12, expected 14" ("" if it reproduces them)."""
        if not held:
            return ""
        name = check_source(source).name
        outs = self.library.sandbox.run_many([(source, name, [a for a, _ in held])], self.library.sources())[0]
        for (args, want), got in zip(held, outs):
            if not got.ok:
                return f"{format_call(name, args)} failed: {got.reason}"
            if not values_equal(got.value, want, task.signature.output):
                return f"{format_call(name, args)} returned {got.value!r}, expected {want!r}"
        return ""


def _cut_short(creator: FunctionCreator, res: TaskResult) -> bool:
    """Whether the wall-clock safety net stopped the creator's latest search (its ``last`` reason "wall"), noted in ``res``.

    Such a search depends on the machine's speed and load, not only on its settings: it is
    not remembered as a failure (``_create`` counts it with a creator that raised).
    """
    if (getattr(creator, "last", None) or {}).get("reason") != "wall":
        return False
    res.notes.append(f"not remembered as a failure: the wall-clock safety net stopped the {creator.provenance} creator's search")
    return True


def _add_stats(a: dict, b: dict) -> dict:
    """Two searches' statistics as one: counts and seconds added, the rest from the second."""
    out = dict(a, **b)
    for k in ("candidates", "work", "budget_work", "cpu_seconds", "seconds", "cut_calls"):
        if isinstance(a.get(k), (int, float)) and isinstance(b.get(k), (int, float)):
            out[k] = a[k] + b[k]
    return out


def _second_split(task: Task) -> tuple[Task, list]:
    """Another split of an overfitted task: the richest example but the last held back, the others shown.

    Richest: the longest as JSON (arguments and output), the first of those on a tie; a
    long output is the hardest for a wrong function to reproduce by chance.
    """
    n = len(task.examples)
    j = max(range(n - 1), key=lambda i: (len(json.dumps([list(task.examples[i][0]), task.examples[i][1]])), -i))
    shown = [e for i, e in enumerate(task.examples) if i != j]
    return Task(task.name, shown, task.queries, task.description, signature=task.signature), [task.examples[j]]


def _task_text(task: Task) -> str:
    return f"{task.name} {task.description}".strip()


def _digest(value: Any) -> str:
    """A short hash of a JSON-able value (ints, floats and booleans stay apart: ``1``, ``1.0``, ``true``)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]


@functools.lru_cache(maxsize=64)
def _code_hash(module: str) -> str:
    """A hash of a module's source file ("" when it has none, e.g. one made in memory): new code, new searches."""
    path = getattr(sys.modules.get(module), "__file__", None)
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else ""
    except OSError:
        return ""


@dataclass
class _Routed:
    """What the cascade found for one task: the passing functions with their query outcomes
    (the policy's pick first), the answers when a pooling policy voted, whether the pick is
    the same without the held-back examples, and the functions those examples refuted."""

    chosen: list = field(default_factory=list)
    answers: list | None = None
    untouched: bool = False
    refuted: list = field(default_factory=list)
