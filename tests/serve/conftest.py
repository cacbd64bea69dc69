"""A saved digits system, and services started on a free port of 127.0.0.1 in a child process that dies with its parent."""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="riscmoe serve needs FastAPI: pip install 'riscmoe[serve]'")
pytest.importorskip("uvicorn", reason="riscmoe serve needs uvicorn: pip install 'riscmoe[serve]'")

ROOT = Path(__file__).resolve().parents[2]
READ = "read-token-0123456789abcdef"
WRITE = "write-token-0123456789abcdef"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the test process dies (servers the tests start stop by themselves)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@pytest.fixture(scope="session")
def digits_flat():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    return X[idx], y[idx]


@pytest.fixture(scope="session")
def saved_system(tmp_path_factory, digits_flat):
    """A system trained on 1,000 digits (class by class) and saved: (folder, held-back X, held-back y)."""
    from riscmoe import RiscClassifier

    X, y = digits_flat
    order = np.argsort(y[:1000], kind="stable")
    clf = RiscClassifier(seed=0)
    for i in range(0, 1000, 64):
        b = order[i: i + 64]
        clf.partial_fit(X[b], y[b])
    path = tmp_path_factory.mktemp("served") / "system"
    clf.save(path)
    return path, X[1000:], y[1000:]


class Server:
    """``riscmoe serve`` in a child process on a free port of 127.0.0.1."""

    def __init__(self, system: Path, state: Path, *extra: str, tokens: Path | None = None, env: dict | None = None) -> None:
        cmd = [sys.executable, "-m", "riscmoe.cli.main", "serve", str(system), "--port", "0", "--state", str(state), *extra]
        if tokens is not None:
            cmd += ["--tokens", str(tokens)]
        full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RISCMOE_THREADS": "1", **(env or {})}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                                     preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline()  # "riscmoe serve: listening on http://127.0.0.1:PORT" once ready
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"the service did not start: {line!r} {self.proc.stderr.read()[-3000:]}")
        self.base = line.strip().rsplit(" ", 1)[1]
        assert self.base.startswith("http://127.0.0.1:")

    def request(self, method: str, path: str, body=None, token: str | None = None, raw: bytes | None = None,
                headers: dict | None = None, timeout: float = 60):
        """(status, parsed JSON or text) of one request."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, text, kind = r.status, r.read().decode(), r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            status, text, kind = e.code, e.read().decode(), e.headers.get("content-type", "")
        return status, (json.loads(text) if "json" in kind else text)

    def health(self) -> dict:
        status, h = self.request("GET", "/health")
        assert status == 200, h
        return h

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM: a clean stop (what was queued is learned and checkpointed); True when it stopped so.

        uvicorn ends the process by the signal it caught once it has shut down (status -15)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return False
        return status in (0, -signal.SIGTERM) and "Traceback" not in self.proc.stderr.read()


@pytest.fixture(scope="session")
def served(saved_system, tmp_path_factory):
    """One service for the tests of the endpoints and of the page: (server, held-back X, y, state folder)."""
    system, X, y = saved_system
    tmp = tmp_path_factory.mktemp("app")
    tokens = tmp / "tokens"
    tokens.write_text(f"read {READ}\nwrite {WRITE}\n")
    server = Server(system, tmp / "state", tokens=tokens)
    yield server, X, y, tmp / "state"
    assert server.stop()


@pytest.fixture
def tokens_file(tmp_path):
    p = tmp_path / "tokens"
    p.write_text(f"# the tests' tokens\nread {READ}\nwrite {WRITE}\n")
    return p


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
