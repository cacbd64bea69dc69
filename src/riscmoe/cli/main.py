"""Command line: ``riscmoe run`` streams a data set through the system; ``riscmoe inspect`` lists members."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence


def _thread_setting(value: str) -> str:
    """argparse type of --threads: refused at once (exit 2, with usage) unless a count, auto or off."""
    from riscmoe.threads import _parse

    try:
        _parse(value, "--threads")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="riscmoe", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="stream a data set through a new system and evaluate it")
    run.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or digits")
    run.add_argument("--scenario", default="class-incremental", choices=["class-incremental", "recurring"])
    run.add_argument("--policy", default=None, help="routing policy: first, best (the default) or mixture")
    run.add_argument("--groups", type=int, default=5, help="class groups in the stream")
    run.add_argument("--batch-size", type=int, default=64)
    run.add_argument("--archive-size", type=int, default=None, help="most inputs the archive stores (default 1000)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--train-limit", type=int, default=None, help="use only the first N training examples")
    run.add_argument("--data-dir", default=None,
                     help="folder holding the IDX files; it must exist (default: the user cache, "
                          "$RISCMOE_DATA or ~/.cache/riscmoe/data, downloading into it if needed)")
    run.add_argument("--out", default=None, help="run folder (default runs/<dataset>-<scenario>-<policy>-<seed>)")
    run.add_argument("--force", action="store_true", help="replace the earlier run in --out (a folder of other files is never replaced)")
    run.add_argument("--threads", default=None, metavar="N|auto|off", type=_thread_setting,
                     help="math threads: a count, auto (the default: the cores not busy with other work; "
                          "$RISCMOE_THREADS sets it too) or off (torch's and OpenMP's own defaults)")
    run.add_argument("--set", action="append", default=[], metavar="PART.NAME=VALUE", dest="settings",
                     help="one setting of the system, repeatable: a part's (model.hidden=32, meta.pair_margin=0, "
                          "policy.close=1) or the estimator's own (threshold=0.01); a part's kind by its name (policy=mixture)")
    run.add_argument("--config", default=None, metavar="FILE",
                     help="settings from a JSON or TOML file, e.g. {\"model\": {\"hidden\": 32}, \"threshold\": 0.01}; "
                          "--policy, --archive-size, --seed and --set apply after it")
    run.add_argument("--import", action="append", default=[], metavar="MODULE", dest="imports",
                     help="a Python module (a name on the path or the current folder, or a .py file) to import first, "
                          "repeatable: the kinds it registers (riscmoe.registry.register) can then be named by --set and --config")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    ins = sub.add_parser("inspect", help="list the members of a saved system")
    ins.add_argument("path")
    srv = sub.add_parser("serve", help="answer requests over HTTP from a saved system, learning from feedback")
    srv.add_argument("path", metavar="SYSTEM_DIR", help="a saved system (e.g. runs/NAME/system) or a functions library file")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one, printed)")
    srv.add_argument("--state", default=None, metavar="DIR",
                     help="feedback log and checkpoints (default SYSTEM_DIR.serve beside the system, which is never changed)")
    srv.add_argument("--tokens", default=None, metavar="FILE",
                     help="token file: lines 'read TOKEN' / 'write TOKEN' (default: $RISCMOE_SERVE_READ_TOKEN and "
                          "$RISCMOE_SERVE_WRITE_TOKEN; no write token, no feedback; no read token, reading is open)")
    srv.add_argument("--learn", default="continuous", choices=["continuous", "phases"],
                     help="serve what feedback taught as soon as it is learned, or once per phase")
    srv.add_argument("--phase-length", type=int, default=512, help="examples of feedback per phase (--learn phases)")
    srv.add_argument("--checkpoint-every", type=int, default=1000, help="feedback records between checkpoints (0: only on stop)")
    srv.add_argument("--keep-answers", type=int, default=10000, help="answers remembered for feedback by answer id")
    srv.add_argument("--max-batch", type=int, default=4096, help="most inputs in one request")
    srv.add_argument("--max-body", type=int, default=16 * 1024 * 1024, help="most bytes in one request's body")
    srv.add_argument("--threads", default=None, metavar="N|auto|off", type=_thread_setting, help="math threads (as for run)")
    fn = sub.add_parser("functions", help="the functions domain: solve tasks with a growing library of code functions")
    from riscmoe.functions.cli import add_arguments as add_functions_arguments  # argparse only; the rest loads on use

    add_functions_arguments(fn)
    return p


# 128 + SIGINT, what shells report for a command stopped by Ctrl-C. Where the interrupt
# landed inside code run by exec() (dataclasses build their methods so, at import time),
# CPython 3.11 still ends the process by SIGINT after a clean exit, which shells report as
# 130 as well: the message, the clean-up and the status the user sees are the same.
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    try:
        # Inside the try: building the parser imports modules, and Ctrl-C may come then too.
        args = _parser().parse_args(argv)
        if args.command == "run":
            return _run(args)
        if args.command == "functions":
            from riscmoe.functions.cli import run as run_functions

            return run_functions(args)
        if args.command == "serve":
            return _serve(args)
        return _inspect(args)
    except (ValueError, OSError, RuntimeError, TypeError) as exc:  # (OSError: a refused save, a full disk, a missing file)
        print(f"riscmoe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # One line, no traceback: the user asked to stop. What the command had not finished
        # was not written (a run folder appears only when complete).
        # On a terminal, start a fresh line: the progress bar and the echoed ^C end mid-line.
        start = "\n" if sys.stderr.isatty() else ""
        print(f"{start}riscmoe: interrupted{_interrupted_note(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _interrupted_note(args: argparse.Namespace | None) -> str:
    """What Ctrl-C left behind, for the one line printed."""
    out = getattr(args, "resolved_out", None)
    if args is None or args.command != "run" or out is None:
        return ""
    if getattr(args, "run_installed", False):
        return f" after the run was complete; it is in {out}"
    if getattr(args, "had_earlier_run", False):
        return f"; the earlier run in {out} is unchanged"
    return f"; nothing was written to {out}"


@contextlib.contextmanager
def _interrupts_after() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then raise KeyboardInterrupt.

    For importing torch: an interrupt inside its C++ start-up escapes as a C++ exception
    and aborts the process (SIGABRT, "terminate called after throwing ... KeyboardInterrupt"),
    before any Python handler runs. The imports take a second or two; the interrupt is
    acted on as soon as they end. Signal handlers can only be set from the main thread:
    elsewhere the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _default_out(args: argparse.Namespace, dataset: str) -> Path:
    return Path(f"runs/{dataset}-{args.scenario}-{args.policy or 'best'}-{args.seed}")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator's parameters from --config, then --policy/--archive-size/--seed, then each --set in order."""
    from riscmoe.config import parse_assignment, read_file

    settings: dict[str, Any] = read_file(args.config) if args.config else {}
    if args.policy is not None:
        settings["policy"] = args.policy
    if args.archive_size is not None:
        settings["archive_size"] = args.archive_size
    settings["seed"] = args.seed
    for text in args.settings:
        key, value = parse_assignment(text)
        settings[key] = value
    return settings


