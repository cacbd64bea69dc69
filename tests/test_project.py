"""The project's own promises about its test command."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pytest_quiet_still_prints_its_summary_line():
    # The configuration once held -q, so that `pytest -q` went silent (-qq).
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_validation.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:]
    assert " passed" in out.stdout.strip().splitlines()[-1], out.stdout[-500:]
