"""Two passes of ``riscmoe functions solve`` over a tiny file: the sweeps leave the second pass nothing to search."""

import json

from benchmarks.functions_passes import main

# No small program maps 1, 2, 3, 4 to 91, 17, 55, 3; x * x + 1, stored after it and checked on its
# held-back example, is a building block the synthesiser then offers: odd's failure goes stale.
ODD = {"name": "odd", "examples": [{"args": [x], "output": y} for x, y in [(1, 91), (2, 17), (3, 55), (4, 3)]],
       "queries": [{"args": [5]}]}
SQ1 = {"name": "sq1", "examples": [{"args": [x], "output": x * x + 1} for x in (1, 2, 5, -3)], "queries": [{"args": [10], "expected": 101}]}


def test_the_sweep_moves_the_stale_search_into_the_first_pass(tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(ODD) + "\n" + json.dumps(SQ1) + "\n")
    res = {}
    for name, extra in [("sweeps", []), ("none", ["--sweeps", "0"])]:
        assert main(["--tasks", str(tasks), "--out", str(tmp_path / name), "--time-limit", "0.2", *extra]) == 0
        res[name] = json.loads((tmp_path / name / "results.json").read_text())
    p1, p2 = res["sweeps"]["pass1"], res["sweeps"]["pass2"]
    assert (p1["searches"], p1["sweeps"], p1["swept_tasks"], p1["sweep_searches"], p1["stale_left"]) == (3, 1, 1, 1, 0)
    assert (p2["searches"], p2["known_failures_skipped"], p2["sweeps"]) == (0, 1, 0)
    q1, q2 = res["none"]["pass1"], res["none"]["pass2"]
    assert (q1["searches"], q1["stale_left"], q2["searches"], q2["failures_searched_again"], q2["stale_left"]) == (2, 1, 1, 1, 0)
    for r in res.values():
        assert r["pass1"]["all_queries_right"] == r["pass2"]["all_queries_right"] == 1
        assert r["pass1"]["cpu_seconds"] > 0 and r["pass2"]["rerun_speedup"] > 0 and r["pass2"]["rerun_speedup_cpu"] > 0
    assert "CPU time)" in capsys.readouterr().out
