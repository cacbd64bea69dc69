"""``riscmoe functions``: solve twice (the second run only reuses), list, show, clear errors."""

import json
import xml.etree.ElementTree as ET

import pytest

from riscmoe.cli.main import main

TASKS = [
    {"name": "tri", "description": "sum of 1 to n", "examples": [{"args": [3], "output": 6}, {"args": [4], "output": 10}, {"args": [0], "output": 0}],
     "queries": [{"args": [10], "expected": 55}, {"args": [1], "expected": 1}]},
    {"name": "sq_plus_one", "description": "x squared plus one", "examples": [{"args": [1], "output": 2}, {"args": [2], "output": 5}, {"args": [-3], "output": 10}],
     "queries": [{"args": [10], "expected": 101}]},
    {"name": "spread", "description": "largest minus smallest", "examples": [{"args": [[6, 3, 11]], "output": 8}, {"args": [[10, -1, -2]], "output": 12}, {"args": [[5]], "output": 0}],
     "queries": [{"args": [[1, 9]], "expected": 8}]},
    {"name": "sq_plus_one_again", "examples": [{"args": [4], "output": 17}, {"args": [0], "output": 1}],
     "queries": [{"args": [5], "expected": 26}]},
]


@pytest.fixture
def files(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps(t) for t in TASKS) + "\n")
    return tasks, tmp_path / "lib.sqlite", tmp_path


def solve(tasks, lib, out, *extra):
    return main(["functions", "solve", str(tasks), "--library", str(lib), "--out", str(out), "--no-progress", "--time-limit", "3", *extra])


def test_solve_twice_second_run_reuses_everything(files, capsys):
    tasks, lib, tmp = files
    assert solve(tasks, lib, tmp / "a1.jsonl") == 0
    text = capsys.readouterr().out
    assert "4 tasks: answered 4 (100.0%), reused 2, created 2, failed 0" in text
    # Three examples or fewer each: nothing to hold back, so nothing checked them (and no "100%" says otherwise).
    assert "checked: 0 verified on a held-back example (0.0%), 4 fit their examples but nothing checked them" in text
    assert "accuracy against expected answers: 100.0% of queries" in text
    lines = [json.loads(l) for l in (tmp / "a1.jsonl").read_text().splitlines()]
    assert lines[0] == {"name": "tri", "answers": [55, 1], "status": "reused", "check": "fits", "function": "triangular"}
    assert [l["status"] for l in lines] == ["reused", "created", "created", "reused"]
    assert lines[3]["function"] == "sq_plus_one" and lines[3]["answers"] == [26]
    report = json.loads((tmp / "a1-report" / "report.json").read_text())
    assert report["summary"]["created"] == 2 and report["summary"]["library_after"] == report["summary"]["library_before"] + 2
    svg = ET.parse(tmp / "a1-report" / "library.svg").getroot()  # well-formed XML
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert {"library size", "cumulative solve rate", "time per task"} <= set(texts)
    assert len(list(svg.iter("{http://www.w3.org/2000/svg}circle"))) == 4  # one dot per task

    assert solve(tasks, lib, tmp / "a2.jsonl", "--policy", "first") == 0
    text = capsys.readouterr().out
    assert "reused 4, created 0, failed 0" in text
    second = [json.loads(l) for l in (tmp / "a2.jsonl").read_text().splitlines()]
    assert [l["answers"] for l in second] == [l["answers"] for l in lines]

    assert main(["functions", "list", "--library", str(lib)]) == 0
    text = capsys.readouterr().out
    assert "sq_plus_one" in text and "synthesised" in text and "triangular" in text
    assert main(["functions", "show", "spread", "--library", str(lib)]) == 0
    text = capsys.readouterr().out
    assert "def spread(xs):" in text and "largest minus smallest" in text and "verified on 3 examples" in text


# No small program maps 1, 2, 3, 4 to 91, 17, 55, 3: every search fails.
ODD = {"name": "odd", "examples": [{"args": [1], "output": 91}, {"args": [2], "output": 17}, {"args": [3], "output": 55},
                                   {"args": [4], "output": 3}], "queries": [{"args": [5]}]}


