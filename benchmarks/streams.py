"""Run the class-incremental MNIST and Fashion-MNIST streams and write BENCHMARKS.md.

Usage: python benchmarks/streams.py [--seeds 0] [--policies best first mixture]

Each run is the command line's ``riscmoe run`` (same code path a user gets); its
metrics.json is read back and the table below the marker in BENCHMARKS.md is rewritten.
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

ROOT = Path(__file__).resolve().parents[1]
MARK_BEGIN = "<!-- streams:begin -->"
MARK_END = "<!-- streams:end -->"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--policies", nargs="+", default=["best"], choices=["first", "best", "mixture"])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    args = ap.parse_args()
    rows = []
    runs = [(ds, p, seed) for ds in args.datasets for p in args.policies for seed in args.seeds]
    for ds, policy, seed in runs:
        out = ROOT / "runs" / f"bench-{ds}-{policy}-{seed}"
        print(f"running {ds} policy {policy} seed {seed} ...", flush=True)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "riscmoe.cli.main", "run", "--dataset", ds, "--policy", policy,
             "--seed", str(seed), "--archive-size", "1000", "--no-progress", "--out", str(out),
             "--force"],  # the folder is this script's own: each run replaces the last one's
            check=True,
        )
        m = json.loads((out / "metrics.json").read_text())
        m["process_seconds"] = time.perf_counter() - t0
        rows.append(m)
    cmd = "python benchmarks/streams.py " + " ".join(sys.argv[1:])
    lines = [
        MARK_BEGIN,
        f"Command: `{cmd.strip()}` — machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.",
        "",
        "| dataset | seed | policy | final accuracy | avg forgetting | members | models run / input (mean, p95) | unknown "
        "| meta-models / one model (MACs per input) | train s | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in rows:
        c = m["cost_per_input"]
        lines.append(
            f"| {m['dataset']} | {m['seed']} | {m['policy']} | {100 * m['final_accuracy']:.2f}% | "
            f"{100 * m['average_forgetting']:.2f} pts | {m['members']} | {m['experts_run_per_input']:.2f}, "
            f"{m['experts_run_per_input_p95']:.0f} | {100 * m['unknown_rate']:.2f}% | "
            f"{c['meta_bank_macs'] / 1e3:.0f}k / {c['one_model_macs'] / 1e3:.0f}k ({100 * c['meta_bank_over_one_model']:.1f}%) | "
            f"{m['train_seconds']:.1f} | "
            f"{m['wall_seconds']:.1f} |"
        )
    lines.append(MARK_END)
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else ""
    block = "\n".join(lines)
    if MARK_BEGIN in text and MARK_END in text:
        text = text[: text.index(MARK_BEGIN)] + block + text[text.index(MARK_END) + len(MARK_END):]
    else:
        text = text + "\n" + block + "\n"
    path.write_text(text)
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
