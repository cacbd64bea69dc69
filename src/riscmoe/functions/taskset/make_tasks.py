"""Write the bundled task set ``tasks.jsonl`` (maths and list tasks) and check it.

Every task is drawn from a reference implementation written here, with a fixed seed, so the
file is the same on every run. Three kinds of task, mixed through the sequence:

- ``SEEDED``: a basic function a seed library answers directly, under its own or another
  name and description ("area of a square" is ``square``);
- ``COMPOSED``: one or two steps over seed functions and primitives (``x*x + 1``, the sum of
  the squares of a list, the number of primes in a list);
- ``REPEATS``: a ``COMPOSED`` task's function again, under another name and description and
  with other examples and queries, always after the task it repeats. The file says nothing
  of this; a growing library should notice it by itself.

The second half of the sequence holds most of the repeats and few new compositions, so
later tasks are more often answerable from what was created earlier.

Run ``python src/riscmoe/functions/taskset/make_tasks.py`` to rewrite the file and check it, or
add ``--check`` to check the file on disk without writing it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

SEED = 20261129
HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks.jsonl"
FLOAT_DIGITS = 6  # outputs that are floats are rounded to this many decimals


# -- reference helpers (what a seed library would hold) -------------------------------------


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def digit_sum(n: int) -> int:
    return sum(int(c) for c in str(abs(n)))


def reverse_digits(n: int) -> int:
    return int(str(n)[::-1])


def unique(xs: list[int]) -> list[int]:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(xs))


# -- input domains ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """Values one argument may take: a few edge cases and a random draw."""

    edges: tuple[Any, ...]
    draw: Callable[[random.Random], Any]


def _ints(lo: int, hi: int) -> Callable[[random.Random], int]:
    return lambda r: r.randint(lo, hi)


def _list(lo: int, hi: int, min_len: int, max_len: int) -> Callable[[random.Random], list[int]]:
    return lambda r: [r.randint(lo, hi) for _ in range(r.randint(min_len, max_len))]


DOMAINS: dict[str, Domain] = {
    "int": Domain((0, -4, 1), _ints(-30, 30)),
    "nat": Domain((0, 1), _ints(0, 40)),
    "pos": Domain((1,), _ints(1, 40)),
    "small": Domain((0, 1), _ints(0, 10)),  # factorial, powers of two
    "fibn": Domain((0, 1), _ints(0, 24)),
    "prime": Domain((0, 1, 2), _ints(0, 60)),
    "digits": Domain((0, 7), _ints(0, 9999)),
    "palin": Domain((0, 121), lambda r: r.choice([r.randint(0, 999), r.choice([11, 22, 99, 101, 202, 353, 484, 777])])),
    "base": Domain((0, -2), _ints(-6, 7)),
    "exp": Domain((0, 1), _ints(0, 5)),
    "count": Domain((0,), _ints(0, 6)),  # how many items to take or drop
    "divisor": Domain((1,), _ints(2, 9)),
    "list": Domain(([], [5]), _list(-9, 12, 2, 7)),
    "nelist": Domain(([-3],), _list(-9, 12, 2, 7)),  # non-empty
    "list2": Domain(([4, -1],), _list(-9, 12, 2, 7)),  # at least two items
    "natlist": Domain(([], [2]), _list(0, 40, 2, 8)),
    "duplist": Domain(([], [3, 3]), _list(0, 5, 2, 8)),  # duplicates likely
    "emptylist": Domain(([], [0], [4], [1, 3]), _list(-9, 12, 1, 7)),  # non-empty lists that look empty to sum, max, ...
}


@dataclass(frozen=True)
class Spec:
    """A task: its reference implementation, argument domains and the function it repeats."""

    name: str
    description: str
    fn: Callable[..., Any]
    args: tuple[str, ...]
    key: str  # the underlying function; tasks with one key compute the same thing
    kind: str  # "seeded", "composed" or "repeat"


def seeded(name: str, key: str, description: str, fn: Callable[..., Any], *args: str) -> Spec:
    return Spec(name, description, fn, args, key, "seeded")


def composed(name: str, description: str, fn: Callable[..., Any], *args: str) -> Spec:
    return Spec(name, description, fn, args, name, "composed")


# -- the tasks --------------------------------------------------------------------------------

# 37 seed functions under a task name of their own, then 13 of them under a second name.
SEEDED = [
    seeded("area_of_square", "square", "area of a square with side x", lambda x: x * x, "int"),
    seeded("twice", "double", "two times x", lambda x: 2 * x, "int"),
    seeded("successor", "inc", "the next integer after x", lambda x: x + 1, "int"),
    seeded("predecessor", "dec", "the integer just before x", lambda x: x - 1, "int"),
    seeded("opposite", "negate", "x with its sign flipped", lambda x: -x, "int"),
    seeded("magnitude", "abs", "distance of x from zero", abs, "int"),
    seeded("arrangements", "factorial", "ways to arrange n distinct books on a shelf", math.factorial, "small"),
    seeded("rabbit_pairs", "fib", "Fibonacci number n, counting F(0) = 0, F(1) = 1", fib, "fibn"),
    seeded("stacked_cans", "triangular", "cans in a triangular stack with n rows", lambda n: n * (n + 1) // 2, "nat"),
    seeded("even_check", "is_even", "is x even", lambda x: x % 2 == 0, "int"),
    seeded("prime_test", "is_prime", "is n a prime number", is_prime, "prime"),
    seeded("largest_common_divisor", "gcd", "greatest common divisor of a and b", math.gcd, "nat", "nat"),
    seeded("sum_of_digits", "digit_sum", "sum of the decimal digits of n", digit_sum, "digits"),
    seeded("mirror_number", "reverse_digits", "n with its decimal digits reversed", reverse_digits, "digits"),
    seeded("total", "sum_list", "sum of the numbers in a list", sum, "list"),
    seeded("multiply_all", "product", "product of the numbers in a list", math.prod, "list"),
    seeded("largest_element", "max", "the largest number in a list", max, "nelist"),
    seeded("smallest_element", "min", "the smallest number in a list", min, "nelist"),
    seeded("count_items", "length", "how many items a list holds", len, "list"),
    seeded("backwards", "reverse", "a list in reverse order", lambda xs: xs[::-1], "list"),
    seeded("ascending_order", "sort", "a list sorted from smallest to largest", sorted, "list"),
    seeded("distinct_values", "unique", "each value once, in order of first appearance", unique, "duplist"),
    seeded("how_many_even", "count_even", "how many numbers in a list are even", lambda xs: sum(x % 2 == 0 for x in xs), "list"),
    seeded("keep_even", "filter_even", "only the even numbers of a list", lambda xs: [x for x in xs if x % 2 == 0], "list"),
    seeded("double_each", "map_double", "every number of a list doubled", lambda xs: [2 * x for x in xs], "list"),
    seeded("running_total", "cumsum", "running totals of a list", lambda xs: [sum(xs[: i + 1]) for i in range(len(xs))], "list"),
    seeded("average", "mean", "arithmetic mean of a non-empty list", lambda xs: sum(xs) / len(xs), "nelist"),
    seeded("first_n_naturals", "range_list", "the numbers 0, 1, ..., n-1", lambda n: list(range(n)), "small"),
    seeded("first_element", "head", "the first item of a list", lambda xs: xs[0], "nelist"),
    seeded("final_element", "last", "the last item of a list", lambda xs: xs[-1], "nelist"),
    seeded("prefix", "take", "the first n items of a list", lambda xs, n: xs[:n], "list", "count"),
    seeded("skip_first", "drop", "a list without its first n items", lambda xs, n: xs[n:], "list", "count"),
    seeded("sum_of_two", "add", "a plus b", lambda a, b: a + b, "int", "int"),
    seeded("difference", "sub", "a minus b", lambda a, b: a - b, "int", "int"),
    seeded("times", "mul", "a times b", lambda a, b: a * b, "int", "int"),
    seeded("remainder", "mod", "remainder of a divided by b", lambda a, b: a % b, "nat", "divisor"),
    seeded("raise_to", "power", "a to the power b", lambda a, b: a**b, "base", "exp"),
    seeded("rectangle_area", "mul", "area of a rectangle with sides a and b", lambda a, b: a * b, "nat", "nat"),
    seeded("sum_one_to_n", "triangular", "1 + 2 + ... + n", lambda n: n * (n + 1) // 2, "nat"),
    seeded("nth_fibonacci", "fib", "the n-th term of 0, 1, 1, 2, 3, 5, ...", fib, "fibn"),
    seeded("sorted_copy", "sort", "the list's numbers in increasing order", sorted, "list"),
    seeded("multiple_of_two", "is_even", "does 2 divide x", lambda x: x % 2 == 0, "int"),
    seeded("bill_total", "sum_list", "total of a list of prices", sum, "list"),
    seeded("shift_up", "inc", "x moved up by one", lambda x: x + 1, "int"),
    seeded("number_of_elements", "length", "size of a list", len, "list"),
    seeded("distance_from_zero", "abs", "absolute value of x", abs, "int"),
    seeded("leftover", "mod", "what is left when a items are packed in boxes of b", lambda a, b: a % b, "nat", "divisor"),
    seeded("highest_score", "max", "best score in a list of scores", max, "nelist"),
    seeded("double_the_dose", "double", "a dose of x units, doubled", lambda x: 2 * x, "int"),
    seeded("factorial_of", "factorial", "n! = 1 * 2 * ... * n", math.factorial, "small"),
]


def _cube(x: int) -> int:
    return x**3


# 49 compositions of one or two steps. Those repeated later are listed first.
COMPOSED = [
    composed("square_plus_one", "x squared, plus one", lambda x: x * x + 1, "int"),
    composed("two_x_plus_three", "2x + 3", lambda x: 2 * x + 3, "int"),
    composed("sum_of_squares", "sum of the squares of a list", lambda xs: sum(x * x for x in xs), "list"),
    composed("count_primes", "how many numbers in a list are prime", lambda xs: sum(map(is_prime, xs)), "natlist"),
    composed("multiple_of_three", "is x a multiple of 3", lambda x: x % 3 == 0, "int"),
    composed("last_digit", "the last decimal digit of n", lambda n: n % 10, "digits"),
    composed("spread", "largest minus smallest number of a list", lambda xs: max(xs) - min(xs), "nelist"),
    composed("perimeter_of_square", "perimeter of a square with side x", lambda x: 4 * x, "int"),
    composed("double_square", "two times x squared", lambda x: 2 * x * x, "int"),
    composed("is_negative", "is x below zero", lambda x: x < 0, "int"),
    composed("coprime", "do a and b share no divisor above 1", lambda a, b: math.gcd(a, b) == 1, "pos", "pos"),
    composed("round_robin_games", "games when each of n teams meets each other once", lambda n: n * (n - 1) // 2, "nat"),
    composed("countdown", "n-1, n-2, ..., 0", lambda n: list(range(n))[::-1], "small"),
    composed("sum_of_evens", "sum of the even numbers of a list", lambda xs: sum(x for x in xs if x % 2 == 0), "list"),
    composed("count_odd", "how many numbers in a list are odd", lambda xs: sum(x % 2 != 0 for x in xs), "list"),
    composed("square_of_sum", "(a + b) squared", lambda a, b: (a + b) ** 2, "int", "int"),
    composed("half", "x divided by 2", lambda x: x / 2, "int"),
    composed("mean_square", "mean of the squares of a non-empty list", lambda xs: sum(x * x for x in xs) / len(xs), "nelist"),
    composed("increment_all", "every number of a list plus one", lambda xs: [x + 1 for x in xs], "list"),
    composed("sorted_descending", "a list sorted from largest to smallest", lambda xs: sorted(xs, reverse=True), "list"),
    composed("distance", "how far apart a and b are", lambda a, b: abs(a - b), "int", "int"),
    composed("count_distinct", "how many different values a list holds", lambda xs: len(set(xs)), "duplist"),
    composed("triple", "three times x", lambda x: 3 * x, "int"),
    composed("power_of_two", "2 to the power n", lambda n: 2**n, "small"),
    composed("same_parity", "are a and b both even or both odd", lambda a, b: (a - b) % 2 == 0, "int", "int"),
    composed("triple_each", "every number of a list times three", lambda xs: [3 * x for x in xs], "list"),
    composed("palindrome_number", "does n read the same backwards", lambda n: reverse_digits(n) == n, "palin"),
    composed("sum_of_abs", "sum of the absolute values of a list", lambda xs: sum(abs(x) for x in xs), "list"),
    composed("even_sum", "is the sum of a list even", lambda xs: sum(xs) % 2 == 0, "list"),
    composed("sum_of_cubes", "sum of the cubes of a list", lambda xs: sum(_cube(x) for x in xs), "list"),
    # Not repeated later.
    composed("cube", "x to the third power", _cube, "int"),
    composed("is_odd", "is x odd", lambda x: x % 2 != 0, "int"),
    composed("average_of_two", "mean of a and b", lambda a, b: (a + b) / 2, "int", "int"),
    composed("square_each", "every number of a list squared", lambda xs: [x * x for x in xs], "list"),
    composed("list_is_sorted", "is a list in increasing order", lambda xs: sorted(xs) == xs, "list"),
    composed("next_odd_double", "2x + 1", lambda x: 2 * x + 1, "int"),
    composed("double_total", "twice the sum of a list", lambda xs: 2 * sum(xs), "list"),
    composed("negate_all", "every number of a list with its sign flipped", lambda xs: [-x for x in xs], "list"),
    composed("second_element", "the second item of a list", lambda xs: xs[1], "list2"),
    composed("all_but_first", "a list without its first item", lambda xs: xs[1:], "list"),
    composed("first_two", "the first two items of a list", lambda xs: xs[:2], "list"),
    composed("is_empty", "does a list hold nothing", lambda xs: len(xs) == 0, "emptylist"),
    composed("digit_sum_is_even", "is the sum of n's digits even", lambda n: digit_sum(n) % 2 == 0, "digits"),
    composed("square_minus_one", "x squared, minus one", lambda x: x * x - 1, "int"),
    composed("count_positive", "how many numbers in a list are above zero", lambda xs: sum(x > 0 for x in xs), "list"),
    composed("add_ten", "x plus 10", lambda x: x + 10, "int"),
    composed("first_plus_last", "first item plus last item of a list", lambda xs: xs[0] + xs[-1], "nelist"),
    composed("next_fibonacci", "the Fibonacci number after F(n)", lambda n: fib(n + 1), "fibn"),
    composed("cube_plus_one", "x cubed, plus one", lambda x: _cube(x) + 1, "int"),
]
N_REPEATED = 30  # the first 30 compositions come back later under another name

# (new name, description, the composition it repeats[, argument domains if not the original's])
REPEATS: list[tuple[Any, ...]] = [
    ("one_more_than_square", "x times x, then one more", "square_plus_one"),
    ("taxi_fare", "fare of 3 plus 2 per kilometre for x kilometres", "two_x_plus_three", ("nat",)),
    ("signal_energy", "total of the squared samples", "sum_of_squares"),
    ("prime_tally", "number of primes among the values", "count_primes"),
    ("divisible_by_three", "does 3 divide x", "multiple_of_three"),
    ("units_digit", "the ones digit of n", "last_digit"),
    ("range_width", "width of the interval the values cover", "spread"),
    ("fence_length", "fence needed around a square field of side x", "perimeter_of_square", ("nat",)),
    ("twice_the_area", "twice the area of a square with side x", "double_square"),
    ("below_zero", "is x less than zero", "is_negative"),
    ("relatively_prime", "is the greatest common divisor of a and b one", "coprime"),
    ("handshakes", "handshakes when n people each shake hands once", "round_robin_games"),
    ("launch_sequence", "count down from n-1 to zero", "countdown"),
    ("even_total", "total of the even values", "sum_of_evens"),
    ("how_many_odd", "number of odd values", "count_odd"),
    ("sum_then_square", "add a and b, then square", "square_of_sum"),
    ("split_in_two", "half of x", "half"),
    ("mean_squared_value", "average of the squared values", "mean_square"),
    ("add_one_to_each", "raise every value by one", "increment_all"),
    ("rank_high_to_low", "values ordered from highest to lowest", "sorted_descending"),
    ("gap_between", "size of the gap between a and b", "distance"),
    ("number_of_unique", "count of distinct values", "count_distinct"),
    ("thrice", "x taken three times", "triple"),
    ("subsets_count", "how many subsets a set of n elements has", "power_of_two"),
    ("matching_parity", "do a and b leave the same remainder on division by 2", "same_parity"),
    ("tripled_values", "each value taken three times", "triple_each"),
    ("reads_same_backwards", "is n a palindrome in base 10", "palindrome_number"),
    ("total_distance", "sum of the distances of the values from zero", "sum_of_abs"),
    ("total_is_even", "is the total of the values even", "even_sum"),
    ("cubes_total", "total of the cubes", "sum_of_cubes"),
]

# Distractors: plausible wrong answers the examples must rule out as well.
DISTRACTORS: list[tuple[str, int, Callable[..., Any]]] = [
    ("identity", 1, lambda x: x),
    ("sorted_unique", 1, lambda xs: sorted(set(xs))),
    ("range_one_to_n", 1, lambda n: list(range(1, n + 1))),
    ("square_minus_x", 1, lambda x: x * x - x),
    ("non_negative", 1, lambda x: x >= 0),
    ("first_arg", 2, lambda a, b: a),
    ("second_arg", 2, lambda a, b: b),
    ("all_unless_zero", 2, lambda xs, n: xs if n else []),
    ("none_unless_zero", 2, lambda xs, n: [] if n else xs),
]


def _type_of(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", list: "list[int]"}[type(value)]


@functools.lru_cache(maxsize=1)
def seed_functions() -> list[tuple[str, tuple[str, ...], str, Callable[..., Any]]]:
    """The seed library's functions as (name, argument types, output type, callable).

    They are riscmoe's own trusted sources, executed here in one namespace.
    """
    from riscmoe.functions.seed import SEEDS

    ns: dict[str, Any] = {}
    out = []
    for sig, _, src in SEEDS:
        exec(src, ns)  # our own shipped source
        name = src.split("(", 1)[0].removeprefix("def ").strip()
        args, result = sig.split(" -> ")
        types = tuple(t.strip() for t in args.strip("()").split(",") if t.strip())
        out.append((name, types, result.strip(), ns[name]))
    return out


def _spec_types(spec: Spec) -> tuple[tuple[str, ...], str]:
    """A spec's argument and output types, from one draw of its inputs."""
    args = [DOMAINS[d].edges[-1] for d in spec.args]
    return tuple(_type_of(a) for a in args), _type_of(_call(spec.fn, args))


