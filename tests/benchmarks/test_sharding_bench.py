"""benchmarks/sharding.py on two permuted copies of the 8x8 digits: it must not rot, and every row must answer as one process."""

import json

import pytest

from benchmarks.sharding import BEGIN, END, main


def test_sharding_benchmark_runs_and_every_way_answers_alike(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'riscmoe[ray]'); this benchmark needs it")
    doc = tmp_path / "B.md"
    doc.write_text(f"# head\n\n{BEGIN}\nstale-table\n{END}\n")
    assert main(["--dataset", "digits", "--copies", "2", "--per-class", "40", "--test-per-class", "5", "--queries", "256",
                 "--batch", "64", "--out", str(tmp_path / "out"), "--write", str(doc)]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["members"] >= 15 and res["queries"] == 256
    assert [r["workers"] for r in res["rows"]] == [1, 2, 1, 2]
    for r in res["rows"]:
        assert r["same"] and r["inputs_per_s"] > 0 and 0 < r["p50"] <= r["p99"]
    text = doc.read_text()
    assert "stale-table" not in text and "| Ray, 2 workers |" in text


def test_counts_below_one_are_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--copies", "0", "--out", str(tmp_path / "out"), "--write", ""])
    assert "--copies must be at least 1" in capsys.readouterr().err and not (tmp_path / "out").exists()
