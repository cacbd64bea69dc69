"""Saving and loading: what a save may replace, crashes at any instant, checksums, any path name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from riscmoe import SaveFormatError, load
from riscmoe import SaveRefusedError
from tests.saves import data_file

ROOT = Path(__file__).resolve().parents[1]


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def test_save_refuses_a_folder_that_is_not_a_save(fitted, tmp_path):
    thesis = tmp_path / "work"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\documentclass{article} years of work")
    with pytest.raises(SaveRefusedError, match="not a riscmoe save"):
        fitted.save(thesis)
    assert _listing(thesis) == ["thesis.tex"]
    assert (thesis / "thesis.tex").read_text().endswith("years of work")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_save_refuses_a_plain_file(fitted, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with pytest.raises(SaveRefusedError, match="is a file"):
        fitted.save(target)
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_save_refuses_a_folder_whose_manifest_is_not_riscmoes(fitted, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"format": "someone-else", "files": ["a"]}))
    (other / "a").write_text("data")
    with pytest.raises(SaveRefusedError, match="not a riscmoe save"):
        fitted.save(other)
    assert _listing(other) == ["a", "manifest.json"]


def test_save_into_an_empty_folder_and_over_a_save(fitted, digits, tmp_path):
    _, _, Xte, _ = digits
    (tmp_path / "sys").mkdir()
    fitted.save(tmp_path / "sys")
    first = json.loads((tmp_path / "sys" / "manifest.json").read_text())
    fitted.save(tmp_path / "sys")
    second = json.loads((tmp_path / "sys" / "manifest.json").read_text())
    assert second["generation"] == first["generation"] + 1
    # Only the live generation's files stay.
    assert _listing(tmp_path / "sys") == sorted([".riscmoe-lock", "manifest.json", *second["files"].values()])
    np.testing.assert_array_equal(load(tmp_path / "sys").predict(Xte), fitted.predict(Xte))


def test_a_save_deletes_only_its_own_leftovers(fitted, tmp_path):
    fitted.save(tmp_path / "sys")
    (tmp_path / "sys" / ".tmpAb12Cd").write_bytes(b"half of a weights file")  # safetensors' temporary file
    (tmp_path / "sys" / ".archive-k1_x9.sqlite-journal").write_bytes(b"the journal of a killed archive copy")
    (tmp_path / "sys" / "weights-000009-deadbeef.safetensors").write_bytes(b"a killed save's generation")
    (tmp_path / "sys" / "notes.txt").write_text("the user's own")
    (tmp_path / ".sys.tmp-999999999-abcd1234").mkdir()  # a killed first save's folder (no such process)
    (tmp_path / ".sys.tmp-999999999-abcd1234" / "manifest.json").write_text("{}")
    (tmp_path / ".sys.tmp-999999999-ffff0000").mkdir()
    (tmp_path / ".sys.tmp-999999999-ffff0000" / "thesis.tex").write_text("not a save's file: kept")
    fitted.save(tmp_path / "sys")
    inside = _listing(tmp_path / "sys")
    assert "notes.txt" in inside and ".tmpAb12Cd" not in inside and "weights-000009-deadbeef.safetensors" not in inside
    assert not any("journal" in name for name in inside)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sys.tmp-999999999-ffff0000", "sys"]


def test_save_replaces_a_save_of_the_earlier_format(fitted, digits, tmp_path):
    _, _, Xte, _ = digits
    old = tmp_path / "sys"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"format": "riscmoe-system", "format_version": 3}))
    (old / "weights.safetensors").write_bytes(b"old weights")
    (old / "archive.sqlite").write_bytes(b"old archive")
    with pytest.raises(SaveFormatError, match="version 3.*earlier build"):
        load(old)
    fitted.save(old)
    assert not (old / "weights.safetensors").exists() and not (old / "archive.sqlite").exists()
    np.testing.assert_array_equal(load(old).predict(Xte), fitted.predict(Xte))


def test_a_flipped_byte_or_corrupted_floats_are_refused(fitted, tmp_path):
    fitted.save(tmp_path / "sys")
    weights = data_file(tmp_path / "sys", "weights")
    data = bytearray(weights.read_bytes())
    # 1,000 floats in the middle of the file get a new value (it once loaded and changed
    # 245 of 300 predictions).
    mid = len(data) // 2 - 2000
    data[mid : mid + 4000] = np.full(1000, 0.5, np.float32).tobytes()
    weights.write_bytes(bytes(data))
    with pytest.raises(SaveFormatError, match="checksum"):
        load(tmp_path / "sys")
    fitted.save(tmp_path / "sys2")
    archive = data_file(tmp_path / "sys2", "archive")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(SaveFormatError, match="checksum"):
        load(tmp_path / "sys2")


def test_a_changed_manifest_is_refused(fitted, tmp_path):
    fitted.save(tmp_path / "sys")
    text = (tmp_path / "sys" / "manifest.json").read_text()
    assert '"label": 1,' in text
    (tmp_path / "sys" / "manifest.json").write_text(text.replace('"label": 1,', '"label": 2,', 1))  # a member answers another label
    with pytest.raises(SaveFormatError, match="its own checksum"):
        load(tmp_path / "sys")


def test_a_manifest_cannot_point_outside_its_folder(fitted, tmp_path):
    fitted.save(tmp_path / "sys")
    manifest = json.loads((tmp_path / "sys" / "manifest.json").read_text())
    manifest["files"]["weights"] = "../../etc/passwd"
    (tmp_path / "sys" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SaveFormatError, match="data files"):
        load(tmp_path / "sys")


@pytest.mark.parametrize("name", ["a#b", "what?", "x%2Fy", "100%", "with space", "ünï-çødé", "-dash", "semi;colon", "a&b=c"])
def test_any_folder_name_round_trips(fitted, digits, tmp_path, name):
    _, _, Xte, _ = digits
    fitted.save(tmp_path / name)
    loaded = load(tmp_path / name)
    assert len(loaded.archive_) == len(fitted.archive_) > 0
    np.testing.assert_array_equal(loaded.archive_.ids(), fitted.archive_.ids())
    np.testing.assert_array_equal(loaded.predict(Xte), fitted.predict(Xte))
    # Nothing appeared beside it (an SQLite URI cut at '#' once created an empty file there).
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_save_that_fails_midway_leaves_the_old_save(fitted, digits, tmp_path, monkeypatch):
    import riscmoe.persistence.folder as folder

    _, _, Xte, _ = digits
    fitted.save(tmp_path / "sys")
    before = _listing(tmp_path / "sys")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder, "save_file", full_disk)
    with pytest.raises(OSError, match="No space"):
        fitted.save(tmp_path / "sys")
    assert _listing(tmp_path / "sys") == before
    monkeypatch.undo()
    np.testing.assert_array_equal(load(tmp_path / "sys").predict(Xte), fitted.predict(Xte))


# A save killed at every step: in a subprocess (one thread, so that fork is safe), a child
# process is forked per step k and dies (os._exit: no cleanup runs) just before its k-th
# file-system operation. After each death the folder must load as the old or the new save;
# the first save to a path leaves nothing or the new save. A last save cleans up.
_CRASH_SCRIPT = r"""
import json, os, shutil, sys
import numpy as np, torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[1])
import riscmoe.persistence.folder as folder
from riscmoe.archive.sqlite_archive import Archive
from riscmoe import RiscClassifier, load
from tests.conftest import class_incremental_batches
from sklearn.datasets import load_digits

