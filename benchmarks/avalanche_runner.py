"""Run one Avalanche 0.6 strategy on a stream exported by ``avalanche_job.py``.

This file runs inside Avalanche's own environment (``.venv-avalanche``, made by
``benchmarks/install_avalanche.sh``), which has numpy, torch, torchvision and
avalanche-lib but not riscmoe; it imports nothing from this project.

Usage: .venv-avalanche/bin/python benchmarks/avalanche_runner.py --data stream.npz --strategy naive+replay --mem-size 1000 --out results.json

The stream file holds, in stream order, the training examples of each experience
(``train_X_i``, ``train_y_i``), the evaluation sets (``eval_X_j``, ``eval_y_j``), and
``stage_set`` (which evaluation set each experience teaches). Every strategy trains one
pass (one epoch) per experience, as riscmoe sees each example once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn


def build_strategy(name: str, model: nn.Module, mem_size: int, mb: int, lr: float, n_classes: int, in_dim: int):
    from avalanche.training import EWC, GDumb, ICaRL, LwF, Naive, Replay
    from avalanche.training.plugins import EvaluationPlugin

    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss = nn.CrossEntropyLoss()
    common = dict(train_mb_size=mb, train_epochs=1, eval_mb_size=1024, device="cpu", evaluator=EvaluationPlugin(loggers=[]))
    if name == "naive":
        return Naive(model=model, optimizer=opt, criterion=loss, **common)
    if name == "replay":
        return Replay(model=model, optimizer=opt, criterion=loss, mem_size=mem_size, **common)
    if name == "ewc":
        return EWC(model=model, optimizer=opt, criterion=loss, ewc_lambda=1000.0, mode="separate", **common)
    if name == "lwf":
        return LwF(model=model, optimizer=opt, criterion=loss, alpha=1.0, temperature=2.0, **common)
    if name == "gdumb":
        # GDumb retrains from scratch on its memory after every experience; one pass over
        # 1,000 examples is a few steps, so it gets the many epochs its authors use.
        # It learns nothing from the stream itself (it only fills its memory), so the
        # stream's batch size does not apply: its retraining uses minibatches of 64.
        return GDumb(model=model, optimizer=opt, criterion=loss, mem_size=mem_size, **{**common, "train_epochs": 30, "train_mb_size": max(mb, 64)})
    if name == "icarl":
        features = model[:-1]
        classifier = model[-1]
        opt = torch.optim.SGD(list(features.parameters()) + list(classifier.parameters()), lr=lr, momentum=0.9)
        return ICaRL(feature_extractor=features, classifier=classifier, optimizer=opt, memory_size=mem_size,
                     buffer_transform=None, fixed_memory=True, **common)
    raise ValueError(f"unknown strategy {name!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--strategy", required=True, help="a strategy, or several joined by '+' (each runs in its own forked process)")
    ap.add_argument("--mem-size", type=int, default=1000)
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="JSON file: a list with one entry per strategy")
    args = ap.parse_args()
    t_start = time.perf_counter()
    # Import Avalanche once (about 8 s of CPU); every strategy then runs in a forked child,
    # so each starts from the same clean state and its peak memory is its own. Nothing
    # multi-threaded runs in this parent before forking.
    import avalanche.training  # noqa: F401
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets  # noqa: F401

    startup_s = time.perf_counter() - t_start
    results = []
    for name in args.strategy.split("+"):
        part = f"{args.out}.{name}.json"
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                result = run_strategy(name, args)
                with open(part, "w") as fh:
                    json.dump(result, fh, indent=2)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        seconds = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0 or not os.path.exists(part):
            results.append({"strategy": name, "failed": f"the {name} run exited with status {os.waitstatus_to_exitcode(status)}"})
            continue
        with open(part) as fh:
            result = json.load(fh)
        os.remove(part)
        # What running this strategy alone costs: Avalanche's start-up plus its own run.
        result.update(strategy=name, runner_seconds=startup_s + seconds, startup_seconds=startup_s)
        results.append(result)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=2)
    return 0


def run_strategy(name: str, args: argparse.Namespace) -> dict:
    """Train one strategy over the exported stream; returns its figures."""
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_tensor_classification_dataset as tensor_ds

    data = np.load(args.data)
    # The stream's own batch size (1 on the batch-1 stream), as every other system gets it.
    mb = int(data["batch_size"]) if "batch_size" in data else args.mb
    n_exp = int(data["n_experiences"])
    n_eval = int(data["n_eval"])
    stage_set = [int(v) for v in data["stage_set"]]
    n_classes = int(data["n_classes"])
    train = [(torch.from_numpy(data[f"train_X_{i}"]).float().flatten(1), torch.from_numpy(data[f"train_y_{i}"]).long()) for i in range(n_exp)]
    evals = [(torch.from_numpy(data[f"eval_X_{j}"]).float().flatten(1), torch.from_numpy(data[f"eval_y_{j}"]).long()) for j in range(n_eval)]
    in_dim = train[0][0].shape[1]
    bench = benchmark_from_datasets(
        train=[tensor_ds(X, y, targets=y, task_labels=0) for X, y in train],
        test=[tensor_ds(X, y, targets=y, task_labels=0) for X, y in evals],
    )
    # The model Avalanche's examples use on MNIST (SimpleMLP), without dropout; it is
    # told the number of classes up front, which riscmoe never is.
    model = nn.Sequential(nn.Linear(in_dim, args.hidden), nn.ReLU(), nn.Linear(args.hidden, args.hidden), nn.ReLU(),
                          nn.Linear(args.hidden, n_classes))
    strategy = build_strategy(name, model, args.mem_size, mb, args.lr, n_classes, in_dim)
    # iCaRL reads the class order from the benchmark its experiences came from, which
    # benchmark_from_datasets does not record: give each experience that information.
    classes_per_exp = [sorted(set(y.tolist())) for _, y in train]
    info = SimpleNamespace(n_classes_per_exp=[len(c) for c in classes_per_exp],
                           classes_order=[c for cs in classes_per_exp for c in cs])
    for exp in bench.train_stream:
        object.__setattr__(exp, "benchmark", info)

    # Every evaluation set is scored by one pass over their union; after the last
    # experience that pass is the final evaluation (the union is the whole test set).
    # The union exists only while it is scored, as in the suite's own worker.
    y_all = torch.cat([y for _, y in evals])
    ends = np.cumsum([len(y) for _, y in evals])

    @torch.no_grad()
    def scores() -> tuple[list[float], float]:
        strategy.model.eval()
        X_all = torch.cat([X for X, _ in evals])
        out = torch.cat([strategy.model(X_all[i : i + 2048]) for i in range(0, len(X_all), 2048)])
        right = (out.argmax(1) == y_all).float().numpy()
        return [float(np.mean(right[a:b])) for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)], float(np.mean(right))

    matrix = np.full((n_exp, n_eval), np.nan)
    train_s = predict_s = final = 0.0
    for i, exp in enumerate(bench.train_stream):
        t0 = time.perf_counter()
        strategy.train(exp)
        train_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        row, final = scores()
        predict_s = time.perf_counter() - t0  # the last one is the final evaluation's
        matrix[i] = row
        seen = sorted(set(stage_set[: i + 1]))
        print(f"  [avalanche-{name}] experience {i + 1}/{n_exp}: accuracy on what was learned "
              f"{np.mean(matrix[i, seen]):.4f}", flush=True)
    drops = []
    for j in set(stage_set[:-1]) - {stage_set[-1]}:
        first = stage_set.index(j)
        drops.append(float(np.nanmax(matrix[first:, j]) - matrix[-1, j]))
    n_params = sum(p.numel() for p in model.parameters())
    result = {
        "final_accuracy": final,
        "average_forgetting": float(np.mean(drops)) if drops else 0.0,
        "accuracy_matrix": [[None if np.isnan(v) else float(v) for v in row] for row in matrix],
        "train_seconds": train_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "members": None, "runs_mean": None, "runs_p95": None, "meta_seconds": None, "model_seconds": predict_s,
        "params_total": n_params, "params_per_input": n_params,
        "settings": {"strategy": name, "mem_size": args.mem_size, "train_mb_size": mb, "epochs": 1,
                     "optimizer": f"SGD lr={args.lr} momentum=0.9", "model": f"MLP {in_dim}-{args.hidden}-{args.hidden}-{n_classes}"},
    }
    return result


if __name__ == "__main__":
    raise SystemExit(main())
