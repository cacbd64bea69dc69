"""A user's own encoder plugged into riscmoe, beside the shipped random encoder, on one stream.

Usage (from the repository root)::

    python -m benchmarks.plugged_encoder                                  # Split MNIST, CNN trained on Fashion-MNIST
    python -m benchmarks.plugged_encoder --stream fashion-mnist --pretrain-on mnist
    python -m benchmarks.plugged_encoder --stream digits --pretrain-on digits --write ''   # a minute, no BENCHMARKS.md

The plugged-in encoder is what a user brings: a small CNN (two 3x3 convolutions of 32
filters, each followed by ReLU and 2x2 max pooling; 1,568 features on 28x28 images) trained
as a classifier on *another* data set (``--pretrain-on``, ``--epochs`` passes, Adam), whose
convolutional trunk is then handed to ``RiscClassifier(encoder=...)`` as a plain
``torch.nn.Module``, frozen. Beside it, the default (the shipped ``random-conv`` kind,
random filters fixed by the seed). Both learn the same class-incremental stream (5 groups
of 2 classes, batches of 64, no task boundaries given) with default settings otherwise, and
are scored on the whole test set after the stream. Printed and written to
``OUT/results.json``: final accuracy, members, models run per input, train and predict
seconds (one process, run one after the other: compare the ratio, not the seconds, on a
shared machine), the encoder's features and the pre-training time. ``--write FILE`` puts
the table between ``<!-- plugged:begin -->`` and ``<!-- plugged:end -->`` in FILE
(default BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import riscmoe
from riscmoe import threads
from riscmoe.datasets import load_dataset
from riscmoe.datasets.streams import class_incremental

from benchmarks import markdown

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- plugged:begin -->", "<!-- plugged:end -->"


def small_cnn(seed: int) -> torch.nn.Module:
    """The trunk a user might write: (B, H, W) images -> (B, 32 * H/4 * W/4) features."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            _AddChannel(),
            torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
        )


class _AddChannel(torch.nn.Module):
    """(B, H, W) -> (B, 1, H, W): the data sets' images have no channel axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


def pretrain(trunk: torch.nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> dict[str, Any]:
    """Train ``trunk`` plus a linear head as a classifier on (X, y); the head is thrown away."""
    with torch.no_grad():
        dim = trunk(torch.from_numpy(X[:2])).shape[1]
    n_classes = int(y.max()) + 1
    head = torch.nn.Linear(dim, n_classes)
    net = torch.nn.Sequential(trunk, head)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    t0 = time.perf_counter()
    net.train()
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(X)), max(1, len(X) // 128)):
            ix = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(net(Xt[ix]), yt[ix])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(Xt[:2000]).argmax(1) == yt[:2000]).float().mean())
    for p in trunk.parameters():
        p.requires_grad_(False)
    return {"seconds": time.perf_counter() - t0, "features": int(dim), "train_accuracy_first_2000": acc, "epochs": epochs}


def run_system(name: str, encoder: Any, ds: Any, seed: int) -> dict[str, Any]:
    """One riscmoe learner over the class-incremental stream, then the whole test set."""
    clf = riscmoe.RiscClassifier(encoder=encoder, seed=seed)
    stream = class_incremental(ds.X_train, ds.y_train, n_groups=5, seed=seed, batch_size=64)
    t0 = time.perf_counter()
    for X, y in stream:
        clf.partial_fit(X, y)
    clf.prepare()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = clf.predict_detailed(ds.X_test)
    predict_s = time.perf_counter() - t0
    return {"system": name, "encoder_dim": int(getattr(clf.collection_.encoder, "dim", -1)), "accuracy": float((pred.labels == ds.y_test).mean()), "members": int(clf.n_experts_),
            "runs_per_input": float(pred.runs_per_input), "train_seconds": train_s, "predict_seconds": predict_s}


def table(res: dict[str, Any]) -> str:
    lines = [
        f"Command: `python -m benchmarks.plugged_encoder --stream {res['stream']} --pretrain-on {res['pretrain_on']}` "
        f"({res['machine']}, {res['date']}; threads {res['threads']}). Stream: class-incremental {res['stream']}, "
        f"5 groups of 2 classes, batches of 64, seed {res['seed']}; scored on the whole test set after the stream.",
        "",
        "| encoder | features | final accuracy % | members | models run / input | train s | predict s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["systems"]:
        lines.append(f"| {r['label']} | {r['features']} | {100 * r['accuracy']:.2f} | {r['members']} | "
                     f"{r['runs_per_input']:.2f} | {r['train_seconds']:.1f} | {r['predict_seconds']:.1f} |")
    p = res["pretrain"]
    lines += ["", f"The CNN was trained on {res['pretrain_on']} for {p['epochs']} epoch(s) in {p['seconds']:.1f} s "
              f"(training accuracy {100 * p['train_accuracy_first_2000']:.1f}% on its first 2,000 images), then frozen "
              f"and handed to `RiscClassifier(encoder=...)` as a plain `torch.nn.Module`; riscmoe learns only the stream."]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between this benchmark's markers in ``path`` (appended with a heading if they are missing)."""
    markdown.write_section(path, text, BEGIN, END, "A plugged-in encoder (a user's own CNN)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.plugged_encoder", description=__doc__.splitlines()[0])
    p.add_argument("--stream", default="mnist", help="data set of the class-incremental stream (mnist, fashion-mnist, digits)")
    p.add_argument("--pretrain-on", default="fashion-mnist", help="data set the user's CNN is trained on first")
    p.add_argument("--epochs", type=int, default=1, help="pre-training passes (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "plugged")
    p.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="file to put the table in ('' for none)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")
    try:
        markdown.check_out(args.out)
    except ValueError as exc:
        p.error(str(exc))
    n_threads = threads.configure()
    ds, pre = load_dataset(args.stream), load_dataset(args.pretrain_on)
    if ds.X_train.shape[1:] != pre.X_train.shape[1:]:
        p.error(f"--stream {args.stream} has images of {ds.X_train.shape[1:]}, --pretrain-on {args.pretrain_on} "
                f"{pre.X_train.shape[1:]}: the CNN needs one size")
    print(f"pre-training the CNN on {args.pretrain_on} ({len(pre.X_train)} images, {args.epochs} epoch(s)) ...", flush=True)
    trunk = small_cnn(args.seed)
    info = pretrain(trunk, pre.X_train, pre.y_train, args.epochs, args.seed)
    print(f"  {info['seconds']:.1f} s, {info['features']} features", flush=True)
    systems = []
    for label, enc, feats in (("random-conv (shipped default)", "random-conv", None),
                              (f"CNN trained on {args.pretrain_on} (plugged in)", trunk, info["features"])):
        print(f"riscmoe with {label} on {args.stream} ...", flush=True)
        r = run_system(label, enc, ds, args.seed)
        dim = r.pop("encoder_dim")
        r.update(label=label, features=feats if feats is not None else dim)
        print(f"  accuracy {100 * r['accuracy']:.2f}%, {r['members']} members, train {r['train_seconds']:.1f} s", flush=True)
        systems.append(r)
    res = {"stream": args.stream, "pretrain_on": args.pretrain_on, "seed": args.seed, "threads": n_threads,
           "machine": f"{platform.machine()}, Python {platform.python_version()}", "date": time.strftime("%Y-%m-%d"),
           "pretrain": info, "systems": systems}
    markdown.write_results(args.out, res)
    text = table(res)
    print("\n" + text)
    if args.write:
        write_section(Path(args.write), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
