"""The language-model creator and chooser, against a real loopback OpenAI-compatible server."""

from __future__ import annotations

import ast
import socket
import time

import pytest

from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.llm import (NO_DEF, ChatClient, LLMChooser, LLMCreator, LLMError, closeness, extract_function, parse_choice,
                                   similar_functions)
from riscmoe.functions.tasks import Task
from riscmoe.functions.values import format_call
from tests.functions.openai_server import Reply, ScriptedServer

STACK = Task(
    "stack",
    [((0,), 0), ((1,), 1), ((3,), 6), ((4,), 10), ((-2,), 1)],
    [(10,)],
    description="cans in a triangular stack with n rows",
)
WRONG = "Here you go:\n```python\ndef stack(x: int) -> int:\n    return x * x\n```\nThis squares x."
RIGHT_SOURCE = "def stack(x: int) -> int:\n    return x * (x + 1) // 2"
RIGHT = f"```python\n{RIGHT_SOURCE}\n```"


@pytest.fixture(scope="module")
def library():
    lib = FunctionLibrary(":memory:")  # the seed library
    yield lib
    lib.close()


def verify_by_exec(source: str, task: Task, library: FunctionLibrary) -> list[str]:
    """The test's own check: run the source in-process on the examples (trusted test replies only)."""
    ns: dict = {}
    for src in library.sources().values():
        exec(src, ns)
    exec(source, ns)
    name = ast.parse(source).body[0].name
    failures = []
    for args, want in task.examples:
        try:
            got = ns[name](*args)
        except Exception as exc:
            failures.append(f"{format_call(name, args)} failed: {exc!r}")
            continue
        if type(got) is not type(want) or got != want:
            failures.append(f"{format_call(name, args)} returned {got!r}, expected {want!r}")
    return failures


def creator(url: str, **kw) -> LLMCreator:
    return LLMCreator(base_url=url, model="test-model", verify=verify_by_exec, **{"timeout": 5.0, **kw})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the creator ------------------------------------------------------------------------------------


