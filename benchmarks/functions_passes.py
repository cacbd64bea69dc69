"""Two (or more) passes of ``riscmoe functions solve`` over one task set and one fresh library, optionally under load.

Run from the repository root::

    python -m benchmarks.functions_passes --tasks list-concepts
    python -m benchmarks.functions_passes --tasks list-concepts --passes 3
    python -m benchmarks.functions_passes --tasks bundled --hog 2 --out runs/passes-hog
    python -m benchmarks.functions_passes --tasks list-concepts --compare runs/passes/results.json

Each pass is the real command in a subprocess. Pass 2 (and each later one) runs the same
file against the library the passes before grew. Printed and written to ``OUT/results.json``
per pass: tasks solved (a function fits the examples), tasks whose every held-back query is
right, query accuracy, reused/created/failed, searches run (the sweeps' included), failed
tasks the failure memo skipped in the pass (known failures: the same search failed before) and
those searched again because the library they see changed, the sweeps at the end of the run
(``--sweeps``: failed tasks solved again against the library the run grew, searches among
them, tasks they answered, their seconds) and the failures still stale after them, solving
time (sum of per-task seconds, sweeps included), whole wall time, CPU time of the command and
its sandbox worker, and the rerun speed-up (pass 1's wall and CPU time over this pass's); and
the tasks whose answers changed from pass 1 to pass 2, split into those that became right and
the rest. ``--sweeps 0`` (passed on to solve) measures the run without sweeps.

``--hog N`` runs N busy-looping processes (``while True: pass``) for the whole measurement,
as other work on a shared machine would. ``--compare RESULTS`` lists the tasks whose answers
differ from an earlier run's (say, a quiet one): a search whose budget does not depend on the
machine's load gives none. Any further arguments go to ``riscmoe functions solve``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def solve(tasks: str, library: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    """One ``riscmoe functions solve`` run: its report's rows, the answers file and the wall time."""
    cmd = [sys.executable, "-m", "riscmoe.cli.main", "functions", "solve", tasks, "--library", str(library),
           "--out", str(out), "--no-progress", *extra]
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with status {proc.returncode}:\n{proc.stderr[-2000:]}")
    report = json.loads((out.with_name(out.stem + "-report") / "report.json").read_text())
    answers = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {"wall": wall, "cpu": cpu, "summary": report["summary"], "rows": report["tasks"], "answers": answers}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far, theirs included (the sandbox worker)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def figures(run: dict[str, Any]) -> dict[str, Any]:
    rows = run["rows"]
    scored = [r for r in rows if r.get("scored_queries")]
    first = [(r.get("sweeps") or [r])[0] for r in rows]  # each task's attempt in the pass, before any sweep
    sweeps = run["summary"].get("sweeps") or {}
    return {
        "tasks": len(rows), "solved": sum(r["status"] != "failed" for r in rows),
        "all_queries_right": sum(r["correct_queries"] == r["scored_queries"] for r in scored),
        "query_accuracy": sum(r["correct_queries"] for r in scored) / max(1, sum(r["scored_queries"] for r in scored)),
        "reused": sum(r["status"] == "reused" for r in rows), "created": sum(r["status"] == "created" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        # every search of the run, the sweeps' included
        "searches": sum(bool(a.get("search")) for r in rows for a in (r.get("sweeps") or [r])),
        "known_failures_skipped": sum(a.get("memo") == "known" for a in first),
        "failures_searched_again": sum(a.get("memo") == "changed" for a in first),
        "sweeps": sweeps.get("run", 0), "swept_tasks": sum(p["tasks"] for p in sweeps.get("per_sweep", [])),
        "sweep_searches": sweeps.get("searches", 0), "answered_in_sweeps": sweeps.get("tasks_answered", 0),
        "sweep_seconds": sweeps.get("seconds", 0.0), "stale_left": sweeps.get("stale_left"),
        "seconds_solving": sum(r["seconds"] for r in rows), "wall_seconds": run["wall"], "cpu_seconds": run["cpu"],
        "right": sorted(r["name"] for r in scored if r["correct_queries"] == r["scored_queries"]),
    }


def changed(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    """Tasks whose answers differ from run ``a`` to run ``b``: those that became right, and the others."""
    right_b = {r["name"] for r in b["rows"] if r.get("scored_queries") and r["correct_queries"] == r["scored_queries"]}
    diff = [x["name"] for x, y in zip(a["answers"], b["answers"]) if x["answers"] != y["answers"]]
    return {"became_right": [n for n in diff if n in right_b], "other": [n for n in diff if n not in right_b]}


def hogs(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.functions_passes", description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="list-concepts", help="task file, or a bundled set's name (bundled, list-concepts)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "passes", help="results folder")
    p.add_argument("--hog", type=int, default=0, help="busy-looping processes to run meanwhile (default 0)")
    p.add_argument("--compare", type=Path, default=None, help="an earlier results.json to compare answers with")
    p.add_argument("--passes", type=int, default=2, help="passes over the file (default 2; at least 2)")
    args, extra = p.parse_known_args(argv)
    if args.passes < 2:
        p.error(f"--passes must be at least 2, got {args.passes}")
    tasks = args.tasks
    if not Path(tasks).exists():
        from riscmoe.functions.bundled import TASK_SETS, task_set_path

        if tasks in TASK_SETS:
            tasks = str(task_set_path(tasks))
    args.out.mkdir(parents=True, exist_ok=True)
    busy = hogs(args.hog)
    try:
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="riscmoe-passes-") as tmp:
            library = Path(tmp) / "library.sqlite"
            runs = [solve(tasks, library, Path(tmp) / f"pass{i}.jsonl", extra) for i in range(1, args.passes + 1)]
    finally:
        for h in busy:
            h.kill()
            h.wait()
    res: dict[str, Any] = {
        "tasks": tasks, "extra_args": extra, "hogs": args.hog, "load_at_start": round(load, 2), "nproc": os.cpu_count(),
        **{f"pass{i}": figures(run) for i, run in enumerate(runs, 1)}, "changed_between_passes": changed(runs[0], runs[1]),
        "answers": [r["answers"] for r in runs], "rows": [r["rows"] for r in runs],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    if args.compare is not None:
        old = json.loads(args.compare.read_text())
        res["differs_from_compared"] = [
            [x["name"] for x, y in zip(old["answers"][i], res["answers"][i]) if x["answers"] != y["answers"]] for i in (0, 1)]
    for i in range(2, len(runs) + 1):  # a rerun against the first pass, in whole wall time
        f = res[f"pass{i}"]
        f["rerun_speedup"] = res["pass1"]["wall_seconds"] / f["wall_seconds"] if f["wall_seconds"] > 0 else None
        # CPU-seconds of the whole command and its sandbox worker: the same on a machine other work shares
        f["rerun_speedup_cpu"] = res["pass1"]["cpu_seconds"] / f["cpu_seconds"] if f["cpu_seconds"] > 0 else None
    (args.out / "results.json").write_text(json.dumps(res, indent=2))
    for i in range(1, len(runs) + 1):
        f = res[f"pass{i}"]
        print(f"pass {i}: solved {f['solved']}/{f['tasks']}, all queries right {f['all_queries_right']}, "
              f"queries {100 * f['query_accuracy']:.1f}%, reused/created/failed {f['reused']}/{f['created']}/{f['failed']}, "
              f"{f['searches']} searches, known failures skipped {f['known_failures_skipped']}, failures searched again "
              f"(library changed) {f['failures_searched_again']}, sweeps {f['sweeps']} ({f['swept_tasks']} tasks solved again, "
              f"{f['sweep_searches']} searched, {f['answered_in_sweeps']} answered, {f['sweep_seconds']:.1f} s), "
              f"stale failures left {f['stale_left']}, solving {f['seconds_solving']:.1f} s, wall {f['wall_seconds']:.1f} s, "
              f"CPU {f['cpu_seconds']:.1f} s"
              + (f" ({f['rerun_speedup']:.1f}x faster than pass 1 in wall time, {f['rerun_speedup_cpu']:.1f}x in CPU time)"
                 if f.get("rerun_speedup") and f.get("rerun_speedup_cpu") else ""))
    ch = res["changed_between_passes"]
    print(f"answers changed pass 1 -> 2: {len(ch['became_right'])} became right, {len(ch['other'])} other {ch['other']}")
    if "differs_from_compared" in res:
        print(f"answers differing from {args.compare}: pass 1 {res['differs_from_compared'][0]}, pass 2 {res['differs_from_compared'][1]}")
    print(f"results: {args.out / 'results.json'} (load at start {res['load_at_start']}, {args.hog} hogs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
