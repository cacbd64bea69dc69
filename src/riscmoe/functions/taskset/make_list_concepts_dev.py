"""Write the list-concept development set ``list_concepts_dev.jsonl`` and check it.

A second set of rules from lists of integers in 0..99 (at most ten) to lists of integers,
written to develop the synthesiser against, apart from ``make_list_concepts.py``'s 133 (no
rule of that set here, and other parameters: "the first five", "every third element", "keep
those above 25", "each element mod 5"). It covers the kinds of rule that studies of human
concept learning show people five examples of: filter and map by value or by position,
take/drop/slice, sort and reverse, counts, index arithmetic, rules with a condition on the
elements or on the positions, insert/replace, and two such steps one after the other.

Drawing, rivals and checks are ``make_list_concepts.py``'s (five examples no rival explains
otherwise, five held-back queries, a fixed seed: the file is the same on every machine).

Run ``python src/riscmoe/functions/taskset/make_list_concepts_dev.py`` to rewrite the file and
check it, or add ``--check`` to check the file on disk without writing it.
"""

from __future__ import annotations

import sys
from itertools import accumulate
from pathlib import Path

from riscmoe.functions.bundled import generator

HERE = Path(__file__).resolve().parent
TASKS = HERE / "list_concepts_dev.jsonl"
SEED = 20261203


# make_list_concepts.py: the generator whose drawing and checks this set shares.
base = generator("list-concepts")
c, replace_at, insert_at, remove_at, swap = base.c, base.replace_at, base.insert_at, base.remove_at, base.swap
unique, take_while, drop_while, singleton_if = base.unique, base.take_while, base.drop_while, base.singleton_if

