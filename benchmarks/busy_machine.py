"""The README's demo on a quiet and on a busy machine, with the libraries' default threads and with riscmoe's choice.

Usage:
    python -m benchmarks.busy_machine                      # MNIST demo: quiet/busy x off/auto
    python -m benchmarks.busy_machine --hogs 2 --repeats 2
    python -m benchmarks.busy_machine --dataset digits --train-limit 300 --conditions busy

"busy" starts ``--hogs`` CPU-bound processes (``python -c 'while True: pass'``) before the
run and stops them after it; "quiet" starts none (other work on the machine is whatever it
is: the load average before each run is recorded). ``--threads off`` is what riscmoe did
before it chose threads itself (torch's and OpenMP's default: one thread per core);
``auto`` is its choice now. Each run is the real command (``riscmoe run ... --no-progress``)
in its own process; the figures are that process's wall time, the final accuracy and the
threads it used. Runs are interleaved (quiet-off, quiet-auto, busy-off, busy-auto, then
again) so that drift in the machine's other load touches every cell alike. Results go to
``OUT/results.json`` and a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOG = "while True: pass"


def start_hogs(n: int) -> list[subprocess.Popen]:
    """Start ``n`` CPU-bound processes (the "something else running" of a shared machine)."""
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(n)]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for h in hogs:
        h.kill()
    for h in hogs:
        h.wait()


def run_once(args: argparse.Namespace, condition: str, mode: str, rep: int, out_dir: Path) -> dict[str, Any]:
    """One demo run under one condition and thread mode; returns its figures."""
    out = out_dir / f"{condition}-{mode}-{rep}"
    cmd = [sys.executable, "-m", "riscmoe.cli.main", "run", "--dataset", args.dataset,
           "--scenario", "class-incremental", "--policy", "best", "--no-progress",
           "--threads", mode, "--out", str(out), "--force"]
    if args.train_limit:
        cmd += ["--train-limit", str(args.train_limit)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    env = dict(os.environ)
    for var in ("RISCMOE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(var, None)  # the mode alone decides
    hogs = start_hogs(args.hogs) if condition == "busy" else []
    try:
        if hogs:
            time.sleep(1.0)  # the hogs are running before the demo starts, as on a busy machine
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
        wall = time.perf_counter() - t0
    finally:
        stop_hogs(hogs)
    row: dict[str, Any] = {"condition": condition, "mode": mode, "repeat": rep, "hogs": len(hogs),
                           "hog_pids": [h.pid for h in hogs],
                           "load_before": load_before, "process_seconds": wall}
    if proc.returncode != 0:
        row["failed"] = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return row
    m = json.loads((out / "metrics.json").read_text())
    row.update(final_accuracy=m["final_accuracy"], members=m["members"], train_seconds=m["train_seconds"],
               wall_seconds=m["wall_seconds"], threads=m["threads"], threads_reason=m["threads_reason"])
    return row


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown: one row per condition and mode (mean over repeats)."""
    lines = ["| machine | threads | runs | threads used | process s | train s | final accuracy % | load before |",
             "|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["condition"], r["mode"]) for r in rows))
    for condition, mode in keys:
        rs = [r for r in rows if (r["condition"], r["mode"]) == (condition, mode)]
        ok = [r for r in rs if "failed" not in r]
        what = f"busy ({rs[0]['hogs']} CPU-bound process{'es' if rs[0]['hogs'] != 1 else ''})" if condition == "busy" else "quiet"
        label = "off (libraries' defaults, riscmoe 0.1.0)" if mode == "off" else mode
        if not ok:
            lines.append(f"| {what} | {label} | {len(rs)} | failed: {rs[0]['failed'][:120]} | | | | |")
            continue
        used = sorted({str(r["threads"]) if r["threads"] is not None else "default" for r in ok})
        mean = lambda k: sum(r[k] for r in ok) / len(ok)  # noqa: E731
        spread = f" ({min(r['process_seconds'] for r in ok):.1f}-{max(r['process_seconds'] for r in ok):.1f})" if len(ok) > 1 else ""
        lines.append(f"| {what} | {label} | {len(ok)} | {', '.join(used)} | {mean('process_seconds'):.1f}{spread} | "
                     f"{mean('train_seconds'):.1f} | {100 * mean('final_accuracy'):.2f} | {mean('load_before'):.1f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None, help="passed to riscmoe run (default: its cache)")
    ap.add_argument("--train-limit", type=int, default=None, help="first N training examples only (a quick check)")
    ap.add_argument("--hogs", type=int, default=1, help="CPU-bound processes running in the busy condition (default 1)")
    ap.add_argument("--conditions", nargs="+", default=["quiet", "busy"], choices=["quiet", "busy"])
    ap.add_argument("--modes", nargs="+", default=["off", "auto"], help="--threads values to compare (default: off auto)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds one run may take")
    ap.add_argument("--out", default=None, help="results folder (default runs/bench-busy)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out) if args.out else ROOT / "runs" / "bench-busy"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.perf_counter()
    for rep in range(args.repeats):
        for condition in args.conditions:
            for mode in args.modes:
                row = run_once(args, condition, mode, rep, out_dir)
                rows.append(row)
                print(f"{condition} threads={mode} #{rep}: {row['process_seconds']:.1f} s"
                      + (f", {row['threads']} thread(s), accuracy {100 * row['final_accuracy']:.2f}%" if "failed" not in row
                         else f", FAILED: {row['failed']}"), flush=True)
    meta = {"command": "python -m benchmarks.busy_machine " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
                       f"Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d %H:%M"), "total_seconds": time.perf_counter() - t0}
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    tmp.replace(out_dir / "results.json")
    print(f"\nCommand: `{meta['command'].strip()}` — {meta['machine']}, {meta['date']}, {meta['total_seconds'] / 60:.1f} min\n")
    print("\n".join(table(rows)))
    return 1 if any("failed" in r for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
