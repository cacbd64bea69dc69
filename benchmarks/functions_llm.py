"""Language models in the functions domain, counted honestly: creators alone and together, the
model as controller, and the library against a compute-matched baseline without one.

Run from the repository root::

    python -m benchmarks.functions_llm                          # the embedded SmolLM2-135M (--llm local)
    python -m benchmarks.functions_llm --llm-base-url http://127.0.0.1:8080 --llm-model qwen2.5-coder
    python -m benchmarks.functions_llm --n 1 --n-synth 2 --n-hard 0 --route-wider 0 --out /tmp/fl --markdown none  # a quick look

On each task set (``--sets``: the bundled maths and list tasks, the list concepts) it takes
``--n`` tasks spread evenly (every k-th) over those no seed function answers (where a creator
has work to do) and solves them under each setting,
each in a fresh child process (so that its CPU time, the sandbox worker's and the model
server's included, is measured as the process's children's: ``RUSAGE_CHILDREN``):

- ``synthesiser``: the embedded program synthesiser alone, one library growing over the tasks;
- ``model``: the language model alone as creator, with the library as context (the nearest
  stored functions shown whole, repairs from the verifier's failures);
- ``both``: the synthesiser, then the model where it finds nothing;
- ``synthesiser-no-library`` and ``both-no-library``: the same creators with the same
  per-task budget (nominal seconds of search, model requests and tokens per request), but
  each task solved with a fresh library holding only the seed functions: nothing learned
  from earlier tasks. The library's gain is the difference. Berlot-Attwell et al. ("Is This
  LLM Library Learning? Evaluation Must Account For Compute and Behaviour", arXiv 2507.22069)
  found the gains of published library-learning systems vanish or reverse against such a
  baseline, so it is here beside every library figure, with the CPU-seconds each used;
- (``--n-hard H`` adds to these the first H of the ``--n-synth`` tasks below that the
  synthesiser alone got wrong from a fresh library: where a second creator can add anything;)
- ``router``: the model as controller, on the library the ``both`` setting grew: each task's
  fit examples and the applicability index's top candidates go to the model, which proposes
  a stored function or a composition of two; routing accuracy is how often its proposal
  reproduces every example and answers every query right, beside the index's own first
  choice on the same tasks and library.

``--n-synth`` more tasks per set (spread evenly over all the others) get the two cheap settings without a
model (``synthesiser`` with and without a library), for the library's gain on more tasks;
``--route-wider K`` also routes the first K of all those tasks on the library the
synthesiser grew over them (a library with more to route to).

"Fully right" counts a task whose every held-back query is answered right (an answer that
only reproduces the examples does not count). Tokens are the server's counts (``usage``);
model latency is the mean seconds from sending a request to its whole reply. Results go to
``OUT/results.json`` and the table between ``<!-- functions_llm:begin -->`` and
``<!-- functions_llm:end -->`` in BENCHMARKS.md (``--markdown none``: leave it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.markdown import check_args, write_results, write_section

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- functions_llm:begin -->", "<!-- functions_llm:end -->"
SETS = ("bundled", "list-concepts")
# setting -> (creators, fresh library per task, router)
SETTINGS = {
    "synthesiser": (("synthesis",), False, False),
    "model": (("llm",), False, False),
    "both": (("synthesis", "llm"), False, False),
    "synthesiser-no-library": (("synthesis",), True, False),
    "both-no-library": (("synthesis", "llm"), True, False),
    "router": ((), False, True),  # on a copy of the library "both" grew
}
MODEL_SETTINGS = ("model", "both", "both-no-library", "router")


def spread(tasks: list, n: int, skip: frozenset = frozenset()) -> list:
    """``n`` tasks spread evenly over the list (every k-th, from the first), leaving out names in ``skip``."""
    pool = [t for t in tasks if t.name not in skip]
    if n >= len(pool):
        return pool
    step = len(pool) / n
    return [pool[int(i * step)] for i in range(n)]


def pick(set_name: str, n: int, n_synth: int) -> tuple[list, list]:
    """The ``n`` tasks every setting runs, and ``n_synth`` others for the settings without a model.

    The ``n`` are spread over the tasks that no seed function answers (a creator has work to
    do on each: on the others every setting answers alike, by reuse); the ``n_synth`` over
    all the others, seed-answered ones included.
    """
    from riscmoe.functions.bundled import task_set_path
    from riscmoe.functions.controller import FunctionController
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.tasks import load_tasks

    tasks = load_tasks(task_set_path(set_name))
    with FunctionLibrary(":memory:") as seeds:
        ctl = FunctionController(seeds, remember_failures=False)
        answered = frozenset(t.name for t in tasks if ctl.solve(t).status != "failed")
    main = spread(tasks, n, answered)
    extra = spread(tasks, n_synth, frozenset(t.name for t in main)) if n_synth else []
    return main, extra


# -- one setting, in a child process ------------------------------------------------------------------


def run_setting(cfg: dict[str, Any]) -> dict[str, Any]:
    """Solve ``cfg``'s tasks under one setting (in the child); rows per task and the model's usage."""
    import contextlib

    from riscmoe.functions.controller import FunctionController
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.llm import LLMCreator, usage_of
    from riscmoe.functions.router import LLMRouter
    from riscmoe.functions.sandbox import Sandbox
    from riscmoe.functions.synthesis import SynthesisCreator

    set_tasks = pick(cfg["set"], cfg["n"], cfg["n_synth"])
    hard = set(cfg.get("hard") or ())
    tasks = set_tasks[0] + (set_tasks[1] if cfg["with_extra"] else [t for t in set_tasks[1] if t.name in hard])
    tasks = tasks[: cfg.get("limit") or len(tasks)]
    names, fresh, route = cfg["creators"], cfg["fresh"], cfg["route"]
    needs_model = "llm" in names or route
    server: Any = contextlib.nullcontext()
    if needs_model and cfg["llm"]:
        from riscmoe.functions.local_llm import LocalModelServer

        server = LocalModelServer(cfg["llm"], max_tokens=cfg["max_tokens"], threads=cfg["threads"], progress=None)
    t_load = time.perf_counter()
    with server as running:
        load_seconds = time.perf_counter() - t_load
        url = running.url if running is not None else cfg["llm_base_url"]
        model = running.model if running is not None else cfg["llm_model"]
        ident = running.identity() if running is not None else None

        def creators() -> list:
            out = []
            for name in names:
                if name == "synthesis":
                    out.append(SynthesisCreator(budget=cfg["time_limit"]))
                else:
                    out.append(LLMCreator(url, model, max_attempts=cfg["attempts"], timeout=cfg["timeout"], temperature=0.0,
                                          max_functions=cfg["max_functions"], server_id=ident, few_shot=cfg["few_shot"],
                                          max_tokens=cfg["max_tokens"]))
            return out

        router = LLMRouter(url, model, timeout=cfg["timeout"], server_id=ident) if route else None
        made = [router] if router else []
        rows: list[dict] = []

        def record(task: Any, r: Any, lib: Any) -> None:
            rows.append(row(task, r, len(lib)))
            print(f"[{cfg['label']}] {len(rows):>3}/{len(tasks)} {task.name:<28} {r.status:<8} right={rows[-1]['right']} "
                  f"{r.seconds:6.1f} s", file=sys.stderr, flush=True)

        if fresh:
            with Sandbox() as box:
                for task in tasks:
                    cs = creators()
                    made += cs
                    with FunctionLibrary(":memory:", sandbox=box) as lib:
                        ctl = FunctionController(lib, creators=cs, remember_failures=False, router=router)
                        record(task, ctl.solve(task), lib)
        else:
            cs = creators()
            made += cs
            with FunctionLibrary(cfg["library"]) as lib:
                ctl = FunctionController(lib, creators=cs, remember_failures=False, router=router)
                ctl.solve_many(tasks, callback=lambda r: record(tasks[len(rows)], r, lib))
        calls = [c for p in made if hasattr(p, "client_") for c in p.client_.calls_]
        return {"rows": rows, "llm": usage_of(calls), "model_load_seconds": load_seconds if needs_model else 0.0}


def row(task: Any, r: Any, library_size: int) -> dict[str, Any]:
    """One task's figures: status, who made or chose the function, whether every query is right."""
    from riscmoe.functions.values import values_equal

    pairs = [(a, e) for a, e in zip(r.answers, task.expected or []) if e is not None]
    right = r.status != "failed" and bool(pairs) and all(a is not None and values_equal(a, e, task.signature.output) for a, e in pairs)
    out = {"name": task.name, "status": r.status, "creator": r.creator, "chosen_by": r.chosen_by, "check": r.check,
           "right": right, "seconds": r.seconds, "library_size": library_size}
    if r.route is not None:
        top = r.route.get("index_top_answers")
        top_right = (r.route["index_top_verified"] and top is not None and bool(pairs)
                     and all(a is not None and values_equal(a, e, task.signature.output)
                             for a, e in zip(top, task.expected or []) if e is not None))
        out["route"] = {k: r.route[k] for k in ("proposal", "kind", "names", "verified", "why", "index_top", "index_top_verified")}
        out["route"]["router_right"] = bool(r.route["verified"] and right and r.chosen_by == "router")
        out["route"]["index_top_right"] = bool(top_right)
    return out


