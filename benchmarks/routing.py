"""Routing cost against members: every member's meta-model scored, or a first stage that finds candidates.

Usage (from the repository root)::

    python -m benchmarks.routing                       # 10, 100, 1,000 and 10,000 members
    python -m benchmarks.routing --members 10 100 --queries 512 --write ''   # seconds

Members made from synthetic data (the streams at hand have at most a few hundred classes):
member k is a Gaussian blob in ``--dim`` features around a centre of its own, learned from
``--per-member`` examples; queries are fresh draws from random members. The centres come in
families of ``--family`` members around a family centre, as the classes of one permuted copy
of MNIST share their permutation (``--family 1``: centres with no structure at all, where
no clustering helps and the first stage's recall says so). Each bank is the
shipped ``gaussian`` kind with small per-member state (``reservoir`` 16, ``shape_rank`` 1,
pair shapes off: the synthetic members have no look-alike pairs), once scoring every member
(``candidates=0``, the default) and once with the first stage (``candidates=C``: the
members' means in about sqrt(M) clusters, each query scoring the members of its nearest
clusters). Per bank: meta-model milliseconds per query (``evaluate``, batches of 512, the
median of three passes), members scored per query, the first stage's recall (how often the
member the full bank ranks first is among those scored), agreement of the top member with
the full bank's, the accuracy of the top member against the member that drew the query,
the bank's arrays in MB, and the seconds to ``prepare()`` (refit, and clustering).
Results go to ``OUT/results.json`` and ``OUT/routing.png``; ``--write FILE`` puts the table
between ``<!-- routing:begin -->`` and ``<!-- routing:end -->`` in FILE.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import markdown

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- routing:begin -->", "<!-- routing:end -->"


def _bank_mb(bank: Any) -> float:
    arrays = list(bank.state_dict().values())
    derived = [bank._product, bank._knots]
    if bank._clusters is not None:
        derived += [bank._clusters[1], bank._clusters[2], *bank._clusters[0], *bank._blocks]
    return sum(a.numel() * a.element_size() for a in arrays + derived if a is not None) / 2**20


def measure(members: int, candidates: int, args: argparse.Namespace, centres: Any, full_top: Any = None) -> dict[str, Any]:
    import torch

    from riscmoe.meta.gaussian import Gaussian

    bank = Gaussian(reservoir=16, shape_rank=1, pair_margin=0.0, candidates=candidates).build(args.dim, seed=args.seed)
    g = torch.Generator().manual_seed(args.seed)
    for k in range(members):
        bank.add(centres[k] + args.spread * torch.randn(args.per_member, args.dim, generator=g))
    t0 = time.perf_counter()
    bank.prepare()
    prepare_s = time.perf_counter() - t0
    q = torch.Generator().manual_seed(args.seed + 1)
    drew = torch.randint(0, members, (args.queries,), generator=q)
    Zq = centres[drew] + args.spread * torch.randn(args.queries, args.dim, generator=q)
    passes, outs = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        outs = [bank.evaluate(Zq[i : i + 512]) for i in range(0, len(Zq), 512)]
        passes.append((time.perf_counter() - t0) / len(Zq) * 1e3)
    top = torch.cat([o.nearest for o in outs])
    scored = torch.cat([o.scored for o in outs]).float()
    row = {"members": members, "candidates": candidates, "ms_per_query": float(np.median(passes)),
           "scored_per_query": float(scored.mean()), "accuracy": float((top == drew).float().mean()),
           "bank_mb": _bank_mb(bank), "prepare_s": prepare_s, "top": top}
    if full_top is not None:
        # Recall: the full bank's first member is among those the first stage scored.
        found = torch.cat([o.distance.gather(1, full_top[i : i + 512, None]).squeeze(1) < 1e29
                           for i, o in zip(range(0, len(Zq), 512), outs)])
        row["recall"] = float(found.float().mean())
        row["agreement"] = float((top == full_top).float().mean())
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from riscmoe import threads

    threads.configure()
    rows = []
    for m in args.members:
        g = torch.Generator().manual_seed(args.seed + 7)
        families = torch.randn((m + args.family - 1) // args.family, args.dim, generator=g) * args.family_separation
        centres = families.repeat_interleave(args.family, 0)[:m] + torch.randn(m, args.dim, generator=g) * args.separation
        full = measure(m, 0, args, centres)
        rows.append({k: v for k, v in full.items() if k != "top"})
        for c in args.candidates:
            if c >= m:
                continue
            fs = measure(m, c, args, centres, full_top=full["top"])
            rows.append({k: v for k, v in fs.items() if k != "top"})
        for r in rows[-1 - sum(c < m for c in args.candidates):]:
            print(f"{r['members']:>6} members, candidates {r['candidates'] or 'all':>4}: {r['ms_per_query']:.4f} ms/query, "
                  f"{r['scored_per_query']:.0f} scored, recall {r.get('recall', 1.0):.4f}, accuracy {r['accuracy']:.4f}, "
                  f"bank {r['bank_mb']:.1f} MB, prepare {r['prepare_s']:.1f} s", flush=True)
    return {"dim": args.dim, "per_member": args.per_member, "queries": args.queries, "spread": args.spread,
            "separation": args.separation, "family": args.family, "family_separation": args.family_separation, "seed": args.seed, "threads": threads.current()[0],
            "machine": f"{platform.machine()}, Python {platform.python_version()}", "date": time.strftime("%Y-%m-%d"),
            "rows": rows}


def table(res: dict[str, Any]) -> str:
    lines = [
        f"Command: `python -m benchmarks.routing --members {' '.join(str(r['members']) for r in res['rows'] if not r['candidates'])} "
        f"--candidates {' '.join(sorted({str(r['candidates']) for r in res['rows'] if r['candidates']}, key=int))}` "
        f"({res['machine']}, {res['date']}, {res['threads']} threads). Synthetic members: Gaussian blobs in {res['dim']} "
        f"features, {res['per_member']} examples each, in families of {res['family']}; {res['queries']} queries drawn from "
        "random members, in batches of 512.",
        "",
        "| members | first stage | meta ms / query | members scored / query | recall | top member agrees | accuracy | bank MB | prepare s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        stage = f"{r['candidates']} candidates" if r["candidates"] else "none (every member)"
        recall = f"{r['recall']:.4f}" if "recall" in r else "1"
        agree = f"{r['agreement']:.4f}" if "agreement" in r else "1"
        lines.append(f"| {r['members']:,} | {stage} | {r['ms_per_query']:.4f} | {r['scored_per_query']:,.0f} | {recall} | {agree} | "
                     f"{100 * r['accuracy']:.2f}% | {r['bank_mb']:.1f} | {r['prepare_s']:.1f} |")
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    for c in sorted({r["candidates"] for r in res["rows"]}):
        rows = [r for r in res["rows"] if r["candidates"] == c]
        label = "every member" if c == 0 else f"first stage, {c} candidates"
        a.plot([r["members"] for r in rows], [r["ms_per_query"] for r in rows], "o-", label=label)
        b.plot([r["members"] for r in rows], [r["bank_mb"] for r in rows], "o-", label=label)
    for ax, ylabel in ((a, "meta-model ms per query"), (b, "bank arrays, MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("members")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    a.legend(fontsize=8)
    fig.suptitle(f"routing cost against members ({res['dim']} features, synthetic members)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.routing", description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, nargs="+", default=[10, 100, 1000, 10000])
    p.add_argument("--candidates", type=int, nargs="+", default=[64], help="first-stage candidates per query (default 64)")
    p.add_argument("--dim", type=int, default=2304, help="features (default 2304, the shipped encoder's on MNIST)")
    p.add_argument("--per-member", type=int, default=24, help="examples each member learns from (default 24)")
    p.add_argument("--queries", type=int, default=2048)
    p.add_argument("--spread", type=float, default=1.0, help="noise around a member's centre")
    p.add_argument("--separation", type=float, default=0.5, help="scale of a member's centre around its family's")
    p.add_argument("--family", type=int, default=10, help="members per family (1: no structure)")
    p.add_argument("--family-separation", type=float, default=2.0, help="scale of the families' centres")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "routing")
    p.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="file to put the table in ('' for none)")
    args = p.parse_args(argv)
    bad = [n for n in ("dim", "per_member", "queries", "family") if getattr(args, n) < 1] + \
          (["members"] if min(args.members) < 2 else []) + (["candidates"] if min(args.candidates) < 1 else [])
    if bad:
        p.error(f"--{bad[0].replace('_', '-')} must be at least {2 if bad[0] == 'members' else 1}")
    try:
        markdown.check_out(args.out)
    except ValueError as exc:
        p.error(str(exc))
    res = run(args)
    markdown.write_results(args.out, res)
    plot(res, args.out / "routing.png")
    text = table(res) + f"\n\nPlot: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}/routing.png."
    if args.write:
        markdown.write_section(Path(args.write), text, BEGIN, END, "Routing cost against members: a first stage (issue 17)")
    print(f"results: {args.out / 'results.json'}, plot: {args.out / 'routing.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