def test_retry_lists_the_failures_and_the_passing_source_comes_back(library):
    with ScriptedServer([WRONG, RIGHT]) as server:
        c = creator(server.url)
        assert c.create(STACK, library) == RIGHT_SOURCE
    assert len(server.requests) == 2
    first = server.prompt(0)
    assert "def stack(x: int) -> int:" in first
    assert "stack(3) == 6" in first and "stack(-2) == 1" in first
    assert "cans in a triangular stack" in first
    assert f"square(x: int) -> int  # {library.get('square').description}" in first
    assert "no import statements" in first  # the sandbox's rules are spelled out
    second = server.requests[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": WRONG}
    assert "stack(3) returned 9, expected 6" in second[-1]["content"]
    assert "stack(3) returned" not in first
    assert [r["model"] for r in server.requests] == ["test-model"] * 2
    assert [r["temperature"] for r in server.requests] == pytest.approx([0.2, 0.4])
    assert [(a.task, a.number, a.failures == []) for a in c.attempts_] == [("stack", 1, False), ("stack", 2, True)]
    assert c.attempts_[0].source == "def stack(x: int) -> int:\n    return x * x"


def test_a_reply_without_a_def_costs_an_attempt_and_none_comes_back_when_all_fail(library):
    script = ["Sorry, I cannot write code today.", "def stack(x):\n    return 0\n\nThat always returns zero."]
    with ScriptedServer(script) as server:
        c = creator(server.url, max_attempts=2)
        assert c.create(STACK, library) is None
    assert len(server.requests) == 2  # stops at max_attempts
    assert NO_DEF in server.requests[1]["messages"][-1]["content"]
    assert [a.source for a in c.attempts_] == [None, "def stack(x):\n    return 0"]
    assert "stack(1) returned 0, expected 1" in c.attempts_[1].failures


def test_the_nearest_stored_functions_are_shown_whole_and_the_figures_kept(library):
    """The library as context: ``triangular`` computes STACK, and comes first by behaviour and text."""
    usage = {"prompt_tokens": 400, "completion_tokens": 30}
    with ScriptedServer([Reply(WRONG, usage=usage), Reply(RIGHT, usage=usage)]) as server:
        c = creator(server.url, few_shot=2, max_tokens=96)
        assert c.create(STACK, library) == RIGHT_SOURCE
    first = server.prompt(0)
    tri = library.get("triangular").source.strip()
    assert tri in first and first.index(tri) < first.index("Write this function")
    assert "# on this task's first example: triangular(0) == 0, wanted 0" in first
    assert server.requests[0]["messages"][1]["content"].count("```python") == 2  # two functions shown whole, no more
    assert c.last["few_shot"][0] == "triangular" and len(c.last["few_shot"]) == 2
    assert (c.last["attempts"], c.last["llm_requests"], c.last["prompt_tokens"], c.last["completion_tokens"]) == (2, 2, 800, 60)
    assert c.last["reason"] == "verified" and c.last["llm_seconds"] > 0
    assert [r["max_tokens"] for r in server.requests] == [96, 96] and server.requests[0]["stop"] == ["\n```\n"]


def test_without_few_shot_no_function_is_shown_whole(library):
    with ScriptedServer([RIGHT]) as server:
        assert creator(server.url, few_shot=0).create(STACK, library) == RIGHT_SOURCE
    assert "```python" not in server.requests[0]["messages"][1]["content"] and "max_tokens" not in server.requests[0]


def test_similar_functions_rank_by_behaviour_then_text():
    with FunctionLibrary(":memory:") as lib:
        backwards = Task("zq", [(([1, 2, 3],), [3, 2, 1]), (([5, 4],), [4, 5])])  # no words to go by
        near = similar_functions(backwards, lib, 3)
        assert near[0].name == "reverse" and near[0].behaviour == 1.0 and near[0].text == 0.0
        assert all(n.behaviour < 1.0 for n in near[1:]) and len(near) == 3
        # Words alone reach functions of other signatures (their behaviour is not run).
        words = Task("how_many", [((1.5,), True)], description="count the even numbers")  # no stored (float) -> bool
        assert similar_functions(words, lib, 1)[0].name == "count_even"
        assert similar_functions(backwards, lib, 0) == []


def test_closeness_gives_partial_credit_only_below_equal():
    assert closeness([1, 2], [1, 2], "list[int]") == 1.0
    assert closeness([2, 1], [1, 2], "list[int]") == pytest.approx(0.9)
    assert closeness([1], [1, 2], "list[int]") == pytest.approx(0.9 * (0.25 + 0.25))
    assert closeness([], [], "list[int]") == 1.0 and closeness([], [1], "list[int]") == 0.0
    assert closeness(5, 5, "int") == 1.0 and closeness(5, 7, "int") == pytest.approx(0.5 / 3)
    assert closeness(1.0, 1.0 + 1e-12, "float") == 1.0 and closeness(True, 1, "bool") == 0.0


def test_the_library_view_changes_when_a_nearer_function_is_stored():
    with FunctionLibrary(":memory:") as lib:
        c = creator("http://127.0.0.1:9", few_shot=2, max_functions=0)  # only the functions shown whole count
        before = c.library_view(STACK, lib)
        assert c.library_view(STACK, lib) == before
        lib.add("stack_of_cans", "def stack_of_cans(x):\n    return x * x + x // 2", STACK.signature,
                "cans in a triangular stack, roughly", provenance="llm")
        assert "stack_of_cans" in [s.name for s in c.similar(STACK, lib)]
        assert c.library_view(STACK, lib) != before


def test_chat_client_counts_tokens_and_time_per_request():
    with ScriptedServer([Reply("a", usage={"prompt_tokens": 7, "completion_tokens": 1}), "b"]) as server:
        client = ChatClient(server.url, "m", timeout=5.0)
        client.complete([{"role": "user", "content": "x"}])
        client.complete([{"role": "user", "content": "y"}], max_tokens=5, stop=["END"])
    u = client.usage()
    assert (u["requests"], u["prompt_tokens"], u["completion_tokens"], u["uncounted"]) == (2, 7, 1, 1)
    assert u["seconds"] > 0 and [c.prompt_tokens for c in client.calls_] == [7, None]
    assert server.requests[1]["max_tokens"] == 5 and server.requests[1]["stop"] == ["END"]


def test_bad_creator_settings_are_refused():
    with pytest.raises(ValueError, match="few_shot must be a whole number"):
        LLMCreator("http://127.0.0.1:1", "m", few_shot=-1)
    with pytest.raises(ValueError, match="max_tokens must be a positive"):
        LLMCreator("http://127.0.0.1:1", "m", max_tokens=0)


def test_offered_functions_rank_by_signature_then_output_type_then_use():
    with FunctionLibrary(":memory:") as lib:
        names = lambda task, n: [line.split("(")[0] for line in creator("http://127.0.0.1:9", max_functions=n).offer(task, lib)]
        same = [r.name for r in lib.list() if str(r.signature) == "(int) -> int"]
        assert names(STACK, 2) == same[:2]  # library order among equals
        listy = Task("rev", [(([1, 2],), [2, 1])])
        order = names(listy, 100)
        # its signature, its output type, a shared type, nothing shared ((float, float) -> float)
        assert order.index("reverse") < order.index("range_list") < order.index("sum_list") < order.index("hypotenuse")
        lib.record_use(["sort", "sort", "sum_list"])
        assert creator("http://127.0.0.1:9", max_functions=2).offer(listy, lib) == [
            f"sort(xs: list[int]) -> list[int]  # {lib.get('sort').description}",
            f"reverse(xs: list[int]) -> list[int]  # {lib.get('reverse').description}",
        ]


def test_default_verification_runs_in_the_library_sandbox(library):
    escape = "```python\ndef stack(x):\n    import os\n    return os.getpid()\n```"
    with ScriptedServer([escape, WRONG, RIGHT]) as server:
        c = LLMCreator(base_url=server.url, model="m", timeout=5.0)
        assert c.create(STACK, library) == RIGHT_SOURCE
    assert "refused" in server.requests[1]["messages"][-1]["content"]
    assert "stack(3) returned 9, expected 6" in server.requests[2]["messages"][-1]["content"]


def test_a_model_that_failed_on_a_task_is_not_asked_again_until_what_it_is_offered_changes(fresh):
    """The failure memo keys the model's search by the functions its prompt lists (``library_view``)."""
    from riscmoe.functions.controller import FunctionController
    from riscmoe.functions.values import Signature

    odd = Task("odd", [((1,), 91), ((2,), 17), ((3,), 55), ((4,), 3)], [(5,)])
    with ScriptedServer(["def odd(x):\n    return 0\n"] * 3) as server:
        ctl = FunctionController(fresh, creators=[creator(server.url, max_attempts=1, max_functions=100)])
        assert ctl.solve(odd).status == "failed" and len(server.requests) == 1
        r = ctl.solve(odd)
        assert r.memo == "known" and len(server.requests) == 1  # the same prompt: not sent again
        fresh.add("plus_seven", "def plus_seven(x):\n    return x + 7\n", Signature.parse("(int) -> int"))
        r = ctl.solve(odd)  # the prompt now lists plus_seven
        assert r.memo == "changed" and len(server.requests) == 2
        other = LLMCreator(base_url=server.url, model="other", verify=verify_by_exec, timeout=5.0, max_attempts=1, max_functions=100)
        other = FunctionController(fresh, creators=[other])
        assert other.solve(odd).memo == "" and len(server.requests) == 3  # another model: another search


# -- server failures ----------------------------------------------------------------------------------


def test_unreachable_server_is_a_clear_error(library):
    c = creator(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(LLMError, match=r"cannot reach the language-model server at http://127\.0\.0\.1:\d+/v1/chat/completions.*--llm-base-url"):
        c.create(STACK, library)


@pytest.mark.parametrize(
    "reply, message",
    [
        (Reply(raw=b"<html>Bad Gateway</html>"), r"not JSON: '<html>Bad Gateway</html>'"),
        (Reply(raw=b'{"result": "def f(x): return x"}'), r"not a chat completion \(no choices\[0\]\.message\.content\)"),
        (Reply(raw=b'{"error": "model crashed"}', status=500), r"answered HTTP 500 .*model crashed"),
        (Reply(raw=b'{"error": "no such model"}', status=404), r"HTTP 404 .*Is the base URL right"),
    ],
)
def test_garbage_and_http_errors_are_clear_errors(reply, message, library):
    with ScriptedServer([reply]) as server:
        with pytest.raises(LLMError, match=message):
            creator(server.url).create(STACK, library)


def test_a_slow_server_times_out(library):
    with ScriptedServer([Reply(content=RIGHT, delay=2.0)]) as server:
        start = time.perf_counter()
        with pytest.raises(LLMError, match=r"did not answer within 0\.3 s"):
            creator(server.url, timeout=0.3).create(STACK, library)
        assert time.perf_counter() - start < 1.5


def test_a_server_that_drips_its_reply_is_cut_off_at_the_timeout(library):
    """A byte every 20 ms never trips a per-read timeout of 1 s; the whole reply (about 200
    bytes, 4 s) must still end at the timeout."""
    with ScriptedServer([Reply(content=RIGHT, drip=0.02)]) as server:
        start = time.perf_counter()
        with pytest.raises(LLMError, match=r"did not answer within 1 s"):
            ChatClient(server.url, "m", timeout=1.0).complete([{"role": "user", "content": "hi"}])
        assert time.perf_counter() - start < 3.0


def test_base_url_forms_api_key_and_bad_settings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ScriptedServer(["a", "b"]) as server:
        assert ChatClient(server.url + "/v1/", "m", timeout=5).complete([{"role": "user", "content": "hi"}]) == "a"
        assert ChatClient(server.url + "/", "m", timeout=5, api_key="sk-given").complete([{"role": "user", "content": "hi"}]) == "b"
    assert server.paths == ["/v1/chat/completions"] * 2
    assert [h.get("Authorization") for h in server.headers] == ["Bearer sk-test", "Bearer sk-given"]
    assert server.requests[0] == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0}
    with pytest.raises(ValueError, match="not an http"):
        ChatClient("localhost:8080", "m")
    with pytest.raises(ValueError, match="--llm-model"):
        ChatClient("http://localhost:8080", "")
    with pytest.raises(ValueError, match="max_attempts"):
        LLMCreator("http://localhost:8080", "m", max_attempts=0)


# -- reading replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, source",
    [
        ("```python\ndef f(x):\n    return x + 1\n```", "def f(x):\n    return x + 1"),
        ("```\ndef f(x):\n    return x + 1\n```", "def f(x):\n    return x + 1"),
        ("Try this:\n\ndef f(x):\n    y = x + 1\n\n    return y\nIt adds one.", "def f(x):\n    y = x + 1\n\n    return y"),
        ("```python\nimport math\n\ndef f(x):\n    return x + 1\n\nprint(f(2))\n```", "def f(x):\n    return x + 1"),
        ("<think>maybe def g(x): ...</think>\n```python\ndef f(x):\n    return 2\n```", "def f(x):\n    return 2"),
        ("```python\ndef helper(x):\n    return x\n\ndef stack(x):\n    return helper(x)\n```", "def stack(x):\n    return helper(x)"),
        ("```python\ndef f(x):\n    return x  # cut off here", "def f(x):\n    return x"),
        ("```python\nprint('no function')\n```\nNothing to define.", None),
        ("def f(x) return x", None),
        ("", None),
    ],
)
def test_extract_function(reply, source):
    assert extract_function(reply, "stack") == source


