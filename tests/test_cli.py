import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
RUN = [sys.executable, "-m", "riscmoe.cli.main", "run"]


def _env(**extra):
    """A child's environment with this worktree's package first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def test_run_and_inspect_on_digits(tmp_path):
    # Issue 15, finding 13: --force replaces an earlier run (only that), whole, and clears a
    # killed run's leftovers.
    out = tmp_path / "run"
    _earlier_run(out)
    dead = tmp_path / ".run.partial-999999999-abc"  # left by a killed run (no such process)
    (dead / "system").mkdir(parents=True)
    r = subprocess.run(
        RUN + ["--dataset", "digits", "--batch-size", "32", "--no-progress", "--threads", "1", "--out", str(out),
               "--force"],
        capture_output=True, text=True, env=_env(),
    )
    assert r.returncode == 0, r.stderr
    assert "final accuracy" in r.stdout
    assert "threads                            1 (set by the caller)" in r.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["final_accuracy"] > 0.9 and 10 <= m["members"] <= 12
    assert len(m["accuracy_matrix"]) == 5
    assert m["threads"] == 1 and "earlier" not in m
    # Each meta-model costs about 2F multiply-adds against a model's 64F: the whole bank of
    # ten or so costs a fraction of one member's model.
    assert 0 < m["cost_per_input"]["meta_bank_over_one_model"] < 0.4
    for png in ("accuracy.png", "members.png", "routing.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # The run folder appeared whole, with a plain folder's permissions, and nothing beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "members.png", "metrics.json", "routing.png", "system"]
    assert not (out / "system" / "manifest.json").read_text() == "{}"
    assert (out.stat().st_mode & 0o777) == (0o777 & ~_umask())
    r = subprocess.run([sys.executable, "-m", "riscmoe.cli.main", "inspect", str(out / "system")],
                       capture_output=True, text=True, check=True, env=_env())
    assert "new label" in r.stdout and r.stdout.count("\n") >= 12
    assert "meta-models cost" in r.stdout and "border" in r.stdout


def test_settings_from_a_file_and_set(tmp_path):
    (tmp_path / "cfg.toml").write_text('threshold = 0.002\n[model]\nhidden = 16\n[policy]\nkind = "mixture"\n')
    out = tmp_path / "run"
    r = subprocess.run(RUN + ["--dataset", "digits", "--groups", "2", "--train-limit", "500", "--no-progress", "--threads", "1",
                              "--config", str(tmp_path / "cfg.toml"), "--set", "model.lr=0.005", "--set", "meta.pair_margin=0",
                              "--out", str(out)], capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["policy"] == "mixture" and m["settings"]["model__hidden"] == 16 and m["settings"]["model__lr"] == 0.005
    assert m["settings"]["threshold"] == 0.002 and m["settings"]["meta__pair_margin"] == 0
    r = subprocess.run([sys.executable, "-m", "riscmoe.cli.main", "inspect", str(out / "system")],
                       capture_output=True, text=True, check=True, env=_env())
    assert "model    verifier (hidden=16, lr=0.005)" in r.stdout and "policy   mixture" in r.stdout
    assert "threshold=0.002" in r.stdout


MY_KINDS = """
from dataclasses import dataclass, field

from riscmoe.controller.policies import First
from riscmoe.registry import register


@register("policy", "first-cautious")
@dataclass(frozen=True)
class FirstCautious(First):
    \"\"\"The first policy that runs one more member before trusting a model.\"\"\"

    sure: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
