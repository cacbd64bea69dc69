"""Memory per member against accuracy (issue 17 item 2): riscmoe-best on the standard streams
with members' own scatters kept in full (``full``: ``meta__member_kb=0``), as the budget per member
chooses (``default``) or as blocks in a shared basis set by hand (``meta__pair_block``).

    python -m benchmarks.member_memory                                   # the three streams, three settings
    python -m benchmarks.member_memory --streams split-fashion --settings full pair_block=512
    python -m benchmarks.member_memory --settings default full_mb=0 --seeds 0 1 2   # paired seeds

Each job runs in its own process (so its peak memory is its own), ``--jobs`` at a time, with
the threads given; the table goes into BENCHMARKS.md between ``member-memory`` markers and the
figures to ``runs/member-memory/results.json``. Accuracy is on the streams' held-out test sets;
with several seeds a cell is the mean (lowest to highest), and a second table gives each setting's
paired difference from the first setting (the same seed's streams, so the same classes' order
and the same archive draws), which separates settings that one seed cannot: neighbouring
settings differ by about 0.1 point from seed to seed.
"meta KB per member" is the largest member's meta-model beyond what the bank shares (mean,
reservoir, own scatter or block, calibration, columns), its model apart.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import markdown

STREAMS = ["split-mnist", "split-fashion", "permuted-mnist"]
SETTINGS = ["full", "default", "pair_block=1152,block_bits=8,reservoir=60,half_reservoir=true"]


def parse_setting(text: str) -> dict[str, Any]:
    """``default`` -> {} (the layout ``meta__member_kb`` chooses); ``full`` -> no budget (full scatters,
    256 calibration examples in float32); ``pair_block=512,reservoir=128`` -> {"meta__pair_block": 512,
    "meta__reservoir": 128}; ``full_mb=0`` -> {"meta__full_mb": 0} (blocks from the first member)."""
    if text == "default":
        return {}
    if text == "full":
        return {"meta__member_kb": 0}
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if value in ("true", "false"):
            out[f"meta__{key}"] = value == "true"
            continue
        if not sep or not key or not value.lstrip("-").isdigit():
            raise ValueError(f"a setting is 'full', 'default' or name=value pairs joined by commas, each value an integer or true/false "
                             f"(pair_block=512,reservoir=128,half_reservoir=true); got {text!r}")
        out[f"meta__{key}"] = int(value)
    return out


def _job(stream: str, setting: str, seed: int, threads: int, data_dir: str | None) -> dict[str, Any]:
    import torch

    from benchmarks.worker import run_job

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    [row] = run_job("riscmoe-best", stream, "standard", seed, data_dir, log=lambda s: None, params=parse_setting(setting))
    row.update(setting=setting, job_seconds=time.perf_counter() - t0)
    return row


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """One figure, or the mean of several with (lowest to highest)."""
    if len(values) == 1:
        return fmt.format(values[0])
    return fmt.format(sum(values) / len(values)) + " (" + fmt.format(min(values)) + " to " + fmt.format(max(values)) + ")"


def table(rows: list[dict[str, Any]], streams: list[str], settings: list[str]) -> str:
    """Accuracy, memory, time and peak per setting (means over the seeds run, with their range);
    with several seeds, then each setting's paired difference from the first setting."""
    head = "| setting | " + " | ".join(f"{s} %" for s in streams) + " | meta KB / member, largest | train s | peak MB |"
    lines = [head, "|---|" + "---:|" * len(streams) + "---|---|---|"]
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r.get("seed", 0)):
        by.setdefault((r["setting"], r["stream"]), []).append(r)
    seeds = sorted({r.get("seed", 0) for r in rows})

    def mean(rs: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in rs) / len(rs)

    for setting in settings:
        cells = [_spread([100 * r["final_accuracy"] for r in by[(setting, s)]]) if (setting, s) in by else "-" for s in streams]
        got = [by[(setting, s)] for s in streams if (setting, s) in by]
        kb = " / ".join(f"{max(r['meta_kb_per_member_max'] for r in rs):.0f}" for rs in got)
        train = " / ".join(f"{mean(rs, 'train_seconds'):.1f}" for rs in got)
        peak = " / ".join(f"{max(r['peak_rss_mb'] for r in rs):.0f}" for rs in got)
        lines.append(f"| {setting} | " + " | ".join(cells) + f" | {kb} | {train} | {peak} |")
    if len(seeds) > 1 and len(settings) > 1:
        base = settings[0]
        lines += ["", f"Paired differences from `{base}`, points (mean over seeds {', '.join(map(str, seeds))}; "
                  "lowest to highest), and the ratio of mean training seconds:", "",
                  "| setting | " + " | ".join(f"{s}" for s in streams) + " | train s ratio |",
                  "|---|" + "---:|" * len(streams) + "---|"]
        for setting in settings[1:]:
            cells, ratios = [], []
            for s in streams:
                mine = {r.get("seed", 0): r for r in by.get((setting, s), [])}
                theirs = {r.get("seed", 0): r for r in by.get((base, s), [])}
                both = sorted(set(mine) & set(theirs))
                if not both:
                    cells.append("-")
                    continue
                cells.append(_spread([100 * (mine[k]["final_accuracy"] - theirs[k]["final_accuracy"]) for k in both], "{:+.2f}"))
                ratios.append(f"{mean([mine[k] for k in both], 'train_seconds') / mean([theirs[k] for k in both], 'train_seconds'):.2f}")
            lines.append(f"| {setting} | " + " | ".join(cells) + f" | {' / '.join(ratios)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", nargs="+", default=STREAMS)
    ap.add_argument("--settings", nargs="+", default=SETTINGS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (streams' class orders and draws); several give paired differences")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per job")
    ap.add_argument("--jobs", type=int, default=1, help="jobs at a time (training times then share the cores)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="runs/member-memory")
    ap.add_argument("--markdown", default="BENCHMARKS.md", help="file whose member-memory section is rewritten ('none': print only)")
    args = ap.parse_args(argv)
    for s in args.settings:
        try:
            parse_setting(s)  # a bad setting fails before an hour of work
        except ValueError as exc:
            ap.error(str(exc))
    markdown.check_out(Path(args.out))
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    # A fresh process per job (max_tasks_per_child=1), so that its peak memory is its own.
    with cf.ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = {pool.submit(_job, stream, setting, seed, args.threads, args.data_dir): (setting, stream, seed)
                   for seed in args.seeds for setting in args.settings for stream in args.streams}
        for fut in cf.as_completed(futures):
            row = fut.result()
            row["seed"] = futures[fut][2]
            rows.append(row)
            print(f"{row['setting']:32s} {row['stream']:16s} seed {row['seed']}  {100 * row['final_accuracy']:6.2f}%  "
                  f"meta {row['meta_kb_per_member_max']:8.0f} KB / member  train {row['train_seconds']:6.1f} s  "
                  f"peak {row['peak_rss_mb']:6.0f} MB", flush=True)
    markdown.write_results(Path(args.out), rows)
    cmd = "python -m benchmarks.member_memory" + ("" if args.streams == STREAMS else " --streams " + " ".join(args.streams)) + (
        "" if args.settings == SETTINGS else " --settings " + " ".join(args.settings)) + (
        "" if args.threads == 2 else f" --threads {args.threads}") + ("" if args.jobs == 1 else f" --jobs {args.jobs}") + (
        "" if args.seeds == [0] else " --seeds " + " ".join(map(str, args.seeds)))
    text = (f"Command: `{cmd}` ({platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, "
            f"{args.threads} threads per job, {args.jobs} job(s) at a time, seed{'s' if len(args.seeds) > 1 else ''} {', '.join(map(str, args.seeds))}, {(time.perf_counter() - started) / 60:.0f} min). "
            "riscmoe-best, default parameters but the setting; accuracy at the end of each stream on its test set.\n\n"
            + table(rows, args.streams, args.settings))
    print(text)
    if args.markdown != "none":
        markdown.write_section(Path(args.markdown), text, "<!-- member-memory:begin -->", "<!-- member-memory:end -->",
                               "Memory per member: blocks in a shared basis (issue 17 item 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
