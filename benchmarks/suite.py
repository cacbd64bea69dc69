"""The benchmark suite: riscmoe and its peers on the same streams, in the same run.

Usage:
    python -m benchmarks --suite standard          # the whole suite, writes BENCHMARKS.md
    python -m benchmarks --suite quick             # smoke check on scikit-learn digits
    python -m benchmarks --suite standard --only split-mnist --systems riscmoe-best slda-random-conv
    python -m benchmarks --suite standard --render  # tables and plots again from the last results.json

Every job (a system on a stream with a seed) runs in its own process
(``benchmarks/worker.py``; Avalanche's strategies in their own environment through
``benchmarks/avalanche_runner.py``), so that peak memory is each job's own. Results go
to ``runs/bench-SUITE/results.json``, plots next to it, and for the standard suite a table
between the ``suite`` markers of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.specs import RISC_POLICIES, SUITES

ROOT = Path(__file__).resolve().parents[1]
MARK_BEGIN = "<!-- suite:begin -->"
MARK_END = "<!-- suite:end -->"
AVALANCHE_PYTHON = ROOT / ".venv-avalanche" / "bin" / "python"
AVALANCHE_STRATEGIES = ("naive", "replay", "ewc", "lwf", "icarl", "gdumb")
SINGLE_SEED = {"joint-mlp-x4"}  # systems the standard plan runs on the first seed only
# (stream, system) pairs the standard plan leaves out, and why: shown as such in the table.
NOT_RUN = {
    ("mnist-batch1", "avalanche-ewc"): "not run: at a minibatch of one EWC took 180 s (a third of all "
    "Avalanche time in the suite) and diverged to 9.8% (chance) in the full run of 2026-11-29; LwF stands for "
    "the regularisation strategies on this stream",
}
# On the harder streams two of Avalanche's six strategies sit out, so that the harder
# streams run on two seeds and the whole suite stays under 30 minutes on 2 cores (with
# them it took 28.0 and 29.4 minutes on 2026-11-29). On those streams, in those runs,
# each trailed the strategy that stands for it: EWC was below LwF on all four streams it
# ran on, iCaRL below GDumb on all five (by 0.5 to 48 points).
for _stream in ("mnist-10x1", "mnist-blurred", "mnist-recurring", "mnist-batch1", "permuted-mnist"):
    for _name, _stand_in in (("ewc", "LwF"), ("icarl", "GDumb")):
        NOT_RUN.setdefault(
            (_stream, f"avalanche-{_name}"),
            f"not run on the harder streams, to keep the whole suite under 30 minutes on 2 cores; {_stand_in} stands for "
            f"it here and its split-stream rows show it",
        )


@dataclass(frozen=True)
class Job:
    system: str
    stream: str
    seed: int


def plan(suite: str, only: list[str] | None, systems: list[str] | None, seeds: list[int] | None) -> list[Job]:
    """The jobs of a suite: every peer on the class-incremental streams over several seeds,
    riscmoe's three policies side by side, and riscmoe with the streaming baseline on the
    harder streams."""
    avalanche = [f"avalanche-{s}" for s in AVALANCHE_STRATEGIES]
    # The mission's two other choices (the creator as a member, feedback in phases), beside riscmoe-best.
    choices = ["riscmoe-creator-member", "riscmoe-phases"]
    if suite == "quick":
        layout = {
            "split-digits": (["riscmoe-best", "riscmoe-first", "riscmoe-mixture", "slda-pixels", "slda-random-conv", "joint-mlp-x1",
                              *choices], [0]),
            "permuted-digits": (["riscmoe-best", "slda-random-conv", *choices], [0]),
        }
    else:
        peers = ["riscmoe-best", "slda-pixels", "slda-random-conv", "joint-mlp-x1", "joint-mlp-x4", *avalanche]
        others = ["riscmoe-best", "riscmoe-first", "riscmoe-mixture", "slda-pixels", "slda-random-conv", *avalanche]
        # Joint training shuffles the whole training set, so a seed changes only its
        # initialisation and shuffle, not a class order: the 4x network (the slowest job)
        # runs on seed 0 only.
        layout = {
            "split-mnist": (peers + ["riscmoe-first", "riscmoe-mixture", *choices], [0, 1, 2]),
            "split-fashion": (peers + ["riscmoe-first", "riscmoe-mixture", *choices], [0, 1, 2]),
            # Joint training on these three MNIST streams would see a part of split-mnist's
            # data, shuffled: its split-mnist row (all of the data) bounds them from above.
            "mnist-10x1": (others, [0, 1]),
            "mnist-blurred": (others, [0, 1]),
            "mnist-recurring": (others, [0, 1]),
            "mnist-batch1": (others, [0, 1]),
            "permuted-mnist": (others + ["joint-mlp-x1", *choices], [0, 1]),
        }
    jobs = []
    for stream, (names, stream_seeds) in layout.items():
        if only and stream not in only:
            continue
        for name in names:
            if systems and name not in systems:
                continue
            if suite == "standard" and (stream, name) in NOT_RUN:
                continue
            for seed in seeds or (stream_seeds[:1] if name in SINGLE_SEED else stream_seeds):
                jobs.append(Job(name, stream, seed))
    return merge_policies(jobs)


def not_run_rows(suite: str, only: list[str] | None, systems: list[str] | None) -> list[dict[str, Any]]:
    """Table rows for the pairs the plan leaves out on purpose (``NOT_RUN``)."""
    if suite != "standard":
        return []
    return [{"system": name, "stream": stream, "seed": 0, "skipped": why} for (stream, name), why in NOT_RUN.items()
            if (not only or stream in only) and (not systems or name in systems)]


def merge_policies(jobs: list[Job]) -> list[Job]:
    """Jobs that can share a process on one stream and seed become one job.

    Several riscmoe policies become one ``riscmoe`` job: training does not depend on the
    policy, so one trained system is evaluated under all three. Several Avalanche
    strategies become one ``avalanche-a+b+...`` job: the stream is exported and Avalanche
    imported once, and each strategy runs in its own forked process."""
    groups: dict[tuple[str, str, int], list[Job]] = {}
    for job in jobs:
        family = _family(job.system)
        if family in ("riscmoe", "avalanche"):
            groups.setdefault((family, job.stream, job.seed), []).append(job)
    out, placed = [], set()
    for job in jobs:
        family = _family(job.system)
        key = (family, job.stream, job.seed)
        if key in groups and len(groups[key]) > 1:
            if key not in placed:
                placed.add(key)
                if family == "riscmoe":
                    out.append(Job("riscmoe", job.stream, job.seed))
                else:
                    names = "+".join(j.system.split("-", 1)[1] for j in groups[key])
                    out.append(Job(f"avalanche-{names}", job.stream, job.seed))
            continue
        out.append(job)
    return out


def _family(system: str) -> str:
    """Jobs of one family on a stream and seed share a process: riscmoe's routing policies
    (one training run), Avalanche's strategies; any other system (riscmoe with other parts
    too: its training differs) runs alone."""
    if system.startswith("riscmoe-") and system.split("-", 1)[1] not in RISC_POLICIES:
        return system
    return system.split("-", 1)[0]


def job_systems(job: Job) -> list[str]:
    """The table rows a job produces."""
    if job.system == "riscmoe":
        return [f"riscmoe-{p}" for p in RISC_POLICIES]
    if job.system.startswith("avalanche-"):
        return [f"avalanche-{name}" for name in job.system.split("-", 1)[1].split("+")]
    return [job.system]


def _expected_seconds(job: Job) -> float:
    """A rough cost, to start the longest jobs first."""
    n_strategies = job.system.count("+") + 1 if job.system.startswith("avalanche-") else 1
    base = {"riscmoe": 60.0, "joint-mlp-x4": 100.0}.get(job.system, 40.0 if job.system.startswith("riscmoe") else 20.0 * n_strategies)
    return base * (3.0 if "batch1" in job.stream else 1.0)


def job_path(job: Job, out_dir: Path) -> Path:
    return out_dir / "jobs" / f"{job.stream}--{job.system}--{job.seed}.json"


def read_results(path: Path) -> list[dict[str, Any]]:
    """A job's figures: one entry per system variant it measured."""
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def run_job(job: Job, suite: str, out_dir: Path, data_dir: str | None, threads: int | None = None) -> list[dict[str, Any]]:
    """Run one job in a child process; returns its figures (or why it could not run).

    ``threads`` caps the child's math threads (OMP/MKL), so that parallel jobs share the
    cores instead of fighting over them."""
    out = job_path(job, out_dir)
    if job.system.startswith("avalanche-"):
        if not AVALANCHE_PYTHON.exists():
            return [{"system": name, "stream": job.stream, "seed": job.seed,
                     "skipped": "Avalanche is not installed: run benchmarks/install_avalanche.sh"} for name in job_systems(job)]
        cmd = [sys.executable, "-m", "benchmarks.avalanche_job", "--strategy", job.system.split("-", 1)[1],
               "--stream", job.stream, "--suite", suite, "--seed", str(job.seed), "--out", str(out)]
    else:
        cmd = [sys.executable, "-m", "benchmarks.worker", "--system", job.system, "--stream", job.stream,
               "--suite", suite, "--seed", str(job.seed), "--out", str(out)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True, env=env)
    for line in proc.stdout.splitlines():
        print(line, flush=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if "Error" in ln or "error" in ln), lines[-1] if lines else "no output")
        return [{"system": name, "stream": job.stream, "seed": job.seed, "failed": why} for name in job_systems(job)]
    return read_results(out)


