"""The embedded creator: bottom-up enumerative program synthesis, with the library as building blocks.

The search builds expressions over a typed grammar, smallest first, and keeps only one
expression per *behaviour* on the task's example inputs (pruning by observational
equivalence: two expressions that give the same outputs on every example are the same to
the search). The grammar has

- the parameters; the constants 0, 1, 2, 3, 10 (size 1) and 4 to 9 (size 2); with a list in
  the task -1 (size 1), -2 and -3 (size 2), positions from the end; and constants the
  examples suggest (``task_constants``: a value two outputs bring in that their inputs lack,
  the 3 of "append 3"; the values either side of a filter's threshold, 40 and 41 for "keep
  those above 40"; the 100 of ``100 - v`` and the 59 and 60 of ``max(v, 60)``), size 1;
- ``+ - * // %`` on ints, ``/`` and ``+ - *`` on floats (only when the task has floats),
  ``== <`` on ints and lists, ``not and or``, ``xs[i]``, ``a if c else b``;
- with a list in the task: slices ``xs[a:]``, ``xs[:a]``, ``xs[::a]``, ``xs[a:b]``; folds
  from the first element and scans (running folds) with ``+``, ``-``, ``v - acc``, ``max``,
  ``min`` (``_fold_max(xs)`` inside the search, a loop in the emitted source); map and filter
  against one number of the list (``[v - minimum(xs) for v in xs]``, ``[v for v in xs if v >
  length(xs)]``); with a list output also list literals ``[a]``, ``[a, b]``, concatenation
  (so cons: ``[a] + xs``, ``xs + [a]``) and repetition ``xs * a``;
- list comprehensions ``[body for v in xs]`` and ``[v for v in xs if pred]`` with small
  bodies and predicates over every constant above (``v * 3``, ``v + 42``, ``min(v, 50)``,
  ``cube(v)``, ``is_prime(v)``, ``v > 40``, ``v % 3 == 0``, ``int(v > 50)``, ``0 if is_even(v)
  else v``, ...), and the index-aware ``[body for k, v in enumerate(xs)]`` (``v + k``, ``v * k``,
  ``k``, alternating signs);
- every library function of matching types, called by name (the seeds include positional
  edits: ``replace_at``, ``insert_at``, ``remove_at``, ``swap``);
- on a list parameter itself (not on every list kept: ``_on_param``): ``[a - v for v in xs]``,
  ``[max(v, a) ...]``, ``[min(v, a) ...]``, ``[a] if xs else []``, each element repeated
  (``[v for v in xs for _ in range(a)]``), positions against a number (``[a - k for k, v in
  enumerate(xs)]``, ``a + k``, ``k * a``), neighbours (``[v + w for v, w in zip(xs, xs[1:])]``,
  ``w - v``, ``v - w``, ``v * w``, ``max``, ``min``; these cost 2), position-parity bodies
  (``0 if k % 2 else v``, ``2 * v if k % 2 else v``), ``v % c != 0`` and, between a task's
  thresholds, ``v < a or v > b``. Comprehensions over a parameter come first in each size.

Undefined values. On an example whose list argument is empty, ``minimum(xs)``, ``head(xs)``
or ``xs[0]`` fail; the search keeps such an expression with that row undefined (``UNDEF``),
and an operation on an undefined value is undefined except where Python would not evaluate
it: a comprehension over the empty list, ``a if c else b``, ``and``, ``or``, ``[a] if xs else
[]``. So ``[v - minimum(xs) for v in xs]`` and ``[maximum(xs)] if xs else []`` are right on
the empty list, as the emitted Python is (its folds give None for the empty list instead of
failing ahead of the return). A program is never accepted with an undefined row.

Conditionals, goal-directed. For a list target with at least four examples, each kept list
expression marks the examples it gets right (a row mask), each condition the examples where
it holds: ``A if C else B`` is proposed (like the witness finds below) as soon as a condition
C holds on at least two examples and fails on at least two, a kept A is right where C holds
and a kept B where it fails, and the whole is no larger than ``max_size``. Conditions read
only numbers of the parameters (``head(xs) < last(xs)``, ``is_odd(length(xs))``; no computed
list: ``_plain_condition``). With four examples such splits are easy to fit by chance; the
held-back example and the controller's second split catch most, not all (see BENCHMARKS.md).

So each stored function becomes a single step of later searches: the library grows, and
tasks built on earlier ones are found at smaller sizes, faster (DreamCoder's library
learning, without the neural guide). Sizes: a parameter, constant or call name counts 1
(a call of a learned function more, by its relevance: ``component_costs``; a call of a
function that takes none of the task's types and gives another, one more), an operator 1,
a comprehension 1 plus its list and its body (``v`` itself counts 0, ``k`` 1). Within one
size the grammar's own constructs come first, then library calls, then folds and
comprehensions: ``[x]`` rather than ``digits(x)``, which is ``[x]`` only below 10.

A goal-directed step speeds up the last operation: whenever a new int expression A is kept,
the search looks up whether a kept B completes the target as ``A + B``, ``A - B``,
``B - A`` or ``A * B``, and for a list target whether A is a prefix or a suffix of every
output and a kept B the rest (one dictionary lookup each). Such a find is accepted once every
smaller expression has been tried (so smaller programs still win) or, at the latest,
``min(PATIENCE, budget / 4)`` (nominal seconds, counted in candidates) later.

Which consistent program: the examples rarely single one out, and the smallest is not always
the one meant. ``divides(10, length(xs))`` reproduces every example of "is the list empty"
when no example list has 10 elements, and is as small as ``length(xs) == 0``. What gives it
away is a *free constant*: its 10 could as well be 9 or 11 and every example would still come
out right, so the examples do not determine it, and the program's answers on other inputs
hang on an arbitrary choice. A constant counts as free when replacing it by its neighbour
(``c - 1`` or ``c + 1``) still reproduces every example; a constant the examples pin down
(``x + 10`` for "add ten", ``x * 3``, ``length(xs) == 0``) is not. So:

- a consistent program without free constants is accepted as soon as it is found (the usual
  case: the search costs what it did);
- one with free constants starts a choice: the search goes on through the rest of its size,
  and through the next size too while every program found has free constants, for at most
  ``max(patience, candidates tried so far)`` more candidates and never past the budget; of the consistent
  programs met, it takes the one with the fewest free constants, then the smallest, then the
  one with the fewest library calls (leaning least on other stored functions: among programs
  the examples cannot tell apart, ``length(xs) == 0`` rather than ``is_even(sign(length(xs)))``),
  then the first found.

This is Occam's razor applied to what the examples support rather than to size alone, and
no special case: the check runs the candidate's variants on the task's own examples.

Budget: counted in work, not in time, so that a search does the same on a quiet and on a
busy machine (with a wall-clock budget, 14 list tasks came out 13 right on a quiet machine
and 8 under load). One unit of work is one candidate evaluated on one example; a budget of
``b`` nominal seconds buys ``b * WORK_PER_SECOND`` units, ``b * WORK_PER_SECOND / n``
candidates for a task of ``n`` examples (predicates, with 12 to 24 examples, get fewer
candidates, each of which costs more). Every rule that stops or extends the search (the
budget, the patience of a goal-directed find, the extra look for a program without free
constants) counts candidates, so the same request gives the same program, the same
candidates and the same reason on any machine and under any load. ``SearchResult`` reports
the candidates and the work next to the wall-clock and CPU seconds they took.

A wall-clock limit stays as a safety net only (``wall_limit``, by default ``WALL_FACTOR``
times the budget plus ``WALL_SLACK``): the enumeration compares ``time.perf_counter()`` with
it every ``CHECK_EVERY`` candidates and before each call of a library function or
comprehension. A search it stops says so (reason "wall"): only then does the result depend
on the machine.

One call of a component (a stored function may loop for long on some input) is cut off
after ``COMPONENT_TIME`` seconds of CPU time, or ``CALL_WALL_FACTOR`` times that in
wall-clock time, by ``_CallGuard``. CPU time, because a component cut off is one the search
loses (after ``MAX_STRIKES`` cuts it is dropped): under load a call gets less CPU per
wall-clock second, and would be cut off where on a quiet machine it is not. CPU time is
itself not exact (it varies by some percent with what shares the core), so a call that
needs about ``COMPONENT_TIME`` could be cut on one run and not on the next. So no ordinary
call comes near the limit: the cyclic garbage collector is off during a search (a
collection over a large bank pauses 0.1 s, charged to whatever call it interrupts), and
intermediate lists are at most ``LIST_SCALE`` times the examples' longest (``unique`` of a
1000-element list takes 40 ms). The calls cut in practice are runaway ones (``is_square``
of a 100-digit number loops for ever), cut whatever the load; the result's ``cut_calls``
counts them. The guard is an
interval timer (SIGALRM) whose handler raises only while a guarded call runs, only past its
limits, and only in that call's own code: an alarm that arrives between calls, or inside
someone else's finaliser or weakref callback (where an exception would be lost as
"unraisable"), does nothing until the call is ``LATE``, and the timer fires again every
``RETRY`` seconds until the call is stopped, so a skipped or swallowed alarm is not a lost
one. Outside the main thread (no signals) calls run unguarded and the budget and the wall
clock still hold between calls. The sandbox worker's CPU and wall-clock limits stay the
outer net.

``search`` runs wherever its components may safely run: ``SynthesisCreator`` sends the
request to the sandbox worker, since library functions (and so candidates) are untrusted.
Only the standard library is imported here: the worker loads this module.
"""

from __future__ import annotations

import ast
import functools
import gc
import math
import operator
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from riscmoe.functions.values import REL_TOL, ABS_TOL
from riscmoe.registry import config, register

if TYPE_CHECKING:
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.tasks import Task

