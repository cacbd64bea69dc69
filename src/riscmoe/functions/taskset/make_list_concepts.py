"""Write the list-concept task set ``list_concepts.jsonl`` and check it.

Each task is a rule a person states in a few words, from lists of integers in 0..99 to lists
of integers: "remove the first element", "append 3", "replace the second element with 7",
"keep the elements above 40", "sum as a one-element list", "each element plus its
position", ... (the kind of concept that studies of human concept learning show people five
examples of). Every concept has a reference implementation here; the script draws five
examples and five held-back queries per concept with a fixed seed, so the file is the same
on every machine.

The examples are drawn so that the concept can be told from them:

- their lengths vary: one list of at most 2 elements, one of 7 to 10 (so "take the first 6"
  and "the list unchanged" differ), three of 3 to 10;
- a concept's *salient* values (the threshold 40 and 41 of "above 40", the 7 of "remove the
  7s") are sprinkled into its inputs, so that the boundary shows;
- no *rival* fits all five examples and answers differently on other lists. The rivals are
  every other concept and a few thousand parametric variants (take k, drop k, append c,
  keep above t, add c to each, replace or insert c at position i, ...). A rival that agrees
  with the concept on every list tried is the same function and no harm.

Queries are five more lists (one of at least 8 elements), none of them an example; their
``expected`` answers are for scoring only.

Run ``python src/riscmoe/functions/taskset/make_list_concepts.py`` to rewrite the file and
check it, or add ``--check`` to check the file on disk without writing it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Callable, Sequence

SEED = 20261207
HERE = Path(__file__).resolve().parent
TASKS = HERE / "list_concepts.jsonl"
N_EXAMPLES, N_QUERIES = 5, 5
N_PROBES = 150  # random lists on which a rival that fits the examples must agree with the concept
MAX_ATTEMPTS = 400

Fn = Callable[[list], list]


@dataclass(frozen=True)
class Concept:
    """A list concept: its reference implementation and how its inputs are drawn.

    ``salient``: the constants the rule names (40 and its neighbour for "above 40", the 7 of
    "remove every 7"); unless ``sprinkle`` is off (a rule that adds the value: "append 3"),
    they go into the inputs more often than chance would put them, so the boundary shows. ``dups``: draw each list's elements from a small
    pool, so that repeated values are common. ``min_len``: shortest input the rule is
    drawn on (a rule "for lists of at least two elements").
    """

    name: str
    description: str
    fn: Fn
    salient: tuple[int, ...] = ()
    dups: bool = False
    min_len: int = 0
    sprinkle: bool = True


def c(name: str, description: str, fn: Fn, *salient: int, dups: bool = False, min_len: int = 0, sprinkle: bool = True) -> Concept:
    return Concept(name, description, fn, tuple(salient), dups, min_len, sprinkle)


# -- reference helpers --------------------------------------------------------------------------


def unique(xs: list) -> list:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(xs))


def replace_at(xs: list, i: int, v: int) -> list:
    """``xs`` with position ``i`` (from 0) set to ``v``; unchanged when too short."""
    return xs[:i] + [v] + xs[i + 1:] if i < len(xs) else list(xs)


def insert_at(xs: list, i: int, v: int) -> list:
    """``v`` inserted before position ``i``; appended when the list is shorter."""
    return xs[:i] + [v] + xs[i:]


def remove_at(xs: list, i: int) -> list:
    return xs[:i] + xs[i + 1:]


def swap(xs: list, i: int, j: int) -> list:
    """Positions ``i`` and ``j`` exchanged (negative counts from the end); unchanged when too short."""
    if len(xs) < 2 or not (-len(xs) <= i < len(xs) and -len(xs) <= j < len(xs)):
        return list(xs)
    out = list(xs)
    out[i], out[j] = out[j], out[i]
    return out


def singleton_if(xs: list, f: Callable[[list], int]) -> list:
    """``[f(xs)]``, or ``[]`` for the empty list (a maximum of nothing is nothing)."""
    return [f(xs)] if xs else []


def take_while(xs: list, p: Callable[[int], bool]) -> list:
    out = []
    for v in xs:
        if not p(v):
            break
        out.append(v)
    return out


def drop_while(xs: list, p: Callable[[int], bool]) -> list:
    for k, v in enumerate(xs):
        if not p(v):
            return xs[k:]
    return []


def alternating_sum(xs: list) -> int:
    return sum(v if k % 2 == 0 else -v for k, v in enumerate(xs))


def digit_sum(n: int) -> int:
    return sum(int(ch) for ch in str(abs(n)))


# -- the concepts -------------------------------------------------------------------------------

CONCEPTS: list[Concept] = [
    # Positions and parts.
    c("unchanged", "the list as it is", lambda xs: list(xs)),
    c("remove_first", "remove the first element", lambda xs: xs[1:]),
    c("remove_last", "remove the last element", lambda xs: xs[:-1]),
    c("first_only", "only the first element", lambda xs: xs[:1]),
    c("last_only", "only the last element", lambda xs: xs[-1:]),
    c("take_two", "the first two elements", lambda xs: xs[:2]),
    c("take_three", "the first three elements", lambda xs: xs[:3]),
    c("take_six", "the first six elements", lambda xs: xs[:6]),
    c("drop_two", "remove the first two elements", lambda xs: xs[2:]),
    c("drop_four", "remove the first four elements", lambda xs: xs[4:]),
    c("last_three", "the last three elements", lambda xs: xs[-3:]),
    c("remove_last_two", "remove the last two elements", lambda xs: xs[:-2]),
    c("second_to_fourth", "the second, third and fourth elements", lambda xs: xs[1:4]),
    c("trim_both_ends", "remove the first and the last element", lambda xs: xs[1:-1]),
    c("odd_positions", "the first, third, fifth, ... elements", lambda xs: xs[::2]),
    c("even_positions", "the second, fourth, sixth, ... elements", lambda xs: xs[1::2]),
    c("second_only", "only the second element", lambda xs: xs[1:2]),
    c("third_only", "only the third element", lambda xs: xs[2:3]),
    c("reverse", "the list backwards", lambda xs: xs[::-1]),
    c("reverse_take_three", "reverse the list, then keep the first three", lambda xs: xs[::-1][:3]),
    c("take_four_reverse", "the first four elements, backwards", lambda xs: xs[:4][::-1]),
    c("reverse_drop_one", "the list backwards without its last element", lambda xs: xs[::-1][1:]),
    c("rotate_left", "move the first element to the end", lambda xs: xs[1:] + xs[:1]),
    c("rotate_right", "move the last element to the front", lambda xs: xs[-1:] + xs[:-1]),
    c("rotate_left_two", "move the first two elements to the end", lambda xs: xs[2:] + xs[:2]),
    c("swap_first_last", "swap the first and the last element", lambda xs: swap(xs, 0, -1)),
    c("swap_first_two", "swap the first two elements", lambda xs: swap(xs, 0, 1)),
    c("swap_second_third", "swap the second and the third element", lambda xs: swap(xs, 1, 2) if len(xs) >= 3 else list(xs)),
    c("halves_swapped", "the second half, then the first half", lambda xs: xs[len(xs) // 2:] + xs[:len(xs) // 2]),
    c("first_half", "the first half of the list (the shorter half for an odd length)", lambda xs: xs[:len(xs) // 2]),
    c("twice", "the list twice in a row", lambda xs: xs + xs),
    c("mirror", "the list followed by itself backwards", lambda xs: xs + xs[::-1]),
    c("stutter", "every element twice", lambda xs: [v for v in xs for _ in (0, 1)]),
    c("first_and_last", "the first and the last element", lambda xs: [xs[0], xs[-1]] if xs else []),
    # Edits at a position.
    c("remove_third", "remove the third element", lambda xs: remove_at(xs, 2)),
    c("remove_second", "remove the second element", lambda xs: remove_at(xs, 1)),
    c("replace_second_with_7", "replace the second element with 7", lambda xs: replace_at(xs, 1, 7), 7, sprinkle=False),
    c("replace_first_with_0", "replace the first element with 0", lambda xs: replace_at(xs, 0, 0), 0, sprinkle=False),
    c("replace_last_with_99", "replace the last element with 99",
      lambda xs: xs[:-1] + [99] if xs else [], 99, sprinkle=False),
    c("replace_third_with_first", "replace the third element with the first",
      lambda xs: replace_at(xs, 2, xs[0]) if xs else []),
    c("insert_5_second", "insert 5 as the second element", lambda xs: insert_at(xs, 1, 5), 5, sprinkle=False),
    c("insert_0_third", "insert 0 as the third element", lambda xs: insert_at(xs, 2, 0), 0, sprinkle=False),
    c("insert_before_last", "insert 8 just before the last element",
      lambda xs: xs[:-1] + [8] + xs[-1:] if xs else [8], 8, sprinkle=False),
    # Adding elements.
    c("append_3", "append 3", lambda xs: xs + [3], 3, sprinkle=False),
    c("append_42", "append 42", lambda xs: xs + [42], 42, sprinkle=False),
    c("prepend_9", "put 9 in front", lambda xs: [9] + xs, 9, sprinkle=False),
    c("prepend_17", "put 17 in front", lambda xs: [17] + xs, 17, sprinkle=False),
    c("wrap_in_zeros", "a 0 in front and a 0 at the end", lambda xs: [0] + xs + [0], 0, sprinkle=False),
    c("append_1_2", "append 1 and then 2", lambda xs: xs + [1, 2], 1, 2, sprinkle=False),
    c("length_in_front", "insert the length at the front", lambda xs: [len(xs)] + xs),
    c("append_length", "append the length", lambda xs: xs + [len(xs)]),
    c("append_sum", "append the sum", lambda xs: xs + [sum(xs)]),
    c("append_first", "append a copy of the first element", lambda xs: xs + xs[:1]),
    c("prepend_last", "put a copy of the last element in front", lambda xs: xs[-1:] + xs),
    c("max_in_front", "put the largest element in front (keeping it where it is too)",
      lambda xs: [max(xs)] + xs if xs else []),
    c("prepend_first_plus_one", "put the first element plus one in front", lambda xs: [xs[0] + 1] + xs if xs else []),
    # One or two numbers about the list.
    c("sum_singleton", "the sum, as a one-element list", lambda xs: [sum(xs)]),
    c("length_singleton", "the length, as a one-element list", lambda xs: [len(xs)]),
    c("max_singleton", "the largest element, as a one-element list", lambda xs: singleton_if(xs, max)),
    c("min_singleton", "the smallest element, as a one-element list", lambda xs: singleton_if(xs, min)),
    c("count_even_singleton", "how many elements are even, as a one-element list",
      lambda xs: [sum(v % 2 == 0 for v in xs)]),
    c("count_above_50_singleton", "how many elements are above 50, as a one-element list",
      lambda xs: [sum(v > 50 for v in xs)], 50, 51),
    c("first_plus_last_singleton", "the first plus the last element, as a one-element list",
      lambda xs: singleton_if(xs, lambda ys: ys[0] + ys[-1])),
    c("max_and_min", "the largest and the smallest element", lambda xs: [max(xs), min(xs)] if xs else []),
    c("length_and_sum", "the length and the sum", lambda xs: [len(xs), sum(xs)]),
    c("distinct_count_singleton", "how many different values, as a one-element list",
      lambda xs: [len(set(xs))], dups=True),
    c("range_singleton", "the largest minus the smallest element, as a one-element list",
      lambda xs: singleton_if(xs, lambda ys: max(ys) - min(ys))),
    c("sum_of_squares_singleton", "the sum of the squares, as a one-element list", lambda xs: [sum(v * v for v in xs)]),
    c("alternating_sum_singleton", "first minus second plus third minus ..., as a one-element list",
      lambda xs: [alternating_sum(xs)]),
    c("count_first_singleton", "how often the first element occurs, as a one-element list",
      lambda xs: [xs.count(xs[0])] if xs else [], dups=True),
    c("position_of_max_singleton", "the position (from 0) of the largest element, as a one-element list",
      lambda xs: [xs.index(max(xs))] if xs else []),
    c("count_above_first_singleton", "how many elements are larger than the first, as a one-element list",
      lambda xs: [sum(v > xs[0] for v in xs)] if xs else []),
    # The same rule on every element.
    c("add_1", "add 1 to every element", lambda xs: [v + 1 for v in xs]),
    c("add_5", "add 5 to every element", lambda xs: [v + 5 for v in xs]),
    c("subtract_1", "subtract 1 from every element", lambda xs: [v - 1 for v in xs]),
    c("double", "double every element", lambda xs: [2 * v for v in xs]),
    c("triple", "three times every element", lambda xs: [3 * v for v in xs]),
    c("square", "every element squared", lambda xs: [v * v for v in xs]),
    c("last_digit", "the last digit of every element", lambda xs: [v % 10 for v in xs]),
    c("tens_digit", "the tens digit of every element", lambda xs: [v // 10 for v in xs]),
    c("digit_sum_each", "the sum of the digits of every element", lambda xs: [digit_sum(v) for v in xs]),
    c("complement_99", "99 minus every element", lambda xs: [99 - v for v in xs]),
    c("parity", "0 for every even element, 1 for every odd one", lambda xs: [v % 2 for v in xs]),
    c("above_50_flags", "1 for every element above 50, else 0", lambda xs: [int(v > 50) for v in xs], 50, 51),
    c("evens_to_zero", "every even element replaced by 0", lambda xs: [0 if v % 2 == 0 else v for v in xs]),
    c("cap_at_50", "every element above 50 lowered to 50", lambda xs: [min(v, 50) for v in xs], 50, 51),
    c("at_least_20", "every element below 20 raised to 20", lambda xs: [max(v, 20) for v in xs], 19, 20),
    c("halve", "every element halved, rounded down", lambda xs: [v // 2 for v in xs]),
    c("plus_index", "every element plus its position (from 0)", lambda xs: [v + k for k, v in enumerate(xs)]),
    c("times_index", "every element times its position (from 0)", lambda xs: [v * k for k, v in enumerate(xs)]),
    c("minus_index", "every element minus its position (from 0)", lambda xs: [v - k for k, v in enumerate(xs)]),
    c("positions", "the positions 0, 1, 2, ... of the elements", lambda xs: list(range(len(xs)))),
    c("count_down", "the length, length - 1, ..., 1", lambda xs: list(range(len(xs), 0, -1))),
    c("plus_first", "every element plus the first element", lambda xs: [v + xs[0] for v in xs] if xs else []),
    c("minus_min", "every element minus the smallest", lambda xs: [v - min(xs) for v in xs] if xs else []),
    c("plus_length", "every element plus the length", lambda xs: [v + len(xs) for v in xs]),
    c("all_max", "every element replaced by the largest", lambda xs: [max(xs)] * len(xs) if xs else []),
    c("all_first", "every element replaced by the first", lambda xs: [xs[0]] * len(xs) if xs else []),
    c("zeros", "a 0 for every element", lambda xs: [0] * len(xs)),
    c("neighbour_sums", "the sum of each element and the next", lambda xs: [a + b for a, b in zip(xs, xs[1:])]),
    c("neighbour_differences", "each element minus the one before it", lambda xs: [b - a for a, b in zip(xs, xs[1:])]),
    c("running_sum", "running totals", lambda xs: list(accumulate(xs))),
    c("running_max", "the largest element so far, at every position", lambda xs: list(accumulate(xs, max))),
    c("first_three_tripled", "the first three elements, each times three", lambda xs: [3 * v for v in xs[:3]]),
    # Keeping some elements.
    c("above_40", "keep the elements greater than 40", lambda xs: [v for v in xs if v > 40], 40, 41),
    c("below_30", "keep the elements less than 30", lambda xs: [v for v in xs if v < 30], 29, 30),
    c("at_least_75", "keep the elements that are 75 or more", lambda xs: [v for v in xs if v >= 75], 74, 75),
    c("evens", "keep the even elements", lambda xs: [v for v in xs if v % 2 == 0]),
    c("odds", "keep the odd elements", lambda xs: [v for v in xs if v % 2 == 1]),
    c("between_20_and_60", "keep the elements from 20 to 60", lambda xs: [v for v in xs if 20 <= v <= 60], 19, 20, 60, 61),
    c("multiples_of_3", "keep the multiples of 3", lambda xs: [v for v in xs if v % 3 == 0]),
    c("multiples_of_10", "keep the multiples of 10", lambda xs: [v for v in xs if v % 10 == 0], 0, 10, 20, 30, 50, 70, 90),
    c("remove_7s", "remove every 7", lambda xs: [v for v in xs if v != 7], 7),
    c("keep_single_digits", "keep the one-digit elements", lambda xs: [v for v in xs if v < 10], 1, 3, 5, 8, 9, 10, 12),
    c("above_first", "keep the elements greater than the first", lambda xs: [v for v in xs if v > xs[0]] if xs else []),
    c("below_last", "keep the elements less than the last", lambda xs: [v for v in xs if v < xs[-1]] if xs else []),
    c("remove_max", "remove every occurrence of the largest element", lambda xs: [v for v in xs if v != max(xs)], dups=True),
    c("above_length", "keep the elements greater than the length", lambda xs: [v for v in xs if v > len(xs)],
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
    c("before_first_above_50", "the elements before the first one above 50",
      lambda xs: take_while(xs, lambda v: v <= 50), 50, 51),
    c("from_first_odd", "everything from the first odd element on", lambda xs: drop_while(xs, lambda v: v % 2 == 0),
      0, 2, 4, 12, 20, 36, 48, 64),
    c("evens_doubled", "the even elements, doubled", lambda xs: [2 * v for v in xs if v % 2 == 0]),
    c("count_evens_then_list", "how many elements are even, then the list",
      lambda xs: [sum(v % 2 == 0 for v in xs)] + xs),
    # Order and repetition.
    c("sort", "sorted from smallest to largest", sorted),
    c("sort_descending", "sorted from largest to smallest", lambda xs: sorted(xs, reverse=True)),
    c("drop_duplicates", "each value once, in order of first appearance", unique, dups=True),
    c("sorted_distinct", "each value once, from smallest to largest", lambda xs: sorted(set(xs)), dups=True),
    c("repeated_values", "the values that occur more than once, each once, in order of first appearance",
      lambda xs: [v for v in unique(xs) if xs.count(v) > 1], dups=True),
    c("three_smallest", "the three smallest elements, from smallest", lambda xs: sorted(xs)[:3]),
    c("two_largest", "the two largest elements, from largest", lambda xs: sorted(xs, reverse=True)[:2]),
    c("sort_drop_smallest", "sorted, without the smallest element", lambda xs: sorted(xs)[1:]),
    c("evens_sorted", "the even elements, sorted", lambda xs: sorted(v for v in xs if v % 2 == 0)),
    c("first_three_times", "the first element three times", lambda xs: xs[:1] * 3),
    c("median_singleton", "the middle element after sorting (the upper one for an even length), as a one-element list",
      lambda xs: [sorted(xs)[len(xs) // 2]] if xs else []),
]


# -- rivals: what else the examples might mean ---------------------------------------------------


Rival = tuple[str, Fn, tuple[int, ...]]  # name, function, the constants it names


def rivals(concepts: Sequence[Concept]) -> list[Rival]:
    """Other concepts and parametric variants of the common rules.

    A rule that names constants ("remove every 7", "keep those above 38"; a concept's
    salient values) is a rival only for examples that show one of them (see ``plausible``): nobody reads "remove every 7" into examples without a 7.
    """
    out: list[Rival] = [(k.name, k.fn, k.salient) for k in concepts]
    out += [("sort", sorted, ()), ("unique", unique, ()), ("sorted_unique", lambda xs: sorted(set(xs)), ())]
    for k in range(11):
        out += [(f"take_{k}", lambda xs, k=k: xs[:k], ()), (f"drop_{k}", lambda xs, k=k: xs[k:], ()),
                (f"last_{k}", lambda xs, k=k: xs[-k:] if k else [], ()),
                (f"but_last_{k}", lambda xs, k=k: xs[:-k] if k else list(xs), ()),
                (f"remove_at_{k}", lambda xs, k=k: remove_at(xs, k), ())]
    for v in range(100):
        out += [(f"append_{v}", lambda xs, v=v: xs + [v], (v,)), (f"prepend_{v}", lambda xs, v=v: [v] + xs, (v,)),
                (f"above_{v}", lambda xs, v=v: [e for e in xs if e > v], (v,)),
                (f"below_{v}", lambda xs, v=v: [e for e in xs if e < v], (v,)),
                (f"remove_{v}s", lambda xs, v=v: [e for e in xs if e != v], (v,)),
                (f"minus_each_from_{v}", lambda xs, v=v: [v - e for e in xs], (v,)),
                (f"cap_{v}", lambda xs, v=v: [min(e, v) for e in xs], (v,)),
                (f"floor_{v}", lambda xs, v=v: [max(e, v) for e in xs], (v,))]
        if v:
            out += [(f"add_{v}", lambda xs, v=v: [e + v for e in xs], (v,)), (f"sub_{v}", lambda xs, v=v: [e - v for e in xs], (v,))]
        for i in range(6):
            out += [(f"replace_{i}_with_{v}", lambda xs, i=i, v=v: replace_at(xs, i, v), (v,)),
                    (f"insert_{v}_at_{i}", lambda xs, i=i, v=v: insert_at(xs, i, v), (v,))]
    for m in range(2, 11):
        out += [(f"times_{m}", lambda xs, m=m: [e * m for e in xs], ()), (f"div_{m}", lambda xs, m=m: [e // m for e in xs], ()),
                (f"mod_{m}", lambda xs, m=m: [e % m for e in xs], ()),
                (f"multiples_of_{m}", lambda xs, m=m: [e for e in xs if e % m == 0], ())]
    return out


def plausible(inputs: Sequence[list], outputs: Sequence[list]) -> set[int]:
    """Constants a reader of these examples may think of: the values some example adds or takes away.

    "Remove every 7" is a reading of examples in which a 7 disappears, "raise those below 20
    to 20" of examples in which a 20 appears; examples that change no value suggest no constant.
    """
    return {v for a, o in zip(inputs, outputs) for v in set(a) ^ set(o)}


# -- drawing ------------------------------------------------------------------------------------


def draw_list(k: Concept, rng: random.Random, length: int) -> list[int]:
    """A list of ``length`` elements in 0..99: salient values often, repeats often for ``dups``."""
    pool = rng.sample(range(100), max(2, length // 2)) if k.dups else None
    out = []
    for _ in range(length):
        if k.salient and k.sprinkle and rng.random() < 0.3:
            out.append(rng.choice(k.salient))
        elif pool is not None:
            out.append(rng.choice(pool))
        else:
            out.append(rng.randint(0, 99))
    return out


def example_lengths(k: Concept, rng: random.Random) -> list[int]:
    """One short list, one long one (7 to 10), three in between, all lengths different where possible."""
    short = rng.randint(max(0, k.min_len), max(2, k.min_len))
    long_ = rng.randint(7, 10)
    rest = rng.sample([n for n in range(max(3, k.min_len), 11) if n not in (short, long_)], N_EXAMPLES - 2)
    lengths = [short, long_, *rest]
    rng.shuffle(lengths)
    return lengths


def _fits(fn: Fn, inputs: Sequence[list], outputs: Sequence[list]) -> bool:
    try:
        return all(fn(list(a)) == o for a, o in zip(inputs, outputs))
    except Exception:  # a rival that cannot take these inputs does not fit them
        return False


def ambiguous(k: Concept, inputs: Sequence[list], outputs: Sequence[list], probes: Sequence[list],
              others: Sequence[Rival]) -> str | None:
    """The name of a plausible rival that fits every example yet differs from the concept on a probe, if any."""
    want = [k.fn(list(p)) for p in probes]
    consts = plausible(inputs, outputs)
    for name, fn, const in others:
        if (const and not consts.intersection(const)) or not _fits(fn, inputs, outputs):
            continue
        if not _fits(fn, probes, want):
            return name
    return None


def probe_lists(k: Concept, rng: random.Random) -> list[list[int]]:
    return [draw_list(k, rng, rng.randint(max(0, k.min_len), 10)) for _ in range(N_PROBES)]


def make_task(k: Concept, others: Sequence[Rival], seed: int = SEED) -> dict:
    """Five examples no rival explains differently, then five queries on other lists (drawn from ``seed``)."""
    probes = probe_lists(k, random.Random(f"{seed}:{k.name}:probes"))
    rival = None
    for attempt in range(MAX_ATTEMPTS):
        rng = random.Random(f"{seed}:{k.name}:{attempt}")
        inputs = [draw_list(k, rng, n) for n in example_lengths(k, rng)]
        if len({tuple(a) for a in inputs}) < N_EXAMPLES:
            continue
        outputs = [k.fn(list(a)) for a in inputs]
        rival = ambiguous(k, inputs, outputs, probes, others)
        if rival is not None:
            continue
        queries: list[list[int]] = []
        while len(queries) < N_QUERIES:
            n = rng.randint(8, 10) if not queries else rng.randint(max(0, k.min_len), 10)
            q = draw_list(k, rng, n)
            if q not in inputs and q not in queries:
                queries.append(q)
        return {
            "name": k.name,
            "description": k.description,
            "examples": [{"args": [a], "output": o} for a, o in zip(inputs, outputs)],
            "queries": [{"args": [q], "expected": k.fn(list(q))} for q in queries],
        }
    raise RuntimeError(f"concept {k.name}: no draw of {N_EXAMPLES} examples rules out every rival (last: {rival})")


def order(concepts: Sequence[Concept], seed: int = SEED) -> list[Concept]:
    """A fixed shuffle: related concepts ("reverse", "reverse then take 3") are not side by side."""
    seq = list(concepts)
    random.Random(seed).shuffle(seq)
    return seq


def build(concepts: Sequence[Concept] | None = None, seed: int = SEED) -> list[dict]:
    """The tasks of ``concepts`` (default ``CONCEPTS``), drawn from ``seed``; other sets' generators call it with theirs."""
    concepts = CONCEPTS if concepts is None else concepts
    others = rivals(concepts)
    tasks = []
    for k in order(concepts, seed):
        tasks.append(make_task(k, [r for r in others if r[0] != k.name], seed))
    return tasks


