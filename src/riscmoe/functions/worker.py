"""The sandbox worker: a separate, confined process that runs untrusted functions.

Started by ``Sandbox`` as ``python -I -S -B -X utf8 worker.py SRC_ROOT MEMORY_MB EMPTY_DIR
PARENT_PID`` with an empty environment (see ``sandbox.worker_process``). It imports only the
standard library and the stdlib-only modules of ``riscmoe.functions`` (without running
``riscmoe/__init__.py``) from ``SRC_ROOT``, imports now everything a request may need later,
then confines itself (``confine``) before it reads any request. A layer the machine refuses
becomes a note in the ready message, which the parent shows once as a ``SandboxWarning``:

- ``network``: a new, empty network namespace (``unshare``; with a user namespace when not root);
- ``filesystem``: the root becomes ``EMPTY_DIR``, deleted first: no file is visible or creatable;
- ``user``: when root, a user id of its own (``0x70000000 + pid``) with no groups and no
  capabilities; otherwise the caller's id in a user namespace, capabilities dropped (noted:
  the same id may still signal the caller's other processes, which the filter stops);
- ``no_new_privs`` (``PR_SET_NO_NEW_PRIVS``) and ``parent_death`` (``PR_SET_PDEATHSIG``: killed
  when the thread that started it ends);
- ``limits``: address space, file size 0, four open files, no processes (binds once not
  root), no core files;
- ``syscalls``: a seccomp filter (libseccomp, ``libseccomp.so.2``) that allows only what
  answering requests takes (read, write, memory, signals, timers, rlimits of itself, exit);
  every other system call fails with EPERM: no open, socket, kill, fork, setns, ptrace.

The layers overlap: with full builtins, the filter alone stops every attack the tests try
(files, the parent's environment and memory, signals, fork, setns, the network), and, as
root, so do the other layers without it (``tests/functions/test_sandbox.py``).

Requests are JSON, one a line:

- ``{"op": "load", "add": {name: source}, "drop": [name]}`` -> ``{"ok": true, "errors": {...}}``
- ``{"op": "run", "jobs": [{"source", "name", "args"}], "time_limit": s}`` -> one line per call
  ``{"job", "call", "ok", "value" | "reason", "s"}``, then ``{"done": true}``
- ``{"op": "synthesise", ...}`` -> ``riscmoe.functions.synthesis.search``'s reply.

A request the worker cannot handle ends it with one line on stderr saying why (status 70);
the parent reports that line as the reason of a ``crash``.
"""

from __future__ import annotations

import json
import os
import sys
import types

LAYERS = ("network", "filesystem", "user", "no_new_privs", "parent_death", "limits", "syscalls")
UID_BASE = 0x70000000  # worker uids: UID_BASE + pid, unique among live workers, far above real users
NOBODY = 65534
EXIT_FAILED = 70  # the worker stopped itself; its last stderr line says why

# System calls the confined worker may make: what answering requests takes, nothing that
# names a file, a socket, another process or a namespace. Names unknown on this architecture
# are skipped. prlimit64 (the CPU budget) and mmap/mprotect get argument checks below.
ALLOWED_SYSCALLS = (
    "read", "write", "readv", "writev", "close",
    "brk", "munmap", "mremap", "madvise",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigreturn", "sigaltstack", "restart_syscall",
    "setitimer", "getitimer", "alarm", "getrusage", "getrlimit", "ugetrlimit", "setrlimit",  # own limits only
    "futex", "futex_time64", "sched_yield", "clock_gettime", "clock_gettime64", "clock_getres", "gettimeofday", "time",
    "getpid", "gettid", "exit", "exit_group",
)


def _bootstrap(src_root: str) -> None:
    # Namespace stubs: importing riscmoe.functions.* must not execute riscmoe/__init__.py
    # (which pulls in torch, far beyond this process's memory limit).
    for pkg, sub in (("riscmoe", "riscmoe"), ("riscmoe.functions", "riscmoe/functions")):
        mod = types.ModuleType(pkg)
        mod.__path__ = [os.path.join(src_root, sub)]  # type: ignore[attr-defined]
        sys.modules[pkg] = mod


def preload() -> None:
    """Import now what requests need later: once confined, the worker cannot read a module file."""
    import ctypes  # noqa: F401  (confinement)
    import resource  # noqa: F401  (limits, the CPU budget)
    import signal  # noqa: F401  (call time limits)
    import unicodedata  # noqa: F401  (the parser normalises non-ASCII identifiers with it)
    import warnings

    # Showing a warning (e.g. a SyntaxWarning while compiling a source) would import linecache
    # and look for files; nobody reads the worker's warnings.
    warnings.simplefilter("ignore")