# -- the chooser ----------------------------------------------------------------------------------------


CANDIDATES = {"square": "the square of x", "double": "two times x", "stack": "triangular numbers"}


def test_chooser_returns_a_listed_name_or_none():
    replies = ["`stack`", "I think **square** fits best.", "none", "square or double", "triple", "stack."]
    with ScriptedServer(replies) as server:
        chooser = LLMChooser(server.url, "m", timeout=5)
        got = [chooser.choose(STACK, CANDIDATES) for _ in replies]
        assert chooser.choose(STACK, {}) is None  # nothing to choose: no request
    assert got == ["stack", "square", None, None, None, "stack"]
    assert len(server.requests) == len(replies)
    prompt = server.prompt(0)
    assert "- double: two times x" in prompt and "stack(4) == 10" in prompt and "cans in a triangular stack" in prompt
    assert chooser.replies_ == replies


def test_parse_choice_needs_whole_names():
    assert parse_choice("squared", ["square"]) is None
    assert parse_choice("use is_even", ["is_even", "even"]) == "is_even"
    assert parse_choice("<think>square? double?</think>double", ["square", "double"]) == "double"


# -- the chooser inside the controller ----------------------------------------------------------

# square and double both reproduce 0 -> 0 and 2 -> 4, and disagree on 3 (9 against 6).
TWINS = Task("scale", [((0,), 0), ((2,), 4)], [(3,)], description="x times x, the square")