def test_a_rerun_skips_known_failures_says_how_many_and_retries_them_on_request(tmp_path, capsys):
    tasks, lib = tmp_path / "tasks.jsonl", tmp_path / "lib.sqlite"
    tasks.write_text("\n".join(json.dumps(t) for t in [TASKS[0], ODD, TASKS[1]]) + "\n")

    def run(name, *extra):
        assert solve(tasks, lib, tmp_path / f"{name}.jsonl", "--time-limit", "0.2", *extra) == 0
        report = json.loads((tmp_path / f"{name}-report" / "report.json").read_text())
        return capsys.readouterr().out, report["summary"], {r["name"]: r for r in report["tasks"]}

    text, summary, rows = run("r1")
    assert "failure memo" not in text and rows["odd"]["status"] == "failed"
    assert summary["known_failures_skipped"] == 0 and summary["searches"] == 2  # odd and sq_plus_one
    # sq_plus_one was stored after odd failed: the sweep solved odd again (the stored functions first); the
    # synthesiser sees the same library (an unchecked function is no building block), so the memo spared it.
    assert [(a["sweep"], a["memo"], bool(a["search"])) for a in rows["odd"]["sweeps"]] == [(0, "", True), (1, "known", False)]
    assert (summary["sweeps"]["run"], summary["sweeps"]["searches"], summary["sweeps"]["stale_left"]) == (1, 0, 0)
    assert "sweeps: 1 (at most 3) over failed tasks the library changed for since they were solved: 1 solved again, 0 searched" in text
    text, summary, rows = run("r2")  # the same file again: nothing to search
    assert "failure memo: 1 known failure skipped (every creator failed on the same search before; --retry-failed searches it)" in text
    assert (summary["known_failures_skipped"], summary["searches"], summary["reused"], summary["failed"]) == (1, 0, 2, 1)
    assert rows["odd"]["memo"] == "known" and rows["odd"]["search"] is None
    assert (tmp_path / "r2.jsonl").read_text() == (tmp_path / "r1.jsonl").read_text().replace('"created"', '"reused"')
    text, summary, rows = run("r3", "--retry-failed")
    assert "failure memo: 1 known failure searched again (--retry-failed)" in text
    assert (summary["failures_retried"], summary["searches"], summary["retry_failed"]) == (1, 1, True)
    text, summary, rows = run("r4", "--time-limit", "0.3")  # a larger budget is another search
    assert "failure memo" not in text and summary["searches"] == 1 and rows["odd"]["memo"] == ""


def test_errors_are_clear_and_touch_nothing(files, capsys):
    tasks, lib, tmp = files
    bad = tmp / "bad.jsonl"
    bad.write_text(json.dumps(TASKS[0]) + "\n" + '{"name": "x", "examples": [{"args": ["a"], "output": 1}]}\n')
    assert solve(bad, lib, tmp / "out.jsonl") == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 2" in err and "values must be int, float, bool or list[int]" in err
    assert not lib.exists() and not (tmp / "out.jsonl").exists()

    lib.write_bytes(b"garbage, not SQLite" * 50)
    before = lib.read_bytes()
    assert solve(tasks, lib, tmp / "out.jsonl") == 2
    assert "is not a riscmoe function library" in capsys.readouterr().err
    assert lib.read_bytes() == before

    assert main(["functions", "list", "--library", str(tmp / "none.sqlite")]) == 2
    assert "no library at" in capsys.readouterr().err
    assert solve(tasks, tmp / "new.sqlite", tmp / "o.jsonl", "--llm-model", "m") == 2
    assert "give both --llm-base-url and --llm-model" in capsys.readouterr().err


def test_show_unknown_name(files, capsys):
    tasks, lib, tmp = files
    from riscmoe.functions.library import FunctionLibrary

    FunctionLibrary(lib).close()
    assert main(["functions", "show", "squar", "--library", str(lib)]) == 2
    assert "did you mean square" in capsys.readouterr().err


