"""The controller: meta-model filtering, the three policies, creation, and hostile creators."""

import pytest

from riscmoe.functions.controller import FunctionController
from riscmoe.functions.creator import FunctionCreator, check_on_examples
from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.meta import ApplicabilityIndex
from riscmoe.functions.sandbox import Sandbox
from riscmoe.functions.synthesis import SynthesisCreator
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import Signature


@pytest.fixture(scope="module")
def box():
    with Sandbox(time_limit=0.5, grace=1.5) as b:
        yield b


class FixedCreator:
    """A creator that always proposes the same source (a stand-in for a careless or hostile model)."""

    provenance = "llm"

    def __init__(self, source):
        self.source = source
        self.calls = 0

    def create(self, task, library):
        self.calls += 1
        return self.source


def test_reuses_a_seed_and_answers(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, creators=[SynthesisCreator(budget=2.0)])
    r = ctl.solve(Task("tri", [((3,), 6), ((4,), 10), ((0,), 0)], [(10,), (100,)], description="sum of 1 to n",
                       expected=[0, 0]))  # wrong held-back answers: the controller never looks at them
    assert r.status == "reused" and r.function == "triangular" and r.answers == [55, 5050]
    assert r.refuted > 0 and r.verified >= 1  # known outputs ruled functions out without running them
    assert lib.get("triangular").uses == 1 and "sum of 1 to n" in lib.get("triangular").solved[0]


def test_meta_model_ranks_by_description_and_refutes_by_known_outputs():
    lib = FunctionLibrary(":memory:")
    idx = ApplicabilityIndex()
    # 0 -> 0 and 2 -> 4: square and double both fit; the description decides the order.
    cands, refuted = idx.rank(Task("t", [((0,), 0), ((2,), 4)], description="twice the number, double"), lib)
    names = [c.name for c in cands]
    assert names[0] == "double" and "square" in names
    assert "inc" not in names and refuted > 0  # inc(0) = 1 is known from its fingerprint
    cands, _ = idx.rank(Task("t", [((0,), 0), ((2,), 4)], description="x times x, the square"), lib)
    assert cands[0].name == "square"


def test_the_ranking_weighs_held_back_evidence(box):
    """Issue 19, item 2: of two functions that fit a task alike, the one held-back examples confirmed ranks first,
    and one they refuted ranks last."""
    lib = FunctionLibrary(":memory:", sandbox=box)
    ll = Signature.parse("(list[int]) -> list[int]")
    lib.add("keep_below_70", "def keep_below_70(xs):\n    return [v for v in xs if v < 70]\n", ll, "a rule")
    lib.add("keep_below_80", "def keep_below_80(xs):\n    return [v for v in xs if v < 80]\n", ll, "a rule")
    task = Task("t", [(([1, 95],), [1]), (([3, 2, 99],), [3, 2])], description="what is kept")
    idx = ApplicabilityIndex()

    def order():  # the two among every candidate (seeds the known outputs do not rule out rank too)
        return [c.name for c in idx.rank(task, lib)[0] if c.name.startswith("keep_below")]

    first, later = order()
    lib.record_use(later, held_back=[(([5, 90],), [5])])  # confirmed once (no task text: the text term stays as it was)
    assert order() == [later, first]
    lib.record_refutation(later, [(([75],), [75])])
    lib.record_refutation(later, [(([76],), [76])])  # refuted more often than confirmed: below the unjudged one
    assert order() == [first, later]


@pytest.mark.parametrize("policy", ["first", "best", "mixture"])
def test_policies(box, policy):
    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, policy=policy)
    task = Task("sq", [((0,), 0), ((2,), 4)], [(3,)], description="x times x, the square")
    r = ctl.solve(task)
    assert r.status == "reused"
    if policy == "first":
        assert r.passing == ["square"] and r.answers == [9]
    elif policy == "best":
        assert r.passing == ["square"] and r.answers == [9] and r.verified > 1
    else:
        assert {"square", "double"} <= set(r.passing) and r.answers == [9]  # weighted vote: square scores higher
        assert all(lib.get(n).uses == 1 for n in r.passing)


