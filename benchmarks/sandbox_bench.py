"""The sandbox's own overhead: starting a worker, and 1,000 calls in one batch or one by one.

Run from the repository root::

    python -m benchmarks.sandbox_bench                 # the installed / PYTHONPATH riscmoe
    python -m benchmarks.sandbox_bench --repeat 9      # more repetitions (medians are printed)

Figures (JSON on stdout, seconds, medians over ``--repeat``):

- ``start``: ``Sandbox()`` plus its first call (the worker's start-up and confinement);
- ``batch_1000``: one ``run_many`` job of 1,000 calls of a small function (one round trip);
- ``roundtrips_1000``: 1,000 ``run_one`` calls (1,000 round trips);
- ``notes``: the confinement layers the worker reported missing on this machine.

To compare two builds on one machine, run it under each build's ``PYTHONPATH`` in turn, in
the same session (the figures move with the machine's load).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

SQ = "def sq(x):\n    return x * x + 1\n"


def measure(repeat: int) -> dict:
    """Median seconds of each figure over ``repeat`` rounds."""
    from riscmoe.functions.sandbox import Sandbox

    starts, batches, trips = [], [], []
    notes: list[str] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        box = Sandbox(time_limit=1.0)
        assert box.run_one(SQ, "sq", (3,)).value == 10
        starts.append(time.perf_counter() - t0)
        notes = list(box.notes)
        lib = {"sq": SQ}
        box.run_many([(None, "sq", [(1,)])], lib)  # load the library once, outside the timing
        t0 = time.perf_counter()
        out = box.run_many([(None, "sq", [(i,) for i in range(1000)])], lib)[0]
        batches.append(time.perf_counter() - t0)
        assert all(o.ok for o in out)
        t0 = time.perf_counter()
        for i in range(1000):
            box.run_one(None, "sq", (i,), lib)
        trips.append(time.perf_counter() - t0)
        box.close()
    return {"start": statistics.median(starts), "batch_1000": statistics.median(batches),
            "roundtrips_1000": statistics.median(trips), "repeat": repeat, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sandbox_bench", description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5, help="rounds; medians are reported")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    print(json.dumps(measure(args.repeat), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