INT_LIMIT = 10**18  # larger intermediate ints are pruned (they only slow the search down)
LIST_LIMIT = 1000  # no intermediate list is ever longer
LIST_SCALE = 4  # nor longer than 4 times the longest list of the examples (and at least 100): no search needs more
CONSTANTS = (0, 1, 2, 3, 10)  # leaves of size 1
MORE_CONSTANTS = (4, 5, 6, 7, 8, 9)  # leaves of size 2: any small number, at the price of one more
LIST_CONSTANTS = ((-1, 1), (-2, 2), (-3, 2))  # (constant, size) with a list in the task: positions from the end
# The budget's unit is work: one candidate evaluated on one example. A nominal second of
# budget is this much work, about what the search does in a second on one core of a 2020s
# server (measured: 380,000 to 900,000 a second on the bundled and list-concept tasks).
WORK_PER_SECOND = 400_000
PATIENCE = 1.0  # nominal seconds a goal-directed find waits for smaller programs (at most a quarter of the budget)
WALL_FACTOR, WALL_SLACK = 10.0, 5.0  # default wall-clock safety net: 10 x the budget + 5 s
COMPONENT_TIME = 0.05  # CPU seconds one component may spend on all examples together
CALL_WALL_FACTOR = 20  # a call is stopped after this many times its CPU limit in wall-clock time, CPU or not
MAX_STRIKES = 3  # a component that runs out of time this often is dropped from the search
RETRY = 0.01  # seconds between alarms while a guarded call is past its limit
LATE = 0.25  # seconds past its limit after which a call is stopped even in foreign code
CHECK_EVERY = 256  # candidates between two looks at the wall clock


class _Found(Exception):
    def __init__(self, src: str, size: int) -> None:
        self.src, self.size = src, size


class _OutOfTime(Exception):
    """The search's budget (or its extra work for a better program) is spent; raised by the search itself.

    ``reason`` is "budget", or "wall" when the wall-clock safety net stopped it first.
    """

    def __init__(self, reason: str = "budget") -> None:
        self.reason = reason


class _CallTimeout(BaseException):
    """Raised by ``_CallGuard``'s alarm inside a guarded call that ran past its limit."""


class _CallGuard:
    """A CPU-time limit on single calls (an interval timer), robust against stray and swallowed alarms.

    ``run(thunk, limit)`` calls ``thunk()``; once the call has used ``limit`` seconds of CPU
    time (``time.thread_time``), or ``CALL_WALL_FACTOR`` times that in wall-clock time, its
    SIGALRM handler raises ``_CallTimeout`` in the call. The limit counts CPU time because a
    busy machine must not change which calls are cut off (a cut-off call is a component the
    search loses): the alarm comes after ``limit`` wall-clock seconds and every ``RETRY``
    seconds after, and the handler lets the call go on while it has had less CPU than that.
    The handler does nothing

    - when no guarded call is running (``active`` is set only around ``thunk()``), so an alarm
      that arrives late, between calls, cannot break the search;
    - in ``run``'s own frame (between the call and resetting the timer);
    - in code that belongs to neither the search nor its components (a finaliser or weakref
      callback of another module's object that the garbage collector runs during the call,
      where the exception would be "unraisable" and lost), unless the call is ``LATE``;
    - while the call is within its limits.

    The timer repeats every ``RETRY`` seconds until ``run`` returns, so an alarm that was
    skipped or swallowed comes again. Used as a context manager: it installs its handler on
    entry and restores the previous one on exit; outside the main thread it is disabled
    (``enabled`` False) and ``run`` calls ``thunk()`` without a limit.
    """

    def __init__(self, owners: Sequence[dict] = ()) -> None:
        self.active = False
        self.cpu_until = self.wall_until = 0.0
        self.owners = {id(globals())} | {id(g) for g in owners}
        self.enabled = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        self._old: Any = None

    def __enter__(self) -> _CallGuard:
        if self.enabled:
            try:
                self._old = signal.signal(signal.SIGALRM, self._alarm)
            except ValueError:  # not the main interpreter's main thread after all
                self.enabled = False
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.active = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old if self._old is not None else signal.SIG_DFL)

    def _alarm(self, signum: int, frame: Any) -> None:
        if not self.active or (frame is not None and frame.f_code is _RUN_CODE) or not self._past(0.0):
            return
        if frame is None or id(frame.f_globals) in self.owners or self._past(LATE):
            raise _CallTimeout()

    def _past(self, slack: float) -> bool:
        """Whether the running call is ``slack`` seconds past its CPU or its wall-clock limit."""
        return time.thread_time() > self.cpu_until + slack or time.perf_counter() > self.wall_until + slack

    def run(self, thunk: Callable[[], Any], limit: float, wall: float | None = None) -> Any:
        """``thunk()``, stopped by ``_CallTimeout`` after ``limit`` CPU seconds (or ``wall`` wall-clock seconds)."""
        if not self.enabled:
            return thunk()
        self.cpu_until = time.thread_time() + limit
        self.wall_until = time.perf_counter() + (limit * CALL_WALL_FACTOR if wall is None else wall)
        self.active = True
        try:
            signal.setitimer(signal.ITIMER_REAL, max(limit, 1e-4), RETRY)
            return thunk()
        finally:
            self.active = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def overran(self) -> bool:
        """Whether the latest ``run`` ended past its limit (its value is then not trusted)."""
        return self.enabled and self._past(RETRY)


_RUN_CODE = _CallGuard.run.__code__


def _floordiv(a: int, b: int) -> int:
    return a // b


def _truediv(a: float, b: float) -> float:
    return a / b


def _index(xs: list, i: int) -> int:
    return xs[i]


def _step(xs: list, a: int) -> list:
    return xs[::a]  # a == 0: ValueError, the candidate is dropped


def _repeat(xs: list, a: int) -> list:
    if len(xs) * a > LIST_LIMIT:
        raise ValueError("list too long")
    return xs * a