# ---------------------------------------------------------------------------- layers
def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _errno_text() -> str:
    import ctypes

    return os.strerror(ctypes.get_errno())


def _leave_network(libc) -> tuple[bool, str]:
    """A fresh network namespace (no interfaces but a down loopback); when not root, inside a new
    user namespace (which also gives the capability the file-system layer needs). (in a user
    namespace, note)."""
    CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
    root = os.geteuid() == 0
    if libc.unshare(CLONE_NEWNET if root else CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False, f"network: no network namespace (unshare: {_errno_text()}); the system-call filter still refuses sockets"
    return not root, ""


def _enter_empty_dir(empty_dir: str) -> str:
    """Move into ``empty_dir`` and delete it (done before a user namespace, while we may write its parent)."""
    if not empty_dir:
        return "filesystem: no empty folder was given for the root; the worker sees the file system"
    try:
        os.chdir(empty_dir)
        os.rmdir(empty_dir)  # deleted: nothing can ever be created in it
    except OSError as exc:
        return f"filesystem: the worker sees the file system (no empty folder: {exc.strerror})"
    return ""


def _chroot_here() -> str:
    """Make the (deleted, empty) working folder the root: no file is visible or can be created."""
    try:
        os.chroot(".")
        os.chdir("/")
    except OSError as exc:
        return f"filesystem: the worker sees the file system (chroot: {exc.strerror})"
    return ""


def _drop_privileges(libc, in_userns: bool) -> str:
    """Root: become a user of our own with no groups. In a user namespace: drop every capability."""
    if in_userns:
        return _drop_capabilities(libc) or (
            "user: not root, so the worker keeps this user's id (in a user namespace, without capabilities); "
            "only the system-call filter stops it signalling this user's other processes"
        )
    if os.geteuid() != 0:
        return "user: runs as the calling user (no user namespace); the system-call filter still refuses kill and ptrace"
    try:
        os.setgroups([])
    except OSError as exc:
        return f"user: could not drop supplementary groups ({exc.strerror}); the worker stays root"
    why = ""
    for uid in (UID_BASE + os.getpid(), NOBODY):  # a container's uid mapping may not reach UID_BASE
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # from root to another uid: every capability goes
            return "" if uid != NOBODY else "user: runs as nobody (65534), a user other processes may share"
        except OSError as exc:
            why = exc.strerror
    return f"user: could not leave root ({why}); the worker keeps root's rights"


def _drop_capabilities(libc) -> str:
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3: two words, all zero
    if libc.capset(ctypes.byref(header), data) != 0:
        return f"user: could not drop capabilities (capset: {_errno_text()})"
    return ""


def _prctl(libc, option: int, value: int, what: str) -> str:
    import ctypes

    args = [ctypes.c_ulong(v) for v in (option, value, 0, 0, 0)]  # unsigned longs: unused ones must be 0
    if libc.prctl(*args) != 0:
        return f"{what} (prctl: {_errno_text()})"
    return ""


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
            notes.append(f"limits: could not set {name} ({exc})")
    return notes


class _SyscallFilter:
    """A seccomp filter built with libseccomp (through ctypes): built before the file system goes
    away (loading the library reads files), loaded last."""

    def __init__(self) -> None:
        import ctypes

        class ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
            _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

        self._ctypes, self._ArgCmp = ctypes, ArgCmp
        self.lib = ctypes.CDLL("libseccomp.so.2")  # OSError when it is not installed
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_init.argtypes = [ctypes.c_uint32]
        self.lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp)]
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.lib.seccomp_release.argtypes = [ctypes.c_void_p]
        EPERM, ALLOW = 1, 0x7FFF0000
        self.ctx = self.lib.seccomp_init(0x00050000 | EPERM)  # default: fail with EPERM
        if not self.ctx:
            raise OSError("seccomp_init failed")
        for name in ALLOWED_SYSCALLS:
            self._allow(ALLOW, name)
        EQ, MASKED_EQ, PROT_EXEC = 4, 7, 0x4
        self._allow(ALLOW, "prlimit64", (0, EQ, 0, 0))  # only this process's own limits
        for name in ("mmap", "mmap2", "mprotect"):  # memory, never executable
            self._allow(ALLOW, name, (2, MASKED_EQ, PROT_EXEC, 0))

    def _allow(self, action: int, name: str, *cmps: tuple) -> None:
        nr = self.lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a system call on this architecture
            return
        arr = (self._ArgCmp * len(cmps))(*[self._ArgCmp(*c) for c in cmps]) if cmps else None
        rc = self.lib.seccomp_rule_add_array(self.ctx, action, nr, len(cmps), arr)
        if rc != 0:
            raise OSError(-rc, f"seccomp_rule_add({name}): {os.strerror(-rc)}")

    def load(self) -> str:
        rc = self.lib.seccomp_load(self.ctx)
        self.lib.seccomp_release(self.ctx)
        return "" if rc == 0 else f"syscalls: no system-call filter (seccomp_load: {os.strerror(-rc)})"