@pytest.fixture
def fresh():
    with FunctionLibrary(":memory:") as lib:  # use counts change scores: one library per test
        yield lib


def test_controller_asks_the_chooser_when_passing_functions_disagree(fresh):
    from riscmoe.functions.controller import FunctionController

    with ScriptedServer(["double"]) as server:
        ctl = FunctionController(fresh, chooser=LLMChooser(server.url, "m", timeout=5.0))
        r = ctl.solve(TWINS)
    assert r.status == "reused" and r.function == "double" and r.answers == [6] and r.chosen_by == "chooser"
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "- square:" in prompt and "- double:" in prompt and "scale(2) == 4" in prompt


@pytest.mark.parametrize("reply", ["none", Reply(raw=b"busy", status=500)])
def test_a_chooser_that_declines_or_fails_leaves_the_choice_to_the_scores(fresh, reply):
    from riscmoe.functions.controller import FunctionController

    with ScriptedServer([reply]) as server:
        r = FunctionController(fresh, chooser=LLMChooser(server.url, "m", timeout=5.0)).solve(TWINS)
    assert r.function == "square" and r.answers == [9] and r.chosen_by == "score"
    assert any("chooser" in n for n in r.notes)


def test_the_chooser_is_not_asked_when_the_passing_functions_agree(fresh):
    from riscmoe.functions.controller import FunctionController

    agree = Task("tri", [((3,), 6), ((4,), 10), ((0,), 0)], [(10,)], description="sum of 1 to n")
    with ScriptedServer([]) as server:
        r = FunctionController(fresh, chooser=LLMChooser(server.url, "m", timeout=5.0)).solve(agree)
    assert r.function == "triangular" and r.answers == [55] and server.requests == []