def _fmt(values: list[float], scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    vals = [v * scale for v in values if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}{unit}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals):.{digits}f}{unit}"


def table(results: list[dict[str, Any]], suite: str) -> list[str]:
    """Markdown: one table per stream, one row per system, mean ± std over seeds."""
    lines = []
    streams = [s.name for s in SUITES[suite]]
    for stream in streams:
        rows = [r for r in results if r["stream"] == stream]
        if not rows:
            continue
        lines += [f"#### {stream}", "",
                  "| system | seeds | final accuracy % | forgetting pts | members | models run / input (mean, p95) "
                  "| meta s / model s (test set) | params total / per input | train s | wall s | peak MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        systems = list(dict.fromkeys(r["system"] for r in rows))
        for name in systems:
            rs = [r for r in rows if r["system"] == name]
            bad = [r for r in rs if "skipped" in r or "failed" in r]
            if bad:
                why = bad[0].get("skipped") or "failed: " + bad[0]["failed"][:160]
                lines.append(f"| {name} | {'-' if 'skipped' in bad[0] else len(rs)} | {why} | | | | | | | | |")
                continue
            get = lambda k: [r.get(k) for r in rs]  # noqa: E731
            runs = "-" if rs[0].get("runs_mean") is None else f"{_fmt(get('runs_mean'))}, {_fmt(get('runs_p95'), digits=0)}"
            timing = "-" if rs[0].get("meta_seconds") is None else f"{_fmt(get('meta_seconds'), digits=3)} / {_fmt(get('model_seconds'), digits=3)}"
            params = f"{np.mean(get('params_total')) / 1e6:.2f}M / {np.mean(get('params_per_input')) / 1e3:.0f}k"
            lines.append(
                f"| {name} | {len(rs)} | {_fmt(get('final_accuracy'), 100)} | {_fmt(get('average_forgetting'), 100)} | "
                f"{_fmt(get('members'), digits=1) if rs[0].get('members') is not None else '-'} | {runs} | {timing} | {params} | "
                f"{_fmt(get('train_seconds'), digits=1)} | {_fmt(get('wall_seconds'), digits=1)} | {_fmt(get('peak_rss_mb'), digits=0)} |"
            )
        lines.append("")
    return lines


def plots(results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Final accuracy of every system per stream, and riscmoe's policies' trade-off."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if "final_accuracy" in r]
    paths = []
    streams = list(dict.fromkeys(r["stream"] for r in ok))
    if streams:
        sizes = [len({r["system"] for r in ok if r["stream"] == st}) for st in streams]
        fig, axes = plt.subplots(len(streams), 1, figsize=(9, 1.0 + sum(0.28 * n + 0.9 for n in sizes)), squeeze=False,
                                 gridspec_kw={"height_ratios": [n + 3 for n in sizes]})
        for ax, stream in zip(axes[:, 0], streams):
            rs = [r for r in ok if r["stream"] == stream]
            names = list(dict.fromkeys(r["system"] for r in rs))
            means = [100 * np.mean([r["final_accuracy"] for r in rs if r["system"] == n]) for n in names]
            stds = [100 * np.std([r["final_accuracy"] for r in rs if r["system"] == n]) for n in names]
            colours = ["tab:red" if n.startswith("riscmoe") else "tab:gray" if n.startswith("joint") else "tab:blue" for n in names]
            ax.barh(names, means, xerr=stds, color=colours)
            ax.set_xlim(0, 100)
            ax.set_title(f"{stream}: final accuracy (%)", fontsize=10)
            for y, m in enumerate(means):
                ax.text(min(m + 1, 90), y, f"{m:.1f}", va="center", fontsize=8)
        fig.tight_layout()
        path = out_dir / "accuracy.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    pol = [r for r in ok if r["system"].startswith("riscmoe-") and r.get("runs_mean") is not None]
    if pol:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        policies = (("riscmoe-first", "o"), ("riscmoe-best", "s"), ("riscmoe-mixture", "^"))
        # One colour per stream, one marker per policy; a stream's policies are joined.
        for k, stream in enumerate(dict.fromkeys(r["stream"] for r in pol)):
            colour = plt.cm.tab10(k % 10)
            xs, ys = [], []
            for name, marker in policies:
                rs = [r for r in pol if r["stream"] == stream and r["system"] == name]
                if rs:
                    xs.append(np.mean([r["runs_mean"] for r in rs]))
                    ys.append(100 * np.mean([r["final_accuracy"] for r in rs]))
                    ax.scatter(xs[-1:], ys[-1:], marker=marker, color=colour, zorder=3)
            ax.plot(xs, ys, color=colour, lw=1, alpha=0.6, label=stream)
        for name, marker in policies:
            ax.scatter([], [], marker=marker, color="gray", label=name.split("-")[1])
        ax.set_xlabel("members' models run per input (mean)")
        ax.set_ylabel("final accuracy (%)")
        ax.set_title("routing policies: accuracy against compute")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / "policies.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="standard", choices=sorted(SUITES))
    ap.add_argument("--only", nargs="+", help="streams to run (default: all of the suite)")
    ap.add_argument("--systems", nargs="+", help="systems to run (default: the suite's plan)")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the suite's plan)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="results folder (default runs/bench-SUITE)")
    ap.add_argument("--jobs", type=int, default=2, help="jobs run at once, sharing the cores (default 2; 1 runs one at a time on all cores)")
    ap.add_argument("--reuse", action="store_true", help="read the figures of jobs already in the results folder instead of running them again")
    ap.add_argument("--markdown", default=None, help="file whose suite table to rewrite, or 'none' (default: BENCHMARKS.md for "
                    "the whole standard suite, none for quick or part of a suite)")
    ap.add_argument("--render", action="store_true",
                    help="run nothing: write the table and plots again from the results folder's results.json (its command, date and timings kept)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out or ROOT / "runs" / f"bench-{args.suite}")
    if args.render:
        saved = out_dir / "results.json"
        if not saved.exists():
            print(f"nothing to render: {saved} does not exist (run the suite first)", file=sys.stderr)
            return 2
        data = json.loads(saved.read_text())
        if data.get("meta", {}).get("suite") != args.suite:
            print(f"{saved} holds the {data.get('meta', {}).get('suite')!r} suite, not {args.suite!r}", file=sys.stderr)
            return 2
        return report(data["results"], data["meta"], out_dir, args)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = plan(args.suite, args.only, args.systems, args.seeds)
    if not jobs:
        print("nothing to run: no job matches --only/--systems", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    n_par = max(1, int(args.jobs))
    threads = max(1, (os.cpu_count() or 1) // n_par) if n_par > 1 else None
    done = [0]
    lock = threading.Lock()

    def one(job: Job) -> list[dict[str, Any]]:
        if args.reuse and job_path(job, out_dir).exists():
            rs = read_results(job_path(job, out_dir))
            for r in rs:
                r["reused"] = True
        else:
            rs = run_job(job, args.suite, out_dir, args.data_dir, threads)
        with lock:
            done[0] += 1
            print(f"[{done[0]}/{len(jobs)}] {job.system} on {job.stream}, seed {job.seed} "
                  f"({time.perf_counter() - t0:.0f} s so far){' (figures of an earlier run reused)' if rs and rs[0].get('reused') else ''}", flush=True)
            for r in rs:
                if "final_accuracy" in r:
                    print(f"    {r['system']}: final accuracy {100 * r['final_accuracy']:.2f}%, wall {r['wall_seconds']:.1f} s", flush=True)
                else:
                    print(f"    {r['system']}: {r.get('skipped') or 'FAILED: ' + r.get('failed', '')}", flush=True)
        return rs

    print(f"{len(jobs)} jobs, {n_par} at a time" + (f" ({threads} math threads each)" if threads else ""), flush=True)
    with ThreadPoolExecutor(max_workers=n_par) as pool:
        # Longest jobs first keeps both workers busy to the end; results keep plan order.
        futures = {job: pool.submit(one, job) for job in sorted(jobs, key=_expected_seconds, reverse=True)}
        results = [r for job in jobs for r in futures[job].result()] + not_run_rows(args.suite, args.only, args.systems)
    total = time.perf_counter() - t0
    reused = sum(1 for job in jobs if any(r.get("reused") for r in futures[job].result()))  # jobs, not table rows
    meta = {"suite": args.suite, "reused_jobs": reused, "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d"), "total_seconds": total, "parallel_jobs": n_par, "threads_per_job": threads}
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    tmp.replace(out_dir / "results.json")
    return report(results, meta, out_dir, args)


def report(results: list[dict[str, Any]], meta: dict[str, Any], out_dir: Path, args: argparse.Namespace) -> int:
    """Plots, the Markdown table (printed, and written into the suite's file); 1 if a job failed."""
    total, n_par, threads, reused = meta["total_seconds"], meta["parallel_jobs"], meta["threads_per_job"], meta["reused_jobs"]
    pics = plots(results, out_dir)
    lines = [MARK_BEGIN, f"Command: `{meta['command'].strip()}` — {meta['machine']}, {meta['date']}, "
             f"whole suite {total / 60:.1f} min, {n_par} jobs at a time" + (f" with {threads} math thread(s) each" if threads else "")
             + (f" ({reused} jobs' figures reused from an earlier run of the same code)" if reused else "")
             + f". Plots: {', '.join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in pics)}.", ""]
    lines += table(results, args.suite)
    lines.append(MARK_END)
    block = "\n".join(lines)
    print(block)
    # A run of part of the plan (the command it records) does not replace the whole suite's table.
    partial = any(flag in meta["command"].split() for flag in ("--only", "--systems", "--seeds"))
    md = args.markdown if args.markdown is not None else ("BENCHMARKS.md" if args.suite == "standard" and not partial else "")
    if md.lower() == "none":  # as the other benchmarks read it (it once wrote a file named 'none')
        md = ""
    if md:
        path = ROOT / md if not Path(md).is_absolute() else Path(md)
        text = path.read_text() if path.exists() else ""
        if MARK_BEGIN in text and MARK_END in text:
            text = text[: text.index(MARK_BEGIN)] + block + text[text.index(MARK_END) + len(MARK_END):]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        path.write_text(text)
        print(f"wrote the table into {path}")
    failed = [r for r in results if "failed" in r]
    return 1 if failed else 0
