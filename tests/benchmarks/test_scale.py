"""benchmarks/scale.py on three permuted copies of the 8x8 digits: it must not rot, and its figures must be the run's."""

import json

from benchmarks.scale import BEGIN, END, main


def test_scale_benchmark_runs_and_writes_its_table(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text(f"# head\n\n{BEGIN}\nstale-table\n{END}\n")
    assert main(["--dataset", "digits", "--copies", "3", "--per-class", "40", "--test-per-class", "10",
                 "--out", str(tmp_path / "out"), "--write", str(doc)]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["classes"] for r in res["rows"]] == [10, 20, 30]
    members = [r["members"] for r in res["rows"]]
    assert members == sorted(members) and 10 <= members[0] and members[-1] >= 20  # it grows with new classes
    for r in res["rows"]:
        assert 0.5 < r["accuracy"] <= 1 and r["save_mb"] > 0 and r["peak_mb"] > 0
        assert 0 < r["predict_ms_p50"] <= r["predict_ms_p99"]
        assert 0.5 < r["slda_accuracy"] <= 1  # the peer learned the same stream
        # 40 examples a member: no own scatters, only means and reservoirs (the digits' F is small)
        assert r["members_with_scatter"] == 0 and 0 < r["meta_kb_per_member"] < 1024
    assert (tmp_path / "out" / "scale.png").stat().st_size > 1000
    text = doc.read_text()
    assert "stale-table" not in text and "| 30 |" in text and "--copies 3 --per-class 40 --test-per-class 10" in text


def test_scale_benchmark_measures_every_few_copies(tmp_path):
    assert main(["--dataset", "digits", "--copies", "4", "--per-class", "30", "--test-per-class", "5", "--every", "3",
                 "--no-peer", "--no-save", "--out", str(tmp_path / "out"), "--write", ""]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["classes"] for r in res["rows"]] == [10, 30, 40]  # the first copy, every third, the last
    assert all(r["slda_accuracy"] is None and r["save_mb"] is None for r in res["rows"])


def test_a_file_as_results_folder_is_refused_before_any_work(tmp_path, capsys):
    import pytest

    from benchmarks import plugged_encoder

    taken = tmp_path / "taken"
    taken.write_text("mine")
    for bench in (main, plugged_encoder.main):
        with pytest.raises(SystemExit) as exc:
            bench(["--dataset" if bench is main else "--stream", "digits", "--out", str(taken), "--write", ""])
        assert exc.value.code == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert taken.read_text() == "mine"


def test_scale_benchmark_sets_estimator_parameters(tmp_path, capsys):
    import pytest

    assert main(["--dataset", "digits", "--copies", "1", "--per-class", "60", "--test-per-class", "5", "--no-peer",
                 "--no-save", "--set", "meta__reservoir=8", "--set", "meta__half_reservoir=true",
                 "--out", str(tmp_path / "out"), "--write", ""]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["set"] == ["meta__reservoir=8", "meta__half_reservoir=True"]
    # A reservoir smaller than pair_min cannot keep a member's examples until it needs its own
    # scatter, so every member makes it at once (with the default reservoir none has one here).
    row = res["rows"][0]
    assert row["members"] >= 8 and row["members_with_scatter"] == row["members"]
    assert "--set meta__reservoir=8" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--set", "no_equals_sign", "--write", ""])
    assert exc.value.code == 2