def _import_kinds(names: Sequence[str]) -> None:
    """Import each --import module (see ``riscmoe.registry.import_modules``)."""
    from riscmoe import registry

    registry.import_modules(names)


def _kind_name(part: Any) -> str:
    """A part's kind name (a user's unregistered object: its class name)."""
    from riscmoe import registry

    kind = registry.kind_of(part)
    return kind[1] if kind else type(part).__name__


def _estimator(settings: dict[str, Any]) -> Any:
    """A RiscClassifier with these settings, every one checked now (a typo is refused before any data loads)."""
    from riscmoe.classifier import RiscClassifier

    clf = RiscClassifier()
    flat = {k: v for k, v in settings.items() if "__" not in k}
    nested = {k: v for k, v in settings.items() if "__" in k}
    clf.set_params(**flat)
    clf.set_params(**nested)
    clf._check_params()
    return clf


def _run(args: argparse.Namespace) -> int:
    from riscmoe import threads
    from riscmoe.cli import runfolder
    from riscmoe.datasets.loaders import _canonical, _check_data_dir

    t_start = time.perf_counter()
    # Refuse bad input, and a run folder that would lose something, before any work is done.
    dataset = _canonical(args.dataset)
    if args.data_dir is not None and dataset != "digits":
        _check_data_dir(dataset, Path(args.data_dir).expanduser())
    _import_kinds(args.imports)
    settings = _settings(args)
    out = Path(args.out) if args.out else _default_out(args, dataset)
    runfolder.check_target(out, args.force)
    args.resolved_out, args.had_earlier_run = out, out.is_dir() and any(out.iterdir())
    runfolder.clean_leftovers(out)

    with _interrupts_after():
        import numpy as np

        from riscmoe.registry import PARTS
        from tqdm import tqdm

        # Straight from the module, so that --threads (not the default rule) sets the threads
        # first; the import's seconds are the window auto measures the machine's load over.
        from riscmoe.classifier import RiscClassifier  # noqa: F401  (torch's import, under the guard)
        from riscmoe.cli.plots import plot_run
        from riscmoe.datasets import class_incremental, load_dataset, recurring

    clf = _estimator(settings)
    threads.configure(args.threads)
    ds = load_dataset(args.dataset, data_dir=args.data_dir)
    X_tr, y_tr = ds.X_train, ds.y_train
    if args.train_limit:
        X_tr, y_tr = X_tr[: args.train_limit], y_tr[: args.train_limit]
    if args.scenario == "class-incremental":
        stream = class_incremental(X_tr, y_tr, n_groups=args.groups, seed=args.seed, batch_size=args.batch_size)
    else:
        order = np.random.default_rng(args.seed).permutation(np.unique(y_tr))
        groups = [tuple(int(c) for c in g) for g in np.array_split(order, args.groups)]
        # Every group, then the first groups again: returning classes must reuse members.
        schedule = groups + groups[: max(1, len(groups) // 2)]
        stream = recurring(X_tr, y_tr, schedule, seed=args.seed, batch_size=args.batch_size)
    n_groups = len(stream.groups)
    acc_matrix = np.full((n_groups, n_groups), np.nan)  # [after stage i, on group j]
    stages: list[dict[str, Any]] = []
    members_over_time: list[tuple[int, int]] = []
    train_seconds = prepare_seconds = 0.0
    boundaries = set(stream.boundaries)
    seen = 0
    bar = tqdm(total=stream.n_examples, unit="img", disable=args.no_progress, desc=f"{ds.name} {args.scenario}")
    for i, (Xb, yb) in enumerate(stream):
        t0 = time.perf_counter()
        clf.partial_fit(Xb, yb)
        train_seconds += time.perf_counter() - t0
        threads.refresh()  # a clock read; every few seconds, follows the machine's load
        seen += len(yb)
        members_over_time.append((seen, clf.n_experts_))
        bar.update(len(yb))
        bar.set_postfix(members=clf.n_experts_)
        if i in boundaries:
            stage = stream.boundaries.index(i)
            t0 = time.perf_counter()
            clf.prepare(end_phase=False)  # the meta-models up to date for the evaluation (learning goes on as it would)
            prepare_seconds += time.perf_counter() - t0
            found = clf.predict_detailed(ds.X_test)
            pred, run_per_input = found.labels, found.runs_per_input
            for j in range(n_groups):
                mask = np.isin(ds.y_test, stream.groups[j])
                acc_matrix[stage, j] = float(np.mean(pred[mask] == ds.y_test[mask]))
            classes_so_far = np.unique(np.concatenate([stream.groups[j] for j in range(stage + 1)]))
            m_seen = np.isin(ds.y_test, classes_so_far)
            stages.append(
                {
                    "stage": stage,
                    "examples_seen": seen,
                    "classes": [int(c) for c in stream.groups[stage]],
                    "accuracy_seen_classes": float(np.mean(pred[m_seen] == ds.y_test[m_seen])),
                    "accuracy_all_test": float(np.mean(pred == ds.y_test)),
                    "unknown_rate": float(np.mean(found.members_run == 0)),
                    "members": clf.n_experts_,
                    "experts_run_per_input": run_per_input,
                }
            )
            bar.write(
                f"after stage {stage + 1}/{n_groups} (classes {stream.groups[stage]}): accuracy on classes seen "
                f"{stages[-1]['accuracy_seen_classes']:.4f}, members {clf.n_experts_}, models run per input {run_per_input:.2f}"
            )
    bar.close()
    t0 = time.perf_counter()
    clf.prepare()  # the stream is over: its last phase too
    prepare_seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    final = clf.predict_detailed(ds.X_test)
    final_pred, answered_by = final.labels, final.member
    predict_seconds = time.perf_counter() - t0
    final_acc = float(np.mean(final_pred == ds.y_test))
    # Forgetting: for each group but the last, best accuracy it ever had minus its final one.
    last = n_groups - 1
    forgetting = [float(np.nanmax(acc_matrix[: last + 1, j]) - acc_matrix[last, j]) for j in range(last)]
    n_run = final.members_run
    timing = final.timing
    metrics = {
        "dataset": ds.name,
        "scenario": args.scenario,
        "policy": _kind_name(clf.part("policy")),
        "seed": args.seed,
        "groups": [list(map(int, g)) for g in stream.groups],
        "train_examples": int(stream.n_examples),
        "test_examples": int(len(ds.y_test)),
        "archive_size": clf.archive_size,
        "settings": {k: v if k not in PARTS else _kind_name(clf.part(k)) for k, v in clf.get_params(deep=True).items()},
        "final_accuracy": final_acc,
        "average_forgetting": float(np.mean(forgetting)) if forgetting else 0.0,
        "accuracy_matrix": acc_matrix.tolist(),
        "members": clf.n_experts_,
        "members_created": [dict(h) for h in clf.history_],
        "model_runs_final": final.model_runs.tolist(),  # test inputs each member's model ran on
        "experts_run_per_input": float(n_run.mean()),
        "experts_run_per_input_p95": float(np.percentile(n_run, 95)),
        "unknown_rate": float(np.mean(n_run == 0)),
        "train_seconds": train_seconds,
        "prepare_seconds": prepare_seconds,
        "predict_seconds_final": predict_seconds,
        "predict_split_seconds": timing,
        "wall_seconds": time.perf_counter() - t_start,
        "stages": stages,
        "archive": clf.archive_.counts_by_kind(),
        "cost_per_input": clf.cost_per_input_,
        "threads": threads.current()[0],
        "threads_reason": threads.current()[1],
    }
    # Everything goes into a hidden sibling first and appears at --out in one move.
    staged = runfolder.stage(out)
    try:
        clf.save(staged / "system")
        member_labels = np.array([m.label for m in clf.collection_.members])
        plot_run(staged, metrics, members_over_time, answered_by, ds.y_test, [clf.labels_[l] for l in member_labels])
        metrics["wall_seconds"] = time.perf_counter() - t_start
        (staged / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        with _interrupts_after():  # the move and the earlier run's removal finish as one step
            runfolder.install(staged, out, args.force)
            args.run_installed = True
    except runfolder.RunFolderError:
        raise  # --out changed meanwhile: the finished run stays where the message says
    except BaseException:
        runfolder.discard(staged)  # an error or Ctrl-C while writing: no half-made run is left
        raise
    _print_table(metrics, out)
    return 0


def _print_table(m: dict[str, Any], out: Path) -> None:
    c = m["cost_per_input"]
    rows = [
        ("final accuracy", f"{m['final_accuracy'] * 100:.2f}%"),
        ("average forgetting", f"{m['average_forgetting'] * 100:.2f} points"),
        ("members created", str(m["members"])),
        ("models run per input (mean / p95)", f"{m['experts_run_per_input']:.2f} / {m['experts_run_per_input_p95']:.0f}"),
        ("unknown answers", f"{m['unknown_rate'] * 100:.2f}%"),
        (
            "meta-models / one model (MACs)",
            f"{c['meta_bank_macs'] / 1e3:.0f}k / {c['one_model_macs'] / 1e3:.0f}k = {c['meta_bank_over_one_model'] * 100:.1f}%",
        ),
        ("threads", f"{m['threads'] if m['threads'] is not None else 'library defaults'} ({m['threads_reason']})"),
        ("training seconds", f"{m['train_seconds']:.1f}"),
        ("prepare seconds", f"{m.get('prepare_seconds', 0.0):.1f}"),
        ("wall seconds", f"{m['wall_seconds']:.1f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{m['dataset']} {m['scenario']} policy={m['policy']} seed={m['seed']}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(f"run folder: {out}  (metrics.json, *.png, system/)")


def _serve(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"riscmoe serve needs FastAPI and uvicorn ({exc.name} is missing): pip install 'riscmoe[serve]'") from None
    from riscmoe import threads
    from riscmoe.serve.app import serve
    from riscmoe.serve.auth import Tokens

    if not 0 <= args.port < 65536:
        raise ValueError(f"--port must lie in [0, 65535], got {args.port}")
    if args.max_body < 1024:
        raise ValueError(f"--max-body must be at least 1024 bytes, got {args.max_body}")
    tokens = Tokens.load(args.tokens)
    threads.configure(args.threads)
    return serve(args.path, host=args.host, port=args.port, state=args.state, tokens=tokens, max_body=args.max_body,
                 learn=args.learn, phase_length=args.phase_length, checkpoint_every=args.checkpoint_every,
                 keep_answers=args.keep_answers, max_batch=args.max_batch)


def _inspect(args: argparse.Namespace) -> int:
    from riscmoe.persistence.folder import read_manifest
    from riscmoe.persistence.migrations import migrate

    manifest = read_manifest(args.path)
    version = manifest["format_version"]
    manifest, _ = migrate(manifest, {})  # an earlier format's save is shown in today's terms
    labels = manifest["labels"]
    print(f"{args.path}: riscmoe system, format {version}, {len(manifest['members'])} members, "
          f"{manifest['n_seen']} examples seen, input shape {tuple(manifest['input_shape'])}")
    cost = manifest["cost_per_input"]
    print(f"per input: encoder {cost['encoder_macs'] / 1e3:.0f}k MACs, all meta-models {cost['meta_bank_macs'] / 1e3:.0f}k, "
          f"one model {cost['one_model_macs'] / 1e3:.0f}k (meta-models cost {cost['meta_bank_over_one_model'] * 100:.1f}% of one model)")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in manifest["params"].items()))
    for name, entry in manifest["parts"].items():
        kind = entry.get("kind") or f"your own {entry.get('class')}"
        config = ", ".join(f"{k}={v}" for k, v in (entry.get("config") or {}).items())
        print(f"  {name:<8} {kind}" + (f" ({config})" if config else ""))
    per_member = (manifest["parts"]["meta"].get("info") or {}).get("per_member") or [{} for _ in manifest["members"]]
    extra = sorted({k for row in per_member for k in row})
    show = {"border": lambda v: f"{v[0]:.2f}x{v[1]:+.2f}", "border_updates": str}
    heads = {"border": "border", "border_updates": "border ex."}
    print(f"{'member':>6}  {'label':>10}  {'params':>8}  {'examples':>8}  {'refused':>8}  "
          + "".join(f"{heads.get(k, k):>13}  " for k in extra) + f"{'made at':>8}  why")
    for m, row in zip(manifest["members"], per_member):
        cells = "".join(f"{show.get(k, str)(row[k]) if k in row else '-':>13}  " for k in extra)
        print(f"{m['index']:>6}  {str(labels[m['label']]):>10}  {m['n_parameters']:>8}  {m['n_positive']:>8}  "
              f"{m['n_negative']:>8}  {cells}{m['created_at']:>8}  {m['reason']}")
    if "border" in extra:
        print("border: slope x offset of each member's logistic correction of its posterior odds, learned from near-threshold "
              "feedback (1.00x+0.00 = untouched)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
