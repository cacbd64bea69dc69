"""The embedded creator: bottom-up enumerative program synthesis, with the library as building blocks.

The search builds expressions over a typed grammar, smallest first, and keeps only one
expression per *behaviour* on the task's example inputs (pruning by observational
equivalence: two expressions that give the same outputs on every example are the same to
the search). The grammar has

- the parameters and the constants 0, 1, 2, 3, 10;
- ``+ - * // %`` on ints, ``/`` and ``+ - *`` on floats (only when the task has floats),
  ``== <`` on ints and lists, ``not and or``, ``xs[i]``, ``a if c else b``;
- list comprehensions ``[body for v in xs]`` and ``[v for v in xs if pred]`` with small
  bodies and predicates (``v * 3``, ``cube(v)``, ``is_prime(v)``, ``v > 0``, ...);
- every library function of matching types, called by name.

So each stored function becomes a single step of later searches: the library grows, and
tasks built on earlier ones are found at smaller sizes, faster (DreamCoder's library
learning, without the neural guide). Sizes: a parameter, constant or call name counts 1,
an operator 1, a comprehension 1 plus its list and its body (``v`` itself counts 0).

A goal-directed step speeds up the last operation: whenever a new int expression A is kept,
the search looks up whether a kept B completes the target as ``A + B``, ``A - B``,
``B - A`` or ``A * B`` (one dictionary lookup each). Such a find is accepted once every
smaller expression has been tried (so smaller programs still win) or, at the latest,
``min(0.3 s, budget / 10)`` later.

``search`` runs wherever its components may safely run: ``SynthesisCreator`` sends the
request to the sandbox worker, since library functions (and so candidates) are untrusted.
Only the standard library is imported here: the worker loads this module.
"""

from __future__ import annotations

import ast
import math
import operator
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from riscmoe.functions.values import REL_TOL, ABS_TOL

if TYPE_CHECKING:
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.tasks import Task

INT_LIMIT = 10**18  # larger intermediate ints are pruned (they only slow the search down)
LIST_LIMIT = 1000
CONSTANTS = (0, 1, 2, 3, 10)
COMPONENT_TIME = 0.05  # seconds one component may spend on all examples together
MAX_STRIKES = 3  # a component that runs out of time this often is dropped from the search


class _Found(Exception):
    def __init__(self, src: str, size: int) -> None:
        self.src, self.size = src, size


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def _floordiv(a: int, b: int) -> int:
    return a // b


def _truediv(a: float, b: float) -> float:
    return a / b


def _index(xs: list, i: int) -> int:
    return xs[i]


# (output type, argument types, function, format, commutative, needs floats)
_PRIMITIVES: list[tuple[str, tuple[str, ...], Callable, str, bool, bool]] = [
    ("int", ("int", "int"), operator.add, "({0} + {1})", True, False),
    ("int", ("int", "int"), operator.sub, "({0} - {1})", False, False),
    ("int", ("int", "int"), operator.mul, "({0} * {1})", True, False),
    ("int", ("int", "int"), _floordiv, "({0} // {1})", False, False),
    ("int", ("int", "int"), operator.mod, "({0} % {1})", False, False),
    ("float", ("float", "float"), _truediv, "({0} / {1})", False, True),
    ("float", ("float", "float"), operator.add, "({0} + {1})", True, True),
    ("float", ("float", "float"), operator.sub, "({0} - {1})", False, True),
    ("float", ("float", "float"), operator.mul, "({0} * {1})", True, True),
    ("bool", ("int", "int"), operator.eq, "({0} == {1})", True, False),
    ("bool", ("int", "int"), operator.lt, "({0} < {1})", False, False),
    ("bool", ("list[int]", "list[int]"), operator.eq, "({0} == {1})", True, False),
    ("bool", ("bool",), operator.not_, "(not {0})", False, False),
    ("bool", ("bool", "bool"), lambda a, b: a and b, "({0} and {1})", True, False),
    ("bool", ("bool", "bool"), lambda a, b: a or b, "({0} or {1})", True, False),
    ("int", ("list[int]", "int"), _index, "{0}[{1}]", False, False),
    ("int", ("bool", "int", "int"), lambda c, a, b: a if c else b, "({1} if {0} else {2})", False, False),
]