def child(path: str) -> int:
    """``--child CONFIG``: run one setting and write its result beside the config."""
    cfg = json.loads(Path(path).read_text())
    result = run_setting(cfg)
    tmp = Path(cfg["result"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(cfg["result"])
    return 0


def measure(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one setting in a child process: its result, wall seconds and CPU-seconds (the child and its children)."""
    cfg_path = work / f"{cfg['key']}.json"
    cfg["result"] = str(work / f"{cfg['key']}.result.json")
    cfg_path.write_text(json.dumps(cfg))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.functions_llm", "--child", str(cfg_path)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=None, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"setting {cfg['label']} failed with status {proc.returncode}")
    result = json.loads(Path(cfg["result"]).read_text())
    result["wall"] = wall
    result["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["rows"]
    llm = result["llm"]
    out = {"tasks": len(rows), "right": sum(r["right"] for r in rows), "answered": sum(r["status"] != "failed" for r in rows),
           "reused": sum(r["status"] == "reused" for r in rows),
           "made_by_synthesiser": sum(r["creator"] == "synthesised" for r in rows),
           "made_by_model": sum(r["creator"] == "llm" for r in rows), "right_by_model": sum(r["right"] and r["creator"] == "llm" for r in rows),
           "cpu_seconds": result["cpu_seconds"], "wall": result["wall"], "model_load_seconds": result["model_load_seconds"],
           "requests": llm["requests"], "prompt_tokens": llm["prompt_tokens"], "completion_tokens": llm["completion_tokens"],
           "model_seconds": llm["seconds"], "latency": llm["seconds"] / llm["requests"] if llm["requests"] else None,
           "uncounted": llm["uncounted"], "library_after": rows[-1]["library_size"] if rows else None}
    routed = [r["route"] for r in rows if r.get("route")]
    if routed:
        out["routing"] = {"asked": len(routed), "proposed": sum(x["kind"] in ("function", "composition") for x in routed),
                          "compositions": sum(x["kind"] == "composition" for x in routed),
                          "router_verified": sum(x["verified"] for x in routed), "router_right": sum(x["router_right"] for x in routed),
                          "index_top_verified": sum(x["index_top_verified"] for x in routed),
                          "index_top_right": sum(x["index_top_right"] for x in routed),
                          "system_right": sum(r["right"] for r in rows)}
    return out


# -- the whole benchmark -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.functions_llm", description=__doc__.split("\n\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--sets", default=",".join(SETS), help=f"task sets, comma-separated, of riscmoe.functions.bundled's (default {','.join(SETS)})")
    p.add_argument("--n", type=int, default=2, help="tasks per set that every setting runs (default 2)")
    p.add_argument("--n-hard", type=int, default=3, metavar="H",
                   help="add to the tasks every setting runs the first H of the --n-synth ones that the synthesiser alone "
                        "got wrong from a fresh library (default 3)")
    p.add_argument("--n-synth", type=int, default=16, help="more tasks per set for the settings without a model (default 16; 0: none)")
    p.add_argument("--time-limit", type=float, default=2.0, help="synthesiser budget per task, nominal seconds (default 2)")
    p.add_argument("--llm", default="local", help="embedded model to run (default local: SmolLM2-135M); 'none' with --llm-base-url")
    p.add_argument("--llm-base-url", default=None, help="an OpenAI-compatible server instead of the embedded model")
    p.add_argument("--llm-model", default=None, help="model name on that server")
    p.add_argument("--attempts", type=int, default=2, help="model creator requests per task: the first and its repairs (default 2)")
    p.add_argument("--few-shot", type=int, default=2, help="nearest stored functions shown whole in the prompt (default 2)")
    p.add_argument("--max-functions", type=int, default=4, help="library functions listed by name in the prompt (default 4)")
    p.add_argument("--max-tokens", type=int, default=96, help="tokens per model reply at most (default 96)")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds a model request may take (default 240)")
    p.add_argument("--threads", type=int, default=2, help="threads of the embedded model (default 2)")
    p.add_argument("--settings", default=",".join(SETTINGS), help="settings to run, comma-separated (default all)")
    p.add_argument("--route-wider", type=int, default=6, metavar="K",
                   help="also route K tasks (the --n ones first, then the --n-synth ones) on the library the synthesiser "
                        "grew over all of them (default 6; 0, or --n-synth 0: not)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "functions_llm", help="results folder")
    p.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="file to write the table into ('none': no file)")
    args = p.parse_args(argv)
    if args.child:
        return child(args.child)
    check_args(p, args, ("n", "attempts", "max_tokens", "threads"))
    if args.n_synth < 0 or args.n_hard < 0 or args.few_shot < 0 or args.max_functions < 0:
        p.error("--n-synth, --n-hard, --few-shot and --max-functions must be 0 or more")
    sets = [s for s in args.sets.split(",") if s]
    settings = [s for s in args.settings.split(",") if s]
    from riscmoe.functions.bundled import TASK_SETS

    for s in sets:
        if s not in TASK_SETS:
            p.error(f"--sets: no task set named {s!r}; the sets are {', '.join(TASK_SETS)}")
    for s in settings:
        if s not in SETTINGS:
            p.error(f"--settings: no setting named {s!r}; the settings are {', '.join(SETTINGS)}")
    if "router" in settings and "both" not in settings:
        p.error("--settings: router runs on the library 'both' grows; name both too")
    if (args.llm_base_url is None) != (args.llm_model is None):
        p.error("give both --llm-base-url and --llm-model, or neither")
    if args.route_wider < 0:
        p.error(f"--route-wider must be 0 or more, got {args.route_wider}")
    if args.route_wider and args.n_synth:
        settings_with_model = [*settings, "router"]
    else:
        settings_with_model = settings
    llm = None if args.llm_base_url or args.llm == "none" else args.llm
    if llm is None and args.llm_base_url is None and any(s in MODEL_SETTINGS for s in settings_with_model):
        p.error("the model settings need --llm NAME or --llm-base-url and --llm-model")
    if llm is not None and any(s in MODEL_SETTINGS for s in settings_with_model):
        from riscmoe.functions.local_llm import check_installed, model

        try:
            check_installed(model(llm))
        except Exception as exc:
            p.error(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    base = {"n": args.n, "n_synth": args.n_synth, "time_limit": args.time_limit, "llm": llm, "llm_base_url": args.llm_base_url,
            "llm_model": args.llm_model, "attempts": args.attempts, "few_shot": args.few_shot, "max_functions": args.max_functions,
            "max_tokens": args.max_tokens, "timeout": args.timeout, "threads": args.threads}
    results: dict[str, Any] = {"settings": {k: v for k, v in base.items() if k != "llm_base_url"}, "sets": {},
                               "machine": {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                                           "load_before": os.getloadavg()[0]}}
    t0 = time.perf_counter()
    for s in sets:
        main_tasks, extra = pick(s, args.n, args.n_synth)
        per: dict[str, Any] = {"tasks": [t.name for t in main_tasks], "extra_tasks": [t.name for t in extra], "hard_tasks": [],
                               "settings": {}}
        if extra:  # first: the cheap settings on more tasks, which also say which tasks the synthesiser gets wrong
            per["wider"] = {}
            for setting in ("synthesiser", "synthesiser-no-library"):
                names, fresh, _ = SETTINGS[setting]
                key = f"{s}-wider-{setting}"
                cfg = dict(base, set=s, label=f"{s} / {setting} (+{len(extra)})", key=key, creators=list(names), fresh=fresh,
                           route=False, library=str(work / f"{key}.sqlite"), with_extra=True, hard=[])
                res = measure(cfg, work)
                per["wider"][setting] = {"summary": summarise(res), "rows": res["rows"]}
                print(f"{s} / {setting} wider: {json.dumps(per['wider'][setting]['summary'])}", file=sys.stderr, flush=True)
            # Hard tasks: of the extra ones, those the synthesiser alone got wrong from a fresh library
            # (where a second creator has something to add), the first --n-hard of them.
            extra_names = set(per["extra_tasks"])
            wrong = [r["name"] for r in per["wider"]["synthesiser-no-library"]["rows"] if r["name"] in extra_names and not r["right"]]
            per["hard_tasks"] = wrong[: args.n_hard]
        for setting in settings:
            names, fresh, route = SETTINGS[setting]
            key = f"{s}-{setting}"
            library = work / f"{key}.sqlite"
            if route:
                shutil.copy(work / f"{s}-both.sqlite", library)
            cfg = dict(base, set=s, label=f"{s} / {setting}", key=key, creators=list(names), fresh=fresh, route=route,
                       library=str(library), with_extra=False, hard=per["hard_tasks"])
            res = measure(cfg, work)
            per["settings"][setting] = {"summary": summarise(res), "rows": res["rows"]}
            print(f"{s} / {setting}: {json.dumps(per['settings'][setting]['summary'])}", file=sys.stderr, flush=True)
        if extra and args.route_wider:
            # The router on more tasks: the library the synthesiser grew over all of them.
            key = f"{s}-wider-router"
            shutil.copy(work / f"{s}-wider-synthesiser.sqlite", work / f"{key}.sqlite")
            cfg = dict(base, set=s, label=f"{s} / router (wider)", key=key, creators=[], fresh=False, route=True,
                       library=str(work / f"{key}.sqlite"), with_extra=True, hard=[], limit=args.route_wider)
            res = measure(cfg, work)
            per["wider"]["router"] = {"summary": summarise(res), "rows": res["rows"]}
            print(f"{s} / router wider: {json.dumps(per['wider']['router']['summary'])}", file=sys.stderr, flush=True)
        results["sets"][s] = per
    results["wall"] = time.perf_counter() - t0
    results["machine"]["load_after"] = os.getloadavg()[0]
    results["command"] = "python -m benchmarks.functions_llm" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    write_results(args.out, results)
    text = markdown(results)
    print(text)
    if args.markdown != "none":
        write_section(Path(args.markdown), text, BEGIN, END, "Functions domain: language models, counted")
    return 0


def _n(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(res: dict[str, Any]) -> str:
    """The section for BENCHMARKS.md: per set, the settings side by side, routing accuracy, the library's gain."""
    st = res["settings"]
    model = f"`--llm {st['llm']}`" if st.get("llm") else f"model {st.get('llm_model')!r} on a server elsewhere"
    lines = [
        f"`{res['command']}` ({model}; synthesiser budget {st['time_limit']:g} nominal s per task; model creator: "
        f"{st['attempts']} requests per task at most (the first, then repairs from the verifier's failures), the "
        f"{st['few_shot']} nearest stored functions shown whole, {st['max_functions']} listed by name, replies of at most "
        f"{st['max_tokens']} tokens; {res['machine']['nproc']} cores shared with other work, load "
        f"{res['machine']['load_before']:.1f} before and {res['machine']['load_after']:.1f} after; {res['wall'] / 60:.1f} min in all).",
        "",
        "Fully right: every held-back query of the task answered right. CPU-s: this setting's process with its sandbox "
        "worker and model server (loading the model included). Tokens: the server's counts; latency: mean seconds per "
        "request. \"No library\": each task solved with a fresh library holding only the seed functions, with the same "
        "per-task budget (the compute-matched baseline of arXiv 2507.22069).",
        "",
    ]
    for s, per in res["sets"].items():
        hard = per.get("hard_tasks") or []
        n = len(per["tasks"]) + len(hard)
        also = (f", and {len(hard)} that the synthesiser alone got wrong from a fresh library in the wider run "
                f"({', '.join(hard)})") if hard else ""
        lines += [f"**{s}**, {n} tasks: {len(per['tasks'])} spread over those no seed function answers "
                  f"({', '.join(per['tasks'])}){also}:", "",
                  "| setting | fully right | answered | reused | made by synthesiser / model | CPU-s | wall s | model requests | tokens in / out | latency s | library after |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for setting, v in per["settings"].items():
            x = v["summary"]
            if setting == "router":
                continue
            lines.append(f"| {setting} | {x['right']}/{x['tasks']} | {x['answered']} | {x['reused']} | {x['made_by_synthesiser']} / "
                         f"{x['made_by_model']} | {x['cpu_seconds']:.1f} | {x['wall']:.1f} | {x['requests']} | "
                         f"{x['prompt_tokens']} / {x['completion_tokens']} | {_n(x['latency'])} | {'-' if setting.endswith('no-library') else _n(x['library_after'], '{}')} |")
        r = per["settings"].get("router", {}).get("summary", {}).get("routing")
        if r:
            x = per["settings"]["router"]["summary"]
            lines += ["", f"Routing on the library `both` grew ({x['library_after']} functions), {r['asked']} tasks: the model "
                      f"proposed a function for {r['proposed']} ({r['compositions']} compositions), {r['router_verified']} verified "
                      f"on every example, {r['router_right']} fully right; the index's own first choice verified on "
                      f"{r['index_top_verified']}, fully right on {r['index_top_right']}; with the index's candidates "
                      f"verified after a failed proposal, {r['system_right']} fully right "
                      f"({x['requests']} requests, {x['prompt_tokens']} / {x['completion_tokens']} tokens, latency {_n(x['latency'])} s)."]
        lib, base = per["settings"].get("both", {}).get("summary"), per["settings"].get("both-no-library", {}).get("summary")
        slib, sbase = per["settings"].get("synthesiser", {}).get("summary"), per["settings"].get("synthesiser-no-library", {}).get("summary")
        gains = []
        if slib and sbase:
            gains.append(f"synthesiser {slib['right'] - sbase['right']:+d} tasks ({slib['cpu_seconds']:.1f} against "
                         f"{sbase['cpu_seconds']:.1f} CPU-s)")
        if lib and base:
            gains.append(f"both {lib['right'] - base['right']:+d} tasks ({lib['cpu_seconds']:.1f} against {base['cpu_seconds']:.1f} CPU-s)")
        wide = per.get("wider")
        if wide:
            a, b = wide["synthesiser"]["summary"], wide["synthesiser-no-library"]["summary"]
            gains.append(f"on {a['tasks']} tasks (the first {len(per['tasks'])} and {len(per['extra_tasks'])} more) the synthesiser alone "
                         f"{a['right']}/{a['tasks']} with the library against {b['right']}/{b['tasks']} without "
                         f"({a['right'] - b['right']:+d}; {a['cpu_seconds']:.1f} against {b['cpu_seconds']:.1f} CPU-s, "
                         f"{a['reused']} answered by reuse)")
        if gains:
            lines += ["", "The library's gain over the no-library baseline, fully right: " + "; ".join(gains) + "."]
        wr = (wide or {}).get("router", {}).get("summary")
        if wr and wr.get("routing"):
            r = wr["routing"]
            lines += ["", f"Routing on more tasks: {r['asked']} (these first), on the library the synthesiser grew over "
                      f"them ({wr['library_after']} functions): the model proposed a function for {r['proposed']} "
                      f"({r['compositions']} compositions), {r['router_verified']} verified, {r['router_right']} fully right; "
                      f"the index's first choice verified on {r['index_top_verified']}, fully right on {r['index_top_right']} "
                      f"(latency {_n(wr['latency'])} s a request)."]
        lines.append("")
    return "\n".join(lines).rstrip()


if __name__ == "__main__":
    sys.exit(main())