X, y = load_digits(return_X_y=True)
X = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)
old = RiscClassifier(seed=0, min_examples=16)
for Xb, yb in class_incremental_batches(X[:600], y[:600], [(0, 1, 2)]):
    old.partial_fit(Xb, yb)
root = sys.argv[2]
path = os.path.join(root, "sys")
old_pred = old.prepare().predict(X[1000:])
new = RiscClassifier(seed=0, min_examples=16)
for Xb, yb in class_incremental_batches(X[:900], y[:900], [(0, 1, 2), (3, 4)]):
    new.partial_fit(Xb, yb)
new_pred = new.prepare().predict(X[1000:])

def crash_before(k):
    count = [0]
    def wrap(fn):
        def inner(*a, **kw):
            count[0] += 1
            if count[0] == k:
                os._exit(137)
            return fn(*a, **kw)
        return inner
    for mod, name in [(os, "replace"), (os, "rename"), (os, "unlink"), (os, "fsync"), (os, "open"), (os, "mkdir"),
                      (shutil, "rmtree"), (folder, "save_file")]:
        setattr(mod, name, wrap(getattr(mod, name)))
    Archive.save_to = wrap(Archive.save_to)

results = []
for first in (True, False):
    shutil.rmtree(path, ignore_errors=True)
    if not first:
        old.save(path)
    for k in range(1, 200):
        pid = os.fork()
        if pid == 0:
            crash_before(k)
            new.save(path)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        finished = os.WEXITSTATUS(status) == 0
        try:
            pred = load(path).predict(X[1000:])
            state = "new" if np.array_equal(pred, new_pred) else "old" if np.array_equal(pred, old_pred) else "other"
        except FileNotFoundError:
            state = "absent"
        except Exception as exc:
            state = f"error: {exc}"
        results.append({"first": first, "k": k, "finished": finished, "state": state})
        if finished:
            break
        if not first:  # back to the old save for the next step
            shutil.rmtree(path)
            old.save(path)
    new.save(path)  # a clean save after all those deaths
    left = sorted(os.listdir(root)), sorted(os.listdir(path))
    results.append({"first": first, "left": left})
print(json.dumps(results))
"""


def test_a_save_killed_at_any_step_leaves_the_old_or_the_new(tmp_path):
    out = subprocess.run([sys.executable, "-c", _CRASH_SCRIPT, str(ROOT), str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for first in (True, False):
        steps = [r for r in results if r["first"] == first and "k" in r]
        assert len(steps) >= 8, steps  # the save has that many steps a death can fall between
        assert steps[-1]["finished"] and steps[-1]["state"] == "new"
        allowed = {"absent", "new"} if first else {"old", "new"}
        bad = [r for r in steps if r["state"] not in allowed]
        assert not bad, bad
        # The old save stays until the switch, then the new one is there.
        states = [r["state"] for r in steps]
        assert states == sorted(states, key=lambda s: s == "new"), states
        (beside, inside), = [r["left"] for r in results if r["first"] == first and "left" in r]
        assert beside == ["sys"], beside  # no temporary folders left of the killed saves
        assert len(inside) == 4 and {"manifest.json", ".riscmoe-lock"} <= set(inside), inside


def test_two_processes_saving_to_one_folder_leave_a_whole_save(fitted, digits, tmp_path):
    fitted.save(tmp_path / "src")
    code = ("import sys, riscmoe; c = riscmoe.load(sys.argv[1])\n"
            "for _ in range(3): c.save(sys.argv[2])")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "src"), str(tmp_path / "dst")], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    _, _, Xte, _ = digits
    np.testing.assert_array_equal(load(tmp_path / "dst").predict(Xte), fitted.predict(Xte))
    assert len(_listing(tmp_path / "dst")) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "src"]
