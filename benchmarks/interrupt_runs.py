"""Stop ``riscmoe run`` at random instants (Ctrl-C or kill -9) and check what it leaves.

Usage: python -m benchmarks.interrupt_runs [--tries 10] [--signal INT|KILL] [--seed 0]

Each try runs the digits demo (``--train-limit 600``) into a folder that already holds a
finished run, with ``--force``, and sends the signal after a random delay spread over the
whole run (imports, training, the final writes). Afterwards the folder must hold either the
earlier run, unchanged, or a complete new one; after Ctrl-C the process must exit 130 with
one line and no traceback (or, when the signal comes after the run is complete, while the
interpreter exits, die of it as any program does); after kill -9 the next run must clear the
leftovers. Prints one
line per try and a summary; exits 1 if any try broke a rule.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_FILES = ["accuracy.png", "members.png", "metrics.json", "routing.png", "system"]


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "riscmoe.cli.main", "run", "--dataset", "digits", "--train-limit", "600",
            "--no-progress", "--threads", "1", "--out", str(out), "--force"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _state(out: Path) -> str:
    """'earlier', 'new' or a description of what is wrong."""
    if not out.is_dir():
        return "missing"
    names = sorted(p.name for p in out.iterdir())
    if names != RUN_FILES:
        return f"incomplete: {names}"
    return "earlier" if json.loads((out / "metrics.json").read_text()).get("earlier_marker") else "new"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tries", type=int, default=10)
    ap.add_argument("--signal", default="INT", choices=["INT", "KILL"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    sig = signal.SIGINT if args.signal == "INT" else signal.SIGKILL
    work = Path(tempfile.mkdtemp(prefix="riscmoe-interrupt-"))
    out = work / "run"
    try:
        # One complete run to time the command and to serve as "the earlier run".
        t0 = time.perf_counter()
        subprocess.run(_cmd(out), env=_env(), check=True, capture_output=True)
        full = time.perf_counter() - t0
        metrics = json.loads((out / "metrics.json").read_text())
        metrics["earlier_marker"] = True
        (out / "metrics.json").write_text(json.dumps(metrics))
        earlier = (out / "metrics.json").read_bytes()
        print(f"a full run takes {full:.1f} s; stopping at random instants in 0.5-{full * 1.05:.1f} s", flush=True)
        broken = 0
        outcomes: dict[str, int] = {}
        for i in range(args.tries):
            delay = rng.uniform(0.5, full * 1.05)
            proc = subprocess.Popen(_cmd(out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            proc.send_signal(sig)
            _, err = proc.communicate()
            state = _state(out)
            problems = []
            if state not in ("earlier", "new"):
                problems.append(f"--out is {state}")
            if state == "earlier" and (out / "metrics.json").read_bytes() != earlier:
                problems.append("the earlier run changed")
            # Death by SIGINT (-2) reads as 130 in a shell too: CPython 3.11 ends so after a clean
            # exit when the interrupt landed in exec()'d code, and after the run is complete the
            # default handler is back while the interpreter tears down.
            stopped = proc.returncode in (130, -signal.SIGINT)
            if sig == signal.SIGINT and proc.returncode != 0 and not stopped:
                problems.append(f"exit status {proc.returncode}")
            if sig == signal.SIGINT and proc.returncode == 130 and (
                    err.strip().count("\n") or "Traceback" in err or "riscmoe: interrupted" not in err):
                problems.append(f"stderr not one line: {err[:200]!r}")
            if sig == signal.SIGINT and proc.returncode == 130 and state == "new" and "run was complete" not in err:
                problems.append(f"a complete run reported as not written: {err.strip()!r}")
            if sig == signal.SIGINT and proc.returncode == 130 and state == "earlier" and "unchanged" not in err:
                problems.append(f"the message does not say the earlier run is unchanged: {err.strip()!r}")
            leftovers = [p.name for p in work.iterdir() if p.name != "run"]
            if sig == signal.SIGINT and leftovers:
                problems.append(f"left {leftovers}")
            outcome = f"{'finished' if proc.returncode == 0 else 'stopped'}, --out holds the {state} run" \
                if state in ("earlier", "new") else state
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print(f"try {i + 1}: signal at {delay:.1f} s, exit {proc.returncode}, {outcome}"
                  + (f", {len(leftovers)} leftover(s)" if leftovers else "")
                  + (f"  BROKEN: {'; '.join(problems)}" if problems else ""), flush=True)
            broken += bool(problems)
            if state == "new":  # the next try starts from an earlier run again
                metrics = json.loads((out / "metrics.json").read_text())
                metrics["earlier_marker"] = True
                (out / "metrics.json").write_text(json.dumps(metrics))
                earlier = (out / "metrics.json").read_bytes()
        # After kill -9 leftovers may remain: the next run must clear them.
        subprocess.run(_cmd(out), env=_env(), check=True, capture_output=True)
        left = [p.name for p in work.iterdir() if p.name != "run"]
        if left:
            print(f"BROKEN: a complete run left {left} beside --out")
            broken += 1
        print(f"{args.tries} tries with SIG{args.signal}: "
              + ", ".join(f"{n} {k}" for k, n in outcomes.items())
              + f"; {broken} broke a rule; after the last, a clean run left {len(left)} leftovers")
        return 1 if broken else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
