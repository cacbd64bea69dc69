"""benchmarks/serve_load.py on a tiny setting: it must not rot, and its table must be the run's."""

import json

import pytest

pytest.importorskip("fastapi", reason="the service needs FastAPI: pip install 'riscmoe[serve]'")
pytest.importorskip("uvicorn", reason="the service needs uvicorn: pip install 'riscmoe[serve]'")

from benchmarks.serve_load import BEGIN, END, main  # noqa: E402


def test_serve_load_runs_and_writes_its_table(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text(f"# head\n\n{BEGIN}\nold\n{END}\n")
    assert main(["--clients", "1", "--requests", "6", "--batch", "4", "--seconds", "20", "--threads", "1", "--page-members", "60",
                 "--out", str(tmp_path / "out"), "--write", str(doc)]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {(r["clients"], r["feedback"]): r for r in res["rows"]}
    assert set(rows) == {(1, False), (1, True)}
    for (clients, feedback), r in rows.items():
        assert r["requests"] == 6 * clients and r["inputs_per_s"] > 0 and 0 < r["p50_ms"] <= r["p99_ms"]
        assert (r["feedback_acked"] > 0) == feedback
    pages = res["pages"]
    assert pages["members"] == 60 and pages["page_first"]["bytes"] > 5000 and pages["members_1000"]["ms"] > 0
    assert pages["feedback_to_served_s"] > 0
    assert res["ceiling"]["batches_inputs_per_s"] > 0 and res["ceiling"]["one_call_inputs_per_s"] > 0
    text = doc.read_text()
    assert "old" not in text and "| 1 | with | 6 |" in text and "--clients 1 --requests 6 --batch 4" in text and "With 60 members" in text


def test_bad_arguments_are_refused_before_any_work(tmp_path, capsys):
    for bad, says in ((["--clients", "0"], "--clients must each be at least 1"), (["--requests", "0"], "--requests must be"),
                      (["--system", str(tmp_path)], "is not a saved system")):
        with pytest.raises(SystemExit) as exc:
            main([*bad, "--out", str(tmp_path / "o"), "--write", ""])
        assert exc.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