"""


@pytest.mark.parametrize("how", ["file", "module"])
def test_a_users_kind_is_named_on_the_command_line_after_import(tmp_path, how):
    (tmp_path / "my_kinds.py").write_text(MY_KINDS)
    name = str(tmp_path / "my_kinds.py") if how == "file" else "my_kinds"
    out = tmp_path / "run"
    r = subprocess.run(RUN + ["--dataset", "digits", "--groups", "2", "--train-limit", "400", "--no-progress", "--threads", "1",
                              "--import", name, "--set", "policy=first-cautious", "--set", "policy.sure=0.3", "--out", str(out)],
                       capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["policy"] == "first-cautious" and m["settings"]["policy__sure"] == 0.3 and m["final_accuracy"] > 0.8
    # Without the import the kind is unknown, and nothing runs; a module that fails is named.
    r = subprocess.run(RUN + ["--dataset", "digits", "--set", "policy=first-cautious", "--out", str(tmp_path / "r2")],
                       capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert r.returncode == 2 and "unknown policy kind 'first-cautious'" in r.stderr and not (tmp_path / "r2").exists()
    (tmp_path / "broken.py").write_text("raise ImportError('needs a package you lack')\n")
    for bad, message in ((str(tmp_path / "broken.py"), "failed while importing: ImportError: needs a package you lack"),
                         ("no_such_module_here", "No module named 'no_such_module_here'"),
                         (str(tmp_path / "absent.py"), "no such file")):
        r = subprocess.run(RUN + ["--dataset", "digits", "--import", bad, "--out", str(tmp_path / "r3")],
                           capture_output=True, text=True, env=_env(), cwd=tmp_path)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("setting, message", [("model.width=3", "no setting 'width'"), ("policy=random", "unknown policy kind"),
                                              ("model.hidden=0", "model__hidden must be at least 1"), ("hidden", "PART.NAME=VALUE")])
def test_a_bad_setting_is_refused_before_any_work(tmp_path, setting, message):
    r = subprocess.run(RUN + ["--dataset", "digits", "--no-progress", "--set", setting, "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "after stage" not in r.stdout and not (tmp_path / "run").exists()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_cli_clear_error_on_bad_dataset(tmp_path):
    r = subprocess.run(RUN + ["--dataset", "nope", "--out", str(tmp_path)], capture_output=True, text=True, env=_env())
    assert r.returncode == 2 and "nope" in r.stderr


def test_bad_thread_count_is_refused(tmp_path):
    r = subprocess.run(RUN + ["--dataset", "digits", "--threads", "0", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 2 and "--threads" in r.stderr and "'0'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def _earlier_run(folder: Path) -> dict[str, bytes]:
    """A folder laid out as a run (what --force may replace); returns its files' bytes."""
    (folder / "system").mkdir(parents=True)
    (folder / "metrics.json").write_text('{"earlier": true}')
    (folder / "accuracy.png").write_bytes(b"earlier png")
    (folder / "system" / "manifest.json").write_text("{}")
    return _snapshot(folder)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_existing_run_is_refused_without_force(tmp_path):
    # Issue 15, finding 13: a run into an existing --out silently replaced the earlier run.
    out = tmp_path / "run"
    before = _earlier_run(out)
    r = subprocess.run(RUN + ["--dataset", "digits", "--no-progress", "--out", str(out)],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 2 and str(out) in r.stderr and "--force" in r.stderr
    assert "after stage" not in r.stdout  # refused before any work
    assert _snapshot(out) == before


def test_force_never_replaces_a_folder_that_is_not_a_run(tmp_path):
    home = tmp_path / "thesis"
    home.mkdir()
    (home / "thesis.tex").write_text("\\documentclass{article}")
    (home / "metrics.json").write_text("{}")
    before = _snapshot(home)
    afile = tmp_path / "notes.txt"
    afile.write_text("notes")
    for out in (home, afile):
        r = subprocess.run(RUN + ["--dataset", "digits", "--no-progress", "--force", "--out", str(out)],
                           capture_output=True, text=True, env=_env())
        assert r.returncode == 2 and str(out) in r.stderr, r.stderr
    assert "thesis.tex" in r.stderr or "is a file" in r.stderr
    assert _snapshot(home) == before and afile.read_text() == "notes"


def _interruptible() -> None:
    """In the child before exec: Ctrl-C's default back. A test run started in the background of a
    non-interactive shell inherits SIGINT ignored, and a Python started so never sees Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("earlier", [False, True], ids=["new-folder", "over-an-earlier-run-with-force"])
def test_ctrl_c_stops_cleanly(tmp_path, earlier):
    # Issue 15, finding 13: Ctrl-C printed a 24-line traceback and left an empty run folder.
    out = tmp_path / "run"
    before = _earlier_run(out) if earlier else None
    proc = subprocess.Popen(RUN + ["--dataset", "digits", "--no-progress", "--out", str(out)]
                            + (["--force"] if earlier else []),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(PYTHONUNBUFFERED="1", RISCMOE_THREADS="1"), preexec_fn=_interruptible)
    for line in proc.stdout:
        if "after stage 1/" in line:  # mid-run: the first of five groups learned
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    # 130, or death by SIGINT, which a shell reports as 130 too (see EXIT_INTERRUPTED).
    assert proc.returncode in (130, -signal.SIGINT), err
    assert err.strip().count("\n") == 0 and err.startswith("riscmoe: interrupted"), err
    assert "Traceback" not in err
    if earlier:
        assert "earlier run" in err and _snapshot(out) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    else:
        assert f"nothing was written to {out}" in err
        assert list(tmp_path.iterdir()) == []


def test_missing_data_dir_is_refused(tmp_path):
    # Issue 15, finding 13: a --data-dir typo fell back to the cache or started a download.
    missing = tmp_path / "no-such-folder"
    env = _env(RISCMOE_DATA=str(tmp_path / "cache"), PATH=str(tmp_path),  # no npm
               https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9")  # no network either
    r = subprocess.run(RUN + ["--dataset", "mnist", "--data-dir", str(missing), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and f"data_dir {missing} does not exist" in r.stderr, r.stderr
    assert "riscmoe: downloading" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