def test_creates_stores_and_then_reuses(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, creators=[SynthesisCreator(budget=3.0)])
    n = len(lib)
    r = ctl.solve(Task("spread", [(([6, 3, 11],), 8), (([10, -1, -2],), 12), (([5],), 0)], [([1, 9],)]))
    assert r.status == "created" and r.creator == "synthesised" and r.answers == [8]
    assert len(lib) == n + 1 and lib.get("spread").provenance == "synthesised"
    assert lib.get("spread").examples == [[[[6, 3, 11]], 8], [[[10, -1, -2]], 12], [[[5]], 0]]
    r2 = ctl.solve(Task("range_width", [(([4, 0],), 4), (([7, 7, 1],), 6)], [([2, 5, 3],)]))
    assert r2.status == "reused" and r2.function == "spread" and r2.answers == [3] and len(lib) == n + 1


@pytest.mark.parametrize(
    "source, note",
    [
        ("import os\ndef f(x):\n    return os.system('rm -rf /')", "refused: line 1: Import"),
        ("def f(x):\n    return ().__class__.__bases__[0].__subclasses__()", "refused"),
        ("def f(x):\n    while True:\n        x += 1", "timeout"),
        ("def f(x):\n    return [0] * (10 ** 10)", "memory"),
        ("def f(x):\n    return x + 1", "does not reproduce its examples"),
    ],
)
def test_hostile_or_wrong_creations_are_rejected_and_the_library_kept(box, source, note):
    lib = FunctionLibrary(":memory:", sandbox=box)
    before = lib.sources()
    creator = FixedCreator(source)
    assert isinstance(creator, FunctionCreator)
    ctl = FunctionController(lib, creators=[creator])
    r = ctl.solve(Task("weird", [((1,), 91), ((2,), 17), ((3,), 55)], [(4,)]))
    assert r.status == "failed" and r.answers == [None] and creator.calls == 1
    assert any(note in n for n in r.notes), r.notes
    assert lib.sources() == before
    assert lib.run("square", [(3,)])[0].value == 9  # the library still works


def test_a_failing_creator_does_not_stop_the_next_one(box):
    class Broken:
        provenance = "llm"

        def create(self, task, library):
            raise ConnectionError("server gone")

    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, creators=[Broken(), FixedCreator("def g(x):\n    return x * 7 + 1\n")])
    r = ctl.solve(Task("seven", [((1,), 8), ((2,), 15)], [(10,)]))
    assert r.status == "created" and r.answers == [71] and "server gone" in r.notes[0]
    assert lib.get("seven").source.startswith("def seven(x)")


