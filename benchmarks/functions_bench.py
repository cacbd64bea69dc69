"""The functions domain, end to end: solve the bundled task set on a fresh library, then again.

Run from the repository root::

    python -m benchmarks.functions_bench                 # the bundled 129 tasks
    python -m benchmarks.functions_bench --limit 15 --out /tmp/fb --markdown none

Each run is the real command (``python -m riscmoe.cli.main functions solve ...``) in a
subprocess, so the whole wall time counts what a user waits for: start-up, the library,
the sandbox worker, solving, the report and its SVG plot. Per-task figures come from the
report the command writes. Recorded in ``OUT/results.json``:

- run 1 (fresh library): solve rate (tasks answered by a function reproducing every
  example), how many of those were verified on a held-back example (the controller holds
  the last example back when a task has at least 4), accuracy against the held-back answers,
  reused/created/failed, share of later-half tasks answered by reuse, seconds per task in
  the first and second half and their ratio, library size before and after;
- run 2 (same file, grown library): the same, and its speed-up over run 1 in solving
  time (sum of per-task seconds) and in whole wall time (the rerun figure); the failed tasks
  the failure memo skipped as known failures, and those searched again because the library
  they see changed since they failed;
- how many hostile-function test cases the functions tests hold (collected by pytest);
- the machine (``nproc``, CPU model).

It also draws ``OUT/functions.png`` (library size, cumulative solve rate, per-task time
over the sequence) and rewrites the section between ``<!-- functions:begin -->`` and
``<!-- functions:end -->`` at the end of BENCHMARKS.md (``--markdown none``: leave it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.functions_passes import solve as solve_once

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- functions:begin -->", "<!-- functions:end -->"
# Test functions whose cases are hostile functions or escapes (file: test name).
HOSTILE_TESTS = {
    "tests/functions/test_sandbox.py": ("test_check_source_refuses", "test_hostile_functions_are_contained",
                                        "test_worker_is_confined_by_every_layer",
                                        "test_every_attack_is_blocked_with_the_source_check_bypassed",
                                        "test_a_non_ascii_identifier_is_refused_clearly_and_the_worker_survives",
                                        "test_an_output_too_large_is_refused"),
    "tests/functions/test_controller.py": ("test_hostile_or_wrong_creations_are_rejected_and_the_library_kept",),
}


def solve(tasks: Path, library: Path, out: Path, time_limit: float) -> dict[str, Any]:
    """Run ``riscmoe functions solve`` once (``functions_passes.solve``); its report plus the whole wall time."""
    run = solve_once(str(tasks), library, out, ["--time-limit", str(time_limit)])
    return {"wall": run["wall"], "summary": run["summary"], "tasks": run["rows"]}


def figures(run: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run, from its report."""
    s, rows = run["summary"], run["tasks"]
    first, second = s["seconds_per_task_first_half"], s["seconds_per_task_second_half"]
    return {
        "tasks": s["tasks"], "solved": s["solved"], "solve_rate": s["solve_rate"],
        "verified": s.get("verified"), "verified_rate": s.get("verified_rate"), "fits_only": s.get("fits_only"),
        "created_not_stored": s.get("created_not_stored"),
        "reused": s["reused"], "created": s["created"], "failed": s["failed"],
        "known_failures_skipped": s.get("known_failures_skipped"),
        "failures_searched_again": s.get("failures_searched_again_library_changed"),
        "query_accuracy": s.get("query_accuracy"), "tasks_all_queries_correct": s.get("tasks_all_queries_correct"),
        "reused_in_second_half": s["reused_in_second_half"],
        "seconds_per_task_first_half": first, "seconds_per_task_second_half": second,
        "second_half_speedup": first / second if second > 0 else None,
        "library_before": s["library_before"], "library_after": s["library_after"],
        "seconds_solving": sum(r["seconds"] for r in rows), "wall_seconds": run["wall"],
    }


def hostile_cases() -> dict[str, int] | None:
    """Test cases per hostile-function test, as pytest collects them (None without the tests)."""
    files = [f for f in HOSTILE_TESTS if (ROOT / f).exists()]
    if not files:
        return None
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", *files], capture_output=True, text=True, cwd=ROOT)
    counts: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"(tests/\S+\.py)::(\w+)", line)
        if m and m.group(2) in HOSTILE_TESTS.get(m.group(1), ()):
            counts[m.group(2)] = counts.get(m.group(2), 0) + 1
    return counts


def machine() -> dict[str, Any]:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model or platform.processor() or "unknown", "python": platform.python_version(),
            "load_at_start": round(os.getloadavg()[0], 2)}


