"""Load test of ``riscmoe serve`` on 127.0.0.1: predict throughput and latency against concurrent clients.

    python -m benchmarks.serve_load                                  # 1, 4, 16 clients, with and without feedback
    python -m benchmarks.serve_load --clients 1 2 --requests 20 --write ''   # seconds

A system is trained on scikit-learn's digits (1,000 images, class by class) and saved, or
``--system DIR`` names one. The service runs in a child process on a free port of
127.0.0.1. For each count of concurrent clients (threads of this process, each with its own
kept-alive connection), each client sends ``--requests`` predict requests of ``--batch``
inputs; once without feedback, once while one more client posts feedback (``--feedback-batch``
labelled examples a request, as fast as they are acknowledged: each is fsynced to the log,
learned, and a new served copy swapped in). Every setting is bounded by ``--seconds`` too.
Reported per setting: requests, inputs answered per second, p50 and p99 latency of a
request, feedback records acknowledged meanwhile. The ceiling beside it: the library's own
``predict_detailed`` in this process on the same batches, one after another, and on all of
them in one call. Clients share the machine's cores with the service.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import markdown

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- serve_load:begin -->", "<!-- serve_load:end -->"
READ, WRITE = "bench-read-token-0123456789", "bench-write-token-0123456789"


def _system(args: argparse.Namespace, work: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(X))
    X, y = X[idx], y[idx]
    if args.system:
        return Path(args.system), X[1000:], y[1000:]
    from riscmoe import RiscClassifier

    clf = RiscClassifier(seed=0)
    order = np.argsort(y[:1000], kind="stable")
    for i in range(0, 1000, 64):
        clf.partial_fit(X[order[i: i + 64]], y[order[i: i + 64]])
    path = work / "system"
    clf.save(path)
    return path, X[1000:], y[1000:]


class _Client:
    """One kept-alive HTTP connection."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=120)

    def post(self, path: str, body: Any, token: str) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        self.conn.request("POST", path, data, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read())


def _setting(host: str, port: int, clients: int, feedback: bool, batches: list[np.ndarray], X: np.ndarray, y: np.ndarray,
             args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[Any] = []
    acked = [0]
    deadline = time.monotonic() + args.seconds
    stop = threading.Event()

    def ask(k: int) -> None:
        c = _Client(host, port)
        for i in range(args.requests):
            if time.monotonic() > deadline:
                return
            batch = batches[(k * args.requests + i) % len(batches)]
            t0 = time.perf_counter()
            status, out = c.post("/predict", {"inputs": batch.tolist()}, READ)
            latencies[k].append(time.perf_counter() - t0)
            if status != 200:
                failures.append(out)
                return

    def feed() -> None:
        c = _Client(host, port)
        rng = np.random.default_rng(1)
        while not stop.is_set() and time.monotonic() < deadline:
            pick = rng.choice(len(X), args.feedback_batch, replace=False)
            status, out = c.post("/feedback", {"examples": {"inputs": X[pick].tolist(), "labels": y[pick].tolist()}}, WRITE)
            if status != 200:
                failures.append(out)
                return
            acked[0] += 1

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(clients)]
    feeder = threading.Thread(target=feed) if feedback else None
    t0 = time.perf_counter()
    if feeder:
        feeder.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stop.set()
    if feeder:
        feeder.join()
    if failures:
        raise RuntimeError(f"the service refused requests: {failures[:2]}")
    lat = np.array([v for row in latencies for v in row])
    return {"clients": clients, "feedback": feedback, "requests": int(len(lat)), "inputs_per_s": len(lat) * args.batch / wall,
            "p50_ms": float(np.percentile(lat, 50) * 1e3), "p99_ms": float(np.percentile(lat, 99) * 1e3),
            "feedback_acked": acked[0], "seconds": wall}


def _ceiling(system: Path, batches: list[np.ndarray]) -> dict[str, Any]:
    import riscmoe

    clf = riscmoe.load(system)
    clf.predict_detailed(batches[0])  # warm
    lat = []
    t0 = time.perf_counter()
    for b in batches:
        t = time.perf_counter()
        clf.predict_detailed(b)
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    allX = np.concatenate(batches)
    t = time.perf_counter()
    clf.predict_detailed(allX)
    one = time.perf_counter() - t
    lat_a = np.array(lat)
    return {"batches_inputs_per_s": len(allX) / wall, "p50_ms": float(np.percentile(lat_a, 50) * 1e3),
            "p99_ms": float(np.percentile(lat_a, 99) * 1e3), "one_call_inputs_per_s": len(allX) / one, "inputs": len(allX)}


