"""The sandbox worker: a separate, limited process that runs untrusted functions.

Started by ``Sandbox`` as ``python -I -S -B worker.py SRC_ROOT MEMORY_MB``. It imports only
the standard library and the stdlib-only modules of ``riscmoe.functions`` (without running
``riscmoe/__init__.py``), then, before reading any request, leaves the network, caps its
address space, file size (0), open files and CPU time, and answers JSON requests, one a line:

- ``{"op": "load", "add": {name: source}, "drop": [name]}`` -> ``{"ok": true, "errors": {...}}``
- ``{"op": "run", "jobs": [{"source", "name", "args"}], "time_limit": s}`` -> one line per call
  ``{"job", "call", "ok", "value" | "reason", "s"}``, then ``{"done": true}``
- ``{"op": "synthesise", ...}`` -> ``riscmoe.functions.synthesis.search``'s reply.
"""

from __future__ import annotations

import json
import os
import sys
import types


def _bootstrap(src_root: str) -> None:
    # Namespace stubs: importing riscmoe.functions.* must not execute riscmoe/__init__.py
    # (which pulls in torch, far beyond this process's memory limit).
    for pkg, sub in (("riscmoe", "riscmoe"), ("riscmoe.functions", "riscmoe/functions")):
        mod = types.ModuleType(pkg)
        mod.__path__ = [os.path.join(src_root, sub)]  # type: ignore[attr-defined]
        sys.modules[pkg] = mod


def _leave_network() -> str:
    """Move into a fresh network namespace (no interfaces but a down loopback); a note if refused."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWNET = 0x40000000
        if libc.unshare(CLONE_NEWNET) != 0:
            return f"no network namespace (unshare failed: {os.strerror(ctypes.get_errno())}); network isolation rests on the source check"
        return ""
    except Exception as exc:  # no ctypes or no libc
        return f"no network namespace ({type(exc).__name__}: {exc}); network isolation rests on the source check"


def _limit(memory_mb: int) -> list[str]:
    import resource
    import signal

    notes = []
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    for name, value in (
        ("RLIMIT_AS", memory_mb << 20),
        ("RLIMIT_FSIZE", 0),
        ("RLIMIT_NOFILE", 4),  # stdin, stdout, stderr and the protocol pipe: no new files or sockets
        ("RLIMIT_NPROC", 0),
        ("RLIMIT_CORE", 0),
    ):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError, AttributeError) as exc:
            notes.append(f"could not set {name} ({exc})")
    return notes


def _cpu_budget(seconds: float) -> None:
    """Let this request use ``seconds`` more CPU time; past it the kernel stops the worker."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    used = r.ru_utime + r.ru_stime
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (int(used + seconds) + 2, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


def confine(memory_mb: int) -> tuple:
    """Move the protocol to its own pipe, leave the network and set the limits; (pipe, notes)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol pipe; fd 1 now goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    notes = [n for n in [_leave_network()] if n]
    notes += _limit(memory_mb)
    sys.setrecursionlimit(2000)
    return proto, notes


def main(src_root: str, memory_mb: int) -> None:
    _bootstrap(src_root)
    from riscmoe.functions import sandbox, synthesis

    proto, notes = confine(memory_mb)

    def send(msg: dict) -> None:
        proto.write(json.dumps(msg) + "\n")

    ns, _ = sandbox.build_namespace({})
    send({"ready": True, "notes": notes, "pid": os.getpid()})
    for line in sys.stdin:
        req = json.loads(line)
        op = req.get("op")
        if op == "load":
            errors = {}
            for name in req.get("drop", []):
                ns.pop(name, None)
            for name, src in req.get("add", {}).items():
                err = sandbox.load_into(ns, name, src)
                if err:
                    errors[name] = err
            send({"ok": True, "errors": errors})
        elif op == "run":
            limit = float(req["time_limit"])
            n_calls = sum(len(j["args"]) for j in req["jobs"])
            _cpu_budget(min(600.0, limit * n_calls + 5))
            for i, job in enumerate(req["jobs"]):
                outs = sandbox._run_job(ns, (job["source"], job["name"], job["args"]), limit)
                for k, o in enumerate(outs):
                    msg = {"job": i, "call": k, "ok": o.ok, "s": o.seconds}
                    if o.ok:
                        msg["value"] = o.value
                    else:
                        msg["reason"] = o.reason
                    try:
                        send(msg)
                    except (ValueError, OverflowError, MemoryError) as exc:
                        send({"job": i, "call": k, "ok": False, "reason": f"error: result not serialisable ({exc})", "s": o.seconds})
            send({"done": True})
        elif op == "synthesise":
            _cpu_budget(float(req.get("budget", 5.0)) * 2 + 5)
            try:
                reply = synthesis.search_request(req, ns)
            except MemoryError:
                reply = {"ok": False, "reason": "memory"}
            send(reply)
        else:
            send({"ok": False, "reason": f"unknown op {op!r}"})


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