def _valid(t: str, vec: list) -> bool:
    """Whether every value of a candidate's output vector is a sane value of type ``t``."""
    if t == "int":
        return all(type(x) is int and -INT_LIMIT <= x <= INT_LIMIT for x in vec)
    if t == "bool":
        return all(type(x) is bool for x in vec)
    if t == "float":
        return all((type(x) is float and math.isfinite(x) and abs(x) <= INT_LIMIT) or (type(x) is int and abs(x) <= INT_LIMIT) for x in vec)
    return all(type(x) is list and len(x) <= LIST_LIMIT and all(type(e) is int and -INT_LIMIT <= e <= INT_LIMIT for e in x) for x in vec)


def _key(t: str, vec: list) -> tuple:
    if t == "list[int]":
        return tuple(tuple(x) for x in vec)
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
    candidates: int = 0
    seconds: float = 0.0
    reason: str = ""  # why nothing was found: "budget" or "exhausted"
    per_size: dict = field(default_factory=dict)  # size -> distinct behaviours kept


def search(
    arg_types: Sequence[str],
    out_type: str,
    inputs: Sequence[Sequence],
    outputs: Sequence,
    components: dict[str, tuple[tuple[str, ...], str, Callable]],
    budget: float = 5.0,
    max_size: int = 9,
    name: str = "f",
) -> SearchResult:
    """Find the smallest expression over the grammar that maps every input to its output.

    Args:
        arg_types, out_type: the task's signature.
        inputs, outputs: the examples (argument tuples and outputs).
        components: name -> (argument types, output type, callable) of library functions.
        budget: seconds of search.
        max_size: largest expression size tried.
        name: name of the emitted function.

    Example:
        >>> r = search(["int"], "int", [(1,), (2,), (5,)], [2, 5, 26], {}, budget=2.0)
        >>> print(r.source.strip())
        def f(x):
            return x * x + 1
    """
    t0 = time.perf_counter()
    deadline = t0 + budget
    floats = "float" in arg_types or out_type == "float"
    params = _param_names(arg_types, set(components))
    var = "v" if "v" not in components and "v" not in params else "v_"
    n = len(inputs)
    bank: dict[str, dict[int, list[tuple[str, list]]]] = {t: {} for t in ("int", "float", "bool", "list[int]")}
    seen: dict[str, dict] = {t: {} for t in bank}  # type -> behaviour key -> (source, size)
    target = list(outputs)
    target_key = _key(out_type, target) if out_type != "float" else None
    counter = [0]
    pending: list = []  # (source, size, when) found by the goal-directed step, not yet accepted
    patience = min(0.3, budget / 10)

    def matches(t: str, vec: list) -> bool:
        if out_type == "float":
            return t in ("float", "int") and all(math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL) for a, b in zip(vec, target))
        return t == out_type and _key(t, vec) == target_key

    def offer(t: str, size: int, src: str, vec: list) -> None:
        counter[0] += 1
        if counter[0] & 255 == 0:
            now = time.perf_counter()
            if now > deadline or (pending and now > pending[2] + patience):
                raise _Timeout()
        if not _valid(t, vec):
            return
        k = _key(t, vec)
        if k in seen[t]:
            return
        seen[t][k] = (src, size)
        bank[t].setdefault(size, []).append((src, vec))
        if matches(t, vec):
            raise _Found(src, size)
        if t == "int" and out_type == "int" and not pending:
            hit = _witness(src, size, vec, target, seen["int"])
            if hit is not None:
                # Accepted once every smaller expression was tried, or after ``patience``.
                pending.extend([hit[0], hit[1], time.perf_counter()])

    def entries(t: str, size: int) -> list[tuple[str, list]]:
        got = bank[t].get(size, [])
        if t == "float":
            got = got + bank["int"].get(size, [])
        return got

    # Only functions whose types the search can produce, that take something.
    comps = [(nm, a, o, f) for nm, (a, o, f) in components.items() if a and all(x in bank for x in (*a, o))]
    comps = [c for c in comps if not _same_as_primitive(c)]
    if not floats:
        comps = [c for c in comps if "float" not in (*c[1], c[2])]
    prims = [p for p in _PRIMITIVES if floats or not p[5]]
    old_handler = signal.signal(signal.SIGALRM, _alarm)

    strikes: dict[str, int] = {}  # component -> calls that ran out of time

    def guarded(thunk: Callable[[], list], who: str = "") -> list | None:
        """``thunk()`` under the per-component time limit; None on any failure."""
        counter[0] += 1
        left = deadline - time.perf_counter()
        if left <= 0:
            raise _Timeout()
        signal.setitimer(signal.ITIMER_REAL, min(COMPONENT_TIME, left))
        try:
            return thunk()
        except _Timeout:
            strikes[who] = strikes.get(who, 0) + 1
            return None
        except BaseException:  # errors, memory: the candidate is simply not kept
            return None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def usable(name: str) -> bool:
        return strikes.get(name, 0) < MAX_STRIKES

    result = SearchResult(None)
    try:
        try:
            for i, (p, t) in enumerate(zip(params, arg_types)):
                offer(t, 1, p, [inp[i] for inp in inputs])
            for c in CONSTANTS:
                offer("int", 1, str(c), [c] * n)
            if floats:
                offer("float", 1, "0.5", [0.5] * n)
            elements = _elements(inputs, arg_types)
            maps, preds = _bodies(comps, elements, var, deadline)
            for size in range(2, max_size + 1):
                if pending and pending[1] <= size:
                    raise _Found(pending[0], pending[1])
                _grow(size, prims, comps, maps, preds, entries, offer, guarded, usable, var)
            if pending:
                raise _Found(pending[0], pending[1])
            result.reason = "exhausted"
        except _Found as hit:
            result.expr, result.size = hit.src, hit.size
            result.source = _to_source(name, params, hit.src)
        except _Timeout:
            if pending:  # out of time or patience: the goal-directed find stands
                result.expr, result.size = pending[0], pending[1]
                result.source = _to_source(name, params, pending[0])
            else:
                result.reason = "budget"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
    result.candidates = counter[0]
    result.seconds = time.perf_counter() - t0
    result.per_size = {s: sum(len(bank[t].get(s, [])) for t in bank) for s in range(1, max_size + 1) if any(s in bank[t] for t in bank)}
    return result