class _Undefined:
    """The value of an expression on an example where evaluating it raises (``xs[3]`` of a 2-element list).

    Kept only in tasks with a list argument: ``[v - min(xs) for v in xs]`` is right on the empty
    list, where ``min(xs)`` is undefined, because Python never evaluates it there. A vector with
    some undefined rows is kept in the bank (it is not the target on those rows); an operation
    on an undefined value is undefined, except where Python would not evaluate it (``_LAZY``).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEF"


UNDEF = _Undefined()
_ERRORS = (ArithmeticError, IndexError, ValueError, TypeError, OverflowError)


def _lazy_map(fn: Callable) -> Callable:
    """A row of ``[... a ... for v in xs]``: the empty list whatever ``a`` is (Python never evaluates it)."""
    def row(xs: Any, a: Any) -> Any:
        if xs is UNDEF:
            return UNDEF
        if not xs:
            return []
        return UNDEF if a is UNDEF else fn(xs, a)
    return row


def _lazy_if(c: Any, a: Any, b: Any) -> Any:
    return UNDEF if c is UNDEF else a if c else b


def _lazy_and(a: Any, b: Any) -> Any:
    return UNDEF if a is UNDEF else b if a else a


def _lazy_or(a: Any, b: Any) -> Any:
    return UNDEF if a is UNDEF else a if a else b


def _singleton_if(xs: list, a: int) -> list:
    return [a] if xs else []


def _repeat_each(xs: list, a: int) -> list:
    if a < 0 or len(xs) * a > LIST_LIMIT:
        raise ValueError("list too long")
    return [v for v in xs for _ in range(a)]


def _fold(op: Callable[[int, int], int], empty: int | None) -> Callable[[list], int]:
    def fold(xs: list) -> int:
        if not xs and empty is not None:
            return empty
        acc = xs[0]  # the empty list without an ``empty`` value: IndexError, the candidate is dropped
        for v in xs[1:]:
            acc = op(acc, v)
        return acc
    return fold


def _scan(op: Callable[[int, int], int]) -> Callable[[list], list]:
    def scan(xs: list) -> list:
        out: list = []
        for v in xs:
            out.append(v if not out else op(out[-1], v))
        return out
    return scan


# Folds over a list from its first element (``reduce``), and scans (every intermediate value:
# running totals, the largest so far): the accumulator's new value from ``acc`` and the next
# element ``v``, as a function and as Python text, and the fold of the empty list (0 for sums
# and differences, none for the largest and smallest). Inside the search a fold is written
# ``_fold_NAME(xs)`` (names with a leading ``_`` can be no library function's); the emitted
# source spells it out as a loop.
FOLD_OPS: dict[str, tuple[Callable[[int, int], int], str, int | None]] = {
    "add": (operator.add, "{acc} + {v}", 0),
    "sub": (operator.sub, "{acc} - {v}", 0),
    "rsub": (lambda a, v: v - a, "{v} - {acc}", 0),
    "max": (lambda a, v: a if a >= v else v, "max({acc}, {v})", None),
    "min": (lambda a, v: a if a <= v else v, "min({acc}, {v})", None),
}
_LOOPS: dict[str, tuple[str, str, Callable, int | None]] = {  # pseudo-function -> (fold or scan, step, function, empty)
    **{f"_fold_{k}": ("fold", text, _fold(op, empty), empty) for k, (op, text, empty) in FOLD_OPS.items()},
    **{f"_scan_{k}": ("scan", text, _scan(op), None) for k, (op, text, _) in FOLD_OPS.items()},
}
# Builtins the grammar's expressions use; the sandbox allows each of them.
_BUILTINS = {"enumerate": enumerate, "min": min, "max": max, "int": int, "zip": zip, "range": range, "all": all}

# (output type, argument types, function, format, commutative, needs): needs "" (always),
# "float" (a float in the task), "list" (a list argument or output), "list_out" (a list output).
_PRIMITIVES: list[tuple[str, tuple[str, ...], Callable, str, bool, str]] = [
    ("int", ("int", "int"), operator.add, "({0} + {1})", True, ""),
    ("int", ("int", "int"), operator.sub, "({0} - {1})", False, ""),
    ("int", ("int", "int"), operator.mul, "({0} * {1})", True, ""),
    ("int", ("int", "int"), _floordiv, "({0} // {1})", False, ""),
    ("int", ("int", "int"), operator.mod, "({0} % {1})", False, ""),
    ("float", ("float", "float"), _truediv, "({0} / {1})", False, "float"),
    ("float", ("float", "float"), operator.add, "({0} + {1})", True, "float"),
    ("float", ("float", "float"), operator.sub, "({0} - {1})", False, "float"),
    ("float", ("float", "float"), operator.mul, "({0} * {1})", True, "float"),
    ("bool", ("int", "int"), operator.eq, "({0} == {1})", True, ""),
    ("bool", ("int", "int"), operator.lt, "({0} < {1})", False, ""),
    ("bool", ("list[int]", "list[int]"), operator.eq, "({0} == {1})", True, ""),
    ("bool", ("bool",), operator.not_, "(not {0})", False, ""),
    ("bool", ("bool", "bool"), lambda a, b: a and b, "({0} and {1})", True, ""),
    ("bool", ("bool", "bool"), lambda a, b: a or b, "({0} or {1})", True, ""),
    ("int", ("list[int]", "int"), _index, "{0}[{1}]", False, ""),
    ("int", ("bool", "int", "int"), lambda c, a, b: a if c else b, "({1} if {0} else {2})", False, ""),
    # The list when it has elements, else the empty list: "[max(xs)] if xs else []".
    ("list[int]", ("list[int]", "int"), _singleton_if, "([{1}] if {0} else [])", False, "list_out"),
    # Lists: slices (before literals: xs[:1] is right on the empty list, [xs[0]] is not),
    # literals, concatenation (so cons: [a] + xs, xs + [a]) and repetition.
    ("list[int]", ("list[int]", "int"), lambda xs, a: xs[a:], "{0}[{1}:]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: xs[:a], "{0}[:{1}]", False, "list"),
    ("list[int]", ("list[int]", "int"), _step, "{0}[::{1}]", False, "list"),
    ("list[int]", ("list[int]", "int", "int"), lambda xs, a, b: xs[a:b], "{0}[{1}:{2}]", False, "list"),
    ("list[int]", ("int",), lambda a: [a], "[{0}]", False, "list_out"),
    ("list[int]", ("int", "int"), lambda a, b: [a, b], "[{0}, {1}]", False, "list_out"),
    ("list[int]", ("list[int]", "list[int]"), operator.add, "({0} + {1})", False, "list_out"),
    ("list[int]", ("list[int]", "int"), _repeat, "({0} * {1})", False, "list_out"),
    # Every element against one number of the whole list (its length, first element, maximum):
    # map and filter with a second operand; ``{v}`` is the element's name.
    ("list[int]", ("list[int]", "int"), lambda xs, a: [v + a for v in xs], "[{v} + {1} for {v} in {0}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [v - a for v in xs], "[{v} - {1} for {v} in {0}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [v * a for v in xs], "[{v} * {1} for {v} in {0}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [a for v in xs], "[{1} for {v} in {0}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [v for v in xs if v > a], "[{v} for {v} in {0} if {v} > {1}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [v for v in xs if v < a], "[{v} for {v} in {0} if {v} < {1}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [v for v in xs if v != a], "[{v} for {v} in {0} if {v} != {1}]", False, "list"),
    # The same against the list's own parameter only (see ``_ON_PARAM``).
    ("list[int]", ("list[int]", "int"), lambda xs, a: [a - v for v in xs], "[{1} - {v} for {v} in {0}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [max(v, a) for v in xs], "[max({v}, {1}) for {v} in {0}]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [min(v, a) for v in xs], "[min({v}, {1}) for {v} in {0}]", False, "list"),
    ("list[int]", ("list[int]", "int"), _repeat_each, "[{v} for {v} in {0} for _ in range({1})]", False, "list"),
    # Positions against one number: the length minus each position, each position times the first, ...
    ("list[int]", ("list[int]", "int"), lambda xs, a: [a - k for k in range(len(xs))], "[{1} - {k} for {k}, {v} in enumerate({0})]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [a + k for k in range(len(xs))], "[{1} + {k} for {k}, {v} in enumerate({0})]", False, "list"),
    ("list[int]", ("list[int]", "int"), lambda xs, a: [a * k for k in range(len(xs))], "[{k} * {1} for {k}, {v} in enumerate({0})]", False, "list"),
    # Neighbours: each element with the next.
    *[("list[int]", ("list[int]",), fn, f"[{body} for {{v}}, {{w}} in zip({{0}}, {{0}}[1:])]", False, "list")
      for fn, body in [(lambda xs: [a + b for a, b in zip(xs, xs[1:])], "{v} + {w}"),
                       (lambda xs: [b - a for a, b in zip(xs, xs[1:])], "{w} - {v}"),
                       (lambda xs: [a - b for a, b in zip(xs, xs[1:])], "{v} - {w}"),
                       (lambda xs: [a * b for a, b in zip(xs, xs[1:])], "{v} * {w}"),
                       (lambda xs: [max(a, b) for a, b in zip(xs, xs[1:])], "max({v}, {w})"),
                       (lambda xs: [min(a, b) for a, b in zip(xs, xs[1:])], "min({v}, {w})")]],
    # Folds and scans over a list.
    *[("int" if kind == "fold" else "list[int]", ("list[int]",), fn, f"{nm}({{0}})", False, "list")
      for nm, (kind, _, fn, _) in _LOOPS.items()],
]


# Rows of the operations Python evaluates lazily, by format: they stand where an argument is undefined.
_LAZY: dict[str, Callable] = {
    "({1} if {0} else {2})": _lazy_if,
    "({0} and {1})": _lazy_and,
    "({0} or {1})": _lazy_or,
    **{fmt: _lazy_map(fn) for _, arg_t, fn, fmt, _, _ in _PRIMITIVES
       if arg_t == ("list[int]", "int") and fmt.startswith(("[{v}", "[{1}", "[{k}", "([{1}]", "[max(", "[min("))},
}


def _valid(t: str, vec: list, list_limit: int = LIST_LIMIT) -> bool:
    """Whether every value of a candidate's output vector is a sane value of type ``t``."""
    if t == "int":
        return all(type(x) is int and -INT_LIMIT <= x <= INT_LIMIT for x in vec)
    if t == "bool":
        return all(type(x) is bool for x in vec)
    if t == "float":
        return all((type(x) is float and math.isfinite(x) and abs(x) <= INT_LIMIT) or (type(x) is int and abs(x) <= INT_LIMIT) for x in vec)
    return all(type(x) is list and len(x) <= list_limit and all(type(e) is int and -INT_LIMIT <= e <= INT_LIMIT for e in x) for x in vec)


def _partial_valid(t: str, vec: list, list_limit: int, may: Sequence[bool]) -> bool:
    """Whether ``vec`` is a sane vector of type ``t`` undefined (``UNDEF``) on some of the rows that ``may`` be, not all."""
    if t == "float" or all(x is UNDEF for x in vec) or any(x is UNDEF and not ok for x, ok in zip(vec, may)):
        return False
    return _valid(t, [x for x in vec if x is not UNDEF], list_limit)


def _key(t: str, vec: list) -> tuple:
    if t == "list[int]":
        return tuple(x if x is UNDEF else tuple(x) for x in vec)
    if t == "float":
        return tuple(float(f"{float(x):.9g}") for x in vec)
    return tuple(vec)


@dataclass
class Body:
    """A small function of one element ``v``, used inside a comprehension."""

    src: str  # Python expression in the variable ``v``
    size: int
    fn: Callable[[int], Any]


@dataclass
class SearchResult:
    """What a search found: ``source`` of the function (None if nothing), with statistics."""

    source: str | None
    expr: str | None = None
    size: int = 0
    candidates: int = 0  # candidate expressions tried (the same on every machine, under any load)
    work: int = 0  # candidates times examples: what the budget counts
    budget_work: int = 0  # the work the budget allowed
    seconds: float = 0.0  # wall-clock time
    cpu_seconds: float = 0.0  # CPU time of the searching thread
    cut_calls: int = 0  # component calls stopped by the per-call CPU-time limit (0: nothing here hung on timing)
    reason: str = ""  # why nothing was found: "budget", "exhausted", or "wall" (the wall-clock safety net)
    per_size: dict = field(default_factory=dict)  # size -> distinct behaviours kept
    free_constants: int = 0  # constants of the chosen program that the examples leave free
    alternatives: int = 0  # consistent programs weighed (0: the first one found had no free constant)