def _syscall_filter() -> tuple[_SyscallFilter | None, str]:
    try:
        return _SyscallFilter(), ""
    except OSError as exc:
        return None, (f"syscalls: no system-call filter ({exc}); install libseccomp2 "
                      "(Debian/Ubuntu: apt-get install libseccomp2)")


def confine(memory_mb: int, empty_dir: str = "", parent_pid: int = 0, skip: frozenset = frozenset()) -> tuple:
    """Move the protocol to its own pipe and apply every layer; (protocol pipe, notes).

    ``notes`` name each layer the machine refused (see the module docstring). ``skip`` leaves
    layers out, by name (tests use it to show that each layer holds on its own).
    """
    preload()  # everything is imported before the file system goes away
    proto = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol pipe; fd 1 now goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    libc = _libc()
    notes: list[str] = []
    filt, note = _syscall_filter() if "syscalls" not in skip else (None, "")
    notes.append(note)
    in_empty_dir = _enter_empty_dir(empty_dir)  # "" when it worked, else why not
    in_userns = False
    if "network" not in skip:
        in_userns, note = _leave_network(libc)
        notes.append(note)
    if "filesystem" not in skip:
        notes.append(in_empty_dir or _chroot_here())
    if "user" not in skip:
        notes.append(_drop_privileges(libc, in_userns))
    PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, SIGKILL = 1, 38, 9
    if "no_new_privs" not in skip:
        notes.append(_prctl(libc, PR_SET_NO_NEW_PRIVS, 1, "no_new_privs: not set"))
    if "parent_death" not in skip:  # after the uid change, which clears it
        notes.append(_prctl(libc, PR_SET_PDEATHSIG, SIGKILL, "parent_death: the worker may outlive its parent"))
        if parent_pid and os.getppid() != parent_pid:
            os._exit(EXIT_FAILED)  # the parent is already gone
    if "limits" not in skip:
        notes += _limit(memory_mb)
    sys.setrecursionlimit(2000)
    if filt is not None:
        notes.append(filt.load())
    return proto, [n for n in notes if n]


def _cpu_budget(seconds: float) -> None:
    """Let this request use ``seconds`` more CPU time; past it the kernel stops the worker."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    used = r.ru_utime + r.ru_stime
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (int(used + seconds) + 2, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


# ---------------------------------------------------------------------------- requests
def serve(proto, notes: list[str], sandbox, synthesis) -> None:
    """Answer requests from stdin until it closes."""

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
            # CPU time never exceeds the search's wall-clock safety net (one thread), which the
            # request carries; "budget" is nominal seconds of work, not a time.
            wall = req.get("wall_limit")
            _cpu_budget((float(wall) if wall is not None else float(req.get("budget", 5.0)) * 10 + 5) + 5)
            try:
                reply = synthesis.search_request(req, ns)
            except MemoryError:
                reply = {"ok": False, "reason": "memory"}
            send(reply)
        else:
            send({"ok": False, "reason": f"unknown op {op!r}"})


def main(src_root: str, memory_mb: int, empty_dir: str = "", parent_pid: int = 0) -> None:
    _bootstrap(src_root)
    from riscmoe.functions import sandbox, synthesis

    proto, notes = confine(memory_mb, empty_dir, parent_pid)
    try:
        serve(proto, notes, sandbox, synthesis)
    except BaseException as exc:  # say why on stderr (the parent reports it), then stop
        try:
            text = str(exc)[:300]
        except Exception:
            text = "(message not printable)"
        os.write(2, f"\nworker failed: {type(exc).__name__}: {text}\n".encode("utf-8", "replace"))
        os._exit(EXIT_FAILED)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(sys.argv[3:4] or [""]), *[int(a) for a in sys.argv[4:5]])
