"""Tests for riscmoe.cli.runfolder: a run folder appears whole, and replaces only an earlier run."""

from pathlib import Path

import pytest

from riscmoe.cli import runfolder


def _staged_run(out: Path, text: str) -> Path:
    staged = runfolder.stage(out)
    (staged / "system").mkdir()
    (staged / "metrics.json").write_text(text)
    return staged


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_install_over_an_earlier_run(tmp_path, monkeypatch, exchange):
    if not exchange:  # a kernel or file system without RENAME_EXCHANGE
        monkeypatch.setattr(runfolder, "_exchange", lambda a, b: False)
    out = tmp_path / "run"
    runfolder.install(_staged_run(out, "first"), out, force=False)
    assert (out / "metrics.json").read_text() == "first"
    staged = _staged_run(out, "second")
    with pytest.raises(runfolder.RunFolderError, match=f"kept in {staged}"):
        runfolder.install(staged, out, force=False)  # --out took a run meanwhile: nothing lost
    assert (out / "metrics.json").read_text() == "first" and (staged / "metrics.json").exists()
    runfolder.install(staged, out, force=True)
    assert (out / "metrics.json").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_check_target(tmp_path):
    runfolder.check_target(tmp_path / "new", force=False)  # absent: fine
    (tmp_path / "empty").mkdir()
    runfolder.check_target(tmp_path / "empty", force=False)  # empty (e.g. left by riscmoe 0.1.0's Ctrl-C)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "empty")
    with pytest.raises(runfolder.RunFolderError, match="is a symbolic link"):
        runfolder.check_target(link, force=True)
    many = tmp_path / "many"
    many.mkdir()
    for i in range(8):
        (many / f"f{i}").write_text("x")
    with pytest.raises(runfolder.RunFolderError, match=r"f0, f1, f2, f3, f4 and 3 more.*untouched"):
        runfolder.check_target(many, force=True)


def test_leftovers_of_live_processes_are_kept(tmp_path):
    out = tmp_path / "run"
    mine = runfolder.stage(out)  # this process is alive: its staging folder stays
    dead = tmp_path / ".run.partial-999999999-x"
    dead.mkdir()
    other = tmp_path / ".other.partial-999999999-x"  # another run folder's: not ours to judge
    other.mkdir()
    assert runfolder.clean_leftovers(out) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()
