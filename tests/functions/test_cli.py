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
    assert "4 tasks: solved 4 (100.0%), reused 2, created 2, failed 0" in text
    assert "accuracy against expected answers: 100.0% of queries" in text
    lines = [json.loads(l) for l in (tmp / "a1.jsonl").read_text().splitlines()]
    assert lines[0] == {"name": "tri", "answers": [55, 1], "status": "reused", "function": "triangular"}
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
    assert out.strip() == "['RiscClassifier', 'SaveFormatError', '__version__', 'load'] True"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        import riscmoe

        riscmoe.nothing_here