def dumps(tasks: Sequence[dict]) -> str:
    return "".join(json.dumps(t) + "\n" for t in tasks)


# -- checks -------------------------------------------------------------------------------------


def check(text: str, concepts: Sequence[Concept] | None = None, filename: str = TASKS.name) -> int:
    """Check the file against the reference implementations of ``concepts`` (default ``CONCEPTS``); return the number of tasks."""
    concepts = CONCEPTS if concepts is None else concepts
    by_name = {k.name: k for k in concepts}
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        task = json.loads(line)
        where = f"{filename} line {lineno} ({task.get('name')!r})"
        k = by_name.get(task.get("name"))
        if k is None:
            raise ValueError(f"{where}: no concept of this name")
        if k.name in seen:
            raise ValueError(f"{where}: name used twice")
        seen.add(k.name)
        if len(task["examples"]) != N_EXAMPLES or len(task["queries"]) != N_QUERIES:
            raise ValueError(f"{where}: {len(task['examples'])} examples and {len(task['queries'])} queries, "
                             f"want {N_EXAMPLES} and {N_QUERIES}")
        inputs = [e["args"][0] for e in task["examples"]]
        pairs = [(e["args"], e["output"]) for e in task["examples"]] + [(q["args"], q["expected"]) for q in task["queries"]]
        for args, out in pairs:
            if len(args) != 1 or not all(type(v) is int and 0 <= v <= 99 for v in args[0]) or len(args[0]) > 10:
                raise ValueError(f"{where}: input {args!r} is not one list of at most 10 integers in 0..99")
            if type(out) is not list or not all(type(v) is int for v in out):
                raise ValueError(f"{where}: output {out!r} is not a list of integers")
            if k.fn(list(args[0])) != out:
                raise ValueError(f"{where}: the reference gives {k.fn(list(args[0]))!r} for {args[0]!r}, the file says {out!r}")
        if max(len(a) for a in inputs) < 7:
            raise ValueError(f"{where}: no example list has 7 or more elements")
    if seen != set(by_name):
        raise ValueError(f"the file holds {len(seen)} concepts, its generator defines {len(by_name)}")
    return len(seen)


