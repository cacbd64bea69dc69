"""riscmoe's benchmark suite: riscmoe and its peers on the same streams, side by side.

Run it with ``python -m benchmarks --suite standard`` (or ``--suite quick`` for a smoke
check); see ``benchmarks/suite.py``.
"""
