"""One job of the suite: a system on a stream with a seed, in its own process.

Usage: python -m benchmarks.worker --system riscmoe-best --stream split-mnist --suite standard --seed 0 --out result.json

The process measures its own peak memory, so every job starts clean. Progress goes to
stdout, one line per stage; the figures go to the JSON file.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.specs import RISC_POLICIES, SUITES, build, stage_eval_index
from benchmarks.systems import make_system


class Scorer:
    """Accuracy on every evaluation set, from one prediction over their union.

    A stage's row scores the system on all the evaluation sets; after the last stage that
    row is exactly the final evaluation (the union is the whole test set), so the final
    accuracy and the routing figures come from it instead of a second pass over the same
    inputs. "unknown" counts as wrong."""

    def __init__(self, eval_sets: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        self.eval_sets = eval_sets
        self.y = np.concatenate([y for _, _, y in eval_sets])
        self.ends = np.cumsum([len(y) for _, _, y in eval_sets])

    def __call__(self, system: Any) -> tuple[list[float], float]:
        """(accuracy on each set, accuracy on all of them)."""
        # The union only while it is scored, so that it does not add to training's peak memory.
        right = system.predict(np.concatenate([X for _, X, _ in self.eval_sets])) == self.y
        starts = np.concatenate([[0], self.ends[:-1]])
        return [float(np.mean(right[a:b])) for a, b in zip(starts, self.ends)], float(np.mean(right))


def run_job(system_name: str, stream_name: str, suite: str, seed: int, data_dir: str | None = None, log: Any = print,
            params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run one system on one stream; returns its figures (one entry per variant). ``params``
    are set on a riscmoe system's classifier before it learns (``set_params``: e.g.
    ``{"meta__pair_block": 512}``).

    ``riscmoe`` trains one system and evaluates it under every routing policy: the policy
    only decides how a trained collection answers, so the three share one training run and
    differ only in what they answer (each variant's accuracy matrix, routing figures and
    prediction timings are its own; training time and peak memory are shared)."""
    specs = {s.name: s for s in SUITES[suite]}
    if stream_name not in specs:
        raise ValueError(f"stream {stream_name!r} is not in the {suite} suite; it has {', '.join(specs)}")
    t_start = time.perf_counter()
    built = build(specs[stream_name], seed, data_dir=data_dir)
    variants = [f"riscmoe-{p}" for p in RISC_POLICIES] if system_name == "riscmoe" else [system_name]
    system = make_system(variants[0], seed)
    if params:
        if not hasattr(system, "clf"):
            raise ValueError(f"settings {params} are for riscmoe systems; {system_name} has none")
        system.clf.set_params(**params)
    stream, eval_sets = built.stream, built.eval_sets
    stage_set = stage_eval_index(built)
    boundaries = set(stream.boundaries)
    streaming = not system_name.startswith("joint-")
    matrices = {v: np.full((len(stream.groups), len(eval_sets)), np.nan) for v in variants}
    finals: dict[str, tuple[float, dict[str, Any]]] = {}  # variant -> (final accuracy, routing figures)
    eval_s = {v: 0.0 for v in variants}  # seconds spent scoring each variant
    score = Scorer(eval_sets)
    last_stage = len(stream.groups) - 1

    def evaluate(v: str, stage: int) -> None:
        t_eval = time.perf_counter()
        use(system, v)
        row, overall = score(system)
        matrices[v][stage] = row
        if stage == last_stage:
            finals[v] = (overall, system.stats())  # routing figures of this variant's predictions
        eval_s[v] += time.perf_counter() - t_eval

    learned: set[int] = set()
    train_s = 0.0
    for i, (Xb, yb) in enumerate(stream):
        t0 = time.perf_counter()
        system.partial_fit(Xb, yb)
        train_s += time.perf_counter() - t0
        if i in boundaries:
            stage = stream.boundaries.index(i)
            learned.add(stage_set[stage])
            if streaming:
                seen = sorted(learned)
                system.prepare()  # work every policy's answers share: in each one's wall time
                for v in variants:
                    evaluate(v, stage)
                    log(f"  [{v} {stream_name} seed {seed}] stage {stage + 1}/{len(stream.groups)}: "
                        f"accuracy on what was learned {np.mean(matrices[v][stage, seen]):.4f}")
    t0 = time.perf_counter()
    system.end_of_stream()
    train_s += time.perf_counter() - t0
    if not streaming:  # joint training: one evaluation, once it has trained
        for v in variants:
            evaluate(v, last_stage)
    results = [(v, matrices[v], *finals[v]) for v in variants]
    wall = time.perf_counter() - t_start
    # Each variant's wall time is the job's less the time spent scoring the other variants:
    # what a user running that policy alone would have waited.
    return [_figures(stats, v, matrix, final, streaming, stage_set, stream, eval_sets, stream_name, suite, seed, train_s,
                     wall - sum(t for u, t in eval_s.items() if u != v), len(score.y)) for v, matrix, final, stats in results]


def use(system: Any, variant: str) -> None:
    """Switch a trained riscmoe system to the routing policy of ``variant`` (others: no-op)."""
    if variant.startswith("riscmoe-") and variant.split("-", 1)[1] in RISC_POLICIES:
        system.use_policy(variant.split("-", 1)[1])


def _figures(stats: dict[str, Any], system_name: str, matrix: np.ndarray, final: float, streaming: bool, stage_set: list[int], stream: Any,
             eval_sets: list[tuple[str, np.ndarray, np.ndarray]], stream_name: str, suite: str, seed: int, train_s: float,
             wall_s: float, n_test: int) -> dict[str, Any]:
    # Forgetting: for every set learned before the last stage, its best accuracy after it
    # was learned minus its final accuracy (streaming systems only).
    forgetting = None
    if streaming and len(stream.groups) > 1:
        drops = []
        for j in set(stage_set[:-1]) - {stage_set[-1]}:
            first = stage_set.index(j)
            drops.append(float(np.nanmax(matrix[first:, j]) - matrix[-1, j]))
        forgetting = float(np.mean(drops)) if drops else 0.0
    result = {
        "system": system_name,
        "stream": stream_name,
        "suite": suite,
        "seed": seed,
        "final_accuracy": final,
        "average_forgetting": forgetting,
        "accuracy_matrix": [[None if np.isnan(v) else float(v) for v in row] for row in matrix],
        "eval_sets": [name for name, _, _ in eval_sets],
        "train_examples": int(stream.n_examples),
        "test_examples": int(n_test),
        "train_seconds": train_s,
        "wall_seconds": wall_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        **stats,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--system", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--suite", default="standard", choices=sorted(SUITES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    result = run_job(args.system, args.stream, args.suite, args.seed, args.data_dir, log=lambda s: print(s, flush=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
