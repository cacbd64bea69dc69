"""The bundled task set's generator: its file checks out, and its self-check refuses misleading examples."""

import json

import pytest

from riscmoe.functions import bundled
from riscmoe.functions.bundled import bundled_tasks_path


@pytest.fixture(scope="module")
def make_tasks():
    return bundled.generator()


def test_the_bundled_file_passes_the_generators_check(make_tasks):
    counts = make_tasks.check(bundled_tasks_path().read_text())
    assert sum(counts.values()) >= 100 and counts["repeat"] >= 30


def test_misleading_finds_a_simpler_program_that_fits_the_examples_but_not_the_queries(make_tasks):
    candidates = make_tasks.simple_candidates(("int", "int"), "bool")
    # The old coprime task: is_odd(a) fits all four examples, and answers (4, 25) wrongly.
    examples, outputs = [[15, 26], [1, 1], [40, 15], [35, 1]], [True, True, False, True]
    assert make_tasks.misleading(examples, outputs, [[4, 25]], [True], candidates) is not None
    # A candidate that also answers every query right computes the task as far as it can tell.
    assert make_tasks.misleading(examples, outputs, [[7, 3]], [True], [("odd_a", lambda a, b: a % 2 == 1)]) is None


def test_check_refuses_a_predicate_with_few_or_misleading_examples(make_tasks):
    lines = bundled_tasks_path().read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if json.loads(line)["name"] == "coprime")
    task = json.loads(lines[i])
    old = [([15, 26], True), ([1, 1], True), ([40, 15], False), ([35, 1], True), ([7, 3], True), ([6, 9], False)]
    task["examples"] = [{"args": a, "output": o} for a, o in old]
    with pytest.raises(ValueError, match="a predicate needs at least 12 examples"):
        make_tasks.check("\n".join(lines[:i] + [json.dumps(task)] + lines[i + 1 :]))
    task["examples"] *= 2  # enough examples, still fitted by is_odd(a)
    task["queries"] = [{"args": [4, 25], "expected": True}, {"args": [3, 7], "expected": True}, {"args": [2, 4], "expected": False}]
    with pytest.raises(ValueError, match="the examples also fit"):
        make_tasks.check("\n".join(lines[:i] + [json.dumps(task)] + lines[i + 1 :]))


def test_the_bundled_set_is_generated_once_the_same_everywhere(make_tasks, tmp_path, monkeypatch):
    """Not in git: written on first use, atomically, to the package folder or else the cache."""
    path = bundled_tasks_path()
    assert path.read_text() == make_tasks.dumps(make_tasks.build())  # deterministic
    assert bundled_tasks_path() == path  # written once, then reused
    # A package folder that cannot be written: the file goes to the user's cache folder.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(bundled, "DATA", blocker / "data")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = bundled_tasks_path()
    assert cached == tmp_path / "cache" / "riscmoe" / "tasks.jsonl"
    assert cached.read_text() == path.read_text()
    assert not list(cached.parent.glob(".tasks-*"))
    assert bundled_tasks_path() == cached  # found there next time