def _many_members(n: int, path: Path) -> None:
    """A system of ``n`` members: synthetic 16-feature blobs, one label each, 6 examples a label (min_examples 4)."""
    from riscmoe import RiscClassifier

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n, 16)) * 3
    clf = RiscClassifier(seed=0, min_examples=4).set_params(model__hidden=4)
    for s in range(0, n, 100):
        labels = np.repeat(np.arange(s, min(n, s + 100)), 6)
        clf.partial_fit((centres[labels] + rng.normal(size=(len(labels), 16)) * 0.3).astype(np.float32), labels)
    clf.save(path)


def _get(c: _Client, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    c.conn.request("GET", path, headers={"Authorization": f"Bearer {READ}"})
    r = c.conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status} {body[:200]!r}")
    return (time.perf_counter() - t0) * 1e3, len(body)


def run_pages(args: argparse.Namespace) -> dict[str, Any]:
    """The page and /members against a system of ``--page-members`` members, and the cost of one swap."""
    with tempfile.TemporaryDirectory(prefix="riscmoe-serve-pages-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        _many_members(args.page_members, work / "system")
        build = time.perf_counter() - t0
        tokens = work / "tokens"
        tokens.write_text(f"read {READ}\nwrite {WRITE}\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [sys.executable, "-m", "riscmoe.cli.main", "serve", str(work / "system"), "--port", "0", "--state",
               str(work / "state"), "--tokens", str(tokens), "--checkpoint-every", "0"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            line = proc.stdout.readline()
            start = time.perf_counter() - t0
            if "listening on" not in line:
                raise RuntimeError(f"the service did not start: {line!r}")
            host, port = line.strip().rsplit("/", 1)[1].split(":")
            c = _Client(host, int(port))
            pages = -(-args.page_members // 50)
            out: dict[str, Any] = {"members": args.page_members, "build_seconds": build, "start_seconds": start}
            for name, path in (("page_first", "/"), ("page_last", f"/?page={pages}"), ("members_1000", "/members?offset=0&limit=1000")):
                runs = [_get(c, path) for _ in range(5)]
                out[name] = {"ms": float(np.median([r[0] for r in runs])), "bytes": runs[0][1]}
            rng = np.random.default_rng(1)
            X = (rng.normal(size=(8, 16)) * 3).astype(np.float32)
            t0 = time.perf_counter()
            status, ack = c.post("/feedback?wait=true", {"examples": {"inputs": X.tolist(), "labels": list(range(8))}}, WRITE)
            out["feedback_to_served_s"] = time.perf_counter() - t0
            if status != 200 or not ack["served"]:
                raise RuntimeError(f"feedback was not served: {status} {ack}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"{out['members']} members: page {out['page_first']['ms']:.1f} ms ({out['page_first']['bytes'] / 1e3:.0f} KB), last page "
          f"{out['page_last']['ms']:.1f} ms, /members?limit=1000 {out['members_1000']['ms']:.1f} ms, feedback to served "
          f"{out['feedback_to_served_s']:.1f} s, service start {out['start_seconds']:.1f} s")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()[0]  # other work on the machine: the figures are shared with it
    with tempfile.TemporaryDirectory(prefix="riscmoe-serve-load-") as tmp:
        work = Path(tmp)
        system, X, y = _system(args, work)
        rng = np.random.default_rng(0)
        batches = [X[rng.choice(len(X), args.batch, replace=False)] for _ in range(max(64, args.requests))]
        tokens = work / "tokens"
        tokens.write_text(f"read {READ}\nwrite {WRITE}\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        if args.threads:
            env["RISCMOE_THREADS"] = str(args.threads)
        cmd = [sys.executable, "-m", "riscmoe.cli.main", "serve", str(system), "--port", "0", "--state", str(work / "state"),
               "--tokens", str(tokens), "--checkpoint-every", "0"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            line = proc.stdout.readline()
            if "listening on" not in line:
                raise RuntimeError(f"the service did not start: {line!r}")
            host, port = line.strip().rsplit("/", 1)[1].split(":")
            rows = []
            for feedback in (False, True):
                for clients in args.clients:
                    r = _setting(host, int(port), clients, feedback, batches, X, y, args)
                    rows.append(r)
                    print(f"{clients:>3} clients, feedback {'on ' if feedback else 'off'}: {r['inputs_per_s']:8.0f} inputs/s, "
                          f"p50 {r['p50_ms']:7.2f} ms, p99 {r['p99_ms']:7.2f} ms, {r['requests']} requests, "
                          f"{r['feedback_acked']} feedback acknowledged", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        ceiling = _ceiling(system, batches[: max(64, args.requests)])
        print(f"library in process: {ceiling['batches_inputs_per_s']:.0f} inputs/s in batches of {args.batch} "
              f"(p50 {ceiling['p50_ms']:.2f} ms, p99 {ceiling['p99_ms']:.2f} ms), {ceiling['one_call_inputs_per_s']:.0f} inputs/s in one call")
    return {"rows": rows, "ceiling": ceiling, "batch": args.batch, "requests": args.requests, "seconds": args.seconds,
            "feedback_batch": args.feedback_batch, "clients": args.clients, "system": args.system or "digits (1,000 images)",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d"), "threads": args.threads, "load_before": load}


def table(res: dict[str, Any]) -> str:
    c = res["ceiling"]
    cmd = (f"python -m benchmarks.serve_load --clients {' '.join(map(str, res['clients']))} --requests {res['requests']} "
           f"--batch {res['batch']} --seconds {res['seconds']:g}"
           + (f" --page-members {res['pages']['members']}" if res.get("pages") else ""))
    lines = [
        f"Command: `{cmd}` ({res['machine']}, {res['date']}; load average {res.get('load_before', float('nan')):.1f} before "
        f"the run; service math threads: {res['threads'] or 'auto'}). System: "
        f"{res['system']}, served by `riscmoe serve` on 127.0.0.1; each client sends up to {res['requests']} predict requests "
        f"of {res['batch']} inputs on a kept-alive connection; 'with feedback': one more client posts {res['feedback_batch']} "
        "labelled examples a request as fast as they are acknowledged (fsynced, learned, a new copy swapped in). "
        "Clients run on the same cores as the service.",
        "",
        "| clients | feedback | requests | inputs / s | p50 ms / request | p99 ms / request | feedback acknowledged |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(f"| {r['clients']} | {'with' if r['feedback'] else 'without'} | {r['requests']} | {r['inputs_per_s']:,.0f} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['feedback_acked']} |")
    lines.append(f"| library, in process | - | {len(res['rows']) and res['requests']} batches | {c['batches_inputs_per_s']:,.0f} | "
                 f"{c['p50_ms']:.2f} | {c['p99_ms']:.2f} | - |")
    lines.append(f"| library, one call of {c['inputs']} inputs | - | 1 | {c['one_call_inputs_per_s']:,.0f} | - | - | - |")
    pg = res.get("pages")
    if pg:
        lines += ["", f"With {pg['members']:,} members (`--page-members {pg['members']}`: synthetic 16-feature blobs, one label "
                  f"each, made in {pg['build_seconds']:.0f} s): the page at `/` answers in {pg['page_first']['ms']:.0f} ms "
                  f"({pg['page_first']['bytes'] / 1e3:.0f} KB: 50 table rows and at most 2,000 dots), its last page in "
                  f"{pg['page_last']['ms']:.0f} ms, `GET /members?limit=1000` in {pg['members_1000']['ms']:.0f} ms (medians of "
                  f"5). One feedback request waited for until served took {pg['feedback_to_served_s']:.1f} s (learned, then a "
                  f"served copy made, sharing the members it did not change with the copy before, and brought up to date); "
                  f"the service started in {pg['start_seconds']:.0f} s (load and the first served copy, made whole)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serve_load", description=__doc__.splitlines()[0])
    p.add_argument("--system", default=None, help="a saved system to serve (default: one trained on digits now)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--requests", type=int, default=200, help="predict requests per client and setting")
    p.add_argument("--batch", type=int, default=16, help="inputs per predict request")
    p.add_argument("--feedback-batch", type=int, default=8, help="labelled examples per feedback request")
    p.add_argument("--seconds", type=float, default=30.0, help="most seconds per setting")
    p.add_argument("--threads", type=int, default=0, help="the service's math threads (0: riscmoe's auto rule)")
    p.add_argument("--page-members", type=int, default=0,
                   help="also time the page and /members against a system of this many members (0: not)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "serve_load")
    p.add_argument("--write", default=str(ROOT / "BENCHMARKS.md"), help="file to put the table in ('' for none)")
    args = p.parse_args(argv)
    for name in ("requests", "batch", "feedback_batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if min(args.clients) < 1:
        p.error(f"--clients must each be at least 1, got {min(args.clients)}")
    if not args.seconds > 0:
        p.error(f"--seconds must be positive, got {args.seconds}")
    if args.system and not (Path(args.system) / "manifest.json").is_file():
        p.error(f"--system {args.system} is not a saved system (no manifest.json in it)")
    try:
        markdown.check_out(args.out)
    except ValueError as exc:
        p.error(str(exc))
    if args.page_members < 0:
        p.error(f"--page-members must be 0 or more, got {args.page_members}")
    res = run(args)
    if args.page_members:
        res["pages"] = run_pages(args)
    markdown.write_results(args.out, res)
    if args.write:
        markdown.write_section(Path(args.write), table(res), BEGIN, END, "The service under load (issue 20)")
    print(f"results: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