def _small(v: Any, limit: int) -> Any:
    """``v`` if it is a small intermediate value; a wrong candidate that builds huge ones is skipped."""
    if isinstance(v, list) and (len(v) > 64 or any(abs(x) > limit for x in v)):
        raise ValueError("intermediate list too large")
    if isinstance(v, int) and abs(v) > limit:
        raise ValueError("intermediate number too large")
    return v


def _compose(g: Callable[..., Any], f: Callable[..., Any], limit: int) -> Callable[..., Any]:
    return lambda *a: g(_small(f(*a), limit))


def _on_arg(f: Callable[..., Any], i: int) -> Callable[..., Any]:
    return lambda *a: f(a[i])


def _count_if(p: Callable[[int], bool]) -> Callable[[list[int]], int]:
    return lambda xs: sum(1 for x in xs if p(x) is True)


def _filter_by(p: Callable[[int], bool]) -> Callable[[list[int]], list[int]]:
    return lambda xs: [x for x in xs if p(x) is True]


def _map_by(g: Callable[[int], int]) -> Callable[[list[int]], list[int]]:
    return lambda xs: [g(x) for x in xs]


@functools.lru_cache(maxsize=None)
def simple_candidates(arg_types: tuple[str, ...], out_type: str) -> tuple[tuple[str, Callable[..., Any]], ...]:
    """Plausible wrong programs of one signature: what a small program search finds first.

    Built from the seed functions and every task's reference function: each of them alone,
    one applied to another's result (``g(f(x))``), a one-argument function applied to one
    argument of a two-argument task, and per-element counts, filters and maps of a list by
    a predicate or an int function.
    """
    blocks: list[tuple[str, tuple[str, ...], str, Callable[..., Any]]] = list(seed_functions())
    seeds = {b[0] for b in blocks}  # seeds guard their inputs; reference functions do not (factorial of 10**6)
    for s in all_specs():
        if s.kind != "repeat":
            blocks.append((s.name, *_spec_types(s), s.fn))
    blocks += [(n, ("int",) * a, "int" if n != "non_negative" else "bool", f) for n, a, f in DISTRACTORS if n in ("identity", "square_minus_x", "non_negative")]
    unary = [b for b in blocks if len(b[1]) == 1]
    for n, _, o, p in [b for b in unary if b[1] == ("int",) and b[2] == "bool"]:
        blocks += [(f"count_if({n})", ("list[int]",), "int", _count_if(p)), (f"filter({n})", ("list[int]",), "list[int]", _filter_by(p))]
    for n, _, o, g in [b for b in unary if b[1] == ("int",) and b[2] == "int"]:
        blocks.append((f"map({n})", ("list[int]",), "list[int]", _map_by(g)))
    unary = [b for b in blocks if len(b[1]) == 1]
    out: list[tuple[str, Callable[..., Any]]] = []
    for n, a, o, f in blocks:
        if a == arg_types and o == out_type:
            out.append((n, f))
        if a == arg_types:  # g(f(...))
            out += [(f"{gn}({n})", _compose(g, f, 10**9 if gn in seeds else 10**4))
                    for gn, ga, go, g in unary if ga == (o,) and go == out_type]
    if len(arg_types) == 2:
        for i, t in enumerate(arg_types):
            out += [(f"{n}(arg{i})", _on_arg(f, i)) for n, a, o, f in unary if a == (t,) and o == out_type]
    return tuple(out)


