"""The language model as controller (``LLMRouter``), against a real loopback OpenAI-compatible server.

The scripted server's answers can be wrong: a proposal answers a task only once it reproduces
every example in the sandbox, and the index's candidates take over when it does not.
"""

from __future__ import annotations

import json
import socket

import pytest

from riscmoe.cli.main import main
from riscmoe.functions.controller import FunctionController
from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.router import LLMRouter, parse_proposal
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import Signature
from tests.functions.openai_server import Reply, ScriptedServer

LISTS = Signature(("list[int]",), "list[int]")
# The seed sort answers it; 4 examples, so the last ([2, 1] -> [1, 2]) is held back.
ORDERED = Task("ordered", [(([3, 1, 2],), [1, 2, 3]), (([5, 4, 9],), [4, 5, 9]), (([0],), [0]), (([2, 1],), [1, 2])],
               [([8, 1, 5],)], expected=[[1, 5, 8]])
# No seed answers it alone: reverse(sort(xs)) does.
DESCENDING = Task("descending", [(([3, 1, 2],), [3, 2, 1]), (([5, 4, 9],), [9, 5, 4]), (([1],), [1]), (([2, 7, 7, 0],), [7, 7, 2, 0])],
                  [([8, 1, 5],)], expected=[[8, 5, 1]])


@pytest.fixture()
def lib():
    library = FunctionLibrary(":memory:")
    yield library
    library.close()


def router(url: str, **kw) -> LLMRouter:
    return LLMRouter(url, "test-model", **{"timeout": 5.0, **kw})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_right_proposal_answers_and_the_index_top_is_recorded_beside_it(lib):
    with ScriptedServer([Reply("sort", usage={"prompt_tokens": 310, "completion_tokens": 2})]) as server:
        r = router(server.url)
        res = FunctionController(lib, router=r).solve(ORDERED)
    assert res.status == "reused" and res.function == "sort" and res.chosen_by == "router" and res.check == "verified"
    assert res.answers == [[1, 5, 8]]
    route = res.route
    assert route["kind"] == "function" and route["names"] == ["sort"] and route["verified"]
    assert route["index_top_verified"] == (route["index_top"] == "sort")
    assert r.usage() == {"requests": 1, "prompt_tokens": 310, "completion_tokens": 2, "seconds": r.usage()["seconds"], "uncounted": 0}
    prompt = server.prompt(0)
    # The model sees the fit examples and the index's candidates with their code, never the held-back example.
    assert "ordered([3, 1, 2]) == [1, 2, 3]" in prompt and "ordered([2, 1])" not in prompt
    assert "- sort(xs: list[int]) -> list[int]" in prompt and "sorted(" in prompt
    assert server.requests[0]["max_tokens"] == 32 and server.requests[0]["temperature"] == 0.0


def test_a_wrong_proposal_is_refused_and_the_index_candidates_answer(lib):
    with ScriptedServer(["reverse"]) as server:
        res = FunctionController(lib, router=router(server.url)).solve(ORDERED)
    assert res.status == "reused" and res.function == "sort" and res.chosen_by == "score"
    assert res.route["kind"] == "function" and not res.route["verified"] and "returned [2, 1, 3], expected [1, 2, 3]" in res.route["why"]
    assert any("router proposed reverse, which does not verify" in n for n in res.notes)


def test_a_composition_that_verifies_is_stored_and_reused(lib):
    before = len(lib)
    with ScriptedServer(["The answer is reverse(sort(xs))", "none"]) as server:
        ctl = FunctionController(lib, router=router(server.url))
        res = ctl.solve(DESCENDING)
        again = ctl.solve(Task("descending_again", [(([4, 6],), [6, 4]), (([1, 3, 2],), [3, 2, 1])], [([0, 9],)]))
    assert res.status == "created" and res.creator == "router" and res.check == "verified" and res.answers == [[8, 5, 1]]
    assert res.route["kind"] == "composition" and res.route["names"] == ["reverse", "sort"] and res.route["verified"]
    stored = lib.get(res.function)
    assert len(lib) == before + 1 and stored.provenance == "llm" and "reverse(sort(xs))" in stored.source
    # The next task's router said none; the stored composition answers it through the index.
    assert again.status == "reused" and again.function == res.function and again.answers == [[9, 0]]
    assert again.route["kind"] == "none"


def test_a_composition_that_fails_an_example_is_not_stored(lib):
    before = set(lib.sources())
    with ScriptedServer(["sort(reverse(xs))"]) as server:
        res = FunctionController(lib, router=router(server.url)).solve(DESCENDING)
    assert res.status == "failed" and set(lib.sources()) == before  # no creator, and nothing stored
    assert res.route["kind"] == "composition" and not res.route["verified"] and "expected [3, 2, 1]" in res.route["why"]


