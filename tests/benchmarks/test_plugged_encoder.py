"""benchmarks/plugged_encoder.py on the 8x8 digits: it must not rot, and it writes its section in place."""

import json

from benchmarks.plugged_encoder import BEGIN, END, main, write_section


def test_plugged_encoder_benchmark_runs_and_writes_its_table(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text(f"# head\n\n{BEGIN}\nold\n{END}\n\ntail\n")
    assert main(["--stream", "digits", "--pretrain-on", "digits", "--out", str(tmp_path / "out"), "--write", str(doc)]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    default, plugged = res["systems"]
    assert default["features"] == 576 and plugged["features"] == 128  # random-conv's, and the CNN's 32 x 2 x 2
    for r in (default, plugged):
        assert 0.5 < r["accuracy"] <= 1 and r["members"] >= 10 and r["train_seconds"] > 0
    text = doc.read_text()
    assert text.startswith("# head") and text.endswith("tail\n") and "old" not in text
    assert "| CNN trained on digits (plugged in) | 128 |" in text


def test_a_missing_section_is_appended_with_a_heading(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text("# head\n")
    write_section(doc, "table")
    assert doc.read_text() == f"# head\n\n## A plugged-in encoder (a user's own CNN)\n\n{BEGIN}\ntable\n{END}\n"
