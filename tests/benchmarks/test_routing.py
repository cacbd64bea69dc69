"""benchmarks/routing.py on small synthetic banks: it must not rot, and its figures must be the run's."""

import json

import pytest

from benchmarks.routing import BEGIN, END, main


def test_routing_benchmark_runs_and_writes_its_table(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text(f"# head\n\n{BEGIN}\nold\n{END}\n")
    assert main(["--members", "20", "300", "--candidates", "16", "--dim", "24", "--queries", "600",
                 "--out", str(tmp_path / "out"), "--write", str(doc)]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {(r["members"], r["candidates"]): r for r in res["rows"]}
    assert set(rows) == {(20, 0), (20, 16), (300, 0), (300, 16)}
    assert rows[(300, 0)]["scored_per_query"] == 300 and rows[(300, 16)]["scored_per_query"] < 150
    assert rows[(300, 16)]["recall"] > 0.9 and rows[(300, 16)]["agreement"] > 0.9  # families: the clusters find them
    for r in res["rows"]:
        assert r["ms_per_query"] > 0 and r["bank_mb"] > 0 and 0.5 < r["accuracy"] <= 1
    assert (tmp_path / "out" / "routing.png").stat().st_size > 1000
    text = doc.read_text()
    assert "old" not in text and "| 300 | 16 candidates |" in text and "--members 20 300 --candidates 16" in text


def test_bad_arguments_are_refused_before_any_work(tmp_path, capsys):
    for bad, says in ((["--members", "1"], "--members must be at least 2"), (["--candidates", "0"], "--candidates must be at least 1"),
                      (["--dim", "0"], "--dim must be at least 1")):
        with pytest.raises(SystemExit) as exc:
            main([*bad, "--out", str(tmp_path / "o"), "--write", ""])
        assert exc.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
