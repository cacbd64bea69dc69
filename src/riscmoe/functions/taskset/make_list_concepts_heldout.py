"""Write the held-out list-concept set ``list_concepts_heldout.jsonl`` and check it.

A third set of rules from lists of integers in 0..99 (at most ten) to lists of integers, for
measuring the synthesiser on rules it was not tuned on: written before any failure of the
development set (``make_list_concepts_dev.py``) was looked at, and left as written since. No
rule of the other two sets is here (each set's generator refuses duplicates within itself;
the tests check across the sets), and the parameters differ ("the first seven", "keep those
above 65", "each element mod 4", "insert 13 as the fifth"). The same kinds of rule: filter
and map by value or position, slices, sorting and reversing, counts, index arithmetic,
conditions on elements or positions, insert/replace, and compositions of two steps.

Drawing, rivals and checks are ``make_list_concepts.py``'s (five examples no rival explains
otherwise, five held-back queries, a fixed seed: the file is the same on every machine).

Run ``python src/riscmoe/functions/taskset/make_list_concepts_heldout.py`` to rewrite the file
and check it, or add ``--check`` to check the file on disk without writing it.
"""

from __future__ import annotations

import sys
from itertools import accumulate
from pathlib import Path

from riscmoe.functions.bundled import generator

HERE = Path(__file__).resolve().parent
TASKS = HERE / "list_concepts_heldout.jsonl"
SEED = 20261231


# make_list_concepts.py: the generator whose drawing and checks this set shares.
base = generator("list-concepts")
c, replace_at, insert_at, remove_at, swap = base.c, base.replace_at, base.insert_at, base.remove_at, base.swap
unique, take_while, drop_while, singleton_if = base.unique, base.take_while, base.drop_while, base.singleton_if