@pytest.mark.parametrize("reply, kind, why", [
    ("sum_list(sort(xs))", "invalid", "sum_list not among the functions shown"),
    ("frobnicate", "invalid", "names no listed function"),
    ("frob(sort(xs))", "invalid", "frob not among the functions shown"),
    ("NONE", "none", ""),
])
def test_proposals_that_cannot_run_are_refused_without_running_them(lib, reply, kind, why):
    with ScriptedServer([reply]) as server:
        res = FunctionController(lib, router=router(server.url)).solve(DESCENDING)
    assert res.status == "failed" and res.route["kind"] == kind and why in res.route["why"]


def test_parse_proposal_reads_names_compositions_and_equations(lib):
    listed = {r.name: r for r in lib.list()}
    p = parse_proposal("descending = reverse(sort(xs))\nbecause it sorts, then reverses", LISTS, listed)
    assert (p.kind, p.names) == ("composition", ("reverse", "sort")) and p.source.startswith("def routed(xs):")
    assert parse_proposal("**sort**", LISTS, listed).names == ("sort",)
    assert parse_proposal("sort or reverse", LISTS, listed).kind == "invalid"  # several: no choice
    assert parse_proposal("sum_list", LISTS, listed).kind == "invalid"  # another signature
    # (list[int]) -> int: length(sort(xs)) fits, sort(length(xs)) does not.
    count = Signature(("list[int]",), "int")
    assert parse_proposal("length(sort(xs))", count, listed).kind == "composition"
    assert parse_proposal("sort(length(xs))", count, listed).kind == "invalid"


def test_steps_for_compositions_are_offered_beside_the_candidates(lib):
    count = Task("count_distinct", [(([1, 1, 2],), 2), (([3],), 1), (([],), 0)], description="how many different values")
    shown, steps = router("http://127.0.0.1:1", top_k=3, steps=2).options(count, [], lib)
    assert shown == [] and len(steps) == 2
    assert all(s.signature in (LISTS, Signature(("int",), "int")) for s in steps)
    assert steps[0].name == "unique"  # "different values" is nearest unique's text


def test_a_router_that_cannot_be_reached_leaves_the_task_to_the_index(lib):
    res = FunctionController(lib, router=router(f"http://127.0.0.1:{free_port()}")).solve(ORDERED)
    assert res.status == "reused" and res.function == "sort" and res.route["kind"] == "error"
    assert any(n.startswith("router failed: LLMError: cannot reach") for n in res.notes)


def test_bad_router_settings_are_refused():
    with pytest.raises(ValueError, match="top_k and steps are both 0"):
        LLMRouter("http://127.0.0.1:1", "m", top_k=0, steps=0)
    with pytest.raises(ValueError, match="top_k must be a whole number"):
        LLMRouter("http://127.0.0.1:1", "m", top_k=-1)
    with pytest.raises(ValueError, match="max_tokens must be a positive"):
        LLMRouter("http://127.0.0.1:1", "m", max_tokens=0)


def test_cli_llm_route_reports_routing_accuracy_and_tokens(tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    lines = []
    for t in (ORDERED, DESCENDING):
        lines.append(json.dumps({"name": t.name, "examples": [{"args": list(a), "output": o} for a, o in t.examples],
                                 "queries": [{"args": list(q), "expected": e} for q, e in zip(t.queries, t.expected)]}))
    tasks.write_text("\n".join(lines) + "\n")
    usage = {"prompt_tokens": 200, "completion_tokens": 5}
    with ScriptedServer([Reply("sort", usage=usage), Reply("reverse(sort(xs))", usage=usage)]) as server:
        rc = main(["functions", "solve", str(tasks), "--library", str(tmp_path / "lib.sqlite"), "--out", str(tmp_path / "a.jsonl"),
                   "--no-progress", "--creator", "synthesis", "--time-limit", "0.5", "--llm-base-url", server.url,
                   "--llm-model", "m", "--llm-route"])
    out = capsys.readouterr().out
    assert rc == 0, out
    summary = json.loads((tmp_path / "a-report" / "report.json").read_text())["summary"]
    assert summary["routing"]["asked"] == 2 and summary["routing"]["router_verified"] == 2
    assert summary["routing"]["router_right"] == 2 and summary["routing"]["index_top_right"] <= 1
    assert summary["llm"]["requests"] == 2 and summary["llm"]["prompt_tokens"] == 400 and summary["llm"]["completion_tokens"] == 10
    assert "routing: the model proposed a function for 2 of 2 tasks, 2 verified" in out
    assert "language model: 2 requests, 400 tokens in, 10 out" in out


def test_cli_llm_route_needs_a_model(tmp_path, capsys):
    tasks = tmp_path / "t.jsonl"
    tasks.write_text(json.dumps({"name": "t", "examples": [{"args": [1], "output": 1}], "queries": []}) + "\n")
    assert main(["functions", "solve", str(tasks), "--library", str(tmp_path / "l.sqlite"), "--out", str(tmp_path / "a.jsonl"),
                 "--llm-route"]) == 2
    assert "--llm-route needs --llm-base-url and --llm-model (or --llm local)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tasks]