def search(
    arg_types: Sequence[str],
    out_type: str,
    inputs: Sequence[Sequence],
    outputs: Sequence,
    components: dict[str, tuple[tuple[str, ...], str, Callable]],
    budget: float = 5.0,
    max_size: int = 9,
    name: str = "f",
    wall_limit: float | None = None,
    costs: dict[str, int] | None = None,
) -> SearchResult:
    """Find the smallest expression over the grammar that maps every input to its output.

    Among consistent programs, one whose constants the examples pin down is preferred to one
    with free constants (see the module's docstring); ``free_constants`` of the result says
    how many the chosen program still has, ``alternatives`` how many such programs were met.

    Args:
        arg_types, out_type: the task's signature.
        inputs, outputs: the examples (argument tuples and outputs).
        components: name -> (argument types, output type, callable) of library functions.
        budget: the search's work, in nominal seconds: ``budget * WORK_PER_SECOND`` candidate
            evaluations (one candidate on one example). The same budget searches the same
            candidates on any machine and under any load.
        max_size: largest expression size tried.
        name: name of the emitted function.
        wall_limit: wall-clock seconds after which the search stops whatever its budget says
            (a safety net against components slow on every call; default ``WALL_FACTOR *
            budget + WALL_SLACK``). A search it stops ends with reason "wall": its result
            depends on the machine.
        costs: name -> size of a call of that component (default 1); ``SynthesisCreator``
            makes the less relevant of many stored functions dearer (``component_costs``).
            A component that takes none of the task's argument types and gives another
            type than its output (``gcd`` in a task on lists) costs one more: it can only
            be a step inside, and calls of it are what swell the small sizes.

    Example:
        >>> r = search(["int"], "int", [(1,), (2,), (5,)], [2, 5, 26], {}, budget=2.0)
        >>> print(r.source.strip())
        def f(x):
            return x * x + 1
    """
    t0, cpu0 = time.perf_counter(), time.thread_time()
    deadline = t0 + (WALL_FACTOR * budget + WALL_SLACK if wall_limit is None else wall_limit)  # the safety net
    floats = "float" in arg_types or out_type == "float"
    lists = "list[int]" in arg_types or out_type == "list[int]"
    params = _param_names(arg_types, set(components))
    var = "v" if "v" not in components and "v" not in params else "v_"
    kvar = "k" if "k" not in components and "k" not in params else "k_"
    wvar = "w" if "w" not in components and "w" not in params else "w_"
    n = len(inputs)
    longest = max([len(v) for ex in [*inputs, *([o] for o in outputs)] for v in ex if type(v) is list] + [0])
    list_limit = min(LIST_LIMIT, max(100, LIST_SCALE * longest))  # a 1000-element range costs unique() 40 ms
    bank: dict[str, dict[int, list[tuple[str, list]]]] = {t: {} for t in ("int", "float", "bool", "list[int]")}
    seen: dict[str, dict] = {t: {} for t in bank}  # type -> behaviour key -> (source, size)
    target = list(outputs)
    target_key = _key(out_type, target) if out_type != "float" else None
    counter = [0]  # candidates so far: the budget is counted in these, times the examples
    allowed = max(1, round(budget * WORK_PER_SECOND) // max(1, n))  # candidates the budget buys
    pending: list = []  # (source, size, candidate count) found by the goal-directed step, not yet accepted
    patience = max(1, min(round(PATIENCE * WORK_PER_SECOND) // max(1, n), allowed // 4))  # in candidates
    # Consistent programs, from the first one with free constants on:
    # (free constants, size, library calls, order, source); the least is chosen.
    found: list[tuple[int, int, int, int, str]] = []
    extra_until = [allowed]  # once something is found: how many candidates to look for a better program
    # Undefined rows (``UNDEF``) are kept only with a list argument: where the empty or a short list makes
    # ``xs[0]`` or ``min(xs)`` fail on some example, and a lazy context may still use it.
    # Only on the examples with an empty list argument: there every ``head`` and ``minimum`` fails, and
    # "[max(xs)] if xs else []" is the rule; undefined rows elsewhere (``xs[3]`` of a short list) would
    # swell the bank (a third more expressions of size 5) for little.
    may_fail = [any(type(a) is list and not a for a in inp) for inp in inputs]
    partial_ok = "list[int]" in arg_types and any(may_fail)
    partial: set[int] = set()  # ids of the kept vectors with undefined rows
    # Conditionals for a list target, goal-directed: ``cover[m]`` is the first (smallest) kept list
    # expression right on every example of the row mask ``m`` (and maybe others), ``conds[m]`` the first
    # kept condition true on exactly the rows ``m``; ``A if C else B`` needs C's rows covered by A, the rest by B.
    full = (1 << n) - 1
    cover: dict[int, tuple[str, int]] = {}
    conds: dict[int, tuple[str, int]] = {}
    cond_target = out_type == "list[int]" and lists and n >= 4
    list_makers = {nm for nm, (_, o, _) in components.items() if o == "list[int]"}

    def matches(t: str, vec: list) -> bool:
        if out_type == "float":
            return t in ("float", "int") and all(math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL) for a, b in zip(vec, target))
        return t == out_type and _key(t, vec) == target_key

    def tick() -> None:
        """Count a candidate: with the budget spent the search ends; every ``CHECK_EVERY``, look at the wall clock."""
        if counter[0] >= extra_until[0]:
            raise _OutOfTime()
        counter[0] += 1
        if pending and counter[0] > pending[2] + patience:
            take_pending()
        if counter[0] % CHECK_EVERY == 0:
            clock()

    def clock() -> None:
        if time.perf_counter() > deadline:
            raise _OutOfTime("wall")

    def consider(src: str, size: int) -> None:
        """A consistent program: accepted at once without free constants, else the choice begins."""
        free = free_constants(src)
        if free == 0 and not found:
            raise _Found(src, size)
        if not found:
            extra_until[0] = min(allowed, counter[0] + max(patience, counter[0]))
        found.append((free, size, _calls(src, components), len(found), src))

    def take_pending() -> None:
        src, size = pending[0], pending[1]
        pending.clear()
        consider(src, size)

    def offer(t: str, size: int, src: str, vec: list) -> None:
        tick()
        whole = _valid(t, vec, list_limit)
        if not whole and not (partial_ok and _partial_valid(t, vec, list_limit, may_fail)):
            return
        if whole and matches(t, vec):
            consider(src, size)
            return
        k = _key(t, vec)
        if k in seen[t]:
            return
        seen[t][k] = (src, size)
        bank[t].setdefault(size, []).append((src, vec))
        if not whole:
            partial.add(id(vec))
        hit = None
        if t == out_type == "int" and not pending and whole:
            hit = _witness(src, size, vec, target, seen["int"])
        elif t == out_type == "list[int]" and not pending and whole:
            hit = _list_witness(src, size, vec, target, seen["list[int]"])
        if cond_target and hit is None and not pending:
            hit = conditional(t, src, size, vec, whole)
        if hit is not None:
            # Accepted once every smaller expression was tried, or ``patience`` candidates later.
            pending.extend([hit[0], hit[1], counter[0]])

    def conditional(t: str, src: str, size: int, vec: list, whole: bool) -> tuple[str, int] | None:
        """``A if C else B`` for the list target, once a new list A or condition C completes one (``cover``, ``conds``)."""
        if t == "bool":
            if not whole:
                return None
            m = sum(1 << i for i, x in enumerate(vec) if x)
            if min(bin(m).count("1"), n - bin(m).count("1")) < 2 or m in conds or not _plain_condition(src, list_makers):
                return None
            conds[m] = (src, size)
            return _branches(m)
        if t != "list[int]":
            return None
        m = sum(1 << i for i, (x, y) in enumerate(zip(vec, target)) if x is not UNDEF and x == y)
        if m in (0, full) or m in cover:
            return None
        new = [sub for sub in _submasks(m) if sub not in cover]
        for sub in new:
            cover[sub] = (src, size)
        for sub in new:  # a condition whose rows, or whose other rows, this expression now covers
            for cm in (sub, full ^ sub):
                if cm in conds:
                    hit = _branches(cm)
                    if hit is not None:
                        return hit
        return None

    def _branches(m: int) -> tuple[str, int] | None:
        """The conditional for condition rows ``m``: each branch shown at least two examples, no larger than ``max_size``."""
        a, b, c = cover.get(m), cover.get(full ^ m), conds.get(m)
        if a is None or b is None or c is None or 1 + a[1] + b[1] + c[1] > max_size:
            return None
        return f"({a[0]}) if ({c[0]}) else ({b[0]})", 1 + a[1] + b[1] + c[1]

    def entries(t: str, size: int) -> list[tuple[str, list]]:
        got = bank[t].get(size, [])
        if t == "float":
            got = got + bank["int"].get(size, [])
        return got

    # Only functions whose types the search can produce, that take something.
    costs = costs or {}
    comps = [(nm, a, o, f, max(1, int(costs.get(nm, 1))) + (0 if set(a) & set(arg_types) or o == out_type else 1))
             for nm, (a, o, f) in components.items() if a and all(x in bank for x in (*a, o))]
    if not floats:
        comps = [c for c in comps if "float" not in (*c[1], c[2])]
    # A builtin the grammar uses is left out where a library function has its name (it would be called instead).
    has = {"": True, "float": floats, "list": lists, "list_out": out_type == "list[int]"}
    shadowed = set(_BUILTINS) & set(components)
    prims = [p for p in _PRIMITIVES if has[p[5]] and not (p[3].startswith(("min(", "max(")) and shadowed)
             and not any(f"{nm}(" in p[3] for nm in shadowed)]
    prims = [p for p in prims if not (p[3].startswith("_") and {"min", "max"} & shadowed)]
    consts = [*CONSTANTS, *([c for c, k in LIST_CONSTANTS if k == 1] if lists else [])]
    extra = [c for c in task_constants(arg_types, out_type, inputs, outputs) if c not in consts]
    more = [c for c in [*MORE_CONSTANTS, *([c for c, k in LIST_CONSTANTS if k == 2] if lists else [])] if c not in extra]
    env: dict[str, Any] = {"__builtins__": {}, **_BUILTINS, **{nm: fn for nm, (_, _, fn, _) in _LOOPS.items()},
                           **{nm: f for nm, (_, _, f) in components.items()}}
    guard = _CallGuard([env] + [f.__globals__ for _, _, _, f, _ in comps if isinstance(getattr(f, "__globals__", None), dict)])

    strikes: dict[str, int] = {}  # component -> calls that ran out of time

    def guarded(thunk: Callable[[], Any], who: str = "", limit: float = COMPONENT_TIME) -> Any:
        """``thunk()`` under the per-component CPU-time limit; None on any failure. Counts as a candidate."""
        tick()
        left = deadline - time.perf_counter()
        if left <= 0:
            raise _OutOfTime("wall")
        for attempt in (1, 2):  # a call cut once runs once more: a pause of the machine is not the call's
            try:
                value = guard.run(thunk, limit, min(limit * CALL_WALL_FACTOR, max(left, 1e-3)))
            except _CallTimeout:
                value = _CallTimeout
            except BaseException:  # errors, memory: the candidate is simply not kept
                return None
            if value is not _CallTimeout and not guard.overran():
                return value
            left = deadline - time.perf_counter()  # stopped, or it swallowed the alarm and went on
            if left <= 0:
                break
        strikes[who] = strikes.get(who, 0) + 1
        return None

    def usable(name: str) -> bool:
        return strikes.get(name, 0) < MAX_STRIKES

    def probe(thunk: Callable[[], Any]) -> Any:
        """``thunk()`` under the per-call limit (not the deadline: a find is judged even late); None on failure."""
        try:
            value = guard.run(thunk, COMPONENT_TIME)
        except BaseException:
            return None
        return None if guard.overran() else value

    def free_constants(src: str) -> int:
        return _free_constants(src, params, arg_types, inputs, env,
                               lambda vec: _valid(out_type, vec, list_limit) and matches(out_type, vec), probe)

    def run_search(result: SearchResult) -> None:
        nonlocal comps
        with guard:
            try:
                comps = [c for c in comps if not _same_as_primitive(c, guarded)]
                for i, (p, t) in enumerate(zip(params, arg_types)):
                    offer(t, 1, p, [inp[i] for inp in inputs])
                for c, size in [*[(c, 1) for c in consts + extra], *[(c, 2) for c in more]]:
                    offer("int", size, str(c), [c] * n)
                if floats:
                    offer("float", 1, "0.5", [0.5] * n)
                elements = _elements(inputs, arg_types)
                maps, preds = _bodies([(nm, a, o, f, max(1, int(costs.get(nm, 1)))) for nm, a, o, f, _ in comps], elements, var,
                                      guarded, [c for c in consts + more if c >= 0] + extra, shadowed, outside=extra)
                imaps = _index_bodies(var, kvar) if lists and not {"enumerate", "all"} & shadowed else []
                for size in range(2, max_size + 1):
                    if pending and pending[1] <= size:
                        take_pending()
                    if found:
                        smallest = min(f[1] for f in found)
                        if size > smallest + 1 or (size > smallest and min(found)[0] == 0):
                            break  # the first find's size was searched, and the next one while needed
                    clock()
                    _grow(size, prims, comps, maps, preds, imaps, entries, offer, guarded, usable, (var, kvar, wvar), tick, list_limit,
                          partial if partial_ok else None)
                if pending:
                    take_pending()
                result.reason = "exhausted"
            except _Found as hit:
                result.expr, result.size = hit.src, hit.size
            except _OutOfTime as out:
                result.reason = out.reason
                if pending:  # out of time or patience: the goal-directed find stands (or competes)
                    try:
                        take_pending()
                    except _Found as hit:
                        result.expr, result.size = hit.src, hit.size
                    except _OutOfTime:
                        pass

    result = SearchResult(None)
    # No cyclic garbage collection during the search: a collection over a bank of a hundred
    # thousand lists takes a tenth of a second, charged to whichever component call it
    # interrupts, which the per-call limit then cuts or not by how long the pause took. The
    # search makes no reference cycles; a component that does leaks them until it ends.
    collecting = gc.isenabled()
    gc.disable()
    try:
        run_search(result)
    finally:
        if collecting:
            gc.enable()
    if result.expr is None and found:
        free, size, _, _, src = min(found)
        result.expr, result.size, result.free_constants = src, size, free
    if result.expr is not None:
        result.source = _to_source(name, params, result.expr, list(components))
        result.reason = ""
    result.alternatives = len(found)
    result.candidates, result.work, result.budget_work = counter[0], counter[0] * n, allowed * n
    result.seconds, result.cpu_seconds = time.perf_counter() - t0, time.thread_time() - cpu0
    result.cut_calls = sum(strikes.values())
    result.per_size = {s: sum(len(bank[t].get(s, [])) for t in bank) for s in range(1, max_size + 1) if any(s in bank[t] for t in bank)}
    return result


def _grow(size, prims, comps, maps, preds, imaps, entries, offer, guarded, usable, names, tick, list_limit, partial=None) -> None:
    """Offer every expression of exactly ``size`` built from smaller kept ones.

    The grammar's own operators, literals and slices first: of two programs of one size, the
    one that says what it does wins over a library call that stands in for it on the
    examples only (``digits(x)`` is ``[x]`` below 10; a stored function is right on the
    examples it was made for). Then library calls (``maximum(xs)`` reads better than the
    fold that does the same), then folds and comprehensions.

    ``names`` are the element, position and neighbour variables; ``partial`` the ids of kept
    vectors with undefined rows (None: the task keeps none, every failure drops a candidate).
    """
    var, kvar, _ = names
    late = [p for p in prims if _late(p[3])]
    prims = [p for p in prims if not _late(p[3])]
    # Comprehensions over a parameter itself first: the few hundred candidates of the rules people state
    # ("the multiples of 3 removed") before the size's many compositions of library calls use up the budget.
    _comprehensions(size, maps, preds, imaps, entries, offer, guarded, usable, names, lambda s: s == 1, whiles=bool(imaps))
    _apply(size, [p for p in prims if not p[3].startswith("_")], entries, offer, names, tick, partial)
    for name, arg_t, out_t, fn, cost in comps:
        for parts in _splits(size - cost, len(arg_t)):
            for combo in _combos([entries(t, s) for t, s in zip(arg_t, parts)]):
                if not usable(name):
                    break  # it kept running out of time: no longer a building block
                vec = guarded(lambda: _call_each(fn, arg_t, out_t, [c[1] for c in combo], list_limit, partial is not None), name)
                if vec is not None:
                    offer(out_t, size, f"{name}({', '.join(c[0] for c in combo)})", vec)
    _apply(size, [p for p in prims if p[3].startswith("_")], entries, offer, names, tick, partial)
    _comprehensions(size, maps, preds, imaps, entries, offer, guarded, usable, names, lambda s: s > 1)
    _apply(size, late, entries, offer, names, tick, partial)


def _on_param(fmt: str) -> bool:
    """Operations tried on a list parameter only (their first argument of size 1), not on every list kept.

    "The element against a number of the list" beyond ``+ - *``, "[a] if xs else []", positions,
    neighbours and repeats: each is a rule about the input itself, rarely about a list computed
    from it, and on every kept list each would add as many lists again to every later size.
    """
    return fmt.startswith(("[{1} - {v}", "[max({v}", "[min({v}", "([{1}]")) or _late(fmt)


def _comprehensions(size, maps, preds, imaps, entries, offer, guarded, usable, names, lists_of, whiles=False) -> None:
    """Comprehensions of exactly ``size``: 1 + list size + body size, over the kept lists whose size ``lists_of``
    accepts (size 1: the parameters). An undefined list stays undefined.

    ``whiles``: also the elements before the first that fails a predicate, and those from it on
    (take-while and drop-while, on a parameter only, 2 + 1 + the predicate's size), written
    ``[v for k, v in enumerate(xs) if all(P for v in xs[:k + 1])]`` (``not all`` for the rest).
    """
    var, kvar, _ = names
    for body in preds if whiles else ():
        for src, vec in entries("list[int]", 1) if size - 3 == body.size else ():
            if not usable(body.src):
                continue
            for keep, word in ((True, ""), (False, "not ")):
                out = guarded(lambda: [xs if xs is UNDEF else _while(xs, body.fn, keep) for xs in vec], body.src)
                if out is not None:
                    offer("list[int]", size, f"[{var} for {kvar}, {var} in enumerate({src}) if {word}all({body.src} for {var} in "
                                             f"{src}[:{kvar} + 1])]", out)
    for body in maps:
        for src, vec in (entries("list[int]", size - 1 - body.size) if lists_of(size - 1 - body.size) else []):
            out = guarded(lambda: [xs if xs is UNDEF else [body.fn(e) for e in xs] for xs in vec], body.src) if usable(body.src) else None
            if out is not None:
                offer("list[int]", size, f"[{body.src} for {var} in {src}]", out)
    for body in preds:
        for src, vec in (entries("list[int]", size - 1 - body.size) if lists_of(size - 1 - body.size) else []):
            out = guarded(lambda: [xs if xs is UNDEF else [e for e in xs if body.fn(e)] for xs in vec], body.src) if usable(body.src) else None
            if out is not None:
                offer("list[int]", size, f"[{var} for {var} in {src} if {body.src}]", out)
    for body in imaps:  # index-aware: the body sees the position k and the element
        for src, vec in (entries("list[int]", size - 1 - body.size) if lists_of(size - 1 - body.size) else []):
            out = guarded(lambda: [xs if xs is UNDEF else [body.fn(k, e) for k, e in enumerate(xs)] for xs in vec], body.src)
            if out is not None:
                offer("list[int]", size, f"[{body.src} for {kvar}, {var} in enumerate({src})]", out)


def _while(xs: list, pred: Callable[[int], Any], keep: bool) -> list:
    """The elements before the first that fails ``pred`` (``keep``), or those from it on."""
    for k, v in enumerate(xs):
        if not pred(v):
            return xs[:k] if keep else xs[k:]
    return list(xs) if keep else []


def _late(fmt: str) -> bool:
    """Comprehensions over positions, neighbours or repeats: they come last in a size (``[k for k, v in
    enumerate(xs)]`` before ``[0 + k for k, v in enumerate(xs)]``). The neighbours (``zip``) also cost one more
    (2 and their list): six new lists of size 2 would swell every later size by a tenth and more."""
    return fmt.startswith("[") and ("enumerate(" in fmt or "zip(" in fmt or "range(" in fmt)


def _call_each(fn: Callable, arg_t: Sequence[str], out_t: str, columns: list[list], list_limit: int, partial_ok: bool = False) -> list:
    """A component's outputs on each example, given the argument vectors ``columns``.

    Stops (ValueError) at the first output the search would not keep anyway (a 60,000-element
    ``range_list``): the other examples are not worth the time, and 24 examples of a call
    that is slow but useless would add up to the per-call limit. With ``partial_ok`` a call
    that raises, or gets an undefined argument, is undefined on that example (``UNDEF``).
    """
    out = []
    for args in zip(*columns):
        if partial_ok:
            if any(a is UNDEF for a in args):
                out.append(UNDEF)
                continue
            try:
                y = fn(*[list(a) if t == "list[int]" else a for a, t in zip(args, arg_t)])
            except Exception:
                out.append(UNDEF)
                continue
        else:
            y = fn(*[list(a) if t == "list[int]" else a for a, t in zip(args, arg_t)])
        if not _valid(out_t, [y], list_limit):
            raise ValueError("an output the search does not keep")
        out.append(y)
    if partial_ok and all(y is UNDEF for y in out):
        raise ValueError("undefined on every example")
    return out


def _rows(fn: Callable, lazy: Callable | None, vecs: list[list]) -> list | None:
    """``fn`` example by example: undefined where it raises or (unless ``lazy`` takes them) gets an undefined value."""
    out, defined = [], False
    for args in zip(*vecs):
        try:
            if lazy is not None:
                y = lazy(*args)
            elif any(a is UNDEF for a in args):
                y = UNDEF
            else:
                y = fn(*args)
        except _ERRORS:
            y = UNDEF
        out.append(y)
        defined = defined or y is not UNDEF
    return out if defined else None


def _apply(size, prims, entries, offer, names, tick, partial=None) -> None:
    """Offer every expression of exactly ``size`` that applies one of ``prims`` to smaller kept ones."""
    var, kvar, wvar = names
    for out_t, arg_t, fn, fmt, comm, _ in prims:
        lazy = _LAZY.get(fmt)
        on_param = _on_param(fmt)
        for parts in _splits(size - (2 if "zip(" in fmt else 1), len(arg_t)):
            if (comm and parts[0] > parts[1]) or (on_param and parts[0] != 1):
                continue
            lists = [entries(t, s) for t, s in zip(arg_t, parts)]
            for combo in _combos(lists, same=comm and parts[0] == parts[1]):
                vecs = [c[1] for c in combo]
                if partial and any(id(v) in partial for v in vecs):
                    vec = _rows(fn, lazy, vecs)
                else:
                    try:
                        vec = [fn(*args) for args in zip(*vecs)]
                    except _ERRORS:
                        vec = _rows(fn, lazy, vecs) if partial is not None else None
                if vec is None:
                    tick()  # counted as a candidate, so the budget is spent even when all fail
                    continue
                srcs = [c[0] for c in combo]
                if comm and parts[0] < parts[1]:
                    srcs.reverse()  # larger operand first: "x * x + 1" rather than "1 + x * x"
                offer(out_t, size, fmt.format(*srcs, v=var, k=kvar, w=wvar), vec)


def _witness(src: str, size: int, vec: list, target: list, index: dict) -> tuple[str, int] | None:
    """Goal-directed step: does a kept B make ``target`` = new A op B, for op in ``+ - *``?

    The missing operand follows from A and the target, so one dictionary lookup replaces
    enumerating every pair (a witness function, as in FlashFill). Returns the expression
    and its size, or None.
    """
    tries = [
        (tuple(t - x for t, x in zip(target, vec)), "{0} + {1}"),
        (tuple(x - t for t, x in zip(target, vec)), "{0} - {1}"),
        (tuple(t + x for t, x in zip(target, vec)), "{1} - {0}"),
    ]
    if all(x != 0 and t % x == 0 for t, x in zip(target, vec)):
        tries.append((tuple(t // x for t, x in zip(target, vec)), "{0} * {1}"))
    for need, fmt in tries:
        hit = index.get(need)
        if hit is not None:
            a, b = f"({src})", f"({hit[0]})"
            if fmt == "{0} + {1}" or fmt == "{0} * {1}":
                a, b = (a, b) if size > hit[1] else (b, a)
            return fmt.format(a, b), size + hit[1] + 1
    return None


def _list_witness(src: str, size: int, vec: list, target: list, index: dict) -> tuple[str, int] | None:
    """Goal-directed step for lists: does a kept B make ``target`` = new A + B, or B + A?

    When A is a prefix (a suffix) of every target list, B must be the rest: one lookup, as
    in ``_witness``. ``[len(xs)] + xs`` is found as soon as ``[len(xs)]`` is kept.
    """
    if not any(vec) or not all(len(a) <= len(t) for a, t in zip(vec, target)):
        return None
    if all(t[: len(a)] == a for a, t in zip(vec, target)):
        hit = index.get(tuple(tuple(t[len(a):]) for a, t in zip(vec, target)))
        if hit is not None:
            return f"({src}) + ({hit[0]})", size + hit[1] + 1
    if all(t[len(t) - len(a):] == a for a, t in zip(vec, target)):
        hit = index.get(tuple(tuple(t[: len(t) - len(a)]) for a, t in zip(vec, target)))
        if hit is not None:
            return f"({hit[0]}) + ({src})", size + hit[1] + 1
    return None


MAX_TASK_CONSTANTS = 6


def task_constants(arg_types: Sequence[str], out_type: str, inputs: Sequence[Sequence], outputs: Sequence) -> list[int]:
    """Int constants the examples suggest besides ``CONSTANTS``, at most ``MAX_TASK_CONSTANTS``.

    - Values that outputs bring in: a value in the output of at least two examples but in
      neither of their inputs (the 3 of "append 3", the 50 of "lower those above 50 to 50");
    - the thresholds of a filter: when every output keeps only values of its input, and
      sorting the values seen puts the removed and the kept ones into at most three runs
      (one or two boundaries), the values either side of each boundary (40 and 41 for "keep
      those above 40"; the 7 of "remove every 7" and its neighbours); failing that, the same
      among the odd or among the even values only ("the odd elements above 50");
    - the constants of a rule on each element (``_map_constants``: the 100 of ``100 - v``, the
      59 and 60 of ``max(v, 60)``).

    Each one becomes a leaf of size 1 and a constant of the comprehensions' bodies. A
    constant the examples do not pin down still counts as free (see ``_free_constants``).
    """
    def ints(v: Any) -> list[int]:
        if type(v) is int:
            return [v]
        return [e for e in v if type(e) is int] if type(v) is list else []

    brought: dict[int, int] = {}
    for args, out in zip(inputs, outputs):
        have = {e for a in args for e in ints(a)}
        for v in set(ints(out)) - have:
            brought[v] = brought.get(v, 0) + 1
    picked = [v for v, k in sorted(brought.items(), key=lambda kv: (-kv[1], abs(kv[0]), kv[0])) if k >= 2]
    if out_type == "list[int]" and list(arg_types) == ["list[int]"]:  # a rule's own constants before the values it brings
        xss = [a[0] for a in inputs]
        found = _thresholds(xss, outputs) + _map_constants(xss, outputs)
        for keep in (lambda v: v % 2 == 1, lambda v: v % 2 == 0):  # a filter on parity and a threshold
            if not found:
                found = _thresholds([[v for v in xs if keep(v)] for xs in xss], [[v for v in o if keep(v)] for o in outputs])
        picked = found + picked
    out: list[int] = []
    for v in picked:
        if v not in CONSTANTS and v not in out and abs(v) <= 10**6:
            out.append(v)
    return out[:MAX_TASK_CONSTANTS]


def _map_constants(inputs: Sequence[list], outputs: Sequence[list]) -> list[int]:
    """Constants of a rule applied to each element, when every output is as long as its input.

    - ``o - v`` or ``o + v`` the same for every element (``v + 8``, ``100 - v``): that number;
    - the elements the rule changes and those it leaves alone (or, when it changes all, those
      that become one value and those that become another: flags) split by one or two
      thresholds (``max(v, 60)``, ``int(v < 25)``): the values either side of each, as in
      ``_thresholds``.
    """
    if not inputs or any(type(o) is not list or len(o) != len(xs) for xs, o in zip(inputs, outputs)):
        return []
    pairs = [(v, o) for xs, out in zip(inputs, outputs) for v, o in zip(xs, out) if type(o) is int]
    if len(pairs) < 3:
        return []
    out: list[int] = []
    for d in ({o - v for v, o in pairs}, {o + v for v, o in pairs}):
        if len(d) == 1:
            out.append(d.pop())
    kinds = {o for _, o in pairs}
    if any(v == o for v, o in pairs):
        label = {v: "k" if v == o else "r" for v, o in pairs}
        clash = any(label[v] != ("k" if v == o else "r") for v, o in pairs)
    elif len(kinds) == 2:
        lo = min(kinds)
        label = {v: "k" if o == lo else "r" for v, o in pairs}
        clash = any(label[v] != ("k" if o == lo else "r") for v, o in pairs)
    else:
        return out
    if clash or min(sum(1 for x in label.values() if x == "k"), sum(1 for x in label.values() if x == "r")) < 2:
        return out  # one element left alone (100 - 50) is no class of its own
    labels = sorted(label.items())
    bounds = [(a, b) for (a, la), (b, lb) in zip(labels, labels[1:]) if la != lb]
    if 1 <= len(bounds) <= 2:
        out += [v for pair in bounds for v in pair]
    return out


def _thresholds(inputs: Sequence[list], outputs: Sequence[list]) -> list[int]:
    """Values either side of the boundaries between removed and kept values, for a filter with one or two."""
    removed: set[int] = set()
    kept: set[int] = set()
    for xs, out in zip(inputs, outputs):
        if not set(out) <= set(xs):
            return []  # not a filter
        kept |= set(out)
        removed |= set(xs) - set(out)
    if not removed or not kept:
        return []
    labels = [(v, "k" if v in kept and v not in removed else "r" if v not in kept else "m") for v in sorted(removed | kept)]
    bounds = [(a, b) for (a, la), (b, lb) in zip(labels, labels[1:]) if {la, lb} == {"k", "r"}]
    if any(lab == "m" for _, lab in labels) or not 1 <= len(bounds) <= 2:
        return []
    return [v for pair in bounds for v in pair]


_PAIRS = [(a, b) for a in (-7, -2, 0, 3, 5, 12) for b in (-3, 1, 2, 7)]


def _same_as_primitive(comp, guarded: Callable) -> bool:
    """Whether an (int, int) -> int component behaves like one of the grammar's operators."""
    name, arg_t, out_t, fn = comp[:4]
    if arg_t != ("int", "int") or out_t != "int":
        return False
    outs = guarded(lambda: [fn(a, b) for a, b in _PAIRS], name)
    if outs is None:
        return False
    return any(outs == [op(a, b) for a, b in _PAIRS] for op in (operator.add, operator.sub, operator.mul, _floordiv, operator.mod))


def _plain_condition(src: str, list_makers: set[str]) -> bool:
    """Whether a condition reads only numbers of the parameters themselves: no list is computed in it.

    "The first element is larger than the last", "the length is odd", "the first element is even": the
    conditions of rules people state are about the input. A condition about a computed list (is the list
    of squares of the running differences sorted?) is one of thousands that split a few examples by
    chance, and with two partial fits it makes a conditional that reproduces them and means nothing.
    """
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.List)) or (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)):
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (node.func.id in list_makers or node.func.id.startswith("_scan")):
            return False
    return True


def _submasks(m: int) -> list[int]:
    """Every non-empty row mask within ``m``."""
    out, sub = [], m
    while sub:
        out.append(sub)
        sub = (sub - 1) & m
    return out


def _splits(total: int, parts: int) -> list[tuple[int, ...]]:
    """Ways to write ``total`` as an ordered sum of ``parts`` positive sizes."""
    if parts == 1:
        return [(total,)] if total >= 1 else []
    return [(k, *rest) for k in range(1, total) for rest in _splits(total - k, parts - 1)]


def _combos(lists: list[list], same: bool = False):
    if len(lists) == 1:
        for a in lists[0]:
            yield (a,)
    elif len(lists) == 2:
        A, B = lists
        for i, a in enumerate(A):
            for b in (B[i:] if same else B):
                yield (a, b)
    else:
        A, B, C = lists
        for a in A:
            for b in B:
                for c in C:
                    yield (a, b, c)


def _elements(inputs: Sequence[Sequence], arg_types: Sequence[str]) -> list[int]:
    """Element values a comprehension body may see (for pruning bodies): every list element of the examples, and -3..10."""
    els = {e for inp in inputs for a, t in zip(inp, arg_types) if t == "list[int]" for e in a}
    els |= set(range(-3, 11))
    return sorted(els)[:400]


def _bodies(comps, elements: list[int], var: str, guarded: Callable, consts: Sequence[int] = CONSTANTS,
            shadowed: set[str] = frozenset(), outside: Sequence[int] = ()) -> tuple[list[Body], list[Body]]:
    """Distinct small int -> int bodies and int -> bool predicates, by behaviour on ``elements``.

    ``outside``: the task's own constants (thresholds), pairs of which make ``v < a or v > b``
    ("below 20 or above 80"; between a and b is a filter of a filter).

    ``consts`` are the constants bodies may use (``v + c``, ``min(v, c)``, ``v > c``, ...);
    ``shadowed`` the builtins a library function's name hides (their bodies are left out).
    """
    unary_int = [(n, f, k) for n, a, o, f, k in comps if a == ("int",) and o == "int"]
    unary_bool = [(n, f, k) for n, a, o, f, k in comps if a == ("int",) and o == "bool"]
    cand: list[tuple[str, int, Callable, str]] = []
    for n, f, k in unary_int:
        cand.append((f"{n}({var})", k, f, "int"))
    for c in [c for c in consts if c != 0]:
        cand += [
            (f"{var} + {c}", 2, lambda v, c=c: v + c, "int"),
            (f"{var} - {c}", 2, lambda v, c=c: v - c, "int"),
            (f"{var} * {c}", 2, lambda v, c=c: v * c, "int"),
            (f"{var} // {c}", 2, lambda v, c=c: v // c, "int"),
            (f"{var} % {c}", 2, lambda v, c=c: v % c, "int"),
            (f"{c} - {var}", 2, lambda v, c=c: c - v, "int"),
        ]
        if "min" not in shadowed and "max" not in shadowed:  # lower to c at most, raise to c at least
            cand += [(f"min({var}, {c})", 2, lambda v, c=c: min(v, c), "int"), (f"max({var}, {c})", 2, lambda v, c=c: max(v, c), "int")]
    cand.append((f"{var} * {var}", 2, lambda v: v * v, "int"))
    simple_preds: list[tuple[str, int, Callable]] = []
    for n, f, k in unary_bool:
        simple_preds += [(f"{n}({var})", k, f), (f"not {n}({var})", k + 1, lambda v, f=f: not f(v))]
    for c in consts:
        simple_preds += [
            (f"{var} > {c}", 2, lambda v, c=c: v > c),
            (f"{var} < {c}", 2, lambda v, c=c: v < c),
            (f"{var} != {c}", 2, lambda v, c=c: v != c),
        ]
        if c >= 2:  # the multiples of c, and the others
            simple_preds.append((f"{var} % {c} == 0", 3, lambda v, c=c: v % c == 0))
            simple_preds.append((f"{var} % {c} != 0", 3, lambda v, c=c: v % c != 0))
    cand += [(src, size, fn, "bool") for src, size, fn in simple_preds]
    for a in outside:
        for b in outside:
            if a < b:
                cand.append((f"{var} < {a} or {var} > {b}", 4, lambda v, a=a, b=b: v < a or v > b, "bool"))
    for src, size, p in simple_preds:  # a predicate as a number, and zero where it holds
        if "int" not in shadowed:
            cand.append((f"int({src})", size + 1, lambda v, p=p: int(p(v)), "int"))
        cand.append((f"0 if {src} else {var}", size + 2, lambda v, p=p: 0 if p(v) else v, "int"))
    # f(g(v)) only where g keeps to the ints the search keeps: on larger ones (factorial(v)),
    # the search would drop g(v) itself, and f may run for ever (is_square of 100 digits).
    inner = [(n, f, k) for n, f, k in unary_int
             if (outs := guarded(lambda f=f: [_quick(f, e) for e in elements], n)) is not None
             and all(type(x) is int and -INT_LIMIT <= x <= INT_LIMIT for x in outs)]
    inner_names = {n for n, _, _ in inner}
    for n, f, k in unary_int:
        for m, g, j in inner:
            cand.append((f"{n}({m}({var}))", k + j, lambda v, f=f, g=g: f(g(v)), "int"))
        for m, g, j in unary_bool if n in inner_names else ():
            cand.append((f"{m}({n}({var}))", k + j, lambda v, f=f, g=g: g(f(v)), "bool"))
    cand.sort(key=lambda c: c[1])  # smaller first: of two bodies that behave alike, the smaller stays
    maps, preds, seen = [], [], set()
    for src, size, fn, kind in cand:
        outs = guarded(lambda: [_quick(fn, e) for e in elements], src)
        if outs is None:
            continue  # too slow on the elements: not a body worth keeping
        key = (kind, tuple(outs))
        if key in seen or (kind == "int" and not all(type(x) is int for x in key[1])):
            continue
        seen.add(key)
        (maps if kind == "int" else preds).append(Body(src, size, fn))
    return maps, preds


def _index_bodies(var: str, kvar: str) -> list[Body]:
    """Bodies of the index-aware comprehension ``[body for k, v in enumerate(xs)]``; ``k`` counts 1, ``v`` 0."""
    v, k = var, kvar
    return [
        Body(k, 1, lambda i, e: i),
        Body(f"{k} + 1", 2, lambda i, e: i + 1),  # positions from 1
        Body(f"{v} + {k}", 2, lambda i, e: e + i),
        Body(f"{v} - {k}", 2, lambda i, e: e - i),
        Body(f"{k} - {v}", 2, lambda i, e: i - e),
        Body(f"{v} * {k}", 2, lambda i, e: e * i),
        Body(f"-{v} if {k} % 2 else {v}", 4, lambda i, e: -e if i % 2 else e),  # signs alternating
        # A condition on the position's parity: every other element zeroed, or doubled.
        Body(f"0 if {k} % 2 else {v}", 3, lambda i, e: 0 if i % 2 else e),
        Body(f"{v} if {k} % 2 else 0", 3, lambda i, e: e if i % 2 else 0),
        Body(f"2 * {v} if {k} % 2 else {v}", 4, lambda i, e: 2 * e if i % 2 else e),
        Body(f"{v} if {k} % 2 else 2 * {v}", 4, lambda i, e: e if i % 2 else 2 * e),
    ]


def _free_constants(expr: str, params: Sequence[str], arg_types: Sequence[str], inputs: Sequence[Sequence],
                    env: dict, fits: Callable[[list], bool], probe: Callable) -> int:
    """How many int constants of ``expr`` the examples leave free.

    A constant ``c`` is free when the program with ``c - 1`` or ``c + 1`` in its place still
    gives outputs that ``fits`` (every example right): the examples do not determine it.
    ``env`` holds the components by name; ``probe(thunk)`` runs one evaluation under the
    per-call limit (None on failure).
    """
    try:
        tree = ast.parse(f"lambda {', '.join(params)}: {expr}", mode="eval")
    except SyntaxError:
        return 0
    consts = [node for node in ast.walk(tree.body) if isinstance(node, ast.Constant) and type(node.value) is int]
    free = 0
    for node in consts:
        c = node.value
        for alt in (c - 1, c + 1):
            node.value = alt
            try:
                fn = eval(compile(tree, "<variant>", "eval"), env)
            finally:
                node.value = c
            vec = probe(lambda: [fn(*[list(a) if t == "list[int]" else a for a, t in zip(args, arg_types)]) for args in inputs])
            if vec is not None and fits(vec):
                free += 1
                break
    return free


def _calls(expr: str, components: dict) -> int:
    """Calls of library functions in ``expr``."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return 0
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in components)


def _quick(fn: Callable, e: int) -> Any:
    try:
        return fn(e)
    except Exception:
        return "!"


def _param_names(arg_types: Sequence[str], taken: set[str]) -> list[str]:
    if len(arg_types) == 1:
        names = ["xs" if arg_types[0] == "list[int]" else "x"]
    else:
        scal, lst = iter("abcdefgh"), iter(["xs", "ys", "zs", "ws"])
        names = [next(lst) if t == "list[int]" else next(scal) for t in arg_types]
    return [n + "_" if n in taken else n for n in names]


def _to_source(name: str, params: list[str], expr: str, taken: Sequence[str] = ()) -> str:
    """The function ``def name(params): return expr``, its folds written out as loops.

    A fold ``_fold_max(xs)`` becomes ``acc = xs[0]`` and ``for v in xs[1:]: acc = max(acc, v)``
    before the return, which then uses ``acc``; a scan appends each value to a list. Folds
    only ever take expressions of the parameters, so moving them ahead is always right; the
    names chosen clash with no parameter, library function (``taken``) or name in ``expr``.
    """
    tree = ast.parse(expr, mode="eval")
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(params) | set(taken)
    lines: list[str] = []

    def fresh(base: str) -> str:
        cand, i = base, 2
        while cand in names:
            cand, i = f"{base}{i}", i + 1
        names.add(cand)
        return cand

    class Hoist(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            self.generic_visit(node)  # folds inside the arguments first
            if not (isinstance(node.func, ast.Name) and node.func.id in _LOOPS):
                return node
            kind, text, _, empty = _LOOPS[node.func.id]
            xs = ast.unparse(node.args[0])
            acc, v = fresh("acc"), fresh("v")
            step = text.format(acc=acc, v=v)
            if kind == "fold":
                if not isinstance(node.args[0], ast.Name):  # computed once
                    seq = fresh("seq")
                    lines.append(f"{seq} = {xs}")
                    xs = seq
                # No value for the empty list: None, which fails wherever it is used, as the fold would; where
                # it is not used (``[v - acc for v in xs]`` of the empty list), Python never asked for it.
                first = f"{xs}[0] if {xs} else {'None' if empty is None else empty}"
                lines.extend([f"{acc} = {first}", f"for {v} in {xs}[1:]:", f"    {acc} = {step}"])
                return ast.Name(acc, ast.Load())
            run = fresh("running")
            lines.extend([f"{run} = []", f"for {v} in {xs}:", f"    {acc} = {v} if not {run} else {step}", f"    {run}.append({acc})"])
            return ast.Name(run, ast.Load())

    body = Hoist().visit(tree).body
    src = f"def {name}({', '.join(params)}):\n" + "".join(f"    {line}\n" for line in lines) + f"    return {ast.unparse(body)}\n"
    return ast.unparse(ast.parse(src)) + "\n"  # drops the redundant parentheses


def search_request(req: dict, ns: dict) -> dict:
    """The worker's handler of ``{"op": "synthesise", ...}``: components come from ``ns``.

    ``budget`` is in nominal seconds (see ``search``), ``wall_limit`` the wall-clock safety net.
    """
    comps, costs = {}, {}
    for nm, arg_t, out_t, *cost in req["components"]:  # [name, argument types, output type(, call size)]
        fn = ns.get(nm)
        if callable(fn):
            comps[nm] = (tuple(arg_t), out_t, fn)
            costs[nm] = int(cost[0]) if cost else 1
    budget = float(req.get("budget", 5.0))
    wall = req.get("wall_limit")
    wall = default_wall_limit(budget) if wall is None else float(wall)
    r = search(req["arg_types"], req["out_type"], [tuple(a) for a in req["inputs"]], req["outputs"], comps,
               budget=budget, max_size=int(req.get("max_size", 9)), name=req.get("name", "f"), wall_limit=wall, costs=costs)
    return {"ok": r.source is not None, "source": r.source, "expr": r.expr, "size": r.size, "candidates": r.candidates,
            "work": r.work, "budget_work": r.budget_work, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
            "wall_limit": wall, "cut_calls": r.cut_calls, "reason": r.reason, "per_size": r.per_size, "free_constants": r.free_constants,
            "alternatives": r.alternatives}


LEARNED_FREE = 4  # learned functions whose calls cost 1: the most relevant ones; the next 8 cost 2, the next 16 cost 3, ...


def component_costs(records: Sequence) -> dict[str, int]:
    """Size of a call of each stored function, for ``records`` in order of relevance to the task.

    Seeds (the fixed vocabulary) cost 1. A function the library learned costs
    ``1 + floor(log2(1 + rank / LEARNED_FREE))`` by its rank among the learned ones: the 4
    most relevant 1, the next 8 cost 2, the next 16 cost 3, and so on, a code length for
    the rank. Each function of cost 1 puts its calls on every smaller expression into every
    size; under this prior the number of functions that can appear at a size grows with the
    size, not with the library, so a task found from the seeds alone is found at about the
    same cost with a hundred stored functions, and the less relevant ones stay usable in
    smaller programs.
    """
    out, rank = {}, 0
    for r in records:
        if r.provenance == "seed":
            out[r.name] = 1
            continue
        out[r.name] = 1 + int(math.log2(1 + rank / LEARNED_FREE))
        rank += 1
    return out


def default_wall_limit(budget: float) -> float:
    """The wall-clock safety net of a search of ``budget`` nominal seconds."""
    return WALL_FACTOR * budget + WALL_SLACK


class SynthesisCreator:
    """The embedded creator: runs ``search`` in the library's sandbox worker.

    Args:
        budget: search effort per task, in nominal seconds: ``budget * WORK_PER_SECOND``
            candidate evaluations (see ``search``). The same budget gives the same answers on
            any machine and under any load.
        max_size: largest expression size tried.
        focus: components of the focused second pass (the most relevant ones).
        focus_share: share of the budget kept for the focused pass.
        wall_limit: wall-clock seconds per task after which the search stops whatever its
            budget says, a safety net only (default ``default_wall_limit(budget)``).

    Components are offered to the search in order of their texts' similarity to the task's
    name and description, which breaks ties between equally small programs, and with call
    sizes from ``component_costs``: seeds and the most relevant learned functions 1, the
    less relevant dearer.
    ``last`` holds the statistics of the latest search: candidates, work and budget_work
    (candidate evaluations done and allowed), seconds and cpu_seconds, wall_limit, size,
    reason ("budget", "exhausted", or "wall": the safety net stopped it, and the result
    depends on the machine).
    """

    provenance = "synthesised"

    def __init__(self, budget: float = 5.0, max_size: int = 9, focus: int = 12, focus_share: float = 0.4,
                 wall_limit: float | None = None) -> None:
        if not budget > 0:
            raise ValueError(f"budget must be positive (nominal seconds of search), got {budget}")
        if wall_limit is not None and not wall_limit > 0:
            raise ValueError(f"wall_limit must be positive seconds or None, got {wall_limit}")
        if focus < 1 or not 0 < focus_share < 1:
            raise ValueError(f"focus must be at least 1 and focus_share in (0, 1), got {focus} and {focus_share}")
        self.budget, self.max_size, self.focus, self.focus_share = budget, max_size, focus, focus_share
        self.wall_limit = wall_limit
        self.last: dict = {}

    def create(self, task: Task, library: FunctionLibrary) -> str | None:
        """Source of the smallest program found that reproduces the task's examples, or None.

        When the library is large and the search over every component finds nothing within
        ``1 - focus_share`` of the budget, a second search over only the ``focus``
        components whose texts are closest to the task's gets the rest: a program built
        from a few relevant functions (``gcd`` for "share no divisor") may be too large to
        reach among all of them in time, and small enough among those few. Both passes
        share one wall-clock safety net.
        """
        comps = self._components(task, library)
        wall = default_wall_limit(self.budget) if self.wall_limit is None else self.wall_limit
        t0 = time.perf_counter()
        if len(comps) <= self.focus:
            self.last = self._search(task, library, comps, self.budget, wall)
            return self.last.get("source") if self.last.get("ok") else None
        full = self._search(task, library, comps, self.budget * (1 - self.focus_share), wall)
        self.last = full
        if not full.get("ok"):
            left = max(0.05, wall - (time.perf_counter() - t0))
            few = [c[:3] + [1] for c in comps[: self.focus]]  # the chosen few cost 1 each
            focused = self._search(task, library, few, self.budget * self.focus_share, left)
            both = {k: (full.get(k) or 0) + (focused.get(k) or 0) for k in ("candidates", "work", "budget_work", "cpu_seconds", "cut_calls")}
            self.last = dict(focused, **both, seconds=time.perf_counter() - t0, wall_limit=wall,
                             reason=focused.get("reason") if full.get("reason") != "wall" else "wall")
        return self.last.get("source") if self.last.get("ok") else None

    def library_view(self, task: Task, library: FunctionLibrary) -> str:
        """A fingerprint of all that ``create(task, library)`` reads of the library (the failure memo's key).

        That is the building blocks it would offer the search, in order, with their types
        and call sizes (``_components``: which functions it may compose, their relevance to
        the task and so their cost; the focused pass takes the first of them), and the
        source of each and of every stored function they call, directly or not (what the
        worker runs). The rest of a request is the task's (its examples and signature) or
        this creator's settings. The search counts its budget in candidates, so equal
        views, tasks and settings give the same search (``SearchResult.reason`` "wall"
        aside, which the controller does not remember).
        """
        comps = self._components(task, library)
        sources = library.sources()
        return _view_digest(comps, _closure([c[0] for c in comps], sources), sources)

    def _components(self, task: Task, library: FunctionLibrary) -> list:
        """The building blocks offered to the search: [name, argument types, output type, call size], most relevant first."""
        recs = _by_relevance(task, library)
        costs = component_costs(recs)
        return [[r.name, list(r.signature.args), r.signature.output, costs[r.name]] for r in recs]

    def _search(self, task: Task, library: FunctionLibrary, comps: list, budget: float, wall: float) -> dict:
        req = {
            "op": "synthesise", "arg_types": list(task.signature.args), "out_type": task.signature.output,
            "inputs": [list(a) for a, _ in task.examples], "outputs": [o for _, o in task.examples],
            "components": comps, "budget": budget, "wall_limit": wall, "max_size": self.max_size, "name": "f",
        }
        return library.sandbox.request(req, library.sources(), timeout=wall + 5.0)


def _closure(names: Sequence[str], sources: dict[str, str]) -> list[str]:
    """``names`` and every stored function their sources call, directly or through others, sorted."""
    seen, todo = set(), [n for n in names if n in sources]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo.extend(m for m in _names_in(sources[n]) if m in sources and m not in seen)
    return sorted(seen)


@functools.lru_cache(maxsize=4096)
def _names_in(source: str) -> frozenset[str]:
    """Every name a source mentions (a superset of the functions it calls; cached: sources repeat)."""
    try:
        return frozenset(n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name))
    except SyntaxError:
        return frozenset()


def _view_digest(comps: list, names: list[str], sources: dict[str, str]) -> str:
    """A short hash of the offered components and the sources of ``names`` (imports here: the worker never needs them)."""
    import hashlib
    import json

    text = json.dumps([comps, [[n, sources[n]] for n in names]], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _by_relevance(task: Task, library: FunctionLibrary) -> list:
    """Library functions the synthesiser may compose (``FunctionRecord.composable``), closest texts first.

    Within one size the search tries components in this order, so among equally small
    programs the one built from relevant functions is found first.
    """
    from riscmoe.functions.meta import embed

    recs = [r for r in library.list() if r.composable]  # an unconfirmed or refuted function is not built on
    if not recs:
        return []
    texts = [" ".join([r.name, r.description, *r.solved]) for r in recs]
    E = embed(texts + [f"{task.name} {task.description}"])  # (M + 1, dim)
    sim = E[:-1] @ E[-1]  # (M,)
    order = sorted(range(len(recs)), key=lambda i: -float(sim[i]))
    return [recs[i] for i in order]


@register("creator", "synthesis", domains=("functions",))
@dataclass(frozen=True)
class Synthesis:
    """The embedded synthesiser as a kind of the functions domain's creator: builds a
    ``SynthesisCreator`` with these settings (``riscmoe functions solve`` sets ``budget`` from
    ``--time-limit``, ``max_size`` from ``--max-size`` and ``wall_limit`` from ``--wall-limit``)."""

    budget: float = field(default=5.0, metadata={"min": 0.0})
    max_size: int = field(default=9, metadata={"min": 1})
    focus: int = field(default=12, metadata={"min": 1})
    focus_share: float = field(default=0.4, metadata={"min": 0.0, "max": 1.0})
    wall_limit: float | None = None

    def build(self) -> SynthesisCreator:
        return SynthesisCreator(**config(self))
