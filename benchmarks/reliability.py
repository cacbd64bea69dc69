"""Faults and attacks on the classifier's saves and inputs, each tried many times; prints a Markdown table.

Usage: python -m benchmarks.reliability [--kills 30] [--flips 200] [--out runs/reliability]

- kills: a process saving one of two systems again and again to one folder is killed
  (SIGKILL) at a random instant, that many times; after every kill the folder must load
  as one of the two, and after the last a clean save must leave no leftovers.
- flips: one random byte of one file of a save (weights, archive or manifest) is changed,
  that many times each; every load must refuse it or (never seen) give the saved answers.
- names: a save to folders whose names hold characters that URIs and shells treat apart.
- outliers: a fitted system gets one batch with one pixel at a large value; it must be
  refused and the accuracy stay where it was.
- replace: a save over a folder of someone else's files and over a plain file.

The rows of RELIABILITY.md come from this script's output (its figures, not hand-written).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_SAVER = r"""
import sys, numpy as np, torch
torch.set_num_threads(1)
import riscmoe
a, b = riscmoe.load(sys.argv[1]), riscmoe.load(sys.argv[2])
print("ready", flush=True)
i = 0
while True:
    (a, b)[i % 2].save(sys.argv[3])
    i += 1
"""


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(X))
    return X[idx[:1347]], y[idx[:1347]], X[idx[1347:]], y[idx[1347:]]


def _fit(X, y, classes, seed=0):
    from riscmoe import RiscClassifier

    clf = RiscClassifier(seed=seed, min_examples=16)
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(np.isin(y, classes))
    rng.shuffle(idx)
    for s in range(0, len(idx), 32):
        clf.partial_fit(X[idx[s : s + 32]], y[idx[s : s + 32]])
    return clf


def kills(work: Path, n: int, Xte) -> dict:
    import riscmoe

    a, b = _fit(*_digits()[:2], classes=(0, 1, 2)), _fit(*_digits()[:2], classes=(0, 1, 2, 3, 4, 5))
    a.save(work / "a")
    b.save(work / "b")
    answers = {"a": a.predict(Xte), "b": b.predict(Xte)}
    target = work / "kill" / "sys"
    target.parent.mkdir()
    seen, bad = {"a": 0, "b": 0, "absent": 0}, []
    rnd = random.Random(0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    for i in range(n):
        p = subprocess.Popen([sys.executable, "-c", _SAVER, str(work / "a"), str(work / "b"), str(target)],
                             stdout=subprocess.PIPE, text=True, env=env)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0.0, 1.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
        try:
            pred = riscmoe.load(target).predict(Xte)
            which = [k for k, v in answers.items() if np.array_equal(v, pred)]
            if which:
                seen[which[0]] += 1
            else:
                bad.append(f"kill {i}: answers of neither save")
        except FileNotFoundError:
            seen["absent"] += 1  # killed before its first save finished: nothing was there before either
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            bad.append(f"kill {i}: {type(exc).__name__}: {exc}")
    before = sorted(os.listdir(target.parent)), (sorted(os.listdir(target)) if target.exists() else [])
    a.save(target)
    after = sorted(os.listdir(target.parent)), sorted(os.listdir(target))
    size = sum(f.stat().st_size for f in target.parent.rglob("*") if f.is_file())
    return {"kills": n, "loaded": seen, "failures": bad, "left_before_clean_save": before, "left_after": after,
            "bytes_after": size}


def flips(work: Path, n: int, Xte) -> dict:
    import riscmoe
    from riscmoe.persistence.folder import SaveFormatError

    clf = _fit(*_digits()[:2], classes=tuple(range(10)))
    expected = clf.prepare().predict(Xte)  # (a save prepares the meta-models: these are its answers)
    rnd = random.Random(1)
    out = {}
    for kind in ("weights", "archive", "manifest"):
        refused, same, wrong = 0, 0, 0
        for i in range(n):
            folder = work / f"flip-{kind}"
            shutil.rmtree(folder, ignore_errors=True)
            clf.save(folder)
            manifest = json.loads((folder / "manifest.json").read_text())
            path = folder / ("manifest.json" if kind == "manifest" else manifest["files"][kind])
            data = bytearray(path.read_bytes())
            pos = rnd.randrange(len(data))
            data[pos] ^= 1 << rnd.randrange(8)
            path.write_bytes(bytes(data))
            try:
                pred = riscmoe.load(folder).predict(Xte)
            except (SaveFormatError, ValueError):
                refused += 1
                continue
            if np.array_equal(pred, expected):
                same += 1
            else:
                wrong += 1
        out[kind] = {"tries": n, "refused": refused, "loaded_same": same, "loaded_wrong": wrong}
    return out


def names(work: Path, Xte) -> dict:
    import riscmoe

    clf = _fit(*_digits()[:2], classes=(0, 1, 2))
    expected, n_archive = clf.prepare().predict(Xte), len(clf.archive_)
    tried = ["a#b", "what?", "x%2Fy", "100%", "with space", "ünï-çødé", "-dash", "semi;colon", "a&b=c", "#?%23", "tab\tname",
             "new\nline", "quote'\"s", "dots..", "file:x"]
    ok = []
    base = work / "names"
    base.mkdir()
    for name in tried:
        clf.save(base / name)
        back = riscmoe.load(base / name)
        ok.append(np.array_equal(back.predict(Xte), expected) and len(back.archive_) == n_archive)
    stray = sorted(set(os.listdir(base)) - set(tried))
    return {"tries": len(tried), "round_trips": int(sum(ok)), "stray_files": stray}


def outliers(work: Path, Xtr, ytr, Xte, yte) -> dict:
    import riscmoe

    clf = _fit(Xtr, ytr, classes=tuple(range(10)))
    base = clf.score(Xte, yte)
    clf.save(work / "outliers")
    rows = []
    for value in (1e3, 1e4, 1e6, 1e20, 3e38):
        c = riscmoe.load(work / "outliers")  # a fresh copy of the fitted system each time
        Xb = Xtr[:32].copy()
        Xb[5, 3, 3] = value
        try:
            c.partial_fit(Xb, ytr[:32])
            verdict = "learned"
        except ValueError:
            verdict = "refused"
        rows.append({"value": value, "verdict": verdict, "accuracy_after": round(c.score(Xte, yte), 4)})
    return {"accuracy_before": round(base, 4), "batches": rows}


def replace(work: Path) -> dict:
    from riscmoe.persistence.folder import SaveRefusedError

    clf = _fit(*_digits()[:2], classes=(0, 1))
    folder = work / "thesis"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    plain = work / "notes.txt"
    plain.write_text("keep")
    refused = 0
    for target in (folder, plain):
        try:
            clf.save(target)
        except SaveRefusedError:
            refused += 1
    intact = (folder / "thesis.tex").read_text() == "years of work" and plain.read_text() == "keep" \
        and os.listdir(folder) == ["thesis.tex"]
    return {"tries": 2, "refused": refused, "intact": intact}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--flips", type=int, default=200)
    ap.add_argument("--out", default="runs/reliability")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    Xtr, ytr, Xte, yte = _digits()
    t0 = time.time()
    results = {
        "kills": kills(out, args.kills, Xte),
        "flips": flips(out, args.flips, Xte),
        "names": names(out, Xte),
        "outliers": outliers(out, Xtr, ytr, Xte, yte),
        "replace": replace(out),
    }
    results["seconds"] = round(time.time() - t0, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    k, f, n, o, r = (results[x] for x in ("kills", "flips", "names", "outliers", "replace"))
    cmd = "python -m benchmarks.reliability"
    print("| attack or fault | tries | what happened | lost | command |")
    print("|---|---|---|---|---|")
    print(f"| SIGKILL at a random instant of a loop saving two systems to one folder | {k['kills']} | loaded as the first "
          f"{k['loaded']['a']}x, the second {k['loaded']['b']}x, nothing there yet {k['loaded']['absent']}x; failures: "
          f"{len(k['failures'])}; leftovers after one clean save: {k['left_after'][0]} beside, {len(k['left_after'][1])} files inside "
          f"({k['bytes_after'] / 1e6:.1f} MB) | nothing | `{cmd} --kills {k['kills']}` |")
    for kind, v in f.items():
        print(f"| one random bit flipped in the {kind} file of a save | {v['tries']} | refused {v['refused']}, loaded with "
              f"the saved answers {v['loaded_same']}, loaded with other answers {v['loaded_wrong']} | nothing | `{cmd} --flips {v['tries']}` |")
    print(f"| save and load in folders named with `#`, `?`, `%2F`, `%`, spaces, tabs, newlines, quotes, unicode | {n['tries']} | "
          f"{n['round_trips']} round trips with the same answers and archive; stray files: {len(n['stray_files'])} | nothing | `{cmd}` |")
    verdicts = ", ".join(f"{b['value']:g}: {b['verdict']} ({100 * b['accuracy_after']:.1f}%)" for b in o["batches"])
    print(f"| one pixel of one image in a batch set to a large value (digits, accuracy {100 * o['accuracy_before']:.1f}% before) | "
          f"{len(o['batches'])} | {verdicts} | nothing | `{cmd}` |")
    print(f"| save over a folder of someone else's files, and over a plain file | {r['tries']} | refused {r['refused']}, "
          f"files intact: {r['intact']} | nothing | `{cmd}` |")
    print(f"\n({results['seconds']} s; details in {out / 'results.json'})")
    failed = k["failures"] or k["left_after"][0] != ["sys"] or len(k["left_after"][1]) != 4 or any(v["loaded_wrong"] for v in f.values()) or n["round_trips"] != n["tries"] or n["stray_files"] \
        or not r["intact"] or r["refused"] != 2 or any(b["verdict"] == "learned" and b["value"] >= 1e4 for b in o["batches"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
