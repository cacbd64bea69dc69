"""A stored function that hangs in one C call: what later tasks pay, with and without quarantine.

Run from the repository root::

    python -m benchmarks.functions_faults            # 8 tasks, the default sandbox limits
    python -m benchmarks.functions_faults --tasks 4

It makes a fresh library holding ``def f(x): return sum(range(10 ** 15)) if x > 5 else x``
(it answers 1 -> 1 and 2 -> 2, then hangs on any larger number inside one C call, where no
signal reaches Python code: the sandbox kills its worker at the wall-clock limit), then
solves the same tasks of its signature twice, each time on a fresh copy of that library:
once as the library does by default (quarantine after 2 timed-out runs) and once with
quarantine off (``quarantine_after`` too large to reach: every task runs the function, as
on a library without the mechanism). No creators: only verification of stored functions.
Prints seconds per task, worker restarts and the function's state after each pass.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HANGS = "def f(x):\n    return sum(range(10 ** 15)) if x > 5 else x\n"


def run(library: Path, tasks: list, quarantine_after: int) -> dict:
    """Solve ``tasks`` one by one on ``library``: seconds per task, worker restarts, the function's state."""
    from riscmoe.functions.controller import FunctionController
    from riscmoe.functions.library import FunctionLibrary

    with FunctionLibrary(library, quarantine_after=quarantine_after) as lib:
        ctl = FunctionController(lib)
        seconds = []
        for task in tasks:
            t0 = time.perf_counter()
            ctl.solve(task)
            seconds.append(time.perf_counter() - t0)
        return {"seconds": seconds, "restarts": lib.worker_restarts, "state": lib.get("same_small").state}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.functions_faults", description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=8, help="tasks solved per pass")
    args = p.parse_args(argv)
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.tasks import Task
    from riscmoe.functions.values import Signature

    tasks = [Task(f"plus_{k}", [((7,), 7 + k), ((9,), 9 + k), ((12,), 12 + k)], [(20,)], description="the same number plus a few")
             for k in range(args.tasks)]
    with tempfile.TemporaryDirectory(prefix="riscmoe-faults-") as tmp:
        base = Path(tmp) / "base.sqlite"
        t0 = time.perf_counter()
        with FunctionLibrary(base) as lib:
            lib.add("same_small", HANGS, Signature.parse("(int) -> int"), "the same number", examples=[((1,), 1), ((2,), 2)])
            print(f"stored the hanging function in {time.perf_counter() - t0:.1f} s: {lib.get('same_small').state}")
        for label, after in (("quarantine after 2 timeouts (default)", 2), ("quarantine off", 10**9)):
            lib_path = Path(tmp) / f"lib-{after}.sqlite"
            shutil.copy(base, lib_path)
            res = run(lib_path, tasks, after)
            per = ", ".join(f"{s:.2f}" for s in res["seconds"])
            print(f"{label}: {sum(res['seconds']):.1f} s for {len(tasks)} tasks ({per}); worker restarts {res['restarts']}; "
                  f"function: {res['state']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
