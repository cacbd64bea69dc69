"""Tests for riscmoe.threads: the thread count comes from the cores this process can really get.

Issue 15, finding 12: torch's and OpenMP's defaults (one thread per core) made the demo
18x slower on a machine with one other CPU-bound process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from riscmoe import threads

SRC = Path(__file__).resolve().parents[1] / "src"


def _env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this worktree's package first, no thread settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RISCMOE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


# What a child reports: the count riscmoe chose and what each library then runs with.
PROBE = textwrap.dedent("""
    import json, riscmoe
    riscmoe.RiscClassifier  # first use chooses the threads
    import torch
    from threadpoolctl import threadpool_info
    print(json.dumps({"chosen": riscmoe.threads.current()[0], "why": riscmoe.threads.current()[1],
                      "torch": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
                      "pools": [i["num_threads"] for i in threadpool_info()]}))
""")


def _probe(**env: str) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=_env(**env), timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_env_count_is_applied_to_torch_and_every_blas_and_openmp_pool():
    got = _probe(RISCMOE_THREADS="1")
    assert got["chosen"] == 1 and got["torch"] == 1 and got["interop"] == 1
    assert got["pools"] and set(got["pools"]) == {1}, got


def test_precedence_explicit_then_env_then_users_omp_then_auto(monkeypatch):
    monkeypatch.delenv("RISCMOE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads._decide(None)[:2] == ("auto", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "3,1")  # a user's setting: applied to every library alike
    assert threads._decide(None) == ("fixed", 3, "from OMP_NUM_THREADS")
    monkeypatch.setenv("RISCMOE_THREADS", "off")  # riscmoe sets nothing: each library's default
    mode, n, why = threads._decide(None)
    assert (mode, n) == ("off", None) and "defaults" in why
    monkeypatch.setenv("RISCMOE_THREADS", "2")
    assert threads._decide(None) == ("fixed", 2, "from RISCMOE_THREADS")
    assert threads._decide(5) == ("fixed", 5, "set by the caller")
    assert threads._decide("auto")[:2] == ("auto", None)
    monkeypatch.setenv("RISCMOE_THREADS", "many")
    with pytest.raises(ValueError, match="RISCMOE_THREADS='many'"):
        threads._decide(None)


@pytest.mark.skipif(threads.usable_cores() < 2, reason="one usable core: auto can only choose 1")
def test_auto_leaves_the_cores_other_processes_keep_busy():
    cores = threads.usable_cores()
    k = min(cores, 4)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]
    try:
        got = _probe()
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    # k CPU-bound processes share the cores with the child's own imports: they keep at
    # least about k * cores / (cores + 1) cores busy, whatever else runs.
    assert 1 <= got["chosen"] <= cores - max(1, k // 2), got
    assert got["torch"] == got["chosen"] and set(got["pools"]) == {got["chosen"]}
    assert got["why"].startswith("auto:")


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", ""])
def test_bad_counts_are_refused_with_the_value(bad):
    if bad == "":
        assert threads._parse(bad, "RISCMOE_THREADS") == ("auto", None)  # unset-like: auto
        return
    with pytest.raises(ValueError, match="RISCMOE_THREADS='" + bad.replace(".", r"\.") + "'.*at least 1.*auto.*off"):
        threads._parse(bad, "RISCMOE_THREADS")
    with pytest.raises(ValueError, match="threads"):
        threads._parse(True, "threads")


def test_cgroup_v2_quota_the_tightest_along_the_path(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "a" / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "a" / "b" / "cpu.max").write_text("300000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path, "0::/a/b\n") == pytest.approx(1.5)
    assert threads.cgroup_cpu_limit(tmp_path, "0::/\n") is None  # "max": no limit
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path, "0::/\n") == pytest.approx(0.5)


def test_cgroup_v1_quota(tmp_path):
    cpu = tmp_path / "cpu,cpuacct" / "docker" / "x"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("200000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(tmp_path, "4:cpu,cpuacct:/docker/x\n") == pytest.approx(2.0)
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")  # no limit
    assert threads.cgroup_cpu_limit(tmp_path, "4:cpu,cpuacct:/docker/x\n") is None


def test_usable_cores_is_affinity_capped_by_quota_rounded_down(monkeypatch):
    monkeypatch.setattr(threads, "_affinity", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 2.5)
    assert threads.usable_cores() == 2
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 0.5)
    assert threads.usable_cores() == 1
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
    assert threads.usable_cores() == 4


def test_proc_stat_busy_time_counts_only_our_cpus(monkeypatch):
    monkeypatch.setattr(threads, "_ticks_per_second", lambda: 100.0)
    text = ("cpu  300 0 30 1000 10 0 0 0 0 0\n"
            "cpu0 100 0 10 500 5 0 0 0 0 0\n"
            "cpu1 200 5 20 500 5 1 2 3 0 0\n"
            "intr 1 2 3\n")
    assert threads._cpu_busy_seconds({0}, text) == pytest.approx(1.10)
    assert threads._cpu_busy_seconds({1}, text) == pytest.approx(2.31)  # steal, irq count as busy
    assert threads._cpu_busy_seconds({0, 1}, text) == pytest.approx(3.41)
    assert threads._cpu_busy_seconds({7}, text) is None


def test_others_busy_takes_our_own_time_out():
    a = threads._Sample(at=10.0, cpu_busy_s=100.0, own_s=5.0)
    b = threads._Sample(at=12.0, cpu_busy_s=103.0, own_s=6.0)  # 3 s busy in 2 s, 1 s of it ours
    assert threads.others_busy(a, b) == pytest.approx(1.0)
    assert threads.others_busy(a, threads._Sample(12.0, None, 6.0)) is None


@pytest.mark.parametrize("cores, others, expected", [(2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 2.7, 1),
                                                     (8, 3.4, 5), (8, None, 8), (1, 0.9, 1)])
def test_auto_rule(cores, others, expected):
    assert threads.choose_auto(cores, others) == expected


def test_configure_is_idempotent_and_refresh_follows_the_load(monkeypatch):
    applied = []
    monkeypatch.setattr(threads, "_state", threads._State())
    monkeypatch.setattr(threads, "_apply", applied.append)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.delenv("RISCMOE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    clock = {"t": 100.0, "busy": 0.0, "own": 0.0}
    monkeypatch.setattr(threads, "_IMPORTED", threads._Sample(100.0, 0.0, 0.0))
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(threads, "_sample", lambda: threads._Sample(clock["t"], clock["busy"], clock["own"]))
    clock.update(t=101.0, busy=2.5, own=0.5)  # others kept 2 cores busy during the imports
    assert threads.configure() == 2 and applied == [2]
    clock.update(t=150.0, busy=400.0)  # a later call changes nothing, whatever the load
    assert threads.configure() == 2 and applied == [2]
    assert threads.refresh(min_interval=1e9) == 2 and applied == [2]  # not due: a clock read
    clock.update(t=151.0, busy=400.5)  # refresh measures since the last sample (t=101)
    assert threads.refresh(min_interval=5.0) == 1 and applied == [2, 1]
    clock.update(t=161.0, busy=400.5 + 0.2)  # the others left
    assert threads.refresh(min_interval=5.0) == 4 and applied == [2, 1, 4]
    assert threads.configure(3) == 3 and applied[-1] == 3  # an explicit count always applies
    clock.update(t=200.0, busy=0.0)
    assert threads.refresh(min_interval=0.0) == 3  # and is not re-measured
    assert "3 threads" in threads.describe()