def plot(path: Path, first: dict[str, Any], second: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from riscmoe.functions.cli import cumulative_rates

    rows, again = first["tasks"], second["tasks"]
    x = list(range(1, len(rows) + 1))
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(15, 4))
    a1.step([0] + x, [first["summary"]["library_before"]] + [r["library_size"] for r in rows], where="post")
    a1.set(xlabel="task (run 1)", ylabel="functions stored", title="library size")
    rate, reuse = cumulative_rates(rows)
    a2.plot(x, rate, label="answered")
    a2.plot(x, reuse, label="answered by reuse")
    a2.set(xlabel="task (run 1)", ylabel="fraction of tasks so far", title="cumulative solve rate", ylim=(0, 1.05))
    a2.legend()
    colours = {"reused": "tab:green", "created": "tab:blue", "failed": "tab:red"}
    a3.scatter(x, [max(r["seconds"], 1e-5) for r in rows], c=[colours[r["status"]] for r in rows], s=10)
    for status, colour in colours.items():
        a3.scatter([], [], c=colour, s=10, label=f"run 1: {status}")
    a3.plot(x, [max(r["seconds"], 1e-5) for r in again], color="grey", lw=0.8, label="run 2 (same tasks)")
    a3.axvline(len(rows) // 2 + 0.5, color="k", lw=0.5, ls=":")
    a3.set(xlabel="task", ylabel="seconds", yscale="log", title="time per task (dots: run 1 by status)")
    a3.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(res: dict[str, Any]) -> str:
    r1, r2, m = res["run1"], res["run2"], res["machine"]
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    hostile = res["hostile_test_cases"]
    lines = [
        BEGIN,
        "## Functions: a growing library of code functions (issue 4)",
        "",
        f"Command: `{res['command']}` (fresh temporary library; each run is `riscmoe functions solve` in a subprocess).",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}; 1-minute load average {m.get('load_at_start', 'n/a')} "
        f"when the runs started (above about 0.5, other work was sharing the CPUs).",
        f"Task set: `{res['tasks_file']}`, {r1['tasks']} tasks, search budget {res['time_limit']} nominal s per task "
        f"({res['time_limit']} x 400,000 candidate evaluations: the same searches on any machine and under any load).",
        "",
        "| | run 1 (fresh library) | run 2 (same tasks again) |",
        "| --- | ---: | ---: |",
        f"| answered (every example reproduced) | {r1['solved']}/{r1['tasks']} ({pct(r1['solve_rate'])}) | "
        f"{r2['solved']}/{r2['tasks']} ({pct(r2['solve_rate'])}) |",
        f"| of which verified on a held-back example | {_n(r1['verified'])}/{r1['tasks']} ({pct(r1['verified_rate'])}) | "
        f"{_n(r2['verified'])}/{r2['tasks']} ({pct(r2['verified_rate'])}) |",
        f"| queries right (held-back answers) | {pct(r1['query_accuracy'])} | {pct(r2['query_accuracy'])} |",
        f"| reused / created / failed | {r1['reused']} / {r1['created']} / {r1['failed']} | {r2['reused']} / {r2['created']} / {r2['failed']} |",
        f"| failed tasks not searched again: known failures (searched again: the library they see changed) | "
        f"{_n(r1['known_failures_skipped'])} ({_n(r1['failures_searched_again'])}) | "
        f"{_n(r2['known_failures_skipped'])} ({_n(r2['failures_searched_again'])}) |",
        f"| later-half tasks answered by reuse | {pct(r1['reused_in_second_half'])} | {pct(r2['reused_in_second_half'])} |",
        f"| seconds per task, first half | {r1['seconds_per_task_first_half']:.4f} | {r2['seconds_per_task_first_half']:.4f} |",
        f"| seconds per task, second half | {r1['seconds_per_task_second_half']:.4f} | {r2['seconds_per_task_second_half']:.4f} |",
        f"| first half / second half | {_x(r1['second_half_speedup'])} | {_x(r2['second_half_speedup'])} |",
        f"| library size | {r1['library_before']} -> {r1['library_after']} | {r2['library_before']} -> {r2['library_after']} |",
        f"| solving time (sum over tasks) | {r1['seconds_solving']:.2f} s | {r2['seconds_solving']:.2f} s |",
        f"| whole command, wall | {r1['wall_seconds']:.2f} s | {r2['wall_seconds']:.2f} s |",
        "",
        f"Second run against the first: {_x(res['speedup_solving'])} faster in solving time, "
        f"{_x(res['speedup_wall'])} in whole wall time: both runs pay the same fixed costs (Python start-up, "
        f"opening the library, starting the sandbox worker, writing the report and its SVG plot).",
    ]
    if hostile:
        lines.append(f"Hostile-function and escape test cases in the tests: {sum(hostile.values())} "
                     f"({', '.join(f'`{k}` {n}' for k, n in sorted(hostile.items()))}).")
    lines += ["", f"Plot (library size, cumulative solve rate, time per task): {res['plot']}. Figures: "
              f"{res['results']}. Measured {res['date']}.", END]
    return "\n".join(lines) + "\n"


