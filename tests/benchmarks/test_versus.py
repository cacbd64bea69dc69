"""benchmarks/versus.py on the quick suite's digits stream: the same job under an earlier commit and this tree."""

import json
import subprocess

import pytest

from benchmarks.versus import ROOT, main


def test_versus_runs_both_trees_and_reports_cpu_seconds(tmp_path, capsys):
    try:
        assert main(["--baseline", "HEAD", "--suite", "quick", "--streams", "split-digits", "--rounds", "1",
                     "--out", str(tmp_path / "out")]) == 0
        checked_out = [t.name for t in (tmp_path / "out" / "trees").glob("*") if (t / "src" / "riscmoe").is_dir()]
    finally:  # the checkout is a worktree of this repository: leave none behind
        for tree in (tmp_path / "out" / "trees").glob("*"):
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    [row] = res["rows"]
    assert len(res["baseline"]) == 40 and checked_out == [res["baseline"][:12]]
    assert len(row["baseline_cpu_s"]) == len(row["now_cpu_s"]) == 1
    assert all(t > 0 for t in row["baseline_cpu_s"] + row["now_cpu_s"])
    assert 0.5 < row["baseline_accuracy"] <= 1 and 0.5 < row["now_accuracy"] <= 1
    assert "| split-digits |" in capsys.readouterr().out


def test_versus_refuses_what_is_not_a_commit(tmp_path):
    with pytest.raises(SystemExit, match="is not a commit"):
        main(["--baseline", "no-such-commit-anywhere", "--out", str(tmp_path / "out")])