CONCEPTS = [
    # Slices and positions.
    c("take_five", "the first five elements", lambda xs: xs[:5]),
    c("drop_three", "remove the first three elements", lambda xs: xs[3:]),
    c("last_two", "the last two elements", lambda xs: xs[-2:]),
    c("last_four", "the last four elements", lambda xs: xs[-4:]),
    c("remove_last_three", "remove the last three elements", lambda xs: xs[:-3]),
    c("third_to_sixth", "the third to the sixth element", lambda xs: xs[2:6]),
    c("every_third", "the first, fourth, seventh, ... elements", lambda xs: xs[::3]),
    c("every_third_from_second", "the second, fifth, eighth, ... elements", lambda xs: xs[1::3]),
    c("fourth_only", "only the fourth element", lambda xs: xs[3:4]),
    c("second_last_only", "only the second-to-last element", lambda xs: xs[-2:-1]),
    c("second_half", "the second half of the list (the longer half for an odd length)", lambda xs: xs[len(xs) // 2:]),
    c("trim_one_and_two", "remove the first element and the last two", lambda xs: xs[1:-2]),
    c("backwards_every_other", "every other element from the last one backwards", lambda xs: xs[::-2]),
    c("reverse_drop_two", "the list backwards without its first two elements", lambda xs: xs[::-1][2:]),
    c("rotate_right_two", "move the last two elements to the front", lambda xs: xs[-2:] + xs[:-2]),
    c("rotate_left_three", "move the first three elements to the end", lambda xs: xs[3:] + xs[:3]),
    c("middle_singleton", "the middle element (the later one for an even length), as a list",
      lambda xs: xs[len(xs) // 2:len(xs) // 2 + 1]),
    c("first_half_backwards", "the first half of the list, backwards", lambda xs: xs[:len(xs) // 2][::-1]),
    c("reverse_last_four", "the last four elements, backwards", lambda xs: xs[-4:][::-1]),
    c("first_two_at_end_twice", "the list followed by its first two elements", lambda xs: xs + xs[:2]),
    c("three_times", "the list three times in a row", lambda xs: xs * 3),
    c("backwards_then_list", "the list backwards, followed by the list", lambda xs: xs[::-1] + xs),
    # Edits at a position.
    c("remove_fourth", "remove the fourth element", lambda xs: remove_at(xs, 3)),
    c("remove_second_last", "remove the second-to-last element", lambda xs: xs[:-2] + xs[-1:] if len(xs) >= 2 else list(xs)),
    c("replace_fifth_with_1", "replace the fifth element with 1", lambda xs: replace_at(xs, 4, 1), 1, sprinkle=False),
    c("replace_third_with_60", "replace the third element with 60", lambda xs: replace_at(xs, 2, 60), 60, sprinkle=False),
    c("replace_last_with_first", "replace the last element with the first", lambda xs: xs[:-1] + xs[:1] if xs else []),
    c("replace_first_with_last", "replace the first element with the last", lambda xs: xs[-1:] + xs[1:] if xs else []),
    c("replace_second_with_first", "replace the second element with the first",
      lambda xs: replace_at(xs, 1, xs[0]) if xs else []),
    c("insert_6_fourth", "insert 6 as the fourth element", lambda xs: insert_at(xs, 3, 6), 6, sprinkle=False),
    c("insert_length_second", "insert the length as the second element", lambda xs: insert_at(xs, 1, len(xs))),
    c("insert_first_at_third", "insert a copy of the first element as the third", lambda xs: insert_at(xs, 2, xs[0]) if xs else []),
    c("swap_second_and_last", "swap the second and the last element", lambda xs: swap(xs, 1, -1)),
    c("swap_third_and_fourth", "swap the third and the fourth element", lambda xs: swap(xs, 2, 3) if len(xs) >= 4 else list(xs)),
    c("replace_first_with_sum", "replace the first element with the sum", lambda xs: [sum(xs)] + xs[1:] if xs else []),
    # Adding elements.
    c("append_0_0", "append two zeros", lambda xs: xs + [0, 0], 0, sprinkle=False),
    c("prepend_1_2", "put 1 and then 2 in front", lambda xs: [1, 2] + xs, 1, 2, sprinkle=False),
    c("append_25", "append 25", lambda xs: xs + [25], 25, sprinkle=False),
    c("prepend_64", "put 64 in front", lambda xs: [64] + xs, 64, sprinkle=False),
    c("wrap_in_fives", "a 5 in front and a 5 at the end", lambda xs: [5] + xs + [5], 5, sprinkle=False),
    c("append_last", "append a copy of the last element", lambda xs: xs + xs[-1:]),
    c("prepend_first", "put a copy of the first element in front", lambda xs: xs[:1] + xs),
    c("append_max", "append the largest element", lambda xs: xs + [max(xs)] if xs else []),
    c("prepend_min", "put the smallest element in front", lambda xs: [min(xs)] + xs if xs else []),
    c("append_count_odd", "append how many elements are odd", lambda xs: xs + [sum(v % 2 for v in xs)]),
    c("sum_in_front", "put the sum in front", lambda xs: [sum(xs)] + xs),
    # Numbers about the list.
    c("count_odd_singleton", "how many elements are odd, as a one-element list", lambda xs: [sum(v % 2 for v in xs)]),
    c("count_below_20_singleton", "how many elements are below 20, as a one-element list",
      lambda xs: [sum(v < 20 for v in xs)], 19, 20),
    c("count_last_singleton", "how often the last element occurs, as a one-element list",
      lambda xs: [xs.count(xs[-1])] if xs else [], dups=True),
    c("first_two_sum_singleton", "the first plus the second element, as a one-element list",
      lambda xs: [xs[0] + xs[1]] if len(xs) >= 2 else [], min_len=2),
    c("last_minus_first_singleton", "the last element minus the first, as a one-element list",
      lambda xs: [xs[-1] - xs[0]] if xs else []),
    c("max_plus_min_singleton", "the largest plus the smallest element, as a one-element list",
      lambda xs: [max(xs) + min(xs)] if xs else []),
    c("min_then_max", "the smallest and the largest element", lambda xs: [min(xs), max(xs)] if xs else []),
    c("sum_and_length", "the sum, then the length", lambda xs: [sum(xs), len(xs)]),
    c("sum_evens_singleton", "the sum of the even elements, as a one-element list", lambda xs: [sum(v for v in xs if v % 2 == 0)]),
    c("index_of_min_singleton", "the position of the smallest element, as a one-element list",
      lambda xs: [xs.index(min(xs))] if xs else []),
    c("count_repeats_singleton", "how many elements repeat a value seen before, as a one-element list",
      lambda xs: [len(xs) - len(set(xs))], dups=True),
    c("sum_first_three_singleton", "the sum of the first three elements, as a one-element list", lambda xs: [sum(xs[:3])]),
    c("double_length_singleton", "twice the length, as a one-element list", lambda xs: [2 * len(xs)]),
    c("last_and_first", "the last and the first element", lambda xs: [xs[-1], xs[0]] if xs else []),
    c("second_largest_singleton", "the second largest element, as a one-element list",
      lambda xs: [sorted(xs)[-2]] if len(xs) >= 2 else [], min_len=2),
    # Every element.
    c("plus_8", "add 8 to every element", lambda xs: [v + 8 for v in xs]),
    c("minus_3", "subtract 3 from every element", lambda xs: [v - 3 for v in xs]),
    c("times_4", "every element times 4", lambda xs: [4 * v for v in xs]),
    c("div_3", "every element divided by 3, rounded down", lambda xs: [v // 3 for v in xs]),
    c("mod_5", "every element mod 5", lambda xs: [v % 5 for v in xs]),
    c("mod_7", "every element mod 7", lambda xs: [v % 7 for v in xs]),
    c("round_down_to_tens", "every element rounded down to a multiple of 10", lambda xs: [v // 10 * 10 for v in xs]),
    c("half_plus_ten", "half of every element (rounded down) plus 10", lambda xs: [v // 2 + 10 for v in xs]),
    c("from_100", "100 minus every element", lambda xs: [100 - v for v in xs]),
    c("double_plus_one", "every element doubled plus one", lambda xs: [2 * v + 1 for v in xs]),
    c("plus_last", "every element plus the last element", lambda xs: [v + xs[-1] for v in xs] if xs else []),
    c("minus_first", "every element minus the first", lambda xs: [v - xs[0] for v in xs] if xs else []),
    c("times_length", "every element times the length", lambda xs: [v * len(xs) for v in xs]),
    c("max_minus_each", "the largest element minus every element", lambda xs: [max(xs) - v for v in xs] if xs else []),
    c("odds_to_zero", "every odd element replaced by 0", lambda xs: [0 if v % 2 else v for v in xs]),
    c("cap_at_30", "every element above 30 lowered to 30", lambda xs: [min(v, 30) for v in xs], 30, 31),
    c("at_least_60", "every element below 60 raised to 60", lambda xs: [max(v, 60) for v in xs], 59, 60),
    c("below_25_flags", "1 for every element below 25, else 0", lambda xs: [int(v < 25) for v in xs], 24, 25),
    c("even_flags", "1 for every even element, 0 for every odd one", lambda xs: [1 - v % 2 for v in xs]),
    c("all_last", "every element replaced by the last", lambda xs: [xs[-1]] * len(xs) if xs else []),
    c("all_length", "the length, once for every element", lambda xs: [len(xs)] * len(xs)),
    c("all_sevens", "a 7 for every element", lambda xs: [7] * len(xs), 7, sprinkle=False),
    # Positions.
    c("positions_from_one", "the positions 1, 2, 3, ... of the elements", lambda xs: list(range(1, len(xs) + 1))),
    c("plus_position_from_one", "every element plus its position counted from 1", lambda xs: [v + k + 1 for k, v in enumerate(xs)]),
    c("position_minus_element", "every position (from 0) minus its element", lambda xs: [k - v for k, v in enumerate(xs)]),
    c("times_position_from_one", "every element times its position counted from 1", lambda xs: [v * (k + 1) for k, v in enumerate(xs)]),
    c("odd_positions_zeroed", "the second, fourth, ... elements replaced by 0", lambda xs: [0 if k % 2 else v for k, v in enumerate(xs)]),
    c("double_positions", "twice each position: 0, 2, 4, ...", lambda xs: [2 * k for k in range(len(xs))]),
    c("positions_backwards", "the positions from the last down to 0", lambda xs: list(range(len(xs) - 1, -1, -1))),
    c("neighbour_max", "the larger of each element and the next", lambda xs: [max(a, b) for a, b in zip(xs, xs[1:])]),
    c("minus_next", "each element minus the one after it", lambda xs: [a - b for a, b in zip(xs, xs[1:])]),
    c("running_min", "the smallest element so far, at every position", lambda xs: list(accumulate(xs, min))),
    # Keeping some elements.
    c("above_25", "keep the elements greater than 25", lambda xs: [v for v in xs if v > 25], 25, 26),
    c("below_60", "keep the elements less than 60", lambda xs: [v for v in xs if v < 60], 59, 60),
    c("at_most_15", "keep the elements that are 15 or less", lambda xs: [v for v in xs if v <= 15], 15, 16),
    c("between_30_and_70", "keep the elements from 30 to 70", lambda xs: [v for v in xs if 30 <= v <= 70], 29, 30, 70, 71),
    c("outside_20_to_80", "keep the elements below 20 or above 80", lambda xs: [v for v in xs if v < 20 or v > 80], 19, 20, 80, 81),
    c("multiples_of_4", "keep the multiples of 4", lambda xs: [v for v in xs if v % 4 == 0]),
    c("multiples_of_5", "keep the multiples of 5", lambda xs: [v for v in xs if v % 5 == 0], 0, 5, 15, 25, 35, 45, 55),
    c("not_multiples_of_3", "remove the multiples of 3", lambda xs: [v for v in xs if v % 3]),
    c("remove_first_value", "remove every occurrence of the first element", lambda xs: [v for v in xs if v != xs[0]] if xs else [],
      dups=True),
    c("below_first", "keep the elements less than the first", lambda xs: [v for v in xs if v < xs[0]] if xs else []),
    c("above_last", "keep the elements greater than the last", lambda xs: [v for v in xs if v > xs[-1]] if xs else []),
    c("two_digit", "keep the elements with two digits", lambda xs: [v for v in xs if v >= 10], 1, 4, 7, 9, 10, 11),
    c("primes", "keep the prime elements", lambda xs: [v for v in xs if v > 1 and all(v % d for d in range(2, v))],
      2, 3, 5, 7, 11, 13, 31, 47, 1, 9, 15, 21, 49),
    c("remove_min", "remove every occurrence of the smallest element", lambda xs: [v for v in xs if v != min(xs)], dups=True),
    c("remove_42s", "remove every 42", lambda xs: [v for v in xs if v != 42], 42),
    c("odds_above_50", "keep the odd elements greater than 50", lambda xs: [v for v in xs if v % 2 and v > 50], 50, 51, 52, 53),
    c("evens_below_40", "keep the even elements less than 40", lambda xs: [v for v in xs if v % 2 == 0 and v < 40], 38, 39, 40, 41),
    c("while_below_60", "the elements before the first one of 60 or more", lambda xs: take_while(xs, lambda v: v < 60), 59, 60),
    c("while_odd", "the elements before the first even one", lambda xs: take_while(xs, lambda v: v % 2 == 1),
      1, 3, 5, 11, 33, 57, 79, 91),
    c("from_first_above_70", "everything from the first element above 70 on", lambda xs: drop_while(xs, lambda v: v <= 70), 70, 71),
    c("odd_positions_above_40", "the first, third, fifth, ... elements that are greater than 40",
      lambda xs: [v for v in xs[::2] if v > 40], 40, 41),
    # Order.
    c("two_smallest", "the two smallest elements, from smallest", lambda xs: sorted(xs)[:2]),
    c("three_largest_ascending", "the three largest elements, from smallest", lambda xs: sorted(xs)[-3:]),
    c("sort_desc_drop_largest", "sorted from largest, without the largest", lambda xs: sorted(xs, reverse=True)[1:]),
    c("distinct_descending", "each value once, from largest to smallest", lambda xs: sorted(set(xs), reverse=True), dups=True),
    c("unique_backwards", "each value once in order of first appearance, then backwards", lambda xs: unique(xs)[::-1], dups=True),
    c("sort_then_tail_reversed", "sorted from largest, without the smallest", lambda xs: sorted(xs, reverse=True)[:-1]),
    c("odds_sorted", "the odd elements, sorted", lambda xs: sorted(v for v in xs if v % 2)),
    c("sort_first_four", "the first four elements, sorted", lambda xs: sorted(xs[:4])),
    # Repetition.
    c("first_twice", "the first element twice", lambda xs: xs[:1] * 2),
    c("first_three_twice", "the first three elements, twice in a row", lambda xs: xs[:3] * 2),
    c("triple_each", "every element three times", lambda xs: [v for v in xs for _ in range(3)]),
    # Conditionals.
    c("reverse_if_first_even", "backwards if the first element is even, else as it is",
      lambda xs: xs[::-1] if xs and xs[0] % 2 == 0 else list(xs)),
    c("sort_if_long", "sorted if it has more than five elements, else as it is",
      lambda xs: sorted(xs) if len(xs) > 5 else list(xs)),
    c("drop_last_if_odd_length", "without the last element if the length is odd",
      lambda xs: xs[:-1] if len(xs) % 2 else list(xs)),
    c("above_first_flags", "1 for every element greater than the first, else 0",
      lambda xs: [int(v > xs[0]) for v in xs] if xs else []),
    c("at_least_first", "every element below the first raised to the first", lambda xs: [max(v, xs[0]) for v in xs] if xs else []),
    c("reverse_if_first_above_last", "backwards if the first element is larger than the last, else as it is",
      lambda xs: xs[::-1] if xs and xs[0] > xs[-1] else list(xs)),
    c("double_the_small", "every element below 50 doubled, the others as they are",
      lambda xs: [2 * v if v < 50 else v for v in xs], 49, 50),
    # Two steps.
    c("reverse_plus_one", "the list backwards, every element plus one", lambda xs: [v + 1 for v in xs[::-1]]),
    c("evens_tripled", "the even elements, each times three", lambda xs: [3 * v for v in xs if v % 2 == 0]),
    c("sorted_tail", "remove the first element, then sort", lambda xs: sorted(xs[1:])),
    c("above_30_backwards", "the elements greater than 30, backwards", lambda xs: [v for v in xs if v > 30][::-1], 30, 31),
    c("double_first_three", "the first three elements, doubled", lambda xs: [2 * v for v in xs[:3]]),
    c("zero_then_backwards", "the list backwards, then a 0", lambda xs: xs[::-1] + [0], 0, sprinkle=False),
    c("running_sum_backwards", "running totals, backwards", lambda xs: list(accumulate(xs))[::-1]),
    c("capped_sorted", "every element above 50 lowered to 50, then sorted", lambda xs: sorted(min(v, 50) for v in xs), 50, 51),
    c("mod_3_of_evens", "the even elements, each mod 3", lambda xs: [v % 3 for v in xs if v % 2 == 0]),
    c("tail_plus_length", "without the first element, every element plus the length", lambda xs: [v + len(xs) for v in xs[1:]]),
    c("count_above_30_then_max", "how many elements are greater than 30, then the largest",
      lambda xs: [sum(v > 30 for v in xs), max(xs)] if xs else [], 30, 31),
    c("last_three_sum_singleton", "the sum of the last three elements, as a one-element list", lambda xs: [sum(xs[-3:])]),
]


def build() -> list[dict]:
    return base.build(CONCEPTS, SEED)


def dumps(tasks) -> str:
    return base.dumps(tasks)


def check(text: str) -> int:
    return base.check(text, CONCEPTS, TASKS.name)


def main(argv: list[str] | None = None) -> int:
    return base.run_cli(argv, CONCEPTS, SEED, TASKS, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