def test_cli_llm_choose(tmp_path, capsys):
    import json

    from riscmoe.cli.main import main

    tasks = tmp_path / "t.jsonl"
    tasks.write_text(json.dumps({"name": "scale", "description": "x times x, the square",
                                 "examples": [{"args": [0], "output": 0}, {"args": [2], "output": 4}],
                                 "queries": [{"args": [3]}]}) + "\n")
    lib, out = tmp_path / "lib.sqlite", tmp_path / "a.jsonl"
    with ScriptedServer(["double"]) as server:
        args = ["functions", "solve", str(tasks), "--library", str(lib), "--out", str(out), "--no-progress"]
        assert main(args + ["--llm-base-url", server.url, "--llm-model", "m", "--llm-choose"]) == 0
    assert json.loads(out.read_text()) == {"name": "scale", "answers": [6], "status": "reused", "check": "fits", "function": "double"}
    report = json.loads((tmp_path / "a-report" / "report.json").read_text())
    assert report["tasks"][0]["chosen_by"] == "chooser"
    capsys.readouterr()
    assert main(args + ["--llm-choose"]) == 2
    assert "--llm-choose needs --llm-base-url" in capsys.readouterr().err
    assert main(args + ["--llm-base-url", "http://127.0.0.1:9", "--llm-model", "m", "--llm-choose", "--policy", "first"]) == 2
    assert "--llm-choose works with --policy best" in capsys.readouterr().err


# -- size caps ----------------------------------------------------------------------------------------


def test_a_huge_reply_is_refused_before_it_is_parsed(library):
    """A reply over max_reply_bytes is refused with a clear error (a 20 MB one once cost 2 GB)."""
    huge = "```python\ndef stack(x):\n    return x\n```\n" + "# padding\n" * 300_000  # about 3 MB
    with ScriptedServer([huge, RIGHT]) as server:
        c = creator(server.url)
        with pytest.raises(LLMError, match=r"answered \d+ bytes; replies over 1048576 bytes are refused \(max_reply_bytes\)"):
            c.create(STACK, library)
        assert c.attempts_ == []  # nothing of it was parsed or verified
        assert creator(server.url).create(STACK, library) == RIGHT_SOURCE  # the next reply is read as usual
    with pytest.raises(ValueError, match="max_reply_bytes must be a positive number of bytes, got 0"):
        ChatClient("http://127.0.0.1:9", "m", max_reply_bytes=0)


def test_a_huge_reply_without_a_length_is_cut_off_at_the_cap():
    """A server that sends no Content-Length and streams on is read only up to the cap."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
            try:
                for _ in range(64):  # up to 4 MB, 64 kB at a time
                    conn.sendall(b" " * 65536)
            except OSError:  # the client stopped reading and closed
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with pytest.raises(LLMError, match=r"answered more than 100000 bytes; replies over 100000 bytes are refused"):
        ChatClient(url, "m", timeout=10, max_reply_bytes=100_000).complete([{"role": "user", "content": "hi"}])
    thread.join(10)
    listener.close()
