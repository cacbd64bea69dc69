"""benchmarks/busy_machine.py on a tiny config (digits, 300 examples): it must not rot."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.busy_machine import start_hogs, stop_hogs, table

ROOT = Path(__file__).resolve().parents[2]


def test_busy_machine_benchmark_runs(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "benchmarks.busy_machine", "--dataset", "digits", "--train-limit", "300",
                        "--conditions", "quiet", "--modes", "1", "--out", str(tmp_path)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    [row] = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert (row["condition"], row["mode"], row["hogs"], row["threads"]) == ("quiet", "1", 0, 1)
    assert row["process_seconds"] > 0 and row["train_seconds"] > 0 and 0 < row["final_accuracy"] <= 1
    assert "| quiet | 1 | 1 | 1 |" in r.stdout


def test_hogs_are_cpu_bound_and_stopped():
    hogs = start_hogs(1)
    try:
        time.sleep(0.5)
        assert hogs[0].poll() is None  # running
    finally:
        stop_hogs(hogs)
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(hogs[0].pid, 0)


def test_table_names_the_libraries_defaults_and_failures():
    base = {"condition": "quiet", "hogs": 0, "load_before": 0.5, "train_seconds": 3.0, "final_accuracy": 0.99}
    rows = [dict(base, mode="off", threads=None, process_seconds=30.0),
            dict(base, mode="off", threads=None, process_seconds=32.0),
            dict(base, mode="auto", threads=2, process_seconds=29.0),
            dict(base, condition="busy", hogs=1, mode="auto", failed="boom", process_seconds=1.0)]
    lines = table(rows)
    assert "| quiet | off (libraries' defaults, riscmoe 0.1.0) | 2 | default | 31.0 (30.0-32.0) | 3.0 | 99.00 | 0.5 |" in lines
    assert "| quiet | auto | 1 | 2 | 29.0 | 3.0 | 99.00 | 0.5 |" in lines
    assert any(line.startswith("| busy (1 CPU-bound process) | auto | 1 | failed: boom") for line in lines)
