"""Members sharded over Ray workers: the same answers, and predict throughput with 1 and 2 workers.

Usage (from the repository root)::

    python -m benchmarks.sharding                          # 10 permuted copies of MNIST: 100 members
    python -m benchmarks.sharding --copies 3 --per-class 60 --write ''   # a quick look

A system learns ``--copies`` permuted copies of the data set (ten new classes each,
``--per-class`` images per class, default settings, ``meta__candidates`` from
``--candidates``; see ``benchmarks.scale``) and is prepared. Then the same queries (held-out
test images of every class, repeated to ``--queries``, in batches of ``--batch``) are
answered by the classifier in this process (the ceiling: no transport), by in-process shards
(``backend="local"``: the protocol's own cost), and by ``riscmoe.sharding.ShardedSystem`` on a
local Ray cluster (started here, on 127.0.0.1) with 1 and 2 workers of one thread each. For
each: inputs per second, milliseconds per batch (p50 / p99), and whether every answer (label,
member, models run) is the one-process answer. Ray must be installed (``pip install
'riscmoe[ray]'``). Results go to ``OUT/results.json``; ``--write FILE`` puts the table between
``<!-- sharding:begin -->`` and ``<!-- sharding:end -->`` in FILE.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import riscmoe
from riscmoe import threads
from riscmoe.datasets import load_dataset
from riscmoe.sharding import ShardedSystem
from riscmoe.sharding.system import start_local_ray

from benchmarks import markdown
from benchmarks.scale import copies

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- sharding:begin -->", "<!-- sharding:end -->"


def _answer(fn: Any, X: np.ndarray, batch: int) -> tuple[list[Any], list[float], float]:
    found, times = [], []
    t0 = time.perf_counter()
    for i in range(0, len(X), batch):
        t1 = time.perf_counter()
        found.append(fn(X[i : i + batch]))
        times.append((time.perf_counter() - t1) * 1e3)
    return found, times, time.perf_counter() - t0


def _same(a: list[Any], b: list[Any]) -> bool:
    return all(np.array_equal(x.labels, y.labels) and np.array_equal(x.member, y.member)
               and np.array_equal(x.members_run, y.members_run) for x, y in zip(a, b))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    ds = load_dataset(args.dataset)
    parts = copies(ds, args.copies, args.per_class, args.test_per_class, args.seed)
    kw = {"meta__candidates": args.candidates} if args.candidates else {}
    clf = riscmoe.RiscClassifier(seed=args.seed).set_params(**kw)
    t0 = time.perf_counter()
    for part in parts:
        for i in range(0, len(part["y"]), 64):
            clf.partial_fit(part["X"][i : i + 64], part["y"][i : i + 64])
    clf.prepare()
    train_s = time.perf_counter() - t0
    print(f"learned {args.copies} copies: {clf.n_experts_} members in {train_s:.0f} s", flush=True)
    Xq = np.concatenate([p["X_test"] for p in parts])
    yq = np.concatenate([p["y_test"] for p in parts])
    reps = -(-args.queries // len(Xq))
    Xq, yq = np.concatenate([Xq] * reps)[: args.queries], np.concatenate([yq] * reps)[: args.queries]
    rows = []
    base, times, wall = _answer(clf.predict_detailed, Xq, args.batch)
    accuracy = float(np.mean(np.concatenate([f.labels for f in base]) == yq))
    rows.append({"how": "one process (the classifier itself)", "workers": 1, "inputs_per_s": len(Xq) / wall,
                 "p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)), "same": True})
    settings = [("in-process shards", "local", 2)] + [("Ray", "ray", w) for w in (1, 2)]
    for label, backend, workers in settings:
        if backend == "ray" and not ray.is_initialized():
            start_local_ray(2)
        t1 = time.perf_counter()
        served = ShardedSystem(clf, workers=workers, backend=backend)
        start_s = time.perf_counter() - t1
        _answer(served.predict_detailed, Xq[: args.batch], args.batch)  # warm: the actors' first calls
        found, times, wall = _answer(served.predict_detailed, Xq, args.batch)
        served.close()
        rows.append({"how": f"{label}, {workers} worker{'s' if workers > 1 else ''}", "workers": workers,
                     "inputs_per_s": len(Xq) / wall, "p50": float(np.percentile(times, 50)),
                     "p99": float(np.percentile(times, 99)), "same": _same(found, base), "start_s": start_s})
        print(f"  {rows[-1]['how']}: {rows[-1]['inputs_per_s']:.0f} inputs/s, same answers: {rows[-1]['same']}", flush=True)
    if ray.is_initialized():
        ray.shutdown()
    return {"dataset": args.dataset, "copies": args.copies, "per_class": args.per_class, "test_per_class": args.test_per_class,
            "candidates": args.candidates, "queries": len(Xq), "batch": args.batch, "members": int(clf.n_experts_),
            "accuracy": accuracy, "train_s": train_s, "threads": threads.current()[0], "cpus": os.cpu_count(),
            "machine": f"{platform.machine()}, Python {platform.python_version()}", "date": time.strftime("%Y-%m-%d"),
            "ray": ray.__version__, "rows": rows}


def table(res: dict[str, Any]) -> str:
    cand = f" --candidates {res['candidates']}" if res.get("candidates") else ""
    lines = [
        f"Command: `python -m benchmarks.sharding --dataset {res['dataset']} --copies {res['copies']} --per-class "
        f"{res['per_class']} --test-per-class {res['test_per_class']} --queries {res['queries']} --batch {res['batch']}{cand}` "
        f"({res['machine']}, {res['cpus']} cores, Ray {res['ray']}, {res['date']}). {res['members']} members "
        f"(accuracy {100 * res['accuracy']:.1f}% on the queries); the classifier alone uses {res['threads']} threads, each "
        "Ray worker one; the driver (encoder, first stage, verdict, cascade) runs in this process throughout.",
        "",
        "| answered by | inputs / s | ms / batch p50 / p99 | every answer the one-process one |",
        "|---|---:|---|---|",
    ]
    for r in res["rows"]:
        lines.append(f"| {r['how']} | {r['inputs_per_s']:.0f} | {r['p50']:.1f} / {r['p99']:.1f} | {'yes' if r['same'] else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sharding", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or digits")
    p.add_argument("--copies", type=int, default=10, help="permuted copies, ten classes each (default 10: 100 members)")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--test-per-class", type=int, default=20)
    p.add_argument("--queries", type=int, default=4096)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--candidates", type=int, default=0, help="meta__candidates: a first stage of about this many members (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "sharding")
    p.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="file to put the table in ('' for none)")
    args = p.parse_args(argv)
    markdown.check_args(p, args, ("copies", "per_class", "test_per_class", "queries", "batch"))
    try:
        import ray  # noqa: F401
    except ImportError:
        p.error("this benchmark needs Ray: pip install 'riscmoe[ray]'")
    threads.configure()
    res = run(args)
    markdown.write_results(args.out, res)
    text = table(res)
    print("\n" + text)
    if args.write:
        markdown.write_section(Path(args.write), text, BEGIN, END, "Members on Ray workers (issue 17)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