def _grow(size, prims, comps, maps, preds, entries, offer, guarded, usable, var) -> None:
    """Offer every expression of exactly ``size`` built from smaller kept ones."""
    # Library calls first: at equal size a call reads better than an operator expression.
    for name, arg_t, out_t, fn in comps:
        for parts in _splits(size - 1, len(arg_t)):
            for combo in _combos([entries(t, s) for t, s in zip(arg_t, parts)]):
                if not usable(name):
                    break  # it kept running out of time: no longer a building block
                vec = guarded(lambda: [fn(*[list(a) if t == "list[int]" else a for a, t in zip(args, arg_t)])
                                       for args in zip(*[c[1] for c in combo])], name)
                if vec is not None:
                    offer(out_t, size, f"{name}({', '.join(c[0] for c in combo)})", vec)
    for out_t, arg_t, fn, fmt, comm, _ in prims:
        for parts in _splits(size - 1, len(arg_t)):
            if comm and parts[0] > parts[1]:
                continue
            lists = [entries(t, s) for t, s in zip(arg_t, parts)]
            for combo in _combos(lists, same=comm and parts[0] == parts[1]):
                try:
                    vec = [fn(*args) for args in zip(*[c[1] for c in combo])]
                except (ArithmeticError, IndexError, ValueError, TypeError, OverflowError):
                    continue
                srcs = [c[0] for c in combo]
                if comm and parts[0] < parts[1]:
                    srcs.reverse()  # larger operand first: "x * x + 1" rather than "1 + x * x"
                offer(out_t, size, fmt.format(*srcs), vec)
    # Comprehensions: 1 + list size + body size.
    for body in maps:
        for src, vec in entries("list[int]", size - 1 - body.size):
            out = guarded(lambda: [[body.fn(e) for e in xs] for xs in vec], body.src) if usable(body.src) else None
            if out is not None:
                offer("list[int]", size, f"[{body.src} for {var} in {src}]", out)
    for body in preds:
        for src, vec in entries("list[int]", size - 1 - body.size):
            out = guarded(lambda: [[e for e in xs if body.fn(e)] for xs in vec], body.src) if usable(body.src) else None
            if out is not None:
                offer("list[int]", size, f"[{var} for {var} in {src} if {body.src}]", out)


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


