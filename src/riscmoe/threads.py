"""How many threads riscmoe's math uses: chosen from the cores this process can really get.

torch, OpenMP and OpenBLAS each start one thread per core by default. On a machine where
anything else runs, that oversubscribes the cores, and their threads, which wait for each
other at every parallel step, stall whenever one of them is descheduled: on 2 cores with
one other CPU-bound process, the MNIST demo took 560 s instead of 30 s. So riscmoe picks
the number itself, once per process, and applies it to torch (intra- and inter-op pools)
and to every BLAS/OpenMP library loaded at that moment (through threadpoolctl).

The choice, in order:

1. an explicit number: ``configure(n)``, the command line's ``--threads N``, or
   ``RISCMOE_THREADS=N``;
2. ``RISCMOE_THREADS=off`` (or ``--threads off``): riscmoe sets nothing; each library
   keeps its own default (one thread per core);
3. ``OMP_NUM_THREADS=N`` set by the user (and no ``RISCMOE_THREADS``): taken as the
   user's choice, applied to all the libraries alike;
4. otherwise (``auto``): the cores this process may use, less the cores other processes
   kept busy lately, and at least 1. The cores it may use are its CPU affinity
   (``os.sched_getaffinity``) capped by the cgroup CPU quota (``cpu.max`` of cgroup v2
   or ``cpu.cfs_quota_us`` of v1, rounded down: a thread throttled by a quota stalls the
   others as a descheduled one does). "Busy lately" is measured, not guessed: the busy
   time of those CPUs in ``/proc/stat`` since this module was imported, minus this
   process's own CPU time over the same span, divided by the span (at least 0.1 s,
   waited for if need be), rounded to the nearest core. The 1-minute load average is not
   used: it counts this process's own past and the last run's tail, and on a container
   the whole host's tasks.

In auto mode :func:`refresh` re-measures over the time since the last check (at most
every few seconds; a cheap clock read otherwise) and changes the count when the load
has changed; the command line calls it after every batch. Where ``/proc/stat`` cannot
be read (not Linux), auto takes the cores it may use. :func:`suggest` gives the count
without applying it, for another process's threads (the embedded language model's server).

The thread count can change floating-point sums in the last bits. In the runs we compared
(1 against 2 threads) the digits demo's metrics were identical, and the MNIST demo had the
same accuracy (99.09%) and members (11), with one test input in 10,000 running one model
fewer; pin ``--threads N`` (or ``RISCMOE_THREADS=N``) for runs that must repeat bit for bit
whatever the machine's load.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ENV = "RISCMOE_THREADS"
MIN_WINDOW_S = 0.1  # shortest span the load is measured over
REFRESH_S = 5.0  # auto mode re-measures at most this often
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_STAT = Path("/proc/stat")

_lock = threading.Lock()


@dataclass
class _Sample:
    """Cumulative busy seconds of our CPUs and our own CPU seconds, at one instant."""

    at: float  # time.monotonic()
    cpu_busy_s: float | None  # None where /proc/stat cannot be read
    own_s: float


@dataclass
class _State:
    mode: str | None = None  # None (not configured yet), "fixed", "auto" or "off"
    threads: int | None = None  # what was applied (None in "off" mode)
    reason: str = ""
    last: _Sample | None = None


_state = _State()


def _ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def _affinity() -> set[int]:
    """The CPUs this process may run on (all of them where affinity is unknown)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def _read_quota(path: Path) -> float | None:
    """CPUs a cgroup v2 ``cpu.max`` file allows ("max 100000" means no limit)."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _own_cgroup(proc_cgroup: str) -> tuple[str | None, str | None]:
    """(v2 path, v1 cpu-controller path) of this process, from /proc/self/cgroup's text."""
    v2 = v1 = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if hier == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> float | None:
    """CPUs the cgroup CPU quota allows this process (the tightest along its cgroup path), or None.

    Args:
        root: where the cgroup file system is mounted.
        proc_cgroup: the text of /proc/self/cgroup (read when None).
    """
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            proc_cgroup = ""
    v2, v1 = _own_cgroup(proc_cgroup)
    limits: list[float] = []
    if v2 is not None:
        # A quota on any ancestor limits us too; inside a container's namespace the path is "/".
        folder = root / v2.strip("/")
        while True:
            q = _read_quota(folder / "cpu.max")
            if q is not None:
                limits.append(q)
            if folder == root or root not in folder.parents:
                break
            folder = folder.parent
    for base in (root / "cpu", root / "cpu,cpuacct"):
        for folder in {base / (v1 or "/").strip("/"), base}:
            try:
                quota = int((folder / "cpu.cfs_quota_us").read_text())
                period = int((folder / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
    return min(limits) if limits else None


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by the cgroup quota (rounded down, at least 1)."""
    n = len(_affinity())
    quota = cgroup_cpu_limit()
    if quota is not None:
        n = min(n, int(math.floor(quota)))
    return max(1, n)


def _cpu_busy_seconds(cpus: set[int], stat_text: str | None = None) -> float | None:
    """Cumulative busy seconds (not idle, not iowait) of the given CPUs, from /proc/stat."""
    if stat_text is None:
        try:
            stat_text = PROC_STAT.read_text()
        except OSError:
            return None
    total = 0
    seen = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            idx = int(name[3:])
        except ValueError:
            continue
        if idx not in cpus:
            continue
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        fields = [int(v) for v in rest.split()[:8]]
        fields += [0] * (8 - len(fields))
        total += fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        seen += 1
    if seen == 0:
        return None
    return total / _ticks_per_second()


def _sample() -> _Sample:
    t = os.times()
    return _Sample(time.monotonic(), _cpu_busy_seconds(_affinity()), t.user + t.system)


def others_busy(start: _Sample, end: _Sample) -> float | None:
    """Cores other processes kept busy between two samples (our own CPU time taken out), or None."""
    span = end.at - start.at
    if start.cpu_busy_s is None or end.cpu_busy_s is None or span <= 0:
        return None
    busy = (end.cpu_busy_s - start.cpu_busy_s) - (end.own_s - start.own_s)
    return max(0.0, busy / span)


def choose_auto(cores: int, others: float | None) -> int:
    """The auto rule: cores we may use, less the cores others keep busy (to the nearest), at least 1."""
    if others is None:
        return cores
    return max(1, min(cores, cores - int(math.floor(others + 0.5))))


def _parse(value: str | int, source: str) -> tuple[str, int | None]:
    """("fixed", n), ("auto", None) or ("off", None) from a user's value; ValueError otherwise."""
    text = str(value).strip().lower()
    if text in ("auto", ""):
        return "auto", None
    if text == "off":
        return "off", None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1 or isinstance(value, bool):
        raise ValueError(
            f"{source}={value!r} is not a thread count: give a whole number of at least 1, "
            "'auto' (choose from the free cores) or 'off' (leave torch's and OpenMP's defaults)"
        )
    return "fixed", n


def _user_omp_threads() -> int | None:
    """OMP_NUM_THREADS as a user set it (its first number; a nested list like '4,2' counts 4)."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 1 else None


def _apply(n: int) -> None:
    """Hold torch and every loaded BLAS/OpenMP library to ``n`` threads."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    try:
        # Legal only before any inter-op work starts (and once): later it raises.
        torch.set_num_interop_threads(n)
    except RuntimeError:
        pass
    # OpenBLAS (NumPy's, SciPy's) and the OpenMP runtimes (torch's, scikit-learn's).
    # meta/gaussian.py holds SciPy's OpenBLAS to one thread inside its own calls with a
    # limit that restores this value afterwards.
    threadpool_limits(limits=n)


def _decide(n: int | str | None) -> tuple[str, int | None, str]:
    """(mode, threads, reason) for a configure() call."""
    if n is not None:
        mode, value = _parse(n, "threads")
        source = "set by the caller"
    elif os.environ.get(ENV, "").strip():
        mode, value = _parse(os.environ[ENV], ENV)
        source = f"from {ENV}"
    elif _user_omp_threads() is not None:
        mode, value, source = "fixed", _user_omp_threads(), "from OMP_NUM_THREADS"
    else:
        mode, value, source = "auto", None, ""
    if mode == "fixed":
        return mode, value, source
    if mode == "off":
        return mode, None, f"off ({source}): torch's and OpenMP's own defaults"
    return mode, None, "auto"


def configure(n: int | str | None = None) -> int | None:
    """Choose and apply the thread count for this process; return it (None in "off" mode).

    The first call with ``n=None`` decides (explicit env, then auto, as the module says)
    and later ones return the same count at the cost of a lock: call it wherever riscmoe's
    math may start. An explicit ``n`` (a count, "auto" or "off") always applies.

    Raises:
        ValueError: ``n`` or ``RISCMOE_THREADS`` is not a count of at least 1, "auto" or "off".
    """
    with _lock:
        if n is None and _state.mode is not None:
            return _state.threads
        mode, value, reason = _decide(n)
        if mode == "auto":
            cores = usable_cores()
            start = _state.last or _IMPORTED
            wait = MIN_WINDOW_S - (time.monotonic() - start.at)
            if wait > 0:
                time.sleep(wait)
            end = _sample()
            others = others_busy(start, end)
            value = choose_auto(cores, others)
            reason = (f"auto: {cores} usable core(s), others kept {others:.1f} busy" if others is not None
                      else f"auto: {cores} usable core(s), load unknown")
            _state.last = end
        if value is not None and value != _state.threads:
            _apply(value)
        _state.mode, _state.threads, _state.reason = mode, value, reason
        return value


def suggest(n: int | str | None = None) -> tuple[int | None, str]:
    """(count, why) that ``configure(n)`` would choose now, without applying or recording it.

    For work that runs in another process with its own threads (the functions domain's
    embedded language-model server): it follows the same rules (``n``, ``RISCMOE_THREADS``,
    ``OMP_NUM_THREADS``, else auto: the usable cores less those other processes keep busy),
    and imports nothing (no torch). None where the mode is "off" (the library's own default).

    Raises:
        ValueError: as ``configure``.
    """
    mode, value, reason = _decide(n)
    if mode != "auto":
        return value, reason
    cores = usable_cores()
    start = _state.last or _IMPORTED
    wait = MIN_WINDOW_S - (time.monotonic() - start.at)
    if wait > 0:
        time.sleep(wait)
    others = others_busy(start, _sample())
    if others is None:
        return cores, f"auto: {cores} usable core(s), load unknown"
    return choose_auto(cores, others), f"auto: {cores} usable core(s), others kept {others:.1f} busy"


def refresh(min_interval: float = REFRESH_S) -> int | None:
    """In auto mode, re-measure the load since the last check and re-apply if the count changed.

    Cheap when called often: before ``min_interval`` seconds have passed since the last
    check it only reads the clock. Returns the current count (None in "off" mode).
    """
    if _state.mode != "auto" or _state.last is None:
        return _state.threads
    if time.monotonic() - _state.last.at < min_interval:
        return _state.threads
    with _lock:
        if _state.mode != "auto" or _state.last is None:
            return _state.threads
        end = _sample()
        others = others_busy(_state.last, end)
        value = choose_auto(usable_cores(), others)
        _state.last = end
        if value != _state.threads:
            _apply(value)
            _state.threads = value
            _state.reason = f"auto: re-measured, others kept {others:.1f} core(s) busy"
        return value


def current() -> tuple[int | None, str]:
    """(threads applied, why) after configure(); (None, "not configured") before."""
    if _state.mode is None:
        return None, "not configured"
    return _state.threads, _state.reason


def describe() -> str:
    """One line for people: the count and why, e.g. "1 thread (auto: 2 usable core(s), others kept 1.0 busy)"."""
    n, why = current()
    if n is None:
        return why if _state.mode is not None else "threads not configured"
    return f"{n} thread{'s' if n != 1 else ''} ({why})"


# The load is measured from here: importing riscmoe (which imports this module) starts the
# window, and the imports of torch and the rest, before the first configure(), fill it.
_IMPORTED = _sample()

