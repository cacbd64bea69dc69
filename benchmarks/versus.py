"""CPU-seconds of the same jobs under an earlier commit and under this tree, run alternately.

    python -m benchmarks.versus --baseline a8b9814                       # the three standard streams, 4 rounds
    python -m benchmarks.versus --baseline HEAD~3 --suite quick --streams split-digits --rounds 2

On a shared machine wall seconds say more about the neighbours than about the code. This
benchmark runs each job (``benchmarks.worker.run_job``: riscmoe-best, seed 0, one thread) in a
fresh process under the earlier commit (checked out with ``git worktree`` into
``OUT/trees/COMMIT``) and under this tree, one after the other, ``--rounds`` times, and reports
the median CPU-seconds of each (user and system time of the job's process, which sharing the
cores inflates far less than wall time) and their ratio. Final accuracies are printed beside
them, so that a change meant to save time shows whether it changed answers too. Results go to
``OUT/results.json``; nothing is written into BENCHMARKS.md (the comparison belongs to the
change that asked for it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STREAMS = ["split-mnist", "split-fashion", "permuted-mnist"]

# Run in the child: the job under the tree on sys.path, its CPU-seconds and accuracy as JSON.
_CHILD = """
import json, resource, sys, torch
torch.set_num_threads(1)
from benchmarks.worker import run_job
r0 = resource.getrusage(resource.RUSAGE_SELF)
[row] = run_job("riscmoe-best", sys.argv[1], sys.argv[2], 0, None, log=lambda s: None)
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
print("VERSUS " + json.dumps({"cpu_s": cpu, "accuracy": row["final_accuracy"], "train_s": row["train_seconds"]}))
"""


def checkout(commit: str, out: Path) -> tuple[Path, str]:
    """A worktree of ``commit`` under ``out/trees`` (made once); returns it and the full hash."""
    try:
        full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"versus: {commit!r} is not a commit of {ROOT}: {exc.stderr.strip()}") from None
    tree = out / "trees" / full[:12]
    if not (tree / "src" / "riscmoe").is_dir():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--force", "--detach", str(tree), full],
                       capture_output=True, text=True, check=True)
    return tree, full


def job(tree: Path, stream: str, suite: str) -> dict[str, Any]:
    """One job in a fresh process with ``tree`` (and its ``src``) first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(tree / "src")]), OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _CHILD, stream, suite], cwd=tree, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("VERSUS ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the job {stream} under {tree} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("VERSUS "):])


def table(rows: list[dict[str, Any]], baseline: str) -> str:
    lines = [f"| stream | {baseline}, CPU s (median, range) | this tree, CPU s (median, range) | ratio | accuracy then / now |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        b, n = r["baseline_cpu_s"], r["now_cpu_s"]
        lines.append(f"| {r['stream']} | {statistics.median(b):.1f} ({min(b):.1f}-{max(b):.1f}) | "
                     f"{statistics.median(n):.1f} ({min(n):.1f}-{max(n):.1f}) | "
                     f"{statistics.median(n) / statistics.median(b):.2f} | "
                     f"{100 * r['baseline_accuracy']:.2f} / {100 * r['now_accuracy']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="the earlier commit (any name git knows)")
    ap.add_argument("--streams", nargs="+", default=STREAMS)
    ap.add_argument("--suite", default="standard", help="the suite the streams are in (standard or quick)")
    ap.add_argument("--rounds", type=int, default=4, help="times each job runs under each tree (default 4)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "versus")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, not {args.rounds}")
    if args.out.exists() and not args.out.is_dir():
        ap.error(f"--out {args.out} is a file, not a folder")
    base_tree, full = checkout(args.baseline, args.out)
    started = time.perf_counter()
    rows = []
    for stream in args.streams:
        row: dict[str, Any] = {"stream": stream, "baseline_cpu_s": [], "now_cpu_s": []}
        for i in range(args.rounds):
            for key, tree in (("baseline", base_tree), ("now", ROOT)):
                got = job(tree, stream, args.suite)
                row[f"{key}_cpu_s"].append(got["cpu_s"])
                row[f"{key}_accuracy"] = got["accuracy"]
                print(f"{stream:16s} round {i + 1}  {key:8s}  {got['cpu_s']:7.1f} CPU s  {100 * got['accuracy']:6.2f}%", flush=True)
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"baseline": full, "suite": args.suite, "rounds": args.rounds, "rows": rows,
              "date": time.strftime("%Y-%m-%d"), "wall_s": time.perf_counter() - started}
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    print("\n" + table(rows, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