# Which composition a later one builds on, so the sequence keeps it after its part.
BUILDS_ON = {"sum_of_cubes": "cube", "cube_plus_one": "cube"}


def all_specs() -> list[Spec]:
    by_name = {s.name: s for s in COMPOSED}
    repeats = [Spec(n, d, by_name[o].fn, (*rest, by_name[o].args)[0], by_name[o].key, "repeat") for n, d, o, *rest in REPEATS]
    return SEEDED + COMPOSED + repeats


# -- drawing examples and queries -------------------------------------------------------------


def normalise(value: Any) -> Any:
    """An output as it is stored: floats rounded, ints, bools and lists of ints kept."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"output {value!r} is not a finite number")
        return round(value, FLOAT_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, list) and all(type(v) is int for v in value):
        return list(value)
    raise TypeError(f"output {value!r} is not an int, float, bool or list of ints")


def same(a: Any, b: Any) -> bool:
    """Equal values of the same type (True is not 1, 2.0 is not 2)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _call(fn: Callable[..., Any], args: list[Any]) -> Any:
    return normalise(fn(*[list(a) if isinstance(a, list) else a for a in args]))


def _draw_args(spec: Spec, rng: random.Random) -> list[Any]:
    return [DOMAINS[d].draw(rng) for d in spec.args]