def test_check_on_examples_reports_failures_for_people(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    task = Task("t", [((3,), 6), ((0,), 0)])
    assert check_on_examples("def t(n):\n    return n * (n + 1) // 2\n", task, lib, box) == []
    problems = check_on_examples("def t(n):\n    return 6 // n\n", task, lib, box)
    assert problems == ["t(3) returned 2, expected 6", "t(0) failed: error: ZeroDivisionError: integer division or modulo by zero"]
    assert "refused by the source check" in check_on_examples("import os", task, lib, box)[0]


def test_bad_arguments(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    with pytest.raises(ValueError, match="unknown policy kind 'any'"):
        FunctionController(lib, policy="any")
    with pytest.raises(TypeError, match="is not a creator"):
        FunctionController(lib, creators=[object()])


class NothingCreator:
    """A creator that never finds anything (or raises, when told to), counting its calls in ``calls_`` (state, not a setting)."""

    provenance = "synthesised"

    def __init__(self, raise_error=False):
        self.calls_, self.raise_error = 0, raise_error

    def create(self, task, library):
        self.calls_ += 1
        if self.raise_error:
            raise ConnectionError("server down")
        return None


def test_a_failure_is_not_searched_again_until_the_library_changes(box, tmp_path):
    odd = Task("odd", [((1,), 91), ((2,), 17), ((3,), 55)], [(4,)])
    path = tmp_path / "lib.sqlite"
    creator = NothingCreator()
    with FunctionLibrary(path, sandbox=box) as lib:
        ctl = FunctionController(lib, creators=[creator])
        assert ctl.solve(odd).status == "failed" and creator.calls_ == 1
        r = ctl.solve(odd)
        assert r.status == "failed" and creator.calls_ == 1 and "not searched again" in r.notes[0]
    with FunctionLibrary(path, sandbox=box) as lib:  # remembered in the file
        assert FunctionController(lib, creators=[creator]).solve(odd).status == "failed" and creator.calls_ == 1
        # Other creator settings or a grown library: worth another search.
        other = NothingCreator()
        other.budget = 9.0
        FunctionController(lib, creators=[other]).solve(odd)
        assert other.calls_ == 1
        lib.add("plus_seven", "def plus_seven(x):\n    return x + 7\n", Signature.parse("(int) -> int"))
        FunctionController(lib, creators=[creator]).solve(odd)
        assert creator.calls_ == 2
    ctl = FunctionController(FunctionLibrary(":memory:", sandbox=box), creators=[creator], remember_failures=False)
    ctl.solve(odd), ctl.solve(odd)
    assert creator.calls_ == 4
    flaky = NothingCreator(raise_error=True)  # a creator that raised may do better next time
    ctl = FunctionController(FunctionLibrary(":memory:", sandbox=box), creators=[flaky])
    ctl.solve(odd), ctl.solve(odd)
    assert flaky.calls_ == 2


def test_solve_many_batches_verification_yet_answers_as_solve_does(box):
    def tasks():
        return [
            Task("tri", [((3,), 6), ((4,), 10), ((0,), 0)], [(10,)], description="sum of 1 to n"),
            Task("sq1", [((1,), 2), ((2,), 5), ((5,), 26)], [(10,)]),
            Task("sq1_b", [((3,), 10), ((4,), 17)], [(6,)], description="x times x plus one"),
            Task("scale", [((0,), 0), ((2,), 4)], [(3,)], description="x times x, the square"),
            Task("sq1_c", [((0,), 1), ((-2,), 5)], [(7,)]),
            Task("spread", [(([6, 3, 11],), 8), (([10, -1, -2],), 12), (([5],), 0)], [([1, 9],)]),
            Task("sq1_d", [((6,), 37), ((1,), 2)], [(2,)]),
        ]

    one = FunctionController(FunctionLibrary(":memory:", sandbox=box), creators=[SynthesisCreator(budget=3.0)])
    expected = [one.solve(t) for t in tasks()]
    lib = FunctionLibrary(":memory:", sandbox=box)
    many = FunctionController(lib, creators=[SynthesisCreator(budget=3.0)])
    trips = []
    real = box.run_many
    box.run_many = lambda jobs, library=None: trips.append(len(jobs)) or real(jobs, library)
    try:
        got = many.solve_many(tasks())
    finally:
        del box.run_many
    assert [(r.status, r.function, r.answers) for r in got] == [(r.status, r.function, r.answers) for r in expected]
    assert [r.status for r in got].count("reused") == 5
    # sq1_b, sq1_c and sq1_d run the stored sq1 in the sandbox; batching shares round trips.
    assert len(trips) < sum(r.verified for r in got)
    assert lib.get("sq1").uses == 4


def test_deferred_uses_are_written_in_one_go_and_on_close(box, tmp_path):
    import sqlite3

    path = tmp_path / "lib.sqlite"

    def stored_uses(name):
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT uses FROM functions WHERE name = ?", (name,)).fetchone()[0]

    lib = FunctionLibrary(path, sandbox=box)
    lib.record_use(["square", "double"], "some task", defer=True)
    lib.record_use("square", defer=True)
    assert lib.get("square").uses == 2 and stored_uses("square") == 0  # in memory now, in the file later
    lib.flush_uses()
    assert stored_uses("square") == 2 and stored_uses("double") == 1
    lib.record_use("double", defer=True)
    lib.close()
    assert stored_uses("double") == 2
    with FunctionLibrary(path, sandbox=box) as again:
        assert again.get("double").solved == ["some task"]
    ctl = FunctionController(FunctionLibrary(path, sandbox=box))
    ctl.solve_many([Task("tri", [((3,), 6), ((4,), 10), ((0,), 0)], [(10,)], description="sum of 1 to n")])
    assert stored_uses("triangular") == 1  # solve_many writes its uses before it returns


# A stored function that answers its examples but hangs elsewhere, inside one C call (no
# signal reaches Python code until it returns: the worker is killed at the wall-clock limit).
HANGS_ABOVE_5 = "def f(x):\n    return sum(range(10 ** 15)) if x > 5 else x\n"
HANGS_ABOVE_500 = "def f(x):\n    return sum(range(10 ** 15)) if x > 500 else x\n"
INT = Signature.parse("(int) -> int")


def test_a_function_that_hangs_is_quarantined_and_later_tasks_do_not_pay_for_it(tmp_path):
    path = tmp_path / "lib.sqlite"
    with Sandbox(time_limit=0.5, grace=1.0) as box:
        with FunctionLibrary(path, sandbox=box) as lib:
            lib.add("same_small", HANGS_ABOVE_5, INT, "the same number, small numbers", examples=[((1,), 1), ((2,), 2)])
            assert (lib.get("same_small").timeouts, lib.get("same_small").quarantined) == (1, "")  # it hung on a probe
            ctl = FunctionController(lib)
            r = ctl.solve(Task("same", [((7,), 7), ((9,), 9)], [(3,)], description="the same number"))
            assert r.status == "reused" and r.function != "same_small"  # verified, it hung: its second timeout
            assert lib.get("same_small").quarantined == "timed out in 2 runs"
            restarts, verified = box.restarts, []
            for k in range(4):
                r = ctl.solve(Task(f"same{k}", [((7 + k,), 7 + k), ((12,), 12)], [(4,)], description="the same number"))
                verified.append(r.verified)
                assert r.status == "reused" and r.answers == [4]
            assert box.restarts == restarts  # nothing hung again: it was not run
            assert "same_small" not in {c.name for c in ctl.index.rank(Task("t", [((8,), 8)]), lib)[0]}
            assert "same_small" not in {r.name for r in lib.list()}  # nor offered as a building block
        with FunctionLibrary(path, sandbox=box) as lib:  # the quarantine is in the file
            assert lib.get("same_small").quarantined and "same_small" in {r.name for r in lib.list(include_quarantined=True)}
            lib.release("same_small")
            assert lib.get("same_small").state == "ok" and "same_small" in {r.name for r in lib.list()}


def test_a_building_block_that_hangs_the_search_is_found_and_the_search_not_remembered_as_failed(tmp_path):
    """The synthesiser calls stored functions on the task's values; one that hangs takes the worker down.

    The guard then runs the request's components on their probes and the task's inputs,
    finds the one that hangs and records it; the cut-short search is not remembered as
    "nothing found", so the same task is searched again, now without that function.
    """
    with Sandbox(time_limit=0.5, grace=1.0) as box:
        lib = FunctionLibrary(tmp_path / "lib.sqlite", sandbox=box, quarantine_after=1)
        lib.add("same_upto_500", HANGS_ABOVE_500, INT, "the same number", examples=[((1,), 1), ((2,), 2)])
        assert lib.get("same_upto_500").timeouts == 0  # every probe is below 500
        lib.record_use("same_upto_500", held_back=[((4,), 4)])  # confirmed: the synthesiser may build on it
        # 3 -> 9 rules it out as a candidate without running it (its known output is 3), not as a building block.
        task = Task("odd_one", [((3,), 9), ((600,), 17), ((700,), 23), ((800,), 5)], [(4,)])
        ctl = FunctionController(lib, creators=[SynthesisCreator(budget=0.2)])
        r = ctl.solve(task)
        assert r.status == "failed" and any("synthesised creator found nothing" in n for n in r.notes)
        assert lib.get("same_upto_500").quarantined == "timed out in 1 runs"
        assert any("worker died during the search" in n for n in r.notes), r.notes
        assert ctl.known_failure(task) is None
        restarts = box.restarts
        r = ctl.solve(task)  # searched again (not "not searched again"), without the quarantined function
        assert r.status == "failed" and not any("not searched again" in n for n in r.notes)
        assert box.restarts == restarts and ctl.known_failure(task) is not None
        lib.close()


def test_a_failure_is_remembered_per_search_not_per_examples(box):
    """Another task with the same examples but another text is another search (the synthesiser orders by text)."""
    creator = NothingCreator()
    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, creators=[creator])
    examples = [((1,), 91), ((2,), 17), ((3,), 55)]
    ctl.solve(Task("odd", examples, [(4,)]))
    ctl.solve(Task("odd", examples, [(5,)]))  # same search: remembered
    assert creator.calls_ == 1
    ctl.solve(Task("other_name", examples, [(4,)]))
    ctl.solve(Task("odd", examples, [(4,)], description="jumps around"))
    assert creator.calls_ == 3


NON_ASCII = "def g(\u00e9):\n    return \u00e9 + 1\n"


def test_a_function_the_worker_cannot_load_is_quarantined_not_fatal(tmp_path):
    """A stored source that takes the worker down when loaded (today: a non-ASCII identifier) must not stop solve.

    The guard loads each stored source on its own, quarantines the ones the worker cannot
    load, leaves them out of what it loads and goes on; where the worker can load it, it
    simply works.
    """
    import riscmoe.functions.library as library_module

    with Sandbox(time_limit=0.5, grace=1.0) as box:
        cannot_load = not box.run_many([(NON_ASCII, "g", [(1,)])])[0][0].ok
        lib = FunctionLibrary(tmp_path / "lib.sqlite", sandbox=box)
        # Stored as an earlier build did, whose source check let non-ASCII names through
        # (today's refuses them, and the worker refuses to load them).
        real_check = library_module.check_source
        library_module.check_source = lambda src: real_check(src.replace("\u00e9", "e"))
        try:
            lib.add("plus_one_accented", NON_ASCII, INT, "add one")  # no examples: stored even where it cannot run
        finally:
            library_module.check_source = real_check
        lib.close()
        lib = FunctionLibrary(tmp_path / "lib.sqlite", sandbox=box)  # today's build opens that file
        ctl = FunctionController(lib, creators=[SynthesisCreator(budget=2.0)])
        results = ctl.solve_many([
            Task("sq", [((2,), 4), ((3,), 9), ((-1,), 1)], [(5,)], description="x times x, the square"),
            Task("sq_plus_3", [((1,), 4), ((2,), 7), ((3,), 12), ((4,), 19)], [(10,)]),
            Task("sq_plus_3_again", [((0,), 3), ((5,), 28)], [(6,)]),
        ])
        assert [(r.status, r.answers) for r in results] == [("reused", [25]), ("created", [103]), ("reused", [39])]
        rec = lib.get("plus_one_accented")
        assert rec.quarantined.startswith(("crash", "refused")) == cannot_load, (cannot_load, rec)
        if cannot_load:
            assert "plus_one_accented" not in lib.sources() and "plus_one_accented" not in {r.name for r in lib.list()}
        else:
            assert lib.run("plus_one_accented", [(1,)])[0].value == 2
        lib.close()


def _collatz_steps(n):
    steps = 0
    while n != 1:
        n, steps = (n // 2 if n % 2 == 0 else 3 * n + 1), steps + 1
    return steps


def test_an_overfit_is_caught_by_the_held_back_example_and_not_stored(box):
    """Collatz steps from 1..5: the search finds a formula for 1..4 that misses 5 (and 27)."""
    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, creators=[SynthesisCreator(budget=2.0)])
    n = len(lib)
    task = Task("collatz_steps", [((x,), _collatz_steps(x)) for x in (1, 2, 3, 4, 5)], [(27,)], description="collatz steps")
    r = ctl.solve(task)
    assert r.held_back == 1 and any("not the held-back one (f(5) returned" in note and "an overfit, not stored" in note for note in r.notes), r.notes
    assert any("searched again with another example held back" in note for note in r.notes), r.notes
    if r.status == "created":  # the second split's search found a function its own held-back example checked
        assert r.check == "verified" and r.created_action == "added" and len(lib) == n + 1
    else:  # nothing unchecked answers and nothing is stored
        assert r.status == "failed" and r.check is None and r.answers == [None] and len(lib) == n


def test_answers_say_whether_a_held_back_example_checked_them(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, creators=[SynthesisCreator(budget=2.0)])
    made = ctl.solve(Task("sq_plus_3", [((1,), 4), ((2,), 7), ((3,), 12), ((-4,), 19)], [(10,)]))
    assert (made.status, made.check, made.held_back, made.answers) == ("created", "verified", 1, [103])
    assert lib.get("sq_plus_3").confirmed == 1 and lib.get("sq_plus_3").examples[-1] == [[-4], 19]  # stored with every example
    again = ctl.solve(Task("sq_plus_3_b", [((0,), 3), ((5,), 28), ((6,), 39), ((7,), 52)], [(2,)]))
    assert (again.status, again.check, again.function) == ("reused", "verified", "sq_plus_3") and lib.get("sq_plus_3").confirmed == 2
    few = ctl.solve(Task("sq_plus_3_c", [((0,), 3), ((8,), 67)], [(1,)]))  # too few examples to hold one back
    assert (few.status, few.check, few.held_back) == ("reused", "fits", 0) and lib.get("sq_plus_3").confirmed == 2
    # Chosen without the held-back example, the best-ranked fit (square, by its description)
    # misses it; the function that reproduces it was picked with its help: it only "fits".
    picky = FunctionController(lib, holdout_min=3)
    r = picky.solve(Task("sq", [((0,), 0), ((2,), 4), ((3,), 9)], [(5,)], description="x times x, the square"))
    assert (r.status, r.function, r.check, r.answers) == ("reused", "square", "verified", [25])
    r = picky.solve(Task("sq", [((0,), 0), ((2,), 4), ((3,), 6)], [(5,)], description="x times x, the square"))
    assert (r.status, r.function, r.check, r.answers) == ("reused", "double", "fits", [10])
    assert FunctionController(lib, holdout_min=None).solve(Task("sq", [((0,), 0), ((2,), 4), ((3,), 9), ((4,), 16)], [(5,)])).check == "fits"
    with pytest.raises(ValueError, match="holdout_min must be at least 2"):
        FunctionController(lib, holdout_min=1)


class ByNameCreator:
    """A creator that proposes a fixed source per task name (nothing for other tasks): which function is made is not the question."""

    provenance = "llm"

    def __init__(self, sources):
        self.sources = sources

    def create(self, task, library):
        return self.sources.get(task.name)


def _task(name, fit, held, queries, description):
    return Task(name, [((a,), o) for a, o in fit + [held]], [(q,) for q in queries], description)


def test_second_pass_answers_stay_right_when_a_smaller_function_looks_the_same_on_short_lists(box):
    """Issue 19, item 1, end to end: "unchanged" after "take the first 6", "drop 2" after "elements 3 to 7".

    Each later function is smaller and agreed with the earlier one on the short probes; it
    took over the earlier one's name, and the earlier task was no longer answered by its own
    function on the second pass. Now both are stored, and the second pass reuses each.
    """
    up = lambda a, b: list(range(a, b))  # noqa: E731
    tasks = [
        _task("take_six", [(up(1, 9), up(1, 7)), ([5, 4], [5, 4]), ([9, 8, 7, 6, 5, 4, 3], [9, 8, 7, 6, 5, 4]), ([], [])],
              ([2] * 9, [2] * 6), [up(1, 11), [3, 3]], "the first six elements"),
        _task("unchanged", [([3, 1], [3, 1]), ([4, 4, 1], [4, 4, 1]), ([7], [7]), (up(1, 6), up(1, 6))],
              (up(1, 10), up(1, 10)), [up(0, 12), [5]], "the list as it is"),
        _task("elements_3_to_7", [(up(11, 20), up(13, 18)), ([4, 5, 6], [6]), ([1, 2], []), (up(5, 13), up(7, 12))],
              (up(0, 10), up(2, 7)), [up(0, 15), [1, 2, 3]], "the third to the seventh element"),
        _task("drop_two", [([4, 5, 6], [6]), ([1, 2, 3, 4], [3, 4]), ([9, 9], []), (up(1, 7), up(3, 7))],
              (up(0, 12), up(2, 12)), [up(0, 20), [7, 8, 9]], "all but the first two elements"),
    ]
    expected = [[up(1, 7), [3, 3]], [up(0, 12), [5]], [up(2, 7), [3]], [up(2, 20), [9]]]
    creator = ByNameCreator({"take_six": "def f(xs):\n    return xs[:6]\n", "unchanged": "def f(xs):\n    return xs\n",
                             "elements_3_to_7": "def f(xs):\n    return xs[2:7]\n", "drop_two": "def f(xs):\n    return xs[2:]\n"})
    lib = FunctionLibrary(":memory:", sandbox=box)
    ctl = FunctionController(lib, creators=[creator])
    first = ctl.solve_many(tasks)
    assert [(r.status, r.created_action, r.function) for r in first] == [("created", "added", t.name) for t in tasks]
    assert [r.answers for r in first] == expected
    # take_six fitted the fit examples of "unchanged" and failed its held-back list of nine: refuted once.
    assert (lib.get("take_six").refuted, lib.get("take_six").confirmed) == (1, 1)
    second = ctl.solve_many(tasks)
    assert [(r.status, r.function, r.check) for r in second] == [("reused", t.name, "verified") for t in tasks]
    assert [r.answers for r in second] == expected and not any(r.notes for r in second)
    # The same tasks again are no new evidence: neither confirmed nor refuted once more.
    assert (lib.get("take_six").refuted, lib.get("take_six").confirmed) == (1, 1)


class BySplitCreator:
    """Proposes one source when shown the task's first examples, another when shown a split with its last one."""

    provenance = "synthesised"

    def __init__(self, last_hidden, last_shown):
        self.last_hidden, self.last_shown, self.calls = last_hidden, last_shown, 0

    def create(self, task, library):
        self.calls += 1
        return self.last_shown if any(a == (4,) for a, _ in task.examples) else self.last_hidden


def test_two_splits_that_disagree_on_a_query_leave_the_task_unanswered(box):
    """Both functions pass their held-back check; they differ on the query 60: the examples do not decide."""
    square, capped = "def f(x):\n    return x * x + 17\n", "def f(x):\n    return x * x + 17 if x < 50 else 0\n"
    task = Task("squares", [((x,), x * x + 17) for x in (1, 2, 3, 5)] + [((4,), 33)], [(60,), (7,)], "a rule")
    lib = FunctionLibrary(":memory:", sandbox=box)
    n = len(lib)
    creator = BySplitCreator(last_hidden=square, last_shown=capped)
    r = FunctionController(lib, creators=[creator], cross_check=True).solve(task)
    assert (r.status, r.answers, len(lib), creator.calls) == ("failed", [None, None], n, 2)
    assert any("another split" in note and "f(60) with 0 instead of 3617" in note for note in r.notes), r.notes
    # Without the cross-check (the default) the first function answers; with two splits that agree, it answers too.
    r = FunctionController(FunctionLibrary(":memory:", sandbox=box), creators=[BySplitCreator(square, capped)]).solve(task)
    assert (r.status, r.check, r.answers) == ("created", "verified", [3617, 66])
    r = FunctionController(FunctionLibrary(":memory:", sandbox=box), creators=[BySplitCreator(square, square)], cross_check=True).solve(task)
    assert (r.status, r.check, r.answers) == ("created", "verified", [3617, 66])
    # A second search that finds nothing, or only an overfit, does not bear the first out either.
    for second in (None, "def f(x):\n    return x * x + 17 if x != 5 else 0\n"):
        r = FunctionController(FunctionLibrary(":memory:", sandbox=box), creators=[BySplitCreator(square, second)], cross_check=True).solve(task)
        assert (r.status, r.answers) == ("failed", [None, None]), r.notes
        assert any(("finds nothing" if second is None else "gives a function that misses an example (f(5) returned 0, expected 42)") in n for n in r.notes), r.notes
    with pytest.raises(TypeError, match="cross_check must be True or False"):
        FunctionController(lib, cross_check=1)


def test_a_candidate_that_misses_the_first_example_is_run_on_nothing_else(box):
    """Verification runs every candidate on the first example, and the rest only for those that reproduce it."""
    lib = FunctionLibrary(":memory:", sandbox=box)
    sig = Signature(("int",), "int")
    for name, body in [("plus_two", "x + 2"), ("twice_plus_one", "2 * x + 1"), ("minus_seven", "x - 7")]:
        lib.add(name, f"def {name}(x):\n    return {body}\n", sig, f"{name} of x")
    task = Task("add_two", [((1001,), 1003), ((1002,), 1004), ((1005,), 1007)], [(1010,)], description="x plus two")
    trips = []
    real = box.run_many
    box.run_many = lambda jobs, library=None: trips.append({n: len(calls) for _, n, calls in jobs}) or real(jobs, library)
    try:
        r = FunctionController(lib).solve(task)
    finally:
        del box.run_many
    assert (r.status, r.function, r.answers) == ("reused", "plus_two", [1012])
    # (1001 -> 1003: 2 * 1001 + 1 is not, 1001 - 7 is not; only plus_two goes on to the other two examples and the query.)
    assert trips[0] == {"plus_two": 1, "twice_plus_one": 1, "minus_seven": 1}
    assert trips[1:] == [{"plus_two": 3}]
    task2 = Task("odd_one", [((1001,), 2003), ((1002,), 2005), ((1005,), 9)], [(1010,)])  # twice_plus_one fits two of three
    trips.clear()
    box.run_many = lambda jobs, library=None: trips.append({n: len(calls) for _, n, calls in jobs}) or real(jobs, library)
    try:
        r = FunctionController(lib).solve(task2)
    finally:
        del box.run_many
    assert r.status == "failed" and trips[1:] == [{"twice_plus_one": 3}]
