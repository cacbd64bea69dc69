"""The list-concept development and held-out sets: their files check out, and no rule is in two sets."""

import json
import random

import pytest

from riscmoe.functions import bundled
from riscmoe.functions.bundled import task_set_path
from riscmoe.functions.tasks import load_tasks

SETS = [bundled.LIST_CONCEPTS_DEV, bundled.LIST_CONCEPTS_HELDOUT]


@pytest.mark.parametrize("name", SETS)
def test_the_file_passes_its_generators_check_and_loads_as_tasks(name):
    gen = bundled.generator(name)
    path = task_set_path(name)
    assert path.read_text() == gen.dumps(gen.build())  # deterministic
    assert 130 <= gen.check(path.read_text()) <= 150
    gen.base.distinct_concepts(gen.CONCEPTS, gen.SEED)
    tasks = load_tasks(str(path))
    assert all(str(t.signature) == "(list[int]) -> list[int]" and len(t.examples) == 5 and len(t.expected) == 5 for t in tasks)
    assert all(max(len(a[0]) for a, _ in t.examples) >= 7 and min(len(a[0]) for a, _ in t.examples) <= 2 for t in tasks)


@pytest.mark.parametrize("name", SETS)
def test_check_refuses_a_wrong_answer_naming_the_file(name):
    gen = bundled.generator(name)
    lines = task_set_path(name).read_text().splitlines()
    task = json.loads(lines[0])
    task["examples"][0]["output"] = task["examples"][0]["output"] + [1]
    with pytest.raises(ValueError, match=f"{gen.TASKS.name} line 1 .*the reference gives"):
        gen.check("\n".join([json.dumps(task)] + lines[1:]))
    with pytest.raises(ValueError, match="the file holds 145 concepts|the file holds 143 concepts"):
        gen.check("\n".join(lines[1:]))


def test_no_rule_is_in_two_sets():
    """A held-out rule that computes what a development or bundled rule does would not be held out."""
    rng = random.Random(7)
    lists = [[rng.randint(0, 99) for _ in range(rng.randint(0, 10))] for _ in range(300)]
    lists += [[rng.choice((1, 2, 7, 40, 50)) for _ in range(rng.randint(0, 10))] for _ in range(100)]

    def behaviour(fn):
        out = []
        for xs in lists:
            try:
                out.append(tuple(fn(list(xs))))
            except Exception as e:  # a rule undefined on some list: the error is its behaviour there
                out.append(type(e).__name__)
        return tuple(out)

    seen: dict = {}
    names: set = set()
    for name in [bundled.LIST_CONCEPTS, *SETS]:
        for k in bundled.generator(name).CONCEPTS:
            key = behaviour(k.fn)
            assert key not in seen, f"{name}'s {k.name} computes what {seen[key]} does"
            assert k.name not in names, f"{k.name} is a name in two sets"
            seen[key] = f"{name}'s {k.name}"
            names.add(k.name)


def test_the_bundled_list_concepts_file_is_unchanged_by_the_shared_generator():
    """The dev and held-out generators call make_list_concepts.py's build with their own seeds; its own file stays."""
    gen = bundled.generator(bundled.LIST_CONCEPTS)
    assert gen.dumps(gen.build()) == gen.dumps(gen.build(gen.CONCEPTS, gen.SEED))
    assert gen.build(gen.CONCEPTS[:3], 1) != gen.build(gen.CONCEPTS[:3], 2)