def _edges(spec: Spec, rng: random.Random) -> list[list[Any]]:
    if len(spec.args) == 1:
        return [[e] for e in DOMAINS[spec.args[0]].edges]
    # Several arguments: every argument at its first edge, then one at an edge, the rest drawn.
    first = [DOMAINS[d].edges[0] for d in spec.args]
    i = rng.randrange(len(spec.args))
    mixed = _draw_args(spec, rng)
    mixed[i] = DOMAINS[spec.args[i]].edges[-1]
    return [first, mixed]


def _distinct_args(spec: Spec, rng: random.Random, n: int, taken: list[list[Any]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for _ in range(1000):
        if len(out) == n:
            return out
        args = _draw_args(spec, rng)
        if args not in taken and args not in out:
            out.append(args)
    raise RuntimeError(f"task {spec.name}: could not draw {n} distinct inputs from {spec.args}")


def _ambiguous_with(spec: Spec, examples: list[list[Any]], outputs: list[Any], rivals: list[tuple[str, Callable[..., Any]]]) -> str | None:
    """The name of a rival function that fits every example, if there is one."""
    for name, fn in rivals:
        try:
            if all(same(_call(fn, a), o) for a, o in zip(examples, outputs)):
                return name
        except Exception:  # a rival that cannot take these inputs does not fit them
            continue
    return None


def misleading(examples: list[list[Any]], outputs: list[Any], queries: list[list[Any]], answers: list[Any],
               candidates: Sequence[tuple[str, Callable[..., Any]]]) -> str | None:
    """The name of a candidate that fits every example yet answers some query wrongly, if any.

    A candidate that fits the examples and the queries computes the task's function as far
    as the task can tell, and is no harm.
    """
    for name, fn in candidates:
        try:
            if not all(same(_call(fn, a), o) for a, o in zip(examples, outputs)):
                continue
        except Exception:  # cannot take these inputs: does not fit them
            continue
        for q, want in zip(queries, answers):
            try:
                if not same(_call(fn, q), want):
                    return name
            except Exception:  # fails on a query: a wrong answer
                return name
    return None


MIN_PREDICATE_EXAMPLES = 12


def _draw_examples(spec: Spec, rng: random.Random, n: int, predicate: bool) -> list[list[Any]]:
    """Edge cases, then distinct draws; a predicate's examples are half True, half False where the domain allows."""
    edges = _edges(spec, rng)[: min(4 if predicate else 2, n - 2)]
    examples = edges + _distinct_args(spec, rng, n - len(edges) if not predicate else 0, edges)
    if predicate:
        want = {True: n // 2, False: n - n // 2}
        for e in edges:
            want[_call(spec.fn, e)] -= 1
        for _ in range(4000):
            if len(examples) == n:
                break
            args = _draw_args(spec, rng)
            out = _call(spec.fn, args)
            # After many draws, accept either answer: a rare answer (the empty list) may have one input only.
            if args not in examples and (want[out] > 0 or _ > 3000):
                examples.append(args)
                want[out] -= 1
    rng.shuffle(examples)
    return examples


def make_task(spec: Spec, rivals: list[tuple[str, Callable[..., Any]]],
              candidates: Sequence[tuple[str, Callable[..., Any]]] = ()) -> dict[str, Any]:
    """Examples that rule out every rival and mislead no candidate, then queries on other inputs.

    ``rivals`` (other tasks' functions, distractors) must not fit the examples at all;
    ``candidates`` (seeds, compositions) may fit them only if they also answer every query right.
    """
    rival = None
    predicate = isinstance(_call(spec.fn, [DOMAINS[d].edges[0] for d in spec.args]), bool)
    for attempt in range(200):
        rng = random.Random(f"{SEED}:{spec.name}:{attempt}")
        n_examples = rng.randint(5, 7)
        if predicate:  # 2**n labellings: a few thousand small programs must not realise them all
            n_examples = 24 if len(spec.args) > 1 else rng.randint(MIN_PREDICATE_EXAMPLES, 16)
        n_queries = rng.randint(3, 5)
        examples = _draw_examples(spec, rng, n_examples, predicate)
        outputs = [_call(spec.fn, a) for a in examples]
        if predicate and len(set(outputs)) < 2:
            continue  # a predicate's examples show both answers
        rival = _ambiguous_with(spec, examples, outputs, rivals)
        if rival is not None:
            continue
        queries = _distinct_args(spec, rng, n_queries, examples)
        answers = [_call(spec.fn, a) for a in queries]
        rival = misleading(examples, outputs, queries, answers, candidates)
        if rival is not None:
            continue
        return {
            "name": spec.name,
            "description": spec.description,
            "examples": [{"args": a, "output": o} for a, o in zip(examples, outputs)],
            "queries": [{"args": a, "expected": e} for a, e in zip(queries, answers)],
        }
    raise RuntimeError(f"task {spec.name}: no draw of examples rules out every other function (last: {rival})")


def order(specs: list[Spec]) -> list[Spec]:
    """Mixed order; the second half holds the repeats and few new compositions."""
    rng = random.Random(SEED)
    seeded_, composed_, repeats = ([s for s in specs if s.kind == k] for k in ("seeded", "composed", "repeat"))
    rng.shuffle(seeded_)
    repeated, single = composed_[:N_REPEATED], composed_[N_REPEATED:]
    rng.shuffle(repeated)
    rng.shuffle(single)
    first = seeded_[:30] + repeated[:27] + single[:7]
    rng.shuffle(first)
    # Repeats lean towards the end: later tasks are more often answerable from earlier ones.
    second = seeded_[30:] + repeated[27:] + single[7:] + repeats
    weight = {s.name: rng.random() + (0.1 if s.kind == "repeat" else 0.0) for s in second}
    second.sort(key=lambda s: weight[s.name])
    seq = first + second
    # A task that needs an earlier one moves to just after it.
    needs = {s.name: next(c.name for c in composed_ if c.key == s.key) for s in repeats} | BUILDS_ON
    for _ in range(len(seq)):
        pos = {s.name: i for i, s in enumerate(seq)}
        late = [s for s in seq if s.name in needs and pos[needs[s.name]] > pos[s.name]]
        if not late:
            return seq
        s = late[0]
        seq.remove(s)
        seq.insert(seq.index(next(t for t in seq if t.name == needs[s.name])) + 1, s)
    raise RuntimeError("the order of the tasks has a cycle")


def build() -> list[dict[str, Any]]:
    specs = all_specs()
    tasks = []
    for spec in order(specs):
        rivals = [(s.name, s.fn) for s in specs if s.key != spec.key and len(s.args) == len(spec.args)]
        rivals += [(n, f) for n, arity, f in DISTRACTORS if arity == len(spec.args)]
        tasks.append(make_task(spec, rivals, simple_candidates(*_spec_types(spec))))
    return tasks


def dumps(tasks: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(t) + "\n" for t in tasks)


# -- checks -----------------------------------------------------------------------------------


def _check_value(where: str, v: Any) -> None:
    ok = type(v) in (int, bool) or (type(v) is float and math.isfinite(v)) or (type(v) is list and all(type(x) is int for x in v))
    if not ok:
        raise ValueError(f"{where}: {v!r} is not an int, float, bool or list of ints")


def check(text: str) -> dict[str, int]:
    """Check the file's text against the reference implementations; return counts by kind."""
    specs = {s.name: s for s in all_specs()}
    seen: dict[str, int] = {}
    first_of_key: dict[str, int] = {}
    counts = {"seeded": 0, "composed": 0, "repeat": 0}
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        task = json.loads(line)
        where = f"tasks.jsonl line {lineno} ({task.get('name')!r})"
        if set(task) != {"name", "description", "examples", "queries"}:
            raise ValueError(f"{where}: fields {sorted(task)}")
        name = task["name"]
        if name in seen:
            raise ValueError(f"{where}: name already used on line {seen[name]}")
        seen[name] = lineno
        spec = specs.get(name)
        if spec is None:
            raise ValueError(f"{where}: no reference implementation of this name")
        if not (5 <= len(task["examples"]) <= 24 and 3 <= len(task["queries"]) <= 5):
            raise ValueError(f"{where}: {len(task['examples'])} examples, {len(task['queries'])} queries")
        pairs = [(e["args"], e["output"]) for e in task["examples"]] + [(q["args"], q["expected"]) for q in task["queries"]]
        for args, out in pairs:
            if len(args) != len(spec.args):
                raise ValueError(f"{where}: args {args!r} do not have {len(spec.args)} values")
            for v in [*args, out]:
                _check_value(where, v)
            if not same(_call(spec.fn, args), out):
                raise ValueError(f"{where}: reference gives {_call(spec.fn, args)!r} for {args!r}, file says {out!r}")
        outputs = [e["output"] for e in task["examples"]]
        if isinstance(outputs[0], bool):
            if len(outputs) < MIN_PREDICATE_EXAMPLES or len(set(outputs)) < 2:
                raise ValueError(f"{where}: a predicate needs at least {MIN_PREDICATE_EXAMPLES} examples showing True and False")
        wrong = misleading([e["args"] for e in task["examples"]], outputs, [q["args"] for q in task["queries"]],
                           [q["expected"] for q in task["queries"]], simple_candidates(*_spec_types(spec)))
        if wrong is not None:
            raise ValueError(f"{where}: the examples also fit {wrong}, which answers a query differently")
        if spec.kind == "repeat" and first_of_key.get(spec.key, lineno) >= lineno:
            raise ValueError(f"{where}: repeats {spec.key!r}, which does not come earlier")
        first_of_key.setdefault(spec.key, lineno)
        counts[spec.kind] += 1
    if len(seen) != len(specs):
        raise ValueError(f"tasks.jsonl holds {len(seen)} tasks, make_tasks.py defines {len(specs)}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check tasks.jsonl on disk, write nothing")
    parser.add_argument("--out", type=Path, default=TASKS, help=f"where to write (default {TASKS})")
    args = parser.parse_args(argv)
    if args.check:
        text = args.out.read_text()
        if text != dumps(build()):
            raise SystemExit(f"{args.out} differs from what make_tasks.py generates; rerun it without --check")
    else:
        text = dumps(build())
        if text != dumps(build()):
            raise SystemExit("make_tasks.py is not deterministic: two builds differ")
        args.out.write_text(text)
    counts = check(text)
    half = len(text.splitlines()) // 2
    later = check_second_half(text, half)
    print(f"{args.out}: {sum(counts.values())} tasks ok: {counts}; second half: {later}")
    return 0


def check_second_half(text: str, half: int) -> dict[str, int]:
    """Counts by kind among the tasks after the first ``half``."""
    kinds = {s.name: s.kind for s in all_specs()}
    out = {"seeded": 0, "composed": 0, "repeat": 0}
    for line in text.splitlines()[half:]:
        out[kinds[json.loads(line)["name"]]] += 1
    return out


if __name__ == "__main__":
    sys.exit(main())