def test_the_functions_commands_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, riscmoe, riscmoe.cli.main, riscmoe.functions.cli, riscmoe.functions.controller, "
            "riscmoe.functions.synthesis; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    # The package's names are still there, imported on first use.
    code = ("import riscmoe; from riscmoe import RiscClassifier, SaveFormatError, load, __version__; "
            "from riscmoe.classifier import RiscClassifier as C; assert RiscClassifier is C; "
            "print(sorted(riscmoe.__all__), 'RiscClassifier' in dir(riscmoe))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['RiscClassifier', 'SaveFormatError', 'SaveRefusedError', '__version__', 'load'] True"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        import riscmoe

        riscmoe.nothing_here


def _strict(text):
    """Parse JSON refusing NaN and Infinity, which are not JSON."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_answers_and_report_are_strict_json_even_for_infinite_answers(files):
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.values import Signature

    tasks, lib, tmp = files
    src = "def blows_up(x):\n    return x if -2.0 < x < 2.0 else (x * 1e308 * 10 if x < 5.0 else x * 1e308 * 10 - x * 1e308 * 10)\n"
    with FunctionLibrary(lib) as library:
        library.add("blows_up", src, Signature.parse("(float) -> float"), "blows up far from zero", examples=[((0.5,), 0.5)])
    tasks.write_text(json.dumps({"name": "blows_up", "description": "blows up far from zero",
                                 "examples": [{"args": [0.5], "output": 0.5}, {"args": [1.25], "output": 1.25}],
                                 "queries": [{"args": [-3.0]}, {"args": [3.0]}, {"args": [7.0]}, {"args": [1.5], "expected": 1.5}]}) + "\n")
    assert solve(tasks, lib, tmp / "a.jsonl") == 0
    line, = (tmp / "a.jsonl").read_text().splitlines()
    answer = _strict(line)
    assert answer["function"] == "blows_up" and answer["answers"] == ["-Infinity", "Infinity", "NaN", 1.5]
    _strict((tmp / "a-report" / "report.json").read_text())


def test_a_lone_surrogate_name_is_refused_at_load_and_nothing_is_written(files, capsys):
    tasks, lib, tmp = files
    tasks.write_text(json.dumps(TASKS[0]) + "\n" + json.dumps(dict(TASKS[1], name="\ud800")) + "\n")
    assert solve(tasks, lib, tmp / "a.jsonl") == 2
    err = capsys.readouterr().err
    assert f"{tasks}, line 2" in err and "lone surrogate (U+D800)" in err
    assert not lib.exists() and not (tmp / "a.jsonl").exists()


def test_control_characters_in_names_and_descriptions_are_escaped_on_output(files, capsys):
    tasks, lib, tmp = files
    evil = {"name": "evil\x1b[2J\x1b]0;owned\x07", "description": "clears\x1b[2J the screen\r\u202e",
            "examples": [{"args": [x], "output": x * x + 7} for x in (1, 2, 3, 5)], "queries": [{"args": [10]}]}
    tasks.write_text(json.dumps(evil) + "\n")
    assert solve(tasks, lib, tmp / "a.jsonl") == 0
    answer = json.loads((tmp / "a.jsonl").read_text())
    assert answer["name"] == evil["name"] and answer["status"] == "created"  # the file keeps the name as it was
    assert main(["functions", "list", "--library", str(lib)]) == 0
    assert main(["functions", "show", answer["function"], "--library", str(lib)]) == 0
    out = capsys.readouterr().out
    for raw in ("\x1b", "\x07", "\r", "\u202e"):
        assert raw not in out
    assert "evil\\x1b[2J\\x1b]0;owned\\x07" in out and "clears\\x1b[2J the screen\\r\\u202e" in out


def test_an_earlier_run_is_not_overwritten_without_force(files, capsys):
    tasks, lib, tmp = files
    tasks.write_text(json.dumps(TASKS[0]) + "\n")
    assert solve(tasks, lib, tmp / "a.jsonl") == 0
    capsys.readouterr()
    before = (tmp / "a.jsonl").read_bytes(), (tmp / "a-report" / "report.json").read_bytes(), lib.stat().st_mtime_ns
    assert solve(tasks, lib, tmp / "a.jsonl") == 2
    err = capsys.readouterr().err
    assert "a.jsonl and " in err and "report.json and " in err and "already exist (an earlier run?); give --force" in err
    assert solve(tasks, lib, tmp / "b.jsonl", "--report", str(tmp / "a-report")) == 2  # a new answers file, the old report
    assert "a-report/report.json" in capsys.readouterr().err and not (tmp / "b.jsonl").exists()
    assert ((tmp / "a.jsonl").read_bytes(), (tmp / "a-report" / "report.json").read_bytes(), lib.stat().st_mtime_ns) == before
    assert solve(tasks, lib, tmp / "a.jsonl", "--force") == 0
    assert json.loads((tmp / "a.jsonl").read_text())["status"] == "reused"


def test_ctrl_c_stops_cleanly_keeps_the_answers_and_the_library(files):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it (the sandbox worker gets it too)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import riscmoe
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.seed import SEEDS

    tasks, lib, tmp = files
    hard = {"name": "hard", "examples": [{"args": [x], "output": (x * 7919) % 104729 ^ x} for x in (1, 2, 3, 4, 5, 6)]}
    tasks.write_text(json.dumps(TASKS[0]) + "\n" + "".join(json.dumps(dict(hard, name=f"hard{k}")) + "\n" for k in range(5)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(riscmoe.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    out = tmp / "a.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "riscmoe.cli.main", "functions", "solve", str(tasks), "--library", str(lib),
                             "--out", str(out), "--no-progress", "--time-limit", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            # Ctrl-C's default back in the child: a test run started in the background of
                            # a non-interactive shell inherits SIGINT ignored, and so would the service.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_text().count("\n") >= 1) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # well into the first hard task's search
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "interrupted after 1 of 6 tasks; their answers are kept in" in lines[0] and "is consistent" in lines[0]
    answers = [json.loads(l) for l in out.read_text().splitlines()]
    assert [a["name"] for a in answers] == ["tri"] and answers[0]["answers"] == [55, 1]
    report = json.loads((tmp / "a-report" / "report.json").read_text())
    assert report["summary"]["interrupted"] is True and report["summary"]["tasks"] == 1
    with FunctionLibrary(lib, seed=False) as library:
        assert len(library) == len(SEEDS) and library.get("triangular").uses == 1


def test_list_and_show_tell_quarantined_functions_apart(files, capsys):
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.values import Signature

    tasks, lib, tmp = files
    with FunctionLibrary(lib) as library:
        for name in ("plus_four", "plus_five"):
            library.add(name, f"def {name}(x):\n    return x + {4 if name == 'plus_four' else 5}\n", Signature.parse("(int) -> int"))
        library.record_faults(["plus_four", "plus_five"])  # one timed-out run each: counted, still in use
        library.record_faults(["plus_four"])  # a second: quarantined
    assert main(["functions", "list", "--library", str(lib)]) == 0
    out = capsys.readouterr().out
    assert ", 1 quarantined (not offered to tasks)" in out.splitlines()[0]
    row = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert " quarantined " in row["plus_four"] and " 1 timeout " in row["plus_five"] and " ok " in row["square"]
    assert main(["functions", "show", "plus_four", "--library", str(lib)]) == 0
    assert "state: quarantined: timed out in 2 runs; held-back examples: 0 confirmed it, 0 refuted it; not composed" in capsys.readouterr().out
    assert main(["functions", "release", "plus_four", "--library", str(lib)]) == 0
    assert "plus_four: was quarantined: timed out in 2 runs; now in use again" in capsys.readouterr().out
    with FunctionLibrary(lib, seed=False) as library:
        assert library.get("plus_four").state == "ok" and "plus_four" in {r.name for r in library.list()}


def test_a_bundled_task_set_by_name_reports_its_search_budget(tmp_path, capsys):
    out = tmp_path / "a.jsonl"
    rc = main(["functions", "solve", "list-concepts", "--time-limit", "0.02", "--no-progress", "--library", str(tmp_path / "lib.sqlite"),
               "--out", str(out)])
    assert rc == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 133
    summary = json.loads((tmp_path / "a-report" / "report.json").read_text())["summary"]
    assert summary["search_budget"]["unit"] == "nominal seconds" and summary["search_budget"]["per_task"] == 0.02
    assert summary["searches"] > 0 and summary["search_candidates"] > 0
    assert summary["searches_stopped_by_wall_limit"] == 0
    assert "search:" in capsys.readouterr().out
    assert main(["functions", "solve", "list-concepts", "--wall-limit", "0", "--out", str(tmp_path / "b.jsonl")]) == 2
    assert "--wall-limit must be positive" in capsys.readouterr().err


USER_KINDS = '''
from dataclasses import dataclass
from riscmoe.controller.policies import Best
from riscmoe.registry import register


@register("policy", "cheapest-first", domains=("functions",))
@dataclass(frozen=True)
class CheapestFirst(Best):
    """Best, but stops at the first passing function (no close calls)."""

    sure: float = 1.0
    close: float = 0.0


@register("creator", "constant-seven", domains=("functions",))
@dataclass(frozen=True)
class ConstantSeven:
    provenance = "synthesised"  # the library records one of seed, synthesised, llm
    calls = []

    def create(self, task, library):
        ConstantSeven.calls.append(task.name)
        return "def f(x):\\n    return 7\\n"
'''


@pytest.fixture
def user_kinds():
    from riscmoe import registry

    yield
    registry.unregister("policy", "cheapest-first")
    registry.unregister("creator", "constant-seven")


def test_a_users_policy_and_creator_kinds_are_named_on_the_command_line(tmp_path, capsys, user_kinds):
    """A new kind of the functions domain's parts, registered in the user's own file: no riscmoe file edited."""
    kinds = tmp_path / "my_kinds.py"
    kinds.write_text(USER_KINDS)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"name": "seven", "examples": [{"args": [1], "output": 7}, {"args": [5], "output": 7}],
                                 "queries": [{"args": [9], "expected": 7}]}) + "\n" + json.dumps(TASKS[0]) + "\n")
    lib = tmp_path / "lib.sqlite"
    code = solve(tasks, lib, tmp_path / "a.jsonl", "--import", str(kinds), "--policy", "cheapest-first", "--creator", "constant-seven")
    assert code == 0
    answers = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert answers[0]["status"] == "created" and answers[0]["answers"] == [7]  # the user's creator made it
    assert answers[1]["status"] == "reused" and answers[1]["answers"] == [55, 1]  # the seed triangular, under the user's policy
    import sys

    assert sys.modules["my_kinds"].ConstantSeven.calls == ["seven"]  # asked only where no stored function passed
    capsys.readouterr()
    for extra, message in [(["--policy", "nope"], "unknown policy kind 'nope' of the functions domain; registered kinds: first, best"),
                           (["--creator", "from-archive"], "unknown creator kind 'from-archive' of the functions domain; "
                                                            "registered kinds: synthesis, llm"),
                           (["--creator", "llm"], "--creator llm needs --llm-base-url")]:
        assert solve(tasks, lib, tmp_path / "b.jsonl", *extra) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "b.jsonl").exists()  # refused before anything was written


CHAIN_KIND = '''
from dataclasses import dataclass
from riscmoe.registry import register


@register("creator", "chain", domains=("functions",))
@dataclass(frozen=True)
class Chain:
    """Makes step<k> (x * 1000 + k) once step<k + 1> is stored; step3 needs nothing."""

    provenance = "synthesised"
    calls = []
    interrupt_at = None  # Ctrl-C lands in this call (counted from 0)
    last = {"candidates": 1}  # what a search reports (the report counts searches by it)

    def create(self, task, library):
        if len(Chain.calls) == Chain.interrupt_at:
            raise KeyboardInterrupt
        Chain.calls.append(task.name)
        k = int(task.name[4:])
        if k < 3 and f"step{k + 1}" not in library:
            return None
        return f"def {task.name}(x):\\n    return x * 1000 + {k}\\n"
'''


@pytest.fixture
def chain(tmp_path):
    from riscmoe import registry

    (tmp_path / "chain_kind.py").write_text(CHAIN_KIND)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"name": f"step{k}", "examples": [{"args": [x], "output": x * 1000 + k} for x in (1, 2, 3)],
                                         "queries": [{"args": [9], "expected": 9000 + k}]}) + "\n" for k in (1, 2, 3)))
    yield tasks, ["--import", str(tmp_path / "chain_kind.py"), "--creator", "chain"]
    registry.unregister("creator", "chain")
    import sys

    sys.modules.pop("chain_kind", None)


def test_sweeps_answer_what_the_pass_failed_before_its_library_grew_and_rewrite_the_answers(tmp_path, capsys, chain):
    import sys

    tasks, kind = chain
    lib = tmp_path / "lib.sqlite"
    assert solve(tasks, lib, tmp_path / "a.jsonl", *kind) == 0
    text = capsys.readouterr().out
    assert sys.modules["chain_kind"].Chain.calls == ["step1", "step2", "step3", "step1", "step2", "step1"]
    assert "sweep 1: solving again 2 failed tasks that the library changed for since they were solved" in text
    assert "sweep 2: solving again 1 failed task that the library changed for since it was solved" in text
    assert "sweeps: 2 (at most 3) over failed tasks the library changed for since they were solved: 2 + 1 solved again, " \
           "3 searched, 2 answered, 2 functions stored" in text
    assert "3 tasks: answered 3 (100.0%), reused 0, created 3, failed 0" in text and "see a library changed" not in text
    answers = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [(a["name"], a["status"], a["answers"]) for a in answers] == [(f"step{k}", "created", [9000 + k]) for k in (1, 2, 3)]
    report = json.loads((tmp_path / "a-report" / "report.json").read_text())
    rows, summary = report["tasks"], report["summary"]
    assert [[(a["sweep"], a["status"]) for a in r.get("sweeps", [])] for r in rows] == [
        [(0, "failed"), (1, "failed"), (2, "created")], [(0, "failed"), (1, "created")], []]
    assert rows[0]["seconds"] == pytest.approx(sum(a["seconds"] for a in rows[0]["sweeps"]))  # the task's time, sweeps included
    assert (summary["searches"], summary["sweeps"]["searches"], summary["sweeps"]["stale_left"]) == (6, 3, 0)
    assert summary["tasks_all_queries_correct"] == 1.0 and summary["library_after"] == summary["library_before"] + 3
    # A second run over the file: every answer reused, nothing searched, no sweep.
    assert solve(tasks, lib, tmp_path / "b.jsonl", *kind) == 0
    assert "reused 3, created 0, failed 0" in capsys.readouterr().out and sys.modules["chain_kind"].Chain.calls == []  # (imported anew)
    assert [json.loads(line)["answers"] for line in (tmp_path / "b.jsonl").read_text().splitlines()] == [a["answers"] for a in answers]


def test_sweeps_stop_at_their_bound_and_say_what_is_left(tmp_path, capsys, chain):
    tasks, kind = chain
    for n, left in [("0", "2 failed tasks see a library changed since they were solved (no sweep was asked for (--sweeps 0))"),
                    ("1", "1 failed task sees a library changed since it was solved (the sweeps stopped at --sweeps 1)")]:
        assert solve(tasks, tmp_path / f"lib{n}.sqlite", tmp_path / f"a{n}.jsonl", *kind, "--sweeps", n) == 0
        text = capsys.readouterr().out
        assert left + ": the next run over this file solves" in text
        report = json.loads((tmp_path / f"a{n}-report" / "report.json").read_text())
        assert (report["summary"]["sweeps"]["run"], report["summary"]["failed"]) == (int(n), 2 - int(n))
    assert solve(tasks, tmp_path / "lib.sqlite", tmp_path / "b.jsonl", *kind, "--sweeps", "-1") == 2
    assert "--sweeps must be 0 (no sweep) or more, got -1" in capsys.readouterr().err and not (tmp_path / "b.jsonl").exists()


def test_ctrl_c_in_a_sweep_keeps_every_answer_and_a_whole_answers_file(tmp_path, capsys, chain):
    tasks, kind = chain
    lib = tmp_path / "lib.sqlite"
    # Sweep 1: step1 searched (fails), step2 searched and stored, Ctrl-C in sweep 2's search of step1.
    (tmp_path / "chain_kind.py").write_text(CHAIN_KIND.replace("interrupt_at = None", "interrupt_at = 5"))
    assert solve(tasks, lib, tmp_path / "a.jsonl", *kind) == 130
    err = capsys.readouterr().err
    assert "interrupted in sweep 2, after all 3 tasks; their answers are kept in" in err and "is consistent" in err
    answers = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [a["status"] for a in answers] == ["failed", "created", "created"]  # step2's answer from sweep 1 is in the file
    report = json.loads((tmp_path / "a-report" / "report.json").read_text())
    assert report["summary"]["interrupted"] is True and report["summary"]["tasks"] == 3
    assert [r["status"] for r in report["tasks"]] == ["failed", "created", "created"]
    (tmp_path / "chain_kind.py").write_text(CHAIN_KIND)  # (each run imports it anew)
    assert solve(tasks, lib, tmp_path / "b.jsonl", *kind) == 0  # the next run finishes it
    assert [json.loads(line)["status"] for line in (tmp_path / "b.jsonl").read_text().splitlines()] == ["created", "reused", "reused"]
