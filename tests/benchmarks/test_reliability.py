"""The reliability script runs end to end and fails on what it is meant to catch."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_reliability_script_runs_and_finds_nothing_lost(tmp_path):
    out = subprocess.run([sys.executable, "-m", "benchmarks.reliability", "--kills", "1", "--flips", "2", "--out", str(tmp_path / "r")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert out.stdout.startswith("| attack or fault | tries |")
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["kills"]["failures"] == []
    assert all(v["refused"] == 2 for v in results["flips"].values())
    assert results["names"]["round_trips"] == results["names"]["tries"]
    assert [b["verdict"] for b in results["outliers"]["batches"]] == ["refused"] * 5
