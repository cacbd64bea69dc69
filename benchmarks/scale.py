"""Many classes, many members: does the collection keep growing, and what does each member cost?

Usage (from the repository root)::

    python -m benchmarks.scale                                   # 12 permuted copies of MNIST: 120 classes
    python -m benchmarks.scale --copies 4 --archive-size 5000    # 40 classes, a larger archive
    python -m benchmarks.scale --dataset digits --copies 3 --per-class 60 --write ''   # a minute

The stream: ``--copies`` copies of the data set, copy c with its own fixed pixel
permutation (copy 0 unpermuted), each copy's ten digits being ten new classes (copy c,
digit d is class 10 c + d). The copies come one after another, ten new classes at a time,
``--per-class`` training images per class, shuffled within a copy, in batches of
``--batch``; the learner is given no boundaries, and default settings unless told
(``--archive-size``). After each copy: members, accuracy on held-out test images of every
class seen so far (``--test-per-class`` each, from the test set, never trained on), peak
resident memory of this process, the size of a save, training seconds per input over that
copy, and predict milliseconds per input (p50 and p99 over batches of 64): straight
after learning ("fresh": queries read the fit learning keeps, and the bank's work counters
must not move while they run) and after ``prepare()`` (whose answers the accuracy is of). Results go to ``OUT/results.json`` and ``OUT/scale.png``; ``--write FILE``
puts the table between ``<!-- scale:begin -->`` and ``<!-- scale:end -->`` in FILE.

This is issue 17's measurement. Before its first step, creation stopped at 30 members
(the archive's per-label share fell below ``min_examples``); the archive now keeps each
label's unexplained inputs up to ``min_examples`` and grows with the collection
(``archive_per_member``). Every member still keeps a full feature-by-feature scatter.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import riscmoe
from riscmoe import threads
from riscmoe.datasets import load_dataset
from riscmoe.datasets.streams import apply_permutation

from benchmarks import markdown
from benchmarks.systems import StreamingLDA

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"


def copies(ds: Any, n: int, per_class: int, test_per_class: int, seed: int) -> list[dict[str, np.ndarray]]:
    """The permuted copies: per copy, its training and test images with labels 10 c + d."""
    rng = np.random.default_rng(seed)
    n_pix = int(np.prod(ds.X_train.shape[1:]))
    out = []
    for c in range(n):
        perm = np.arange(n_pix) if c == 0 else rng.permutation(n_pix)
        tr = np.concatenate([rng.choice(np.flatnonzero(ds.y_train == d), per_class, replace=False) for d in range(10)])
        te = np.concatenate([rng.choice(np.flatnonzero(ds.y_test == d), test_per_class, replace=False) for d in range(10)])
        tr = tr[rng.permutation(len(tr))]
        out.append({"X": apply_permutation(ds.X_train[tr], perm), "y": ds.y_train[tr].astype(np.int64) + 10 * c,
                    "X_test": apply_permutation(ds.X_test[te], perm), "y_test": ds.y_test[te].astype(np.int64) + 10 * c})
    return out


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run(args: argparse.Namespace) -> dict[str, Any]:
    ds = load_dataset(args.dataset)
    parts = copies(ds, args.copies, args.per_class, args.test_per_class, args.seed)
    kw = {} if args.archive_size is None else {"archive_size": args.archive_size}
    if args.archive_per_member is not None:
        kw["archive_per_member"] = args.archive_per_member
    clf = riscmoe.RiscClassifier(seed=args.seed, **kw)
    if args.set:
        clf.set_params(**dict(args.set))
    peer = StreamingLDA("random-conv", args.seed) if args.peer else None
    rows, X_seen, y_seen = [], [], []
    train_s = peer_s = 0.0
    trained = 0
    t_run = time.perf_counter()
    for c, part in enumerate(parts):
        t0 = time.perf_counter()
        for i in range(0, len(part["y"]), args.batch):
            clf.partial_fit(part["X"][i : i + args.batch], part["y"][i : i + args.batch])
        train_s += time.perf_counter() - t0
        trained += len(part["y"])
        evaluated = not ((c + 1) % args.every and c + 1 != len(parts) and c != 0)
        X_seen.append(part["X_test"])
        y_seen.append(part["y_test"])
        fresh: list[float] = []
        hidden = 0
        if evaluated:
            # Queries straight after learning, before prepare(): what a service answering
            # between lessons sees. They must do no work of the bank's (refits, pair solves).
            Xt = np.concatenate(X_seen)
            work = sum(clf.collection_.meta.work.values())
            for i in range(0, len(Xt), 64):
                t1 = time.perf_counter()
                n = len(clf.predict(Xt[i : i + 64]))
                fresh.append((time.perf_counter() - t1) / n * 1e3)
            hidden = sum(clf.collection_.meta.work.values()) - work
        t0 = time.perf_counter()
        clf.prepare()
        train_s += time.perf_counter() - t0
        if peer is not None:
            t0 = time.perf_counter()
            for i in range(0, len(part["y"]), args.batch):
                peer.partial_fit(part["X"][i : i + args.batch], part["y"][i : i + args.batch])
            peer_s += time.perf_counter() - t0
        if not evaluated:
            print(f"  copy {c + 1}/{len(parts)}: {clf.n_experts_} members, {time.perf_counter() - t_run:.0f} s", flush=True)
            continue
        Xt, yt = np.concatenate(X_seen), np.concatenate(y_seen)
        times, right = [], 0
        for i in range(0, len(yt), 64):
            t1 = time.perf_counter()
            pred = clf.predict(Xt[i : i + 64])
            times.append((time.perf_counter() - t1) / len(pred) * 1e3)
            right += int((pred == yt[i : i + 64]).sum())
        peer_acc = None
        if peer is not None:
            peer_acc = float(np.mean(np.concatenate([peer.predict(Xt[i : i + 1024]) for i in range(0, len(yt), 1024)]) == yt))
        save_mb = None
        if args.save:
            with tempfile.TemporaryDirectory(prefix="riscmoe-scale-") as tmp:
                clf.save(Path(tmp) / "system")
                save_mb = _folder_bytes(Path(tmp) / "system") / 2**20
        bank = clf.collection_.meta
        meta_bytes = bank.member_nbytes()
        model_params = [m.model.n_parameters for m in clf.collection_.members] or [0]
        meta_bytes = meta_bytes or [0]
        row = {"classes": 10 * (c + 1), "members": int(clf.n_experts_), "accuracy": right / len(yt), "slda_accuracy": peer_acc,
               "peak_mb": _peak_mb(), "save_mb": save_mb, "train_ms_per_input": train_s / trained * 1e3,
               "slda_train_ms_per_input": peer_s / trained * 1e3 if peer is not None else None,
               "meta_kb_per_member": float(np.mean(meta_bytes)) / 1024, "meta_kb_per_member_max": float(np.max(meta_bytes)) / 1024,
               "members_with_scatter": int(sum(S is not None for S in bank.scatters)),
               # a member's model: its parameters and Adam's two moments, float32
               "model_kb_per_member": 3 * 4 * float(np.mean(model_params)) / 1024,
               "predict_ms_p50": float(np.percentile(times, 50)), "predict_ms_p99": float(np.percentile(times, 99)),
               "fresh_predict_ms_p50": float(np.percentile(fresh, 50)), "fresh_predict_ms_p99": float(np.percentile(fresh, 99)),
               "work_in_predict": int(hidden),
               "test_inputs": int(len(yt))}
        train_s = peer_s = 0.0
        trained = 0
        rows.append(row)
        print(f"{row['classes']:>5} classes: {row['members']:>4} members, accuracy {100 * row['accuracy']:.1f}%"
              + (f" (streaming LDA {100 * peer_acc:.1f}%)" if peer_acc is not None else "")
              + f", peak {row['peak_mb']:.0f} MB" + (f", save {save_mb:.0f} MB" if save_mb is not None else "")
              + f", meta {row['meta_kb_per_member']:.0f} KB/member, train {row['train_ms_per_input']:.2f} ms/input, "
              f"predict p50 {row['predict_ms_p50']:.2f} / p99 {row['predict_ms_p99']:.2f} ms/input, "
              f"{time.perf_counter() - t_run:.0f} s", flush=True)
    return {"dataset": args.dataset, "copies": args.copies, "per_class": args.per_class, "batch": args.batch,
            "test_per_class": args.test_per_class, "archive_size": args.archive_size,
            "archive_per_member": args.archive_per_member, "set": [f"{k}={v}" for k, v in args.set], "seed": args.seed, "every": args.every,
            "threads": threads.current()[0], "machine": f"{platform.machine()}, Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d"), "wall_s": time.perf_counter() - t_run, "rows": rows}


def _setting(text: str) -> tuple[str, Any]:
    """``meta__pair_block=768`` -> ("meta__pair_block", 768); true/false are booleans, numbers numbers."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    if value in ("true", "false"):
        return key, value == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def table(res: dict[str, Any]) -> str:
    settings = [(flag, res.get(key)) for flag, key in (("--archive-size", "archive_size"), ("--archive-per-member", "archive_per_member"))
                if res.get(key) is not None]
    archive = "the default archive" if not settings else ", ".join(f"`{flag} {value}`" for flag, value in settings)
    extra = "".join(f" {flag} {value}" for flag, value in settings) + "".join(f" --set {kv}" for kv in res.get("set", []))
    if res.get("set"):
        archive += ", " + ", ".join(f"`{kv}`" for kv in res["set"])
    every = f" --every {res['every']}" if res.get("every", 1) != 1 else ""
    lines = [
        f"Command: `python -m benchmarks.scale --dataset {res['dataset']} --copies {res['copies']} --per-class "
        f"{res['per_class']} --test-per-class {res['test_per_class']}{every}{extra}` ({res['machine']}, {res['date']}, "
        f"{res['threads']} threads, {res.get('wall_s', 0) / 60:.0f} min). {res['copies']} permuted "
        f"copies of {res['dataset']}, ten new classes each, {res['per_class']} training images per class in batches of "
        f"{res['batch']}, {archive}; accuracy over {res['test_per_class']} held-out test images per class seen so far; "
        "streaming LDA learns the same stream on the same features. Train ms / input: learning and `prepare()` over the "
        "copies since the row before; meta KB / member: what a member's meta-model holds beyond the shared shape "
        "(mean, reservoir, own scatter once it has one); a member's model (parameters and optimiser moments) is "
        "apart. Predict ms / input, p50 / p99 over batches of 64: fresh, straight after learning (the refits and pair "
        "solves the bank did meanwhile: 0 means queries did none), and after `prepare()`.",
        "",
        "| classes seen | members | accuracy % | streaming LDA % | peak MB | save MB | meta KB / member (members with a scatter) "
        "| model KB / member | train ms / input | predict fresh p50 / p99 (work) | predict prepared p50 / p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in res["rows"]:
        slda = r.get("slda_accuracy")
        fresh = (f"{r['fresh_predict_ms_p50']:.2f} / {r['fresh_predict_ms_p99']:.2f} ({r['work_in_predict']})"
                 if "fresh_predict_ms_p50" in r else "-")
        lines.append(f"| {r['classes']} | {r['members']} | {100 * r['accuracy']:.1f} | {_num(None if slda is None else 100 * slda, '.1f')} | "
                     f"{r['peak_mb']:.0f} | {_num(r.get('save_mb'), '.0f')} | {_num(r.get('meta_kb_per_member'), '.0f')} "
                     f"({r.get('members_with_scatter', '-')}) | {_num(r.get('model_kb_per_member'), '.0f')} | "
                     f"{r['train_ms_per_input']:.2f} | {fresh} | {r['predict_ms_p50']:.2f} / {r['predict_ms_p99']:.2f} |")
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    """Members and accuracy against classes seen; cost per input and memory per member against members (log axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["rows"]
    xs = [r["classes"] for r in rows]
    ms = [max(r["members"], 1) for r in rows]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13.5, 3.8))
    a.plot(xs, xs, ":", color="grey", label="one per class")
    a.plot(xs, [r["members"] for r in rows], "o-", label="members")
    a.set_xlabel("classes seen")
    a.set_ylabel("members")
    a.legend()
    a.grid(alpha=0.3)
    b.plot(xs, [100 * r["accuracy"] for r in rows], "s-", label="riscmoe")
    if any(r.get("slda_accuracy") is not None for r in rows):
        b.plot(xs, [100 * r["slda_accuracy"] if r.get("slda_accuracy") is not None else np.nan for r in rows], "^--",
               label="streaming LDA, same features")
    b.set_xlabel("classes seen")
    b.set_ylabel("accuracy over classes seen, %")
    b.set_ylim(0, 100)
    b.legend()
    b.grid(alpha=0.3)
    c.loglog(ms, [r["train_ms_per_input"] for r in rows], "o-", label="train ms / input")
    c.loglog(ms, [r["predict_ms_p50"] for r in rows], "s-", label="predict ms / input (p50)")
    c.loglog(ms, [r["predict_ms_p99"] for r in rows], "s:", label="predict ms / input (p99)")
    if all("fresh_predict_ms_p99" in r for r in rows):
        c.loglog(ms, [r["fresh_predict_ms_p99"] for r in rows], "x:", label="predict straight after learning (p99)")
    c.set_xlabel("members")
    c.set_ylabel("ms per input")
    c.grid(alpha=0.3, which="both")
    if all(r.get("meta_kb_per_member") is not None for r in rows):
        d = c.twinx()
        d.loglog(ms, [r["meta_kb_per_member"] / 1024 for r in rows], "d-", color="tab:red", label="meta MB / member")
        d.set_ylabel("MB per member (meta-model)", color="tab:red")
        lines = c.get_legend_handles_labels()[0] + d.get_legend_handles_labels()[0]
        c.legend(lines, [h.get_label() for h in lines], fontsize=8, loc="upper left")
    else:
        c.legend(fontsize=8)
    fig.suptitle(f"{res['copies']} permuted copies of {res['dataset']}, {res['per_class']} per class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between this benchmark's markers in ``path`` (appended with a heading if they are missing)."""
    markdown.write_section(path, text, BEGIN, END, 'Many classes: members, accuracy and cost per member (issue 17)')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or digits")
    p.add_argument("--copies", type=int, default=12, help="permuted copies, ten classes each (default 12: 120 classes)")
    p.add_argument("--per-class", type=int, default=300, help="training images per class (default 300)")
    p.add_argument("--test-per-class", type=int, default=50, help="held-out test images per class (default 50)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--archive-size", type=int, default=None, help="the estimator's archive_size (default: its own default)")
    p.add_argument("--archive-per-member", type=int, default=None,
                   help="the estimator's archive_per_member (default: its own default; 0: a fixed archive)")
    p.add_argument("--set", action="append", default=[], type=_setting, metavar="KEY=VALUE",
                   help="an estimator parameter, as set_params takes it (e.g. meta__pair_block=768); repeatable")
    p.add_argument("--every", type=int, default=1, help="measure after the first copy, every this many, and the last (default 1)")
    p.add_argument("--no-peer", dest="peer", action="store_false", help="leave out streaming LDA on the same stream")
    p.add_argument("--no-save", dest="save", action="store_false", help="leave out the size of a save")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "scale")
    p.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="file to put the table in ('' for none)")
    args = p.parse_args(argv)
    markdown.check_args(p, args, ("copies", "per_class", "test_per_class", "batch", "every"))  # before the run, not after it
    threads.configure()
    res = run(args)
    markdown.write_results(args.out, res)
    plot(res, args.out / "scale.png")
    text = table(res) + f"\n\nPlot: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}/scale.png."
    print("\n" + text)
    if args.write:
        write_section(Path(args.write), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
