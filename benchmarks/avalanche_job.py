"""One Avalanche job: export the suite's stream, run strategies in Avalanche's environment.

Usage: python -m benchmarks.avalanche_job --strategy naive+replay --stream split-mnist --suite standard --seed 0 --out result.json

The stream and evaluation sets are the very arrays the other systems get (built by
``benchmarks.specs``), written to a temporary file in stream order; Avalanche sees one
experience per group of the stream, the usual way it is run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.specs import SUITES, build, stage_eval_index

ROOT = Path(__file__).resolve().parents[1]
AVALANCHE_PYTHON = ROOT / ".venv-avalanche" / "bin" / "python"


def export(stream_name: str, suite: str, seed: int, path: Path, data_dir: str | None = None) -> int:
    """Write the stream's experiences and evaluation sets to ``path``; returns the training size."""
    spec = {s.name: s for s in SUITES[suite]}[stream_name]
    built = build(spec, seed, data_dir=data_dir)
    stream = built.stream
    parts: dict[int, list[np.ndarray]] = {}
    parts_y: dict[int, list[np.ndarray]] = {}
    for i, (Xb, yb) in enumerate(stream):
        g = stream.group_of_batch(i)
        parts.setdefault(g, []).append(Xb)
        parts_y.setdefault(g, []).append(yb)
    arrays: dict[str, np.ndarray] = {}
    for g in range(len(stream.groups)):
        arrays[f"train_X_{g}"] = np.concatenate(parts[g]).astype(np.float32)
        arrays[f"train_y_{g}"] = np.concatenate(parts_y[g]).astype(np.int64)
    for j, (_, X, y) in enumerate(built.eval_sets):
        arrays[f"eval_X_{j}"] = np.asarray(X, np.float32)
        arrays[f"eval_y_{j}"] = np.asarray(y, np.int64)
    all_y = np.concatenate([arrays[f"train_y_{g}"] for g in range(len(stream.groups))])
    np.savez(path, n_experiences=len(stream.groups), batch_size=spec.batch_size, n_eval=len(built.eval_sets), stage_set=np.asarray(stage_eval_index(built)),
             n_classes=int(all_y.max()) + 1, **arrays)
    return int(stream.n_examples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategy", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--suite", default="standard", choices=sorted(SUITES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mem-size", type=int, default=1000)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not AVALANCHE_PYTHON.exists():
        print(f"Avalanche's environment is missing ({AVALANCHE_PYTHON}): run benchmarks/install_avalanche.sh", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    strategies = args.strategy.split("+")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "stream.npz"
        n_train = export(args.stream, args.suite, args.seed, data, args.data_dir)
        export_s = time.perf_counter() - t0
        raw = Path(tmp) / "result.json"
        proc = subprocess.run(
            [str(AVALANCHE_PYTHON), str(ROOT / "benchmarks" / "avalanche_runner.py"), "--data", str(data), "--strategy", args.strategy,
             "--mem-size", str(args.mem_size), "--seed", str(args.seed), "--out", str(raw)],
            text=True, capture_output=True,
        )
        for line in proc.stdout.splitlines():
            print(line, flush=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        raw_results = json.loads(raw.read_text())
    results = []
    for name, r in zip(strategies, raw_results):
        r.update({"system": f"avalanche-{name}", "stream": args.stream, "suite": args.suite, "seed": args.seed, "train_examples": n_train})
        if "failed" not in r:
            # As if run alone: exporting the stream, Avalanche's start-up and this strategy's run.
            r["wall_seconds"] = export_s + r["runner_seconds"]
        results.append(r)
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(results if len(results) > 1 else results[0], indent=2))
    tmp_out.replace(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
