"""The program synthesiser: finds small programs, reuses stored functions, respects its budget."""

import time
from pathlib import Path

import pytest

from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.sandbox import Sandbox, build_namespace, check_source
from riscmoe.functions.synthesis import SynthesisCreator, search
from riscmoe.functions.tasks import Task


@pytest.fixture(scope="module")
def box():
    with Sandbox(time_limit=0.5, grace=1.5) as b:
        yield b


def components(sources):
    ns, errors = build_namespace(sources)
    assert not errors
    out = {}
    for name, (args, ret) in SIGS.items():
        if name in ns:
            out[name] = (args, ret, ns[name])
    return out


SIGS = {
    "square": (("int",), "int"),
    "is_prime": (("int",), "bool"),
    "maximum": (("list[int]",), "int"),
    "minimum": (("list[int]",), "int"),
    "length": (("list[int]",), "int"),
    "hang": (("int",), "int"),
    "poly": (("int",), "int"),
}
SOURCES = {
    "square": "def square(x):\n    return x * x\n",
    "is_prime": "def is_prime(n):\n    return n > 1 and all(n % k for k in range(2, n))\n",
    "maximum": "def maximum(xs):\n    return max(xs)\n",
    "minimum": "def minimum(xs):\n    return min(xs)\n",
    "length": "def length(xs):\n    return len(xs)\n",
}


def run(args_types, out_type, examples, comps=None, **kw):
    return search(args_types, out_type, [a for a, _ in examples], [o for _, o in examples], comps or {}, **kw)


def test_finds_x_squared_plus_one_from_primitives():
    r = run(["int"], "int", [((1,), 2), ((2,), 5), ((5,), 26), ((-3,), 10)], budget=5.0)
    assert r.source == "def f(x):\n    return x * x + 1\n"
    check_source(r.source)
    assert r.size == 5 and r.seconds < 5.0  # x, x, *, 1, +


def test_uses_library_functions_and_comprehensions():
    comps = components(SOURCES)
    r = run(["list[int]"], "int", [(([6, 3, 11],), 8), (([10, -1, -2],), 12), (([5],), 0), (([1, 9, 4, 4],), 8)], comps)
    assert r.expr.replace("(", "").replace(")", "") in ("maximumxs - minimumxs",)
    r = run(["list[int]"], "int", [(([2, 4, 9, 7],), 2), (([],), 0), (([11, 13, 1],), 2), (([6],), 0)], comps)
    assert r.expr == "length([v for v in xs if is_prime(v)])"
    r = run(["list[int]"], "list[int]", [(([1, 2],), [3, 6]), (([],), []), (([-4],), [-12])], comps)
    assert r.expr == "[v * 3 for v in xs]"
    r = run(["int", "int"], "float", [((1, 2), 1.5), ((4, 4), 4.0), ((0, 3), 1.5)], comps)
    assert r.source is not None and "/" in r.expr


def test_a_stored_function_makes_the_next_search_cheaper():
    examples = [((x,), 3 * x**3 - 2 * x + 1) for x in (-2, 0, 1, 3, 4)]
    first = run(["int"], "int", examples, components(SOURCES), budget=10.0)
    assert first.source is not None
    poly = first.source.replace("def f(", "def poly(")
    later = [((x,), (3 * x**3 - 2 * x + 1) * 3) for x in (-2, 0, 1, 3, 5)]
    without = run(["int"], "int", later, components(SOURCES), budget=3.0)
    with_lib = run(["int"], "int", later, components({**SOURCES, "poly": poly}), budget=3.0)
    assert with_lib.expr.replace("(", "").replace(")", "") == "polyx * 3" and with_lib.size == 4
    assert with_lib.candidates * 20 < without.candidates
    assert with_lib.seconds * 10 < without.seconds


def test_budget_respected_and_hanging_components_survived():
    comps = components({**SOURCES, "hang": "def hang(x):\n    while x == x:\n        x += 1\n    return x\n"})
    t0 = time.perf_counter()
    # No program of the grammar maps these (a hash-like target): the search gives up in time.
    r = run(["int"], "int", [((1,), 91), ((2,), 17), ((3,), 55), ((4,), 2), ((5,), 73), ((6,), 38)], comps, budget=1.0)
    assert r.source is None and r.reason in ("budget", "exhausted")
    assert time.perf_counter() - t0 < 3.0


def test_creator_runs_in_the_sandbox_and_its_source_is_safe(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    task = Task("sq1", [((1,), 2), ((2,), 5), ((5,), 26)], [(10,)], description="x squared plus one")
    c = SynthesisCreator(budget=3.0)
    src = c.create(task, lib)
    assert src is not None and check_source(src).name == "f"
    assert c.last["ok"] and c.last["candidates"] > 0
    assert box.run_one(src, "f", (10,), lib.sources()).value == 101
    with pytest.raises(ValueError, match="budget must be positive"):
        SynthesisCreator(budget=0)


def test_a_focused_second_pass_finds_what_the_whole_library_hides(box):
    """relatively_prime(a, b): among all the seeds the search runs out of time; among the few
    whose texts match the task's ("greatest common divisor": gcd, divides, ...) it finds one."""
    import json

    import riscmoe.functions

    line = next(l for l in (Path(riscmoe.functions.__file__).with_name("data") / "tasks.jsonl").read_text().splitlines()
                if json.loads(l)["name"] == "relatively_prime")
    from riscmoe.functions.tasks import task_from_dict

    task = task_from_dict({k: v for k, v in json.loads(line).items()})
    lib = FunctionLibrary(":memory:", sandbox=box)
    whole = SynthesisCreator(budget=1.5, focus=1000)  # one pass over every component
    assert whole.create(task, lib) is None and whole.last["reason"] == "budget"
    focused = SynthesisCreator(budget=4.0, focus=12, focus_share=0.6)
    source = focused.create(task, lib)
    assert source is not None and "gcd" in source
    outs = box.run_many([(source, "f", list(task.queries))], lib.sources())[0]
    assert [o.value for o in outs] == task.expected
    with pytest.raises(ValueError, match="focus must be at least 1"):
        SynthesisCreator(focus=0)
