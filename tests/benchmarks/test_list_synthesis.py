"""The list-synthesis benchmark on three tasks of a set, against this tree's own commit as the baseline."""

import json

import pytest

from benchmarks.list_synthesis import BEGIN, END, main


def test_list_synthesis_bench_on_a_few_tasks(tmp_path):
    md = tmp_path / "BENCH.md"
    md.write_text("# Benchmarks\n\nearlier sections stay\n")
    out = tmp_path / "out"
    args = ["--sets", "list-concepts-dev", "--limit", "3", "--time-limit", "0.3", "--baseline", "HEAD", "--out", str(out),
            "--markdown", str(md)]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    for key in ("baseline", "tree"):
        r = res[key]["list-concepts-dev"]
        assert r["tasks"] == 3 and 0 <= r["fully_right"] <= r["answered"] <= 3
        assert r["fully_right"] == len(r["right"]) and len(r["wrong"]) == r["answered"] - r["fully_right"]
        assert r["seconds_per_task"] > 0 and r["wall_seconds"] > 0
    text = md.read_text()
    assert text.startswith("# Benchmarks\n\nearlier sections stay\n") and text.count(BEGIN) == 1 and text.rstrip().endswith(END)
    assert "| `list-concepts-dev` | 3 | " in text and "--baseline HEAD" in text
    # --reuse keeps both runs (same code, same settings): nothing is solved again, the section is the same.
    before = (out / "results.json").read_text()
    assert main(args + ["--reuse"]) == 0
    assert json.loads((out / "results.json").read_text())["tree"] == json.loads(before)["tree"]


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit):
        main(["--limit", "0", "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit):
        main(["--time-limit", "0", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
