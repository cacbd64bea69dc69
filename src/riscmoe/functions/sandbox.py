"""Safe execution of untrusted functions: a static source check, then a confined worker process.

Two layers, each meant to hold on its own:

1. ``check_source`` reads the source without running it and refuses anything outside a small
   allow-list: exactly one top-level ``def``; no imports, no ``try`` (which could swallow the
   time limit), no strings except a docstring (which closes ``str.format`` tricks), no names
   starting with ``__``, only ASCII identifiers, only allow-listed attribute names (never one
   starting with ``_``), and no reference to ``eval``, ``open``, ``getattr`` and the like.
2. ``Sandbox`` runs functions in a separate worker process (``worker.py``, standard library
   only) started with an empty environment (no API keys) and the source root given
   explicitly. Before it reads any request the worker imports all it will need, then
   confines itself (``worker.confine``): its own empty network namespace; an empty,
   deleted folder as its root (no file visible or creatable); its own user id with no
   groups and no capabilities (root) or a user namespace with none (otherwise); no new
   privileges; death with the thread that started it; limits on address space, file size
   (0), open files (4), processes (0); and a seccomp filter (libseccomp) that allows only
   reading and writing its pipes, memory, signals, timers, its own rlimits and exit: open,
   socket, kill, fork, setns, ptrace and the rest fail with EPERM. With these layers in place,
   code that got past the check with full builtins still cannot read or change a file, see
   the parent's environment or memory, signal or trace another process, fork, or reach any
   network (``tests/functions/test_sandbox.py`` tries each, also with the filter alone and
   with every layer but it). A layer this machine refuses is named once in a
   ``SandboxWarning`` and listed in ``Sandbox.notes``; the rest still apply.

Functions get only ``SAFE_BUILTINS``. Each call has a time limit inside the worker; the
parent adds a wall-clock limit and kills and restarts a worker that stops answering. An
answer is at most ``MAX_RESULT_BYTES`` of JSON, a worker message at most
``MAX_MESSAGE_BYTES``. Every failure comes back as a reason: ``"timeout"``, ``"memory"``,
``"crash: ..."`` (with the worker's last word), ``"error: ZeroDivisionError: ..."``,
``"refused: ..."``.

Not promised: the worker shares the machine's CPU and memory (bounded by the limits above),
can answer wrongly, and sees its own requests (the library's sources and the examples).

Only the standard library is imported at module level: the worker loads this module too.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

SAFE_BUILTIN_NAMES = (
    "abs", "min", "max", "sum", "len", "range", "sorted", "reversed", "enumerate", "zip", "list",
    "tuple", "dict", "set", "int", "float", "bool", "round", "all", "any", "map", "filter",
    "divmod", "pow", "isinstance", "True", "False", "None", "ValueError", "ArithmeticError",
    "ZeroDivisionError", "IndexError",
)
SAFE_BUILTINS: dict[str, Any] = {n: getattr(builtins, n) for n in SAFE_BUILTIN_NAMES}
FORBIDDEN_NAMES = frozenset(
    "eval exec open compile getattr setattr delattr hasattr globals locals vars __import__ input breakpoint "
    "type object super memoryview help dir id classmethod staticmethod property exit quit print "
    "bytearray bytes frozenset iter next callable issubclass format repr ascii chr ord hash".split()
)
ALLOWED_ATTRIBUTES = frozenset(
    "append extend insert pop remove index count sort reverse copy clear keys values items get add update "
    "is_integer bit_length real imag numerator denominator".split()
)
_ALLOWED_NODES = tuple(
    getattr(ast, n)
    for n in (
        "Module FunctionDef arguments arg Return Assign AugAssign AnnAssign If For While Break Continue Pass Expr "
        "BoolOp BinOp UnaryOp Compare IfExp Call Name Load Store Del Constant List Tuple Dict Set Subscript Slice "
        "ListComp SetComp DictComp GeneratorExp comprehension Lambda keyword Starred Attribute Raise "
        "And Or Add Sub Mult Div FloorDiv Mod Pow LShift RShift BitOr BitXor BitAnd MatMult "
        "Not Invert UAdd USub Eq NotEq Lt LtE Gt GtE Is IsNot In NotIn"
    ).split()
)
MAX_SOURCE_CHARS = 20_000
MAX_RESULT_BYTES = 65_536  # one answer, as JSON (bounds what a function adds to a fingerprint)
MAX_MESSAGE_BYTES = 32 << 20  # one line from the worker (bounds the parent's memory)


class UnsafeSourceError(ValueError):
    """A function source the static check refuses; the message says what and where."""


def check_source(source: str) -> ast.FunctionDef:
    """Parse and check untrusted source; return its one function definition or raise UnsafeSourceError.

    Example:
        >>> check_source("def sq(x):\\n    return x * x").name
        'sq'
        >>> check_source("import os")
        Traceback (most recent call last):
        ...
        riscmoe.functions.sandbox.UnsafeSourceError: line 1: Import is not allowed (only one plain def, ...)
    """
    if not isinstance(source, str):
        raise UnsafeSourceError(f"source must be a string, got {type(source).__name__}")
    if len(source) > MAX_SOURCE_CHARS:
        raise UnsafeSourceError(f"source has {len(source)} characters; at most {MAX_SOURCE_CHARS} are accepted")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise UnsafeSourceError(f"line {exc.lineno}: syntax error: {exc.msg}") from None
    except (MemoryError, RecursionError):  # the parser's own stack guard
        raise UnsafeSourceError("the source nests too deeply to be parsed; write flatter expressions") from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(tree.body) != 1 or len(defs) != 1:
        first_other = next((n for n in tree.body if not isinstance(n, ast.FunctionDef)), None)
        what = f"line {first_other.lineno}: {type(first_other).__name__}" if first_other else f"{len(defs)} defs"
        raise UnsafeSourceError(f"{what} is not allowed (only one plain def, nothing else, at top level)")
    fn = defs[0]
    docstring = fn.body[0].value if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) else None
    for node in ast.walk(fn):
        line = getattr(node, "lineno", fn.lineno)
        if not isinstance(node, _ALLOWED_NODES):
            raise UnsafeSourceError(f"line {line}: {type(node).__name__} is not allowed in a library function")
        if isinstance(node, ast.FunctionDef) and node is not fn:
            raise UnsafeSourceError(f"line {line}: nested def {node.name!r} is not allowed; use a lambda or a second library function")
        if isinstance(node, ast.FunctionDef) and (node.decorator_list or node.name.startswith("_")):
            raise UnsafeSourceError(f"line {line}: decorators and names starting with '_' are not allowed")
        if isinstance(node, ast.Name) and (node.id.startswith("__") or node.id in FORBIDDEN_NAMES):
            raise UnsafeSourceError(f"line {line}: the name {node.id!r} is not allowed")
        if isinstance(node, ast.arg) and node.arg.startswith("__"):
            raise UnsafeSourceError(f"line {line}: the parameter name {node.arg!r} is not allowed")
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr not in ALLOWED_ATTRIBUTES):
            raise UnsafeSourceError(
                f"line {line}: attribute .{node.attr} is not allowed; allowed: {', '.join(sorted(ALLOWED_ATTRIBUTES))}"
            )
        if isinstance(node, ast.Constant) and node is not docstring:
            if not (node.value is None or isinstance(node.value, (bool, int, float))):
                raise UnsafeSourceError(f"line {line}: constant {node.value!r} is not allowed; only numbers, booleans and None")
    args = fn.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        raise UnsafeSourceError(f"line {fn.lineno}: use plain positional parameters only")
    found = _non_ascii_identifier(source, docstring)
    if found is not None:
        # The parser folds look-alikes (NFKC: fullwidth "ｆ" is "f"), so a reader could not
        # tell which names a non-ASCII source really uses.
        raise UnsafeSourceError(f"line {found[0]}: the identifier {found[1]!r} is not ASCII; use ASCII letters, digits and underscores")
    return fn


def _non_ascii_identifier(source: str, docstring: ast.AST | None) -> tuple[int, str] | None:
    """(line, word) of the first identifier that is not ASCII, else None.

    Called once the tree passed the check, so the docstring is the only string literal: outside
    it, a ``#`` starts a comment, and any other non-ASCII character belongs to an identifier.
    """
    if source.isascii():
        return None
    lines = source.encode("utf-8").splitlines(keepends=True)
    if docstring is not None:  # blank it out (positions count UTF-8 bytes)
        first, last = docstring.lineno - 1, docstring.end_lineno - 1  # type: ignore[attr-defined]
        for i in range(first, last + 1):
            a = docstring.col_offset if i == first else 0
            b = docstring.end_col_offset if i == last else len(lines[i])  # type: ignore[attr-defined]
            lines[i] = lines[i][:a] + b" " * (b - a) + lines[i][b:]
    for number, raw in enumerate(lines, 1):
        code = raw.split(b"#", 1)[0]
        if not code.isascii():
            text = code.decode("utf-8", "replace")
            at = next(i for i, c in enumerate(text) if not c.isascii())
            a, b = at, at + 1
            while a > 0 and (text[a - 1].isalnum() or text[a - 1] == "_"):
                a -= 1
            while b < len(text) and (text[b].isalnum() or text[b] == "_"):
                b += 1
            return number, text[a:b]
    return None


def ast_size(fn: ast.AST) -> int:
    """Number of AST nodes (the size measure used to prefer simpler functions)."""
    return sum(1 for _ in ast.walk(fn))


# ---------------------------------------------------------------------------- running
@dataclass
class Outcome:
    """The result of one call: ``value`` when ``ok``, else a ``reason``; ``seconds`` of run time."""

    ok: bool
    value: Any = None
    reason: str = ""
    seconds: float = 0.0


class CallTimeout(BaseException):
    """Raised inside a call that ran past its time limit (a BaseException: user code cannot catch it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CallTimeout()


def build_namespace(sources: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Execute checked sources into one shared namespace with only ``SAFE_BUILTINS``.

    Returns the namespace and, per name that could not be loaded, the reason. Functions find
    each other by name in the shared namespace at call time.
    """
    ns: dict[str, Any] = {"__builtins__": dict(SAFE_BUILTINS)}
    errors: dict[str, str] = {}
    for name, src in sources.items():
        err = load_into(ns, name, src)
        if err:
            errors[name] = err
    return ns, errors


def load_into(ns: dict[str, Any], name: str, source: str) -> str:
    """Check ``source`` and execute it into ``ns`` as ``name``; the reason on failure, else ""."""
    try:
        fn = check_source(source)
    except UnsafeSourceError as exc:
        return f"refused: {exc}"
    if fn.name != name:
        return f"refused: the source defines {fn.name!r}, not {name!r}"
    try:
        exec(compile(source, f"<{name}>", "exec"), ns)
    except BaseException as exc:  # a def statement only evaluates defaults and annotations
        return f"error: {type(exc).__name__}: {exc}"
    return ""


def call_limited(fn: Callable, args: Sequence, time_limit: float, handler_set: bool = False) -> Outcome:
    """Call ``fn(*args)`` under a time limit (an interval timer, main thread only), catching everything.

    ``handler_set``: the caller already installed the SIGALRM handler (saves two system calls).
    """
    use_timer = time_limit > 0 and threading.current_thread() is threading.main_thread()
    install = use_timer and not handler_set
    t0 = time.perf_counter()
    if install:
        old = signal.signal(signal.SIGALRM, _on_alarm)
    if use_timer:
        signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        value = fn(*args)
        return Outcome(True, value, seconds=time.perf_counter() - t0)
    except CallTimeout:
        return Outcome(False, reason="timeout", seconds=time.perf_counter() - t0)
    except MemoryError:
        return Outcome(False, reason="memory", seconds=time.perf_counter() - t0)
    except RecursionError:
        return Outcome(False, reason="error: RecursionError: maximum recursion depth exceeded", seconds=time.perf_counter() - t0)
    except Exception as exc:
        return Outcome(False, reason=f"error: {type(exc).__name__}: {_message(exc)}", seconds=time.perf_counter() - t0)
    finally:
        if use_timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if install:
            signal.signal(signal.SIGALRM, old)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:200]
    except Exception:  # e.g. an int too long to print
        return "(message not printable)"


def returnable(value: Any) -> str:
    """Why ``value`` cannot be an answer ("" when it can): int, float, bool or list of ints only,
    at most ``MAX_RESULT_BYTES`` as JSON."""
    if isinstance(value, (bool, int)):
        return "" if value.bit_length() <= 4096 else "error: result has more than 4096 bits"
    if isinstance(value, float):
        return ""
    if isinstance(value, list):
        if len(value) > 100_000:
            return "error: result list has more than 100000 elements"
        bits = 0
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                return f"error: result list holds {type(v).__name__}, not int"
            n = v.bit_length()
            if n > 4096:
                return "error: result list holds an int of more than 4096 bits"
            bits += n
        # Digits are at most bits * log10(2) + 1, plus a sign and ", " each: exact JSON only when near.
        if bits * 0.30103 + 4 * len(value) + 2 > MAX_RESULT_BYTES:
            size = len(json.dumps(value))
            if size > MAX_RESULT_BYTES:
                return f"refused: output too large ({size} bytes of JSON; at most {MAX_RESULT_BYTES})"
        return ""
    return f"error: returned {type(value).__name__}; functions must return int, float, bool or list[int]"


SKIPPED = "timeout: not run after an earlier call of this function timed out"
Job = tuple  # (source or None, name, list of argument tuples)


class InProcessRunner:
    """Runs trusted functions (the seed library) in this process, with a per-call time limit.

    Same ``run_many`` interface as ``Sandbox``; never give it untrusted sources.
    """

    def __init__(self, time_limit: float = 1.0) -> None:
        self.time_limit = time_limit
        self._ns, _ = build_namespace({})
        self._loaded: dict[str, str] = {}

    def run_many(self, jobs: Sequence[Job], library: dict[str, str] | None = None) -> list[list[Outcome]]:
        """Outcomes of each job's calls: job = (source or None for a library name, name, args list)."""
        if library is not None and library != self._loaded:
            for name in [n for n in self._loaded if n not in library]:
                self._ns.pop(name, None)
            for name, src in library.items():
                if self._loaded.get(name) != src:
                    load_into(self._ns, name, src)
            self._loaded = dict(library)
        return [_run_job(self._ns, job, self.time_limit) for job in jobs]

    def close(self) -> None:
        pass


def _run_job(shared: dict[str, Any], job: Job, time_limit: float) -> list[Outcome]:
    source, name, arg_list = job
    ns = shared
    if source is not None:
        ns = dict(shared)
        err = load_into(ns, name, source)
        if err:
            return [Outcome(False, reason=err) for _ in arg_list]
    fn = ns.get(name)
    if fn is None:
        return [Outcome(False, reason=f"error: no function named {name!r} is loaded") for _ in arg_list]
    out: list[Outcome] = []
    install = time_limit > 0 and threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGALRM, _on_alarm) if install else None  # once per job, not per call
    try:
        _run_calls(fn, arg_list, time_limit, out, install)
    finally:
        if install:
            signal.signal(signal.SIGALRM, old if old is not None else signal.SIG_DFL)
    return out


def _run_calls(fn: Callable, arg_list: Sequence, time_limit: float, out: list[Outcome], handler_set: bool) -> None:
    for args in arg_list:
        if out and out[-1].reason.startswith("timeout"):
            # One timeout ends the job: a function that hangs once likely hangs again.
            out.append(Outcome(False, reason=SKIPPED))
            continue
        o = call_limited(fn, list(args), time_limit, handler_set)
        if o.ok:
            why = returnable(o.value)
            if why:
                o = Outcome(False, reason=why, seconds=o.seconds)
        out.append(o)


class SandboxError(RuntimeError):
    """The sandbox worker could not be started or broke its protocol."""


class SandboxWarning(RuntimeWarning):
    """A confinement layer of the sandbox worker is missing on this machine (shown once per layer)."""


WORKER = Path(__file__).with_name("worker.py")
SRC_ROOT = Path(__file__).resolve().parents[2]  # the worker imports riscmoe.functions from here, not from sys.path
# The only variables the worker inherits: what the interpreter itself may need to start.
KEPT_ENVIRONMENT = ("LD_LIBRARY_PATH",)
_warned: set[str] = set()


def worker_process(args: Sequence[str]) -> subprocess.Popen:
    """Start ``python -I -S -B -X utf8 ARGS`` the way the sandbox starts its worker.

    Isolated mode (no ``PYTHONPATH``, no site-packages, no user folder), an environment holding
    only ``KEPT_ENVIRONMENT`` (no API keys or other secrets), working folder ``/``, and pipes for
    stdin, stdout and stderr.
    """
    env = {k: os.environ[k] for k in KEPT_ENVIRONMENT if k in os.environ}
    return subprocess.Popen(
        [sys.executable, "-I", "-S", "-B", "-X", "utf8", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", env=env,
    )


def _warn_missing_layers(notes: Sequence[str]) -> None:
    for note in notes:
        if note not in _warned:  # once per process: every worker of this machine says the same
            _warned.add(note)
            warnings.warn(f"riscmoe sandbox: {note}", SandboxWarning, stacklevel=4)


class Sandbox:
    """Runs untrusted functions in a confined worker process, in batches.

    Args:
        time_limit: seconds each call may run (inside the worker).
        memory_mb: address-space limit of the worker.
        grace: extra wall-clock seconds the parent waits before it kills a silent worker.

    ``notes`` lists the confinement layers the worker could not apply here (each also shown
    once as a ``SandboxWarning``). ``restarts`` counts workers that died or were killed.

    The worker dies with the thread that started it (``PR_SET_PDEATHSIG``): use a sandbox from
    a thread that outlives the calls; after such a death the next call starts a new worker.

    Example:
        >>> with Sandbox() as box:
        ...     [o.value for o in box.run_many([("def sq(x):\\n    return x * x", "sq", [(3,), (4,)])])[0]]
        [9, 16]
    """

    def __init__(self, time_limit: float = 1.0, memory_mb: int = 512, grace: float = 3.0) -> None:
        if time_limit <= 0:
            raise ValueError(f"time_limit must be positive seconds, got {time_limit}")
        if memory_mb < 64:
            raise ValueError(f"memory_mb={memory_mb} is too small for a Python worker; give at least 64")
        self.time_limit, self.memory_mb, self.grace = time_limit, memory_mb, grace
        self.notes: list[str] = []
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no newline
        self._err = bytearray()  # the tail of the worker's stderr
        self._gone = ""  # why the last _read returned None: "eof", "timeout" or a crash reason
        self._loaded: dict[str, str] = {}  # what the live worker holds

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---------------------------------------------------------------- process
    def _start(self) -> None:
        import tempfile

        try:  # the worker's root: it moves in, deletes it and makes it its root
            empty = tempfile.mkdtemp(prefix="riscmoe-sandbox-")
        except OSError:
            empty = ""  # the worker says so in its notes
        try:
            self._proc = worker_process([str(WORKER), str(SRC_ROOT), str(self.memory_mb), empty, str(os.getpid())])
            self._buf, self._scanned, self._err, self._gone = bytearray(), 0, bytearray(), ""
            self._loaded = {}
            hello = self._read(time.monotonic() + 30.0)
        finally:
            if empty:
                try:
                    os.rmdir(empty)  # still there only if the worker died before it got there
                except OSError:
                    pass
        if hello is None or not hello.get("ready"):
            why = self._death_reason() if hello is None else f"got {hello!r}"
            raise SandboxError(f"the sandbox worker did not start ({sys.executable} {WORKER}): {why}")
        self.notes = [str(n) for n in hello.get("notes", [])]
        _warn_missing_layers(self.notes)

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        rc = proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()  # type: ignore[union-attr]
            except Exception:
                pass
        return rc

    def close(self) -> None:
        """Stop the worker (a later call starts a new one)."""
        self._kill()

    def _send(self, msg: dict) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(msg).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError:  # the worker is gone; the next _read finds out why
            pass

    def _read(self, deadline: float) -> dict | None:
        """The next message, or None if the worker died, broke the protocol or missed ``deadline``
        (``_death_reason`` then says which)."""
        assert self._proc is not None and self._proc.stdout is not None and self._proc.stderr is not None
        out, err = self._proc.stdout.fileno(), self._proc.stderr.fileno()
        while (nl := self._buf.find(b"\n", self._scanned)) < 0:
            self._scanned = len(self._buf)
            if len(self._buf) > MAX_MESSAGE_BYTES:
                self._gone = f"crash: the worker sent a message of more than {MAX_MESSAGE_BYTES} bytes"
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self._gone = "timeout"
                return None
            ready, _, _ = select.select([out, err], [], [], left)
            if err in ready:
                self._drain_stderr(err)
            if out in ready:
                chunk = os.read(out, 1 << 16)
                if not chunk:
                    self._gone = "eof"
                    return None
                self._buf += chunk
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        self._scanned = 0
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            msg = None
        if not isinstance(msg, dict):
            self._gone = f"crash: the worker broke the protocol (sent {line[:80]!r})"
            return None
        return msg

    def _drain_stderr(self, fd: int) -> bool:
        """Keep the tail of what the worker wrote on stderr; False at its end."""
        chunk = os.read(fd, 1 << 16)
        self._err += chunk
        del self._err[:-4096]
        return bool(chunk)

    def _last_words(self, wait: float) -> tuple[int | None, str]:
        """(exit status, last stderr line) of a worker that closed its output, within ``wait`` s."""
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        deadline = time.monotonic() + wait
        err = proc.stderr.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([err], [], [], max(0.0, deadline - time.monotonic()))
            if ready and not self._drain_stderr(err):
                break
        try:
            rc = proc.wait(max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            rc = None
        lines = [ln.strip() for ln in self._err.decode("utf-8", "replace").splitlines() if ln.strip()]
        return rc, (lines[-1][:300] if lines else "")

    def _death_reason(self) -> str:
        """Why the worker stopped answering ("timeout" or "crash: ..."); it is stopped either way."""
        why, self._gone = self._gone, ""
        rc, words = self._last_words(5.0) if why == "eof" and self._proc is not None else (None, "")
        self._kill()
        self.restarts += 1
        if why != "eof":
            return why or "crash: the worker stopped answering"
        if rc == -signal.SIGXCPU:
            return "timeout"  # its CPU budget ran out
        said = f": {words}" if words else ""
        if rc is None:
            return f"crash: the worker closed its output but did not exit{said}"
        if rc < 0:
            return f"crash: worker killed by signal {signal.Signals(-rc).name}{said}"
        return f"crash: worker exited with status {rc}{said}"

    def _ensure(self, library: dict[str, str] | None) -> dict[str, str]:
        """Start the worker if needed and bring its library up to date; load errors per name."""
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._start()
        if library is None or library == self._loaded:
            return {}
        add = {k: v for k, v in library.items() if self._loaded.get(k) != v}
        drop = [k for k in self._loaded if k not in library]
        self._send({"op": "load", "add": add, "drop": drop})
        reply = self._read(time.monotonic() + 30.0 + 0.01 * len(add))
        if reply is None:
            raise SandboxError(f"the sandbox worker died while loading the library ({self._death_reason()})")
        self._loaded = dict(library)
        return reply.get("errors", {})

    # ------------------------------------------------------------------- API
    def run_many(self, jobs: Sequence[Job], library: dict[str, str] | None = None) -> list[list[Outcome]]:
        """Outcomes of each job's calls, in one round trip when nothing goes wrong.

        Args:
            jobs: (source, name, argument tuples); ``source`` None calls the library function
                ``name``; otherwise ``source`` must define ``name`` and may call library functions.
                After one call of a job times out, its later calls are not run (``SKIPPED``).
            library: name -> source of every function the jobs may call (sent only when changed).
        """
        results: list[list[Outcome | None]] = [[None] * len(j[2]) for j in jobs]
        for _ in range(1 + sum(len(j[2]) for j in jobs)):  # each restart settles at least one call
            todo = [(i, j) for i, job in enumerate(jobs) for j in range(len(job[2])) if results[i][j] is None]
            if not todo:
                break
            self._ensure(library)
            msg_jobs, where = [], []
            for i, job in enumerate(jobs):
                idx = [j for j in range(len(job[2])) if results[i][j] is None]
                if idx:
                    msg_jobs.append({"source": job[0], "name": job[1], "args": [list(job[2][j]) for j in idx]})
                    where.append((i, idx))
            self._send({"op": "run", "jobs": msg_jobs, "time_limit": self.time_limit})
            while True:
                msg = self._read(time.monotonic() + self.time_limit + self.grace)
                if msg is None:
                    # The call in progress hung past every limit or killed the worker.
                    reason = self._death_reason()
                    pending = next(((i, j) for i, idx in where for j in idx if results[i][j] is None), None)
                    if pending is not None:
                        i, j = pending
                        results[i][j] = Outcome(False, reason=reason, seconds=self.time_limit)
                        if reason == "timeout":  # as in the worker: one timeout ends the job
                            results[i] = [o if o is not None else Outcome(False, reason=SKIPPED) for o in results[i]]
                    break
                if msg.get("done"):
                    break
                got = _call_outcome(msg, where)
                if got is None:  # a worker that sends a malformed answer is not trusted further
                    self._kill()
                    self.restarts += 1
                    pending = next(((i, j) for i, idx in where for j in idx if results[i][j] is None), None)
                    if pending is not None:
                        results[pending[0]][pending[1]] = Outcome(False, reason=f"crash: the worker broke the protocol (sent {str(msg)[:80]})")
                    break
                i, j, outcome = got
                results[i][j] = outcome
        return [[o if o is not None else Outcome(False, reason="crash: not run") for o in r] for r in results]

    def run_one(self, source: str | None, name: str, args: Sequence, library: dict[str, str] | None = None) -> Outcome:
        """One call; a thin wrapper over ``run_many``."""
        return self.run_many([(source, name, [tuple(args)])], library)[0][0]

    def request(self, msg: dict, library: dict[str, str] | None, timeout: float) -> dict:
        """Send one other request (e.g. ``{"op": "synthesise", ...}``) and wait for its reply.

        The reply is ``{"ok": False, "reason": ...}`` when the worker hung or died.
        """
        self._ensure(library)
        self._send(msg)
        reply = self._read(time.monotonic() + timeout + self.grace)
        if reply is None:
            return {"ok": False, "reason": self._death_reason()}
        return reply


def _call_outcome(msg: dict, where: list[tuple[int, list[int]]]) -> tuple[int, int, Outcome] | None:
    """(job, call, Outcome) of one worker message, or None if it is not a well-formed answer."""
    try:
        i, idx = where[msg["job"]]
        j = idx[msg["call"]]
        ok, seconds = msg["ok"], float(msg.get("s", 0.0))
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if ok is True:
        why = returnable(msg.get("value"))  # the worker checked too; a compromised one might not
        return (i, j, Outcome(True, msg.get("value"), seconds=seconds) if not why else Outcome(False, reason=why, seconds=seconds))
    reason = msg.get("reason")
    if ok is not False or not isinstance(reason, str):
        return None
    return i, j, Outcome(False, reason=reason[:2000], seconds=seconds)


def rename_function(source: str, new_name: str) -> str:
    """The source with its function (and its recursive calls) renamed to ``new_name``."""
    tree = ast.parse(source)
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    old = fn.name
    fn.name = new_name
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and node.id == old:
            node.id = new_name
    return ast.unparse(tree) + "\n"