_PAIRS = [(a, b) for a in (-7, -2, 0, 3, 5, 12) for b in (-3, 1, 2, 7)]


def _same_as_primitive(comp) -> bool:
    """Whether an (int, int) -> int component behaves like one of the grammar's operators."""
    name, arg_t, out_t, fn = comp
    if arg_t != ("int", "int") or out_t != "int":
        return False
    try:
        outs = [fn(a, b) for a, b in _PAIRS]
    except BaseException:
        return False
    return any(outs == [op(a, b) for a, b in _PAIRS] for op in (operator.add, operator.sub, operator.mul, _floordiv, operator.mod))


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
    """Element values a comprehension body may see (for pruning bodies), at most 60."""
    els = {e for inp in inputs for a, t in zip(inp, arg_types) if t == "list[int]" for e in a}
    els |= set(range(-3, 11))
    return sorted(els)[:60]


def _bodies(comps, elements: list[int], var: str, deadline: float) -> tuple[list[Body], list[Body]]:
    """Distinct small int -> int bodies and int -> bool predicates, by behaviour on ``elements``."""
    unary_int = [(n, f) for n, a, o, f in comps if a == ("int",) and o == "int"]
    unary_bool = [(n, f) for n, a, o, f in comps if a == ("int",) and o == "bool"]
    cand: list[tuple[str, int, Callable, str]] = []
    for n, f in unary_int:
        cand.append((f"{n}({var})", 1, f, "int"))
    for c in CONSTANTS[1:]:
        cand += [
            (f"{var} + {c}", 2, lambda v, c=c: v + c, "int"),
            (f"{var} - {c}", 2, lambda v, c=c: v - c, "int"),
            (f"{var} * {c}", 2, lambda v, c=c: v * c, "int"),
            (f"{var} // {c}", 2, lambda v, c=c: v // c, "int"),
            (f"{var} % {c}", 2, lambda v, c=c: v % c, "int"),
            (f"{c} - {var}", 2, lambda v, c=c: c - v, "int"),
        ]
    cand.append((f"{var} * {var}", 2, lambda v: v * v, "int"))
    for n, f in unary_bool:
        cand.append((f"{n}({var})", 1, f, "bool"))
        cand.append((f"not {n}({var})", 2, lambda v, f=f: not f(v), "bool"))
    for c in CONSTANTS[:3]:
        cand += [
            (f"{var} > {c}", 2, lambda v, c=c: v > c, "bool"),
            (f"{var} < {c}", 2, lambda v, c=c: v < c, "bool"),
            (f"{var} != {c}", 2, lambda v, c=c: v != c, "bool"),
        ]
    for n, f in unary_int:
        for m, g in unary_int:
            cand.append((f"{n}({m}({var}))", 2, lambda v, f=f, g=g: f(g(v)), "int"))
        for m, g in unary_bool:
            cand.append((f"{m}({n}({var}))", 2, lambda v, f=f, g=g: g(f(v)), "bool"))
    maps, preds, seen = [], [], set()
    for src, size, fn, kind in cand:
        if time.perf_counter() > deadline:
            raise _Timeout()
        signal.setitimer(signal.ITIMER_REAL, COMPONENT_TIME)
        try:
            key = (kind, tuple(_quick(fn, e) for e in elements))
        except _Timeout:
            continue  # too slow on the elements: not a body worth keeping
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if key in seen or (kind == "int" and not all(type(x) is int for x in key[1])):
            continue
        seen.add(key)
        (maps if kind == "int" else preds).append(Body(src, size, fn))
    return maps, preds


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


def _to_source(name: str, params: list[str], expr: str) -> str:
    src = f"def {name}({', '.join(params)}):\n    return {expr}\n"
    return ast.unparse(ast.parse(src)) + "\n"  # drops the redundant parentheses


def search_request(req: dict, ns: dict) -> dict:
    """The worker's handler of ``{"op": "synthesise", ...}``: components come from ``ns``."""
    comps = {}
    for nm, arg_t, out_t in req["components"]:
        fn = ns.get(nm)
        if callable(fn):
            comps[nm] = (tuple(arg_t), out_t, fn)
    r = search(req["arg_types"], req["out_type"], [tuple(a) for a in req["inputs"]], req["outputs"], comps,
               budget=float(req.get("budget", 5.0)), max_size=int(req.get("max_size", 9)), name=req.get("name", "f"))
    return {"ok": r.source is not None, "source": r.source, "expr": r.expr, "size": r.size, "candidates": r.candidates,
            "seconds": r.seconds, "reason": r.reason, "per_size": r.per_size}


class SynthesisCreator:
    """The embedded creator: runs ``search`` in the library's sandbox worker.

    Args:
        budget: seconds of search per task.
        max_size: largest expression size tried.
        focus: components of the focused second pass (the most relevant ones).
        focus_share: share of the budget kept for the focused pass.

    Components are offered to the search in order of their texts' similarity to the task's
    name and description, which breaks ties between equally small programs.
    ``last`` holds the statistics of the latest search (candidates, seconds, size, reason).
    """

    provenance = "synthesised"

    def __init__(self, budget: float = 5.0, max_size: int = 9, focus: int = 12, focus_share: float = 0.4) -> None:
        if budget <= 0:
            raise ValueError(f"budget must be positive seconds, got {budget}")
        if focus < 1 or not 0 < focus_share < 1:
            raise ValueError(f"focus must be at least 1 and focus_share in (0, 1), got {focus} and {focus_share}")
        self.budget, self.max_size, self.focus, self.focus_share = budget, max_size, focus, focus_share
        self.last: dict = {}

    def create(self, task: Task, library: FunctionLibrary) -> str | None:
        """Source of the smallest program found that reproduces the task's examples, or None.

        When the library is large and the search over every component finds nothing within
        ``1 - focus_share`` of the budget, a second search over only the ``focus``
        components whose texts are closest to the task's gets the rest: a program built
        from a few relevant functions (``gcd`` for "share no divisor") may be too large to
        reach among all of them in time, and small enough among those few.
        """
        comps = [[r.name, list(r.signature.args), r.signature.output] for r in _by_relevance(task, library)]
        t0 = time.perf_counter()
        if len(comps) <= self.focus:
            self.last = self._search(task, library, comps, self.budget, self.max_size)
            return self.last.get("source") if self.last.get("ok") else None
        full = self._search(task, library, comps, self.budget * (1 - self.focus_share), self.max_size)
        self.last = full
        if not full.get("ok"):
            left = max(0.05, self.budget - (time.perf_counter() - t0))
            focused = self._search(task, library, comps[: self.focus], left, self.max_size)
            self.last = dict(focused, candidates=int(full.get("candidates") or 0) + int(focused.get("candidates") or 0),
                             seconds=time.perf_counter() - t0)
        return self.last.get("source") if self.last.get("ok") else None

    def _search(self, task: Task, library: FunctionLibrary, comps: list, budget: float, max_size: int) -> dict:
        req = {
            "op": "synthesise", "arg_types": list(task.signature.args), "out_type": task.signature.output,
            "inputs": [list(a) for a, _ in task.examples], "outputs": [o for _, o in task.examples],
            "components": comps, "budget": budget, "max_size": max_size, "name": "f",
        }
        return library.sandbox.request(req, library.sources(), timeout=budget + 5.0)


def _by_relevance(task: Task, library: FunctionLibrary) -> list:
    """Library functions, those whose texts are closest to the task's first.

    Within one size the search tries components in this order, so among equally small
    programs the one built from relevant functions is found first.
    """
    from riscmoe.functions.meta import embed

    recs = library.list()
    if not recs:
        return []
    texts = [" ".join([r.name, r.description, *r.solved]) for r in recs]
    E = embed(texts + [f"{task.name} {task.description}"])  # (M + 1, dim)
    sim = E[:-1] @ E[-1]  # (M,)
    order = sorted(range(len(recs)), key=lambda i: -float(sim[i]))
    return [recs[i] for i in order]
