"""Value types of the functions domain: int, float, bool and list[int], and their signatures.

Only the standard library is imported here: the sandbox worker loads this module too.
``bool`` is its own type, never an ``int`` (although Python makes True == 1).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

TYPES = ("int", "float", "bool", "list[int]")
REL_TOL, ABS_TOL = 1e-6, 1e-9  # float answers match within these tolerances


def type_of(value: Any) -> str:
    """The type tag of a value, or ValueError saying which values are allowed.

    >>> type_of(3), type_of(2.5), type_of(True), type_of([1, 2])
    ('int', 'float', 'bool', 'list[int]')
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number; use finite floats only")
        return "float"
    if isinstance(value, list):
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"list element {v!r} is not an int; lists hold ints only (list[int])")
        return "list[int]"
    raise ValueError(f"{value!r} has type {type(value).__name__}; values must be int, float, bool or list[int]")


def unify(a: str, b: str) -> str | None:
    """The one type both tags fit (int and float meet at float), or None."""
    if a == b:
        return a
    if {a, b} == {"int", "float"}:
        return "float"
    return None


def conforms(value: Any, tag: str) -> bool:
    """Whether ``value`` is a value of type ``tag`` (an int counts as a float)."""
    try:
        t = type_of(value)
    except ValueError:
        return False
    return t == tag or (t == "int" and tag == "float")


def coerce(value: Any, tag: str) -> Any:
    """``value`` as type ``tag``: ints become floats in float positions."""
    if tag == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def values_equal(got: Any, want: Any, tag: str) -> bool:
    """Whether an answer matches: exact for int, bool and lists; within tolerance for float."""
    if tag == "float":
        if isinstance(got, bool) or not isinstance(got, (int, float)) or isinstance(want, bool):
            return False
        return math.isclose(float(got), float(want), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if not conforms(got, tag) or isinstance(got, float):
        return False
    if tag == "bool":
        return got is want or (isinstance(want, bool) and got == want)
    if tag == "int":
        return not isinstance(got, bool) and got == want
    return got == want


def canonical(value: Any) -> Any:
    """A hashable, comparable stand-in: floats rounded to 9 significant digits, lists as tuples."""
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else repr(value)
    if isinstance(value, list):
        return tuple(canonical(v) for v in value)
    return value


NONFINITE_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # how JSON files write such floats


def json_safe(value: Any) -> Any:
    """``value`` with each non-finite float as the string "NaN", "Infinity" or "-Infinity".

    JSON has no such numbers (``json.dumps`` would write the bare words, which strict
    parsers refuse). Answers are never strings otherwise, so the string marks them.

    >>> json_safe([1.5, float("inf"), {"a": float("nan")}])
    [1.5, 'Infinity', {'a': 'NaN'}]
    """
    if isinstance(value, float) and not math.isfinite(value):
        return NONFINITE_JSON[repr(value)]
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON of ``value`` (non-finite floats as in ``json_safe``; never the bare NaN or Infinity)."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


def printable(text: Any) -> str:
    """``str(text)`` safe to print on a terminal: control characters (ANSI escapes, newlines,
    bidi overrides) and lone surrogates written as Python escapes, everything else as it is.

    >>> print(printable("a\\x1b[2Jb\\n"))
    a\\x1b[2Jb\\n
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def format_call(name: str, args: tuple | list) -> str:
    """``name(a, b)`` with the arguments as Python literals."""
    return f"{name}({', '.join(repr(a) for a in args)})"


@dataclass(frozen=True)
class Signature:
    """Argument types and output type of a function, e.g. ``(int, int) -> int``.

    Example:
        >>> s = Signature(("int", "list[int]"), "bool")
        >>> str(s), Signature.parse(str(s)) == s
        ('(int, list[int]) -> bool', True)
    """

    args: tuple[str, ...]
    output: str

    def __post_init__(self) -> None:
        for t in (*self.args, self.output):
            if t not in TYPES:
                raise ValueError(f"unknown type {t!r}; types are {', '.join(TYPES)}")

    def __str__(self) -> str:
        return f"({', '.join(self.args)}) -> {self.output}"

    @property
    def arity(self) -> int:
        return len(self.args)

    @classmethod
    def parse(cls, text: str) -> Signature:
        """Read ``(int, int) -> int`` back into a Signature."""
        try:
            left, out = text.split("->")
            inner = left.strip()
            if not (inner.startswith("(") and inner.endswith(")")):
                raise ValueError
            args = tuple(a.strip() for a in inner[1:-1].split(",") if a.strip())
            return cls(args, out.strip())
        except ValueError:
            raise ValueError(f"cannot read signature {text!r}; write it like '(int, list[int]) -> bool'") from None

    def accepts(self, args: tuple | list) -> bool:
        """Whether ``args`` fit the argument types."""
        return len(args) == len(self.args) and all(conforms(a, t) for a, t in zip(args, self.args))