CONCEPTS = [
    # Slices and positions.
    c("take_seven", "the first seven elements", lambda xs: xs[:7]),
    c("first_two_backwards", "the first two elements, backwards", lambda xs: xs[:2][::-1]),
    c("drop_five", "remove the first five elements", lambda xs: xs[5:]),
    c("last_five", "the last five elements", lambda xs: xs[-5:]),
    c("remove_last_four", "remove the last four elements", lambda xs: xs[:-4]),
    c("second_to_fifth", "the second to the fifth element", lambda xs: xs[1:5]),
    c("every_fourth", "the first, fifth, ninth element", lambda xs: xs[::4]),
    c("even_positions_from_third", "the third, fifth, seventh, ... elements", lambda xs: xs[2::2]),
    c("fifth_only", "only the fifth element", lambda xs: xs[4:5]),
    c("third_last_only", "only the third-to-last element", lambda xs: xs[-3:-2]),
    c("trim_two_each_end", "remove the first two and the last two elements", lambda xs: xs[2:-2]),
    c("reverse_take_five", "the list backwards, only the first five", lambda xs: xs[::-1][:5]),
    c("last_two_backwards", "the last two elements, backwards", lambda xs: xs[-2:][::-1]),
    c("rotate_right_three", "move the last three elements to the front", lambda xs: xs[-3:] + xs[:-3]),
    c("first_last_middle", "the middle of the list without its first and last, then the first and last",
      lambda xs: xs[1:-1] + xs[:1] + xs[-1:] if len(xs) >= 2 else list(xs)),
    c("list_then_first_three", "the list followed by its first three elements", lambda xs: xs + xs[:3]),
    c("last_then_list", "the last element, the list, then the first element", lambda xs: xs[-1:] + xs + xs[:1]),
    c("first_half_twice", "the first half of the list, twice", lambda xs: xs[:len(xs) // 2] * 2),
    c("backwards_without_ends", "the list backwards without its first and last element", lambda xs: xs[::-1][1:-1]),
    c("take_length_half_plus_one", "the first half of the list and one more element", lambda xs: xs[:len(xs) // 2 + 1]),
    c("odd_positions_backwards", "the first, third, fifth, ... elements, backwards", lambda xs: xs[::2][::-1]),
    # Edits at a position.
    c("remove_fifth", "remove the fifth element", lambda xs: remove_at(xs, 4)),
    c("remove_first_and_third", "remove the first and the third element", lambda xs: xs[1:2] + xs[3:]),
    c("replace_first_with_50", "replace the first element with 50", lambda xs: replace_at(xs, 0, 50), 50, sprinkle=False),
    c("replace_fourth_with_0", "replace the fourth element with 0", lambda xs: replace_at(xs, 3, 0), 0, sprinkle=False),
    c("replace_second_last_with_9", "replace the second-to-last element with 9",
      lambda xs: xs[:-2] + [9] + xs[-1:] if len(xs) >= 2 else list(xs), 9, sprinkle=False),
    c("replace_last_with_length", "replace the last element with the length", lambda xs: xs[:-1] + [len(xs)] if xs else []),
    c("replace_first_with_second", "replace the first element with the second", lambda xs: xs[1:2] + xs[1:] if len(xs) >= 2 else list(xs)),
    c("insert_13_fifth", "insert 13 as the fifth element", lambda xs: insert_at(xs, 4, 13), 13, sprinkle=False),
    c("insert_2_second", "insert 2 as the second element", lambda xs: insert_at(xs, 1, 2), 2, sprinkle=False),
    c("insert_last_second", "insert a copy of the last element as the second", lambda xs: insert_at(xs, 1, xs[-1]) if xs else []),
    c("insert_sum_third", "insert the sum as the third element", lambda xs: insert_at(xs, 2, sum(xs))),
    c("swap_first_and_third", "swap the first and the third element", lambda xs: swap(xs, 0, 2) if len(xs) >= 3 else list(xs)),
    c("swap_last_two", "swap the last two elements", lambda xs: swap(xs, -2, -1)),
    c("replace_max_with_0", "replace the first occurrence of the largest element with 0",
      lambda xs: replace_at(xs, xs.index(max(xs)), 0) if xs else []),
    # Adding elements.
    c("append_7_7", "append 7 twice", lambda xs: xs + [7, 7], 7, sprinkle=False),
    c("prepend_0_append_1", "a 0 in front and a 1 at the end", lambda xs: [0] + xs + [1], 0, 1, sprinkle=False),
    c("append_88", "append 88", lambda xs: xs + [88], 88, sprinkle=False),
    c("prepend_31", "put 31 in front", lambda xs: [31] + xs, 31, sprinkle=False),
    c("append_min", "append the smallest element", lambda xs: xs + [min(xs)] if xs else []),
    c("prepend_length_append_sum", "the length in front and the sum at the end", lambda xs: [len(xs)] + xs + [sum(xs)]),
    c("append_first_plus_last", "append the first plus the last element", lambda xs: xs + [xs[0] + xs[-1]] if xs else []),
    c("prepend_second", "put a copy of the second element in front", lambda xs: xs[1:2] + xs),
    c("append_count_above_50", "append how many elements are above 50", lambda xs: xs + [sum(v > 50 for v in xs)], 50, 51),
    c("prepend_last_two", "put the last two elements in front (keeping them at the end too)", lambda xs: xs[-2:] + xs),
    # Numbers about the list.
    c("count_multiples_of_3_singleton", "how many elements are multiples of 3, as a one-element list",
      lambda xs: [sum(v % 3 == 0 for v in xs)]),
    c("count_at_least_70_singleton", "how many elements are 70 or more, as a one-element list",
      lambda xs: [sum(v >= 70 for v in xs)], 69, 70),
    c("count_of_max_singleton", "how often the largest element occurs, as a one-element list",
      lambda xs: [xs.count(max(xs))] if xs else [], dups=True),
    c("first_times_two_singleton", "twice the first element, as a one-element list", lambda xs: [2 * xs[0]] if xs else []),
    c("second_minus_first_singleton", "the second element minus the first, as a one-element list",
      lambda xs: [xs[1] - xs[0]] if len(xs) >= 2 else [], min_len=2),
    c("sum_minus_max_singleton", "the sum without the largest element, as a one-element list",
      lambda xs: [sum(xs) - max(xs)] if xs else []),
    c("max_then_length", "the largest element, then the length", lambda xs: [max(xs), len(xs)] if xs else []),
    c("first_last_sum_triple", "the first element, the last, and their sum",
      lambda xs: [xs[0], xs[-1], xs[0] + xs[-1]] if xs else []),
    c("sum_odds_singleton", "the sum of the odd elements, as a one-element list", lambda xs: [sum(v for v in xs if v % 2)]),
    c("index_of_last_max_singleton", "the position of the last occurrence of the largest element, as a one-element list",
      lambda xs: [len(xs) - 1 - xs[::-1].index(max(xs))] if xs else [], dups=True),
    c("sum_last_two_singleton", "the sum of the last two elements, as a one-element list", lambda xs: [sum(xs[-2:])]),
    c("length_minus_one_singleton", "the length minus one, as a one-element list", lambda xs: [len(xs) - 1] if xs else [], min_len=1),
    c("second_smallest_singleton", "the second smallest element, as a one-element list",
      lambda xs: [sorted(xs)[1]] if len(xs) >= 2 else [], min_len=2),
    c("mean_floor_singleton", "the mean rounded down, as a one-element list", lambda xs: [sum(xs) // len(xs)] if xs else [], min_len=1),
    # Every element.
    c("plus_11", "add 11 to every element", lambda xs: [v + 11 for v in xs]),
    c("minus_10", "subtract 10 from every element", lambda xs: [v - 10 for v in xs]),
    c("times_3_minus_1", "every element times 3, minus 1", lambda xs: [3 * v - 1 for v in xs]),
    c("div_5", "every element divided by 5, rounded down", lambda xs: [v // 5 for v in xs]),
    c("mod_4", "every element mod 4", lambda xs: [v % 4 for v in xs]),
    c("times_ten", "every element times 10", lambda xs: [10 * v for v in xs]),
    c("from_50", "50 minus every element", lambda xs: [50 - v for v in xs]),
    c("square_plus_one", "every element squared, plus one", lambda xs: [v * v + 1 for v in xs]),
    c("plus_max", "every element plus the largest element", lambda xs: [v + max(xs) for v in xs] if xs else []),
    c("minus_last", "every element minus the last", lambda xs: [v - xs[-1] for v in xs] if xs else []),
    c("plus_sum", "every element plus the sum", lambda xs: [v + sum(xs) for v in xs]),
    c("min_minus_each", "the smallest element minus every element", lambda xs: [min(xs) - v for v in xs] if xs else []),
    c("small_to_zero", "every element below 30 replaced by 0", lambda xs: [0 if v < 30 else v for v in xs], 29, 30),
    c("cap_at_75", "every element above 75 lowered to 75", lambda xs: [min(v, 75) for v in xs], 75, 76),
    c("at_least_35", "every element below 35 raised to 35", lambda xs: [max(v, 35) for v in xs], 34, 35),
    c("above_65_flags", "1 for every element above 65, else 0", lambda xs: [int(v > 65) for v in xs], 65, 66),
    c("multiple_of_3_flags", "1 for every multiple of 3, else 0", lambda xs: [int(v % 3 == 0) for v in xs]),
    c("all_min", "every element replaced by the smallest", lambda xs: [min(xs)] * len(xs) if xs else []),
    c("all_sum", "the sum, once for every element", lambda xs: [sum(xs)] * len(xs)),
    c("all_fours", "a 4 for every element", lambda xs: [4] * len(xs), 4, sprinkle=False),
    c("ones_digit_times_ten", "the last digit of every element, times 10", lambda xs: [v % 10 * 10 for v in xs]),
    c("odd_plus_one", "every odd element plus one, the even ones as they are", lambda xs: [v + v % 2 for v in xs]),
    # Positions.
    c("positions_times_three", "three times each position: 0, 3, 6, ...", lambda xs: [3 * k for k in range(len(xs))]),
    c("length_plus_position", "the length plus each position: length, length + 1, ...", lambda xs: [len(xs) + k for k in range(len(xs))]),
    c("plus_twice_position", "every element plus twice its position", lambda xs: [v + 2 * k for k, v in enumerate(xs)]),
    c("position_times_first", "each position times the first element", lambda xs: [k * xs[0] for k in range(len(xs))] if xs else []),
    c("even_positions_zeroed", "the first, third, ... elements replaced by 0", lambda xs: [v if k % 2 else 0 for k, v in enumerate(xs)]),
    c("odd_positions_doubled", "the second, fourth, ... elements doubled", lambda xs: [2 * v if k % 2 else v for k, v in enumerate(xs)]),
    c("position_if_even", "the position of every even element, the odd ones as they are",
      lambda xs: [k if v % 2 == 0 else v for k, v in enumerate(xs)]),
    c("neighbour_min", "the smaller of each element and the next", lambda xs: [min(a, b) for a, b in zip(xs, xs[1:])]),
    c("neighbour_products_mod_10", "the last digit of each element times the next", lambda xs: [a * b % 10 for a, b in zip(xs, xs[1:])]),
    c("running_sum_from_end", "running totals from the last element backwards", lambda xs: list(accumulate(xs[::-1]))),
    c("running_max_backwards", "the largest element so far, backwards", lambda xs: list(accumulate(xs, max))[::-1]),
    # Keeping some elements.
    c("above_65", "keep the elements greater than 65", lambda xs: [v for v in xs if v > 65], 65, 66),
    c("below_45", "keep the elements less than 45", lambda xs: [v for v in xs if v < 45], 44, 45),
    c("at_least_12", "keep the elements that are 12 or more", lambda xs: [v for v in xs if v >= 12], 11, 12),
    c("between_10_and_40", "keep the elements from 10 to 40", lambda xs: [v for v in xs if 10 <= v <= 40], 9, 10, 40, 41),
    c("multiples_of_6", "keep the multiples of 6", lambda xs: [v for v in xs if v % 6 == 0], 0, 6, 12, 18, 30, 42, 54, 66),
    c("odd_multiples_of_3", "keep the odd multiples of 3", lambda xs: [v for v in xs if v % 6 == 3], 3, 9, 15, 21, 6, 12, 18, 33),
    c("not_multiples_of_5", "remove the multiples of 5", lambda xs: [v for v in xs if v % 5], 0, 5, 10, 15, 35, 55),
    c("remove_last_value", "remove every occurrence of the last element", lambda xs: [v for v in xs if v != xs[-1]] if xs else [],
      dups=True),
    c("equal_first", "keep the elements equal to the first", lambda xs: [v for v in xs if v == xs[0]] if xs else [], dups=True),
    c("above_mean", "keep the elements greater than the mean", lambda xs: [v for v in xs if v * len(xs) > sum(xs)]),
    c("below_length_times_five", "keep the elements less than five times the length",
      lambda xs: [v for v in xs if v < 5 * len(xs)]),
    c("ends_in_5", "keep the elements whose last digit is 5", lambda xs: [v for v in xs if v % 10 == 5], 5, 15, 25, 45, 65, 95),
    c("remove_13s", "remove every 13", lambda xs: [v for v in xs if v != 13], 13),
    c("remove_max_keep_order", "remove the first occurrence of the largest element",
      lambda xs: remove_at(xs, xs.index(max(xs))) if xs else []),
    c("evens_above_20", "keep the even elements greater than 20", lambda xs: [v for v in xs if v % 2 == 0 and v > 20], 20, 21, 22),
    c("while_even", "the elements before the first odd one", lambda xs: take_while(xs, lambda v: v % 2 == 0),
      0, 2, 4, 12, 20, 36, 48, 64),
    c("after_first_below_30", "everything from the first element below 30 on", lambda xs: drop_while(xs, lambda v: v >= 30), 29, 30),
    c("while_above_20", "the elements before the first one of 20 or less", lambda xs: take_while(xs, lambda v: v > 20), 20, 21),
    c("even_positions_odd_values", "the second, fourth, ... elements that are odd", lambda xs: [v for v in xs[1::2] if v % 2]),
    c("greater_than_previous", "the elements greater than the one before them",
      lambda xs: [b for a, b in zip(xs, xs[1:]) if b > a]),
    # Order.
    c("four_smallest", "the four smallest elements, from smallest", lambda xs: sorted(xs)[:4]),
    c("largest_three_descending", "the three largest elements, from largest", lambda xs: sorted(xs, reverse=True)[:3]),
    c("sort_drop_two_smallest", "sorted, without the two smallest", lambda xs: sorted(xs)[2:]),
    c("sort_without_ends", "sorted, without the smallest and the largest", lambda xs: sorted(xs)[1:-1]),
    c("distinct_first_three", "each value once in order of first appearance, only the first three", lambda xs: unique(xs)[:3],
      dups=True),
    c("evens_descending", "the even elements, from largest to smallest", lambda xs: sorted((v for v in xs if v % 2 == 0), reverse=True)),
    c("sort_last_three", "the last three elements, sorted", lambda xs: sorted(xs[-3:])),
    c("sort_then_reverse_pairs", "sorted, then the first two swapped", lambda xs: swap(sorted(xs), 0, 1)),
    c("reverse_sorted_tail", "remove the first element, then sort from largest", lambda xs: sorted(xs[1:], reverse=True)),
    # Repetition.
    c("last_three_times", "the last element three times", lambda xs: xs[-1:] * 3),
    c("first_length_times_plus_one", "the first element, once more than the length", lambda xs: xs[:1] * (len(xs) + 1)),
    c("stutter_first_three", "each of the first three elements twice", lambda xs: [v for v in xs[:3] for _ in (0, 1)]),
    # Conditionals.
    c("sort_if_first_odd", "sorted if the first element is odd, else as it is",
      lambda xs: sorted(xs) if xs and xs[0] % 2 else list(xs)),
    c("reverse_if_long", "backwards if it has more than six elements, else as it is",
      lambda xs: xs[::-1] if len(xs) > 6 else list(xs)),
    c("drop_first_if_even_length", "without the first element if the length is even",
      lambda xs: xs[1:] if len(xs) % 2 == 0 else list(xs)),
    c("below_last_flags", "1 for every element less than the last, else 0", lambda xs: [int(v < xs[-1]) for v in xs] if xs else []),
    c("at_most_last", "every element above the last lowered to the last", lambda xs: [min(v, xs[-1]) for v in xs] if xs else []),
    c("append_0_if_sum_odd", "the list, with a 0 appended if its sum is odd",
      lambda xs: xs + [0] if sum(xs) % 2 else list(xs)),
    c("halve_the_evens", "every even element halved, the odd ones as they are", lambda xs: [v // 2 if v % 2 == 0 else v for v in xs]),
    c("big_minus_fifty", "every element above 50 minus 50, the others as they are",
      lambda xs: [v - 50 if v > 50 else v for v in xs], 50, 51),
    c("max_first_or_last", "the larger of the first and the last element, as a one-element list",
      lambda xs: [max(xs[0], xs[-1])] if xs else []),
    # Two steps.
    c("backwards_times_two", "the list backwards, every element doubled", lambda xs: [2 * v for v in xs[::-1]]),
    c("odds_minus_one", "the odd elements, each minus one", lambda xs: [v - 1 for v in xs if v % 2]),
    c("sort_take_last_two", "sorted, only the last two", lambda xs: sorted(xs)[-2:]),
    c("below_50_sorted", "the elements less than 50, sorted", lambda xs: sorted(v for v in xs if v < 50), 49, 50),
    c("first_four_plus_ten", "the first four elements, each plus 10", lambda xs: [v + 10 for v in xs[:4]]),
    c("tail_then_append_0", "remove the first element and append a 0", lambda xs: xs[1:] + [0], 0, sprinkle=False),
    c("running_sum_of_evens", "running totals of the even elements", lambda xs: list(accumulate(v for v in xs if v % 2 == 0))),
    c("unique_sorted_take_three", "the three smallest different values, from smallest", lambda xs: sorted(set(xs))[:3], dups=True),
    c("mod_10_sorted", "the last digit of every element, sorted", lambda xs: sorted(v % 10 for v in xs)),
    c("drop_two_plus_first", "without the first two elements, every element plus the first",
      lambda xs: [v + xs[0] for v in xs[2:]] if xs else []),
    c("count_evens_and_odds", "how many elements are even, then how many are odd",
      lambda xs: [sum(v % 2 == 0 for v in xs), sum(v % 2 for v in xs)]),
    c("reverse_then_insert_0_second", "the list backwards, with a 0 inserted as the second element",
      lambda xs: insert_at(xs[::-1], 1, 0), 0, sprinkle=False),
    c("max_of_first_three_singleton", "the largest of the first three elements, as a one-element list",
      lambda xs: [max(xs[:3])] if xs else []),
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
