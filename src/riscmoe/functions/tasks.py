"""Tasks: a handful of input/output examples of an unknown function, plus queries to answer.

The file format is JSON Lines, one task a line::

    {"name": "tri", "description": "optional",
     "examples": [{"args": [3], "output": 6}, {"args": [4], "output": 10}],
     "queries": [{"args": [10], "expected": 55}]}

``args`` are the positional arguments. ``expected`` (optional, per query) holds a held-back
answer: the loader keeps it in ``Task.expected`` for scoring only; solvers never read it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from riscmoe.functions.values import Signature, coerce, type_of, unify


class TaskFormatError(ValueError):
    """A task file line that does not describe a valid task."""


@dataclass
class Task:
    """One task: examples of an unknown function and the inputs whose outputs are wanted.

    Args:
        name: unique name of the task in its file.
        examples: (args, output) pairs, args a tuple of positional arguments.
        queries: argument tuples to answer.
        description: optional one-line description.
        expected: held-back answer per query (None where unknown), for scoring only.
        signature: argument and output types; derived from the examples when omitted.

    Example:
        >>> t = Task("tri", [((3,), 6), ((4,), 10)], [(10,)])
        >>> str(t.signature)
        '(int) -> int'
    """

    name: str
    examples: list[tuple[tuple, Any]]
    queries: list[tuple] = field(default_factory=list)
    description: str = ""
    expected: list[Any] | None = None
    signature: Signature = None  # type: ignore[assignment]  # filled in __post_init__

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"task name must be a non-empty string, got {self.name!r}")
        _text_check("task name", self.name)
        _text_check(f"task {self.name!r}: description", self.description)
        if not self.examples:
            raise ValueError(f"task {self.name!r} has no examples; give at least one input/output pair")
        self.examples = [(tuple(a), o) for a, o in self.examples]
        self.queries = [tuple(q) for q in self.queries]
        derived = derive_signature(self.examples, self.name)
        if self.signature is None:
            self.signature = derived
        elif unify_signature(self.signature, derived) != self.signature:
            raise ValueError(f"task {self.name!r}: the examples have signature {derived}, not the given {self.signature}")
        sig = self.signature
        self.examples = [(tuple(coerce(a, t) for a, t in zip(args, sig.args)), coerce(out, sig.output)) for args, out in self.examples]
        for i, q in enumerate(self.queries):
            if not sig.accepts(q):
                raise ValueError(f"task {self.name!r}: query {i} has args {list(q)!r}, which do not fit {sig}")
        self.queries = [tuple(coerce(a, t) for a, t in zip(q, sig.args)) for q in self.queries]
        if self.expected is not None:
            if len(self.expected) != len(self.queries):
                raise ValueError(f"task {self.name!r}: {len(self.expected)} expected answers for {len(self.queries)} queries")
            for i, e in enumerate(self.expected):
                if e is not None and unify(type_of(e), sig.output) != sig.output:
                    raise ValueError(f"task {self.name!r}: expected answer {e!r} of query {i} is not of output type {sig.output}")
            self.expected = [None if e is None else coerce(e, sig.output) for e in self.expected]


def _text_check(what: str, text: Any) -> None:
    """Refuse text that cannot be written back out: a lone surrogate (JSON's "\\ud800") is no character.

    Such a name would load, then fail when printed, stored or written as UTF-8 (after the
    first answer); control characters are fine here and escaped wherever they are printed.
    """
    if not isinstance(text, str):
        return
    bad = next((c for c in text if 0xD800 <= ord(c) <= 0xDFFF), None)
    if bad is not None:
        raise ValueError(f"{what} {text!r} holds a lone surrogate (U+{ord(bad):04X}), which is not a character "
                         f"and cannot be written as UTF-8; write the character itself (or its surrogate pair) instead")


def unify_signature(a: Signature, b: Signature) -> Signature | None:
    """The signature both fit (ints widen to floats), or None."""
    if a.arity != b.arity:
        return None
    args = tuple(unify(x, y) for x, y in zip(a.args, b.args))
    out = unify(a.output, b.output)
    if out is None or None in args:
        return None
    return Signature(args, out)  # type: ignore[arg-type]


def derive_signature(examples: list[tuple[tuple, Any]], name: str = "task") -> Signature:
    """The signature all examples agree on, or ValueError naming the first that disagrees."""
    sig: Signature | None = None
    for i, (args, out) in enumerate(examples):
        try:
            here = Signature(tuple(type_of(a) for a in args), type_of(out))
        except ValueError as exc:
            raise ValueError(f"task {name!r}: example {i}: {exc}") from None
        if sig is None:
            sig = here
            continue
        if here.arity != sig.arity:
            raise ValueError(f"task {name!r}: example {i} has {here.arity} args, example 0 has {sig.arity}; every example needs the same arity")
        merged = unify_signature(sig, here)
        if merged is None:
            raise ValueError(f"task {name!r}: example {i} has types {here}, earlier examples have {sig}; the types must agree")
        sig = merged
    assert sig is not None
    return sig


def _no_nan(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    if isinstance(value, list):
        for v in value:
            _no_nan(v)


def _args(obj: Any, where: str) -> list:
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be an object like {{\"args\": [...]}}, got {obj!r}")
    if "args" not in obj:
        raise ValueError(f"{where} has no \"args\" field")
    args = obj["args"]
    if not isinstance(args, list):
        raise ValueError(f"{where}: \"args\" must be a list of positional arguments, got {args!r}")
    _no_nan(args)
    return args


def task_from_dict(d: Any) -> Task:
    """A Task from one parsed JSON object of the task-file format (ValueError if malformed)."""
    if not isinstance(d, dict):
        raise ValueError(f"a task must be a JSON object, got {type(d).__name__}")
    for key in ("name", "examples"):
        if key not in d:
            raise ValueError(f"missing field \"{key}\"")
    unknown = sorted(set(d) - {"name", "description", "examples", "queries"})
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: name, description, examples, queries")
    name, desc = d["name"], d.get("description", "")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"\"name\" must be a non-empty string, got {name!r}")
    if not isinstance(desc, str):
        raise ValueError(f"\"description\" must be a string, got {desc!r}")
    if not isinstance(d["examples"], list) or not d["examples"]:
        raise ValueError(f"\"examples\" must be a non-empty list, got {d['examples']!r}")
    queries_raw = d.get("queries", [])
    if not isinstance(queries_raw, list):
        raise ValueError(f"\"queries\" must be a list, got {queries_raw!r}")
    examples = []
    for i, ex in enumerate(d["examples"]):
        args = _args(ex, f"example {i}")
        if "output" not in ex:
            raise ValueError(f"example {i} has no \"output\" field")
        _no_nan(ex["output"])
        examples.append((tuple(args), ex["output"]))
    queries, expected, any_expected = [], [], False
    for i, q in enumerate(queries_raw):
        queries.append(tuple(_args(q, f"query {i}")))
        if "expected" in q:
            _no_nan(q["expected"])
            any_expected = True
        expected.append(q.get("expected"))
    return Task(name, examples, queries, description=desc, expected=expected if any_expected else None)


def load_tasks(path: str | os.PathLike) -> list[Task]:
    """Read a JSON Lines task file; a malformed line raises TaskFormatError naming file and line.

    Blank lines and lines starting with ``#`` are skipped. Task names must be unique.
    """
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{path}, line {lineno}"
            try:
                d = json.loads(text, parse_constant=_refuse_constant)
            except ValueError as exc:
                raise TaskFormatError(f"{where}: not valid JSON ({exc}); each line must be one task object") from None
            try:
                task = task_from_dict(d)
            except ValueError as exc:
                raise TaskFormatError(f"{where}: {exc}") from None
            if task.name in seen:
                raise TaskFormatError(f"{where}: task name {task.name!r} is already used on line {seen[task.name]}; names must be unique")
            seen[task.name] = lineno
            tasks.append(task)
    if not tasks:
        raise TaskFormatError(f"{path}: no tasks found; write one JSON task object per line")
    return tasks


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed; use finite numbers")