def _n(v: int | None) -> str:
    return "n/a" if v is None else str(v)


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}x"


def write_markdown(path: Path, section: str) -> None:
    """Replace the section between the markers, or append it at the end."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.functions_bench", description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=None, help="task file, or a bundled set's name: bundled (the default), list-concepts")
    p.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-functions", help="results folder")
    p.add_argument("--time-limit", type=float, default=5.0, help="search seconds per task (the command's default)")
    p.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="file whose functions section to rewrite, or 'none'")
    args = p.parse_args(argv)
    from riscmoe.functions.bundled import TASK_SETS, task_set_path

    name = args.tasks or "bundled"
    args.tasks = task_set_path(name) if name in TASK_SETS and not Path(name).exists() else Path(name)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="riscmoe-functions-bench-") as tmp:
        tasks = args.tasks
        if args.limit is not None:
            lines = [line for line in args.tasks.read_text().splitlines() if line.strip() and not line.startswith("#")]
            tasks = Path(tmp) / "tasks.jsonl"
            tasks.write_text("\n".join(lines[: args.limit]) + "\n")
        library = Path(tmp) / "library.sqlite"
        host = machine()  # before the runs: the load average says whether they had the CPUs to themselves
        run1 = solve(tasks, library, Path(tmp) / "run1.jsonl", args.time_limit)
        run2 = solve(tasks, library, Path(tmp) / "run2.jsonl", args.time_limit)
        plot_path = args.out / "functions.png"
        plot(plot_path, run1, run2)
    f1, f2 = figures(run1), figures(run2)
    command = "python -m benchmarks.functions_bench" + (f" --limit {args.limit}" if args.limit else "")
    try:
        shown_plot = str(plot_path.resolve().relative_to(ROOT))
    except ValueError:
        shown_plot = str(plot_path)
    res = {
        "command": command, "tasks_file": str(args.tasks.resolve().relative_to(ROOT)) if args.tasks.resolve().is_relative_to(ROOT) else str(args.tasks),
        "time_limit": args.time_limit, "run1": f1, "run2": f2,
        "speedup_solving": f1["seconds_solving"] / f2["seconds_solving"] if f2["seconds_solving"] > 0 else None,
        "speedup_wall": f1["wall_seconds"] / f2["wall_seconds"] if f2["wall_seconds"] > 0 else None,
        "library_growth": f1["library_after"] - f1["library_before"],
        "hostile_test_cases": hostile_cases(), "machine": host, "plot": shown_plot,
        "results": shown_plot.rsplit("/", 1)[0] + "/results.json" if "/" in shown_plot else "results.json",
        "date": time.strftime("%Y-%m-%d"),
        "per_task": [{"name": a["name"], "status_run1": a["status"], "status_run2": b["status"], "seconds_run1": a["seconds"],
                      "seconds_run2": b["seconds"], "library_size": a["library_size"]} for a, b in zip(run1["tasks"], run2["tasks"])],
    }
    (args.out / "results.json").write_text(json.dumps(res, indent=2))
    if args.markdown != "none":
        write_markdown(Path(args.markdown), markdown(res))
    print(f"run 1: answered {f1['solved']}/{f1['tasks']} (verified on a held-back example {_n(f1['verified'])}), queries right {_pct(f1['query_accuracy'])}, reused {f1['reused']}, "
          f"created {f1['created']}, failed {f1['failed']}; later-half reuse {_pct(f1['reused_in_second_half'])}; "
          f"s/task {f1['seconds_per_task_first_half']:.4f} -> {f1['seconds_per_task_second_half']:.4f} ({_x(f1['second_half_speedup'])})")
    print(f"run 2: reused {f2['reused']}, created {f2['created']}, failed {f2['failed']} (known failures skipped "
          f"{_n(f2['known_failures_skipped'])}); speed-up {_x(res['speedup_solving'])} solving, "
          f"{_x(res['speedup_wall'])} whole wall ({f1['wall_seconds']:.2f} s -> {f2['wall_seconds']:.2f} s)")
    print(f"results: {args.out / 'results.json'}, plot: {plot_path}" + (f", section in {args.markdown}" if args.markdown != "none" else ""))
    return 0


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


if __name__ == "__main__":
    sys.exit(main())
