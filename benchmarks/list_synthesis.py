"""The synthesiser on list concepts, before and after a change: tasks fully right on held-back queries, per set.

Run from the repository root::

    python -m benchmarks.list_synthesis --baseline b5705c8           # this tree against commit b5705c8
    python -m benchmarks.list_synthesis --limit 10 --out /tmp/ls --markdown none

Each set is solved by the real command (``python -m riscmoe.cli.main functions solve ...``,
the embedded synthesiser, default settings but ``--time-limit``) on a fresh library, first with
the code of ``--baseline`` (a git commit, unpacked with ``git archive`` into a temporary folder)
and then with this tree's; both runs get the same task files (this tree's generators). A set
is a bundled name (``list-concepts-dev``: the rules the synthesiser was developed against;
``list-concepts-heldout``: rules written before any failure was looked at, not tuned on;
``list-concepts``; ``bundled``, the 129 maths and list tasks, for regressions) or a file.

Per run and set, in ``OUT/results.json``: tasks, answered (a function reproduced every
example, the held-back one included), fully right (every held-back query right: the count that
matters), answered but wrong on some query (chance fits the examples did not rule out),
seconds per task (sum of the per-task times over the tasks), the whole wall time, and the
names of the tasks fully right. The section between ``<!-- list_synthesis:begin -->`` and
``<!-- list_synthesis:end -->`` in BENCHMARKS.md gets the table and the tasks that changed.
``--reuse`` keeps the runs already in ``OUT/results.json`` for the same code and settings
(a run of the baseline takes as long as one of the tree).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.markdown import check_args, write_results, write_section

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- list_synthesis:begin -->", "<!-- list_synthesis:end -->"
SETS = ("list-concepts-dev", "list-concepts-heldout", "list-concepts", "bundled")


def task_file(name: str, limit: int | None, out: Path) -> Path:
    """The task file of set ``name`` (a bundled name or a path), cut to its first ``limit`` tasks in ``out``."""
    from riscmoe.functions.bundled import TASK_SETS, task_set_path

    path = task_set_path(name) if name in TASK_SETS and not Path(name).exists() else Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no task set or file {name!r}")
    if limit is None:
        return path
    cut = out / "sets" / f"{Path(name).stem}-{limit}.jsonl"
    cut.parent.mkdir(parents=True, exist_ok=True)
    cut.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:limit]))
    return cut


def solve(src: Path, tasks: Path, work: Path, time_limit: float) -> dict[str, Any]:
    """One ``riscmoe functions solve`` run with the package in ``src`` on a fresh library: its figures."""
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("lib.sqlite*"):
        old.unlink()
    out = work / "answers.jsonl"
    cmd = [sys.executable, "-m", "riscmoe.cli.main", "functions", "solve", str(tasks), "--library", str(work / "lib.sqlite"),
           "--out", str(out), "--no-progress", "--force", "--time-limit", str(time_limit)]
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=src.parent, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} (PYTHONPATH={src}) failed with status {proc.returncode}:\n{proc.stderr[-2000:]}")
    rows = json.loads((work / "answers-report" / "report.json").read_text())["tasks"]
    right = [r["name"] for r in rows if r.get("scored_queries") and r["correct_queries"] == r["scored_queries"]]
    answered = [r for r in rows if r["status"] != "failed"]
    return {
        "tasks": len(rows), "answered": len(answered), "fully_right": len(right),
        "wrong": sorted(r["name"] for r in answered if r["name"] not in set(right)),
        "seconds_per_task": sum(r["seconds"] for r in rows) / max(1, len(rows)), "wall_seconds": wall,
        "right": sorted(right), "failed": sorted(r["name"] for r in rows if r["status"] == "failed"),
    }


def commit_of(ref: str) -> str:
    return subprocess.run(["git", "rev-parse", ref], capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()


def tree_commit() -> str:
    head = commit_of("HEAD")
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT).stdout
    return head + ("+changes" if dirty.strip() else "")


def unpack(ref: str, into: Path) -> Path:
    """Commit ``ref``'s files in ``into`` (``git archive``); returns its ``src`` folder."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref], capture_output=True, cwd=ROOT, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def markdown(res: dict[str, Any]) -> str:
    base, new = res.get("baseline"), res["tree"]
    cols = ["before", "after"] if base else ["this tree"]
    lines = [
        f"Command: `python -m benchmarks.list_synthesis{' --baseline ' + res['baseline_ref'] if base else ''}"
        f"{'' if res['time_limit'] == 5.0 else ' --time-limit ' + str(res['time_limit'])}"
        f"{'' if res['limit'] is None else ' --limit ' + str(res['limit'])}`. Each set solved once by "
        f"`riscmoe functions solve` on a fresh library (the embedded synthesiser, {res['time_limit']} nominal s of "
        f"search per task), before: commit `{res['baseline_commit'][:10] if base else '-'}`, after: `{res['tree_commit'][:10]}`. "
        f"Machine: {res['machine']['nproc']} cores ({res['machine']['cpu']}), shared with other work: the seconds vary "
        "with its load, the counts do not (the search's budget is counted in candidates).",
        "",
        "Fully right = every held-back query answered right (the controller holds one of the five examples back to "
        "check what it makes; the queries are never shown). Wrong = answered (a function reproduced every example, the "
        "held-back one included) but wrong on some query: a chance fit the examples did not rule out.",
        "",
        "| set | tasks | fully right " + " | ".join(cols) + " | wrong " + " | ".join(cols) + " | s per task "
        + " | ".join(cols) + " |",
        "|---|---:|" + "---:|" * (3 * len(cols)),
    ]
    for name in res["sets"]:
        runs = [base[name], new[name]] if base else [new[name]]
        n = runs[-1]["tasks"]
        lines.append(f"| `{name}` | {n} | " + " | ".join(f"{r['fully_right']} ({100 * r['fully_right'] / max(1, n):.1f}%)" for r in runs)
                     + " | " + " | ".join(str(len(r["wrong"])) for r in runs)
                     + " | " + " | ".join(f"{r['seconds_per_task']:.2f}" for r in runs) + " |")
    if base:
        lines += ["", "Tasks that changed, and what still fails after:", ""]
        for name in res["sets"]:
            b, a = base[name], new[name]
            gained = sorted(set(a["right"]) - set(b["right"]))
            lost = sorted(set(b["right"]) - set(a["right"]))
            lines.append(f"- `{name}`: became right ({len(gained)}): {', '.join(gained) or '-'}; no longer right "
                         f"({len(lost)}): {', '.join(lost) or '-'}")
    lines += ["", "Not fully right after (failed: no function found that passes; wrong: see above):", ""]
    for name in res["sets"]:
        a = new[name]
        lines.append(f"- `{name}`: failed ({len(a['failed'])}): {', '.join(a['failed']) or '-'}; wrong ({len(a['wrong'])}): "
                     f"{', '.join(a['wrong']) or '-'}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count() or 1, "cpu": cpu or "unknown"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=list(SETS), help=f"bundled set names or task files (default {' '.join(SETS)})")
    p.add_argument("--baseline", default=None, metavar="COMMIT", help="also run the code of this git commit, for a before column")
    p.add_argument("--time-limit", type=float, default=5.0, help="search budget per task, nominal seconds (the command's default)")
    p.add_argument("--limit", type=int, default=None, help="only the first N tasks of each set")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "list_synthesis", help="results folder")
    p.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="file whose section to rewrite, or 'none'")
    p.add_argument("--reuse", action="store_true", help="keep runs already in OUT/results.json for the same code and settings")
    args = p.parse_args(argv)
    check_args(p, argparse.Namespace(limit=1 if args.limit is None else args.limit, out=args.out), ("limit",))
    if not args.time_limit > 0:
        p.error(f"--time-limit must be positive, got {args.time_limit}")
    old: dict[str, Any] = {}
    if args.reuse and (args.out / "results.json").is_file():
        old = json.loads((args.out / "results.json").read_text())
    files = {name: task_file(name, args.limit, args.out) for name in args.sets}
    res: dict[str, Any] = {"sets": list(args.sets), "time_limit": args.time_limit, "limit": args.limit, "machine": machine(),
                           "tree_commit": tree_commit(), "baseline_ref": args.baseline}

    def same(key: str, commit: str) -> dict[str, Any]:
        ok = old.get(f"{key}_commit") == commit and old.get("time_limit") == args.time_limit and old.get("limit") == args.limit
        return dict(old.get(key) or {}) if ok else {}

    with tempfile.TemporaryDirectory(prefix="list-synthesis-") as tmp:
        versions = []
        if args.baseline:
            res["baseline_commit"] = commit_of(args.baseline)
            versions.append(("baseline", res["baseline_commit"], lambda: unpack(res["baseline_commit"], Path(tmp) / "baseline")))
        versions.append(("tree", res["tree_commit"], lambda: ROOT / "src"))
        for key, commit, where in versions:
            runs = same(key, commit)
            src = None
            for name, path in files.items():
                if name in runs:
                    continue
                src = src or where()
                print(f"{key} {commit[:10]}: {name} ({path.name}) ...", flush=True)
                runs[name] = solve(src, path, Path(tmp) / key / Path(name).stem, args.time_limit)
                r = runs[name]
                print(f"  {r['fully_right']}/{r['tasks']} fully right, {len(r['wrong'])} wrong, "
                      f"{r['seconds_per_task']:.2f} s per task, wall {r['wall_seconds']:.0f} s", flush=True)
                res[key] = runs
                write_results(args.out, {**old, **res})  # progress survives an interruption
            res[key] = runs
    write_results(args.out, res)
    text = markdown(res)
    print(text)
    if args.markdown != "none":
        write_section(Path(args.markdown), text, BEGIN, END, "List concepts: the synthesiser before and after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