def distinct_concepts(concepts: Sequence[Concept], seed: int = SEED) -> None:
    """Raise if two concepts compute the same function on many random lists (one would be a duplicate)."""
    rng = random.Random(f"{seed}:distinct")
    lists = [[rng.randint(0, 99) for _ in range(rng.randint(0, 10))] for _ in range(300)]
    lists += [[rng.choice((1, 2, 7, 40, 50)) for _ in range(rng.randint(0, 10))] for _ in range(100)]
    seen: dict[tuple, str] = {}
    for k in concepts:
        key = tuple(tuple(k.fn(list(xs))) for xs in lists)
        if key in seen:
            raise ValueError(f"concepts {seen[key]} and {k.name} compute the same function")
        seen[key] = k.name


def run_cli(argv: list[str] | None, concepts: Sequence[Concept], seed: int, default_out: Path, description: str) -> int:
    """The command line of a list-concept generator: write ``default_out`` (or ``--out``) and check it, or ``--check`` it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="check the file on disk, write nothing")
    parser.add_argument("--out", type=Path, default=default_out, help=f"where to write (default {default_out})")
    args = parser.parse_args(argv)
    distinct_concepts(concepts, seed)
    if args.check:
        text = args.out.read_text()
        if text != dumps(build(concepts, seed)):
            raise SystemExit(f"{args.out} differs from what its generator writes; rerun it without --check")
    else:
        text = dumps(build(concepts, seed))
        args.out.write_text(text)
    print(f"{args.out}: {check(text, concepts, args.out.name)} concepts ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(argv, CONCEPTS, SEED, TASKS, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
