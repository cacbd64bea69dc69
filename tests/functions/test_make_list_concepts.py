"""The list-concept task set's generator: its file checks out, and its examples tell the concepts apart."""

import json

import pytest

from riscmoe.functions import bundled
from riscmoe.functions.bundled import list_concepts_path, task_set_path
from riscmoe.functions.tasks import load_tasks


@pytest.fixture(scope="module")
def gen():
    return bundled.generator(bundled.LIST_CONCEPTS)


def test_the_file_passes_the_generators_check_and_loads_as_tasks(gen):
    path = list_concepts_path()
    assert path.read_text() == gen.dumps(gen.build())  # deterministic
    assert 100 <= gen.check(path.read_text()) <= 150
    tasks = load_tasks(str(path))
    assert all(str(t.signature) == "(list[int]) -> list[int]" and len(t.examples) == 5 and len(t.expected) == 5 for t in tasks)
    # Lengths vary, with a long list in every task: "take the first 6" is not "the list unchanged".
    assert all(max(len(a[0]) for a, _ in t.examples) >= 7 and min(len(a[0]) for a, _ in t.examples) <= 2 for t in tasks)


def test_examples_that_a_rival_explains_otherwise_are_refused(gen):
    unchanged = next(k for k in gen.CONCEPTS if k.name == "unchanged")
    others = [r for r in gen.rivals(gen.CONCEPTS) if r[0] != "unchanged"]
    probes = gen.probe_lists(unchanged, __import__("random").Random(1))
    short = [[31, 12], [85], [], [47, 68, 93], [10, 26, 53, 74]]  # no list beyond six: "take 6" fits as well
    assert gen.ambiguous(unchanged, short, short, probes, others) is not None
    long_ = short[:4] + [[14, 61, 44, 91, 61, 79, 22, 36, 58, 3]]
    assert gen.ambiguous(unchanged, long_, long_, probes, others) is None
    # "keep those above 40" without a 40 or a 41 among the inputs: "above 39" fits too, and differs on a 40.
    above = next(k for k in gen.CONCEPTS if k.name == "above_40")
    inputs = [[12, 55, 90], [], [39, 42, 7, 80, 3, 1, 66, 70], [38, 99], [45, 2, 10, 20]]
    outputs = [above.fn(x) for x in inputs]
    assert gen.ambiguous(above, inputs, outputs, gen.probe_lists(above, __import__("random").Random(1)),
                         [r for r in gen.rivals(gen.CONCEPTS) if r[0] != "above_40"]) is not None


def test_check_refuses_a_wrong_answer_and_a_file_without_long_examples(gen):
    lines = list_concepts_path().read_text().splitlines()
    task = json.loads(lines[0])
    task["queries"][0]["expected"] = task["queries"][0]["expected"] + [1]
    with pytest.raises(ValueError, match="the reference gives"):
        gen.check("\n".join([json.dumps(task)] + lines[1:]))
    task = json.loads(lines[0])
    k = next(c for c in gen.CONCEPTS if c.name == task["name"])
    for e in task["examples"]:
        e["args"][0] = e["args"][0][:3]
        e["output"] = k.fn(list(e["args"][0]))
    with pytest.raises(ValueError, match="no example list has 7 or more elements"):
        gen.check("\n".join([json.dumps(task)] + lines[1:]))


def test_task_sets_by_name(tmp_path):
    assert task_set_path("list-concepts") == list_concepts_path()
    assert task_set_path("bundled").name == "tasks.jsonl"
    with pytest.raises(ValueError, match="no task set named 'nope'; the bundled sets are bundled, list-concepts, list-concepts-dev, list-concepts-heldout"):
        task_set_path("nope")
