"""The functions benchmark on the first 15 bundled tasks: it runs end to end and records its figures."""

import json

from benchmarks.functions_bench import BEGIN, END, main, markdown, write_markdown


def test_functions_bench_on_a_few_tasks(tmp_path):
    md = tmp_path / "BENCH.md"
    md.write_text("# Benchmarks\n\nearlier sections stay as they are\n")
    assert main(["--limit", "15", "--out", str(tmp_path / "out"), "--time-limit", "2", "--markdown", str(md)]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    r1, r2 = res["run1"], res["run2"]
    assert r1["tasks"] == r2["tasks"] == 15 and len(res["per_task"]) == 15
    assert r1["solved"] >= 12 and r1["reused"] + r1["created"] + r1["failed"] == 15
    assert 0 <= r1["verified"] <= r1["solved"] and r1["verified"] + r1["fits_only"] == r1["solved"]
    assert 0.8 <= r1["query_accuracy"] <= 1.0
    assert r1["library_before"] <= r1["library_after"] <= r1["library_before"] + r1["created"]
    assert res["library_growth"] == r1["library_after"] - r1["library_before"]
    # The second run creates nothing, answers what the first solved by reuse, and is faster.
    assert r2["created"] == 0 and r2["reused"] == r1["solved"] and r2["library_after"] == r1["library_after"]
    assert res["speedup_solving"] > 1 and res["speedup_wall"] > 1
    # What failed in run 1 and no stored function answers now is skipped as a known failure or searched again.
    assert r1["known_failures_skipped"] == 0 and r2["known_failures_skipped"] + r2["failures_searched_again"] <= r1["failed"]
    assert res["hostile_test_cases"]["test_hostile_functions_are_contained"] >= 6
    assert res["machine"]["nproc"] >= 1 and (tmp_path / "out" / "functions.png").stat().st_size > 5000
    text = md.read_text()
    assert text.startswith("# Benchmarks\n\nearlier sections stay as they are\n")
    assert text.count(BEGIN) == 1 and text.rstrip().endswith(END) and "| answered (every example reproduced) | " in text
    assert "| of which verified on a held-back example | " in text
    assert "| failed tasks not searched again: known failures (searched again: the library they see changed) | 0 (0) | " in text
    # A second write replaces the section instead of adding another.
    write_markdown(md, markdown(res).replace("| answered (every example reproduced) | ", "| answered again | "))
    text = md.read_text()
    assert text.count(BEGIN) == 1 and "| answered again | " in text and "| answered (every example reproduced) | " not in text
    assert text.startswith("# Benchmarks\n\nearlier sections stay as they are\n")
