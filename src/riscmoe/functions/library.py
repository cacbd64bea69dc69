"""The function library: every stored function with its signature, provenance and behaviour, in SQLite.

One file holds everything. A ``meta`` table stamps the format and its version; a file of
another format or version is refused before anything is written to it. Every change runs
in one transaction, so a crash in the middle loses no stored function.

Use counts may be deferred (``record_use(..., defer=True)``) and written together by
``flush_uses`` (``add`` and ``close`` flush too): a crash loses at most those counters. A
``failures`` table remembers tasks on which every creator failed, with the library's
``state()`` at the time, so the same search is not repeated until the library changes.

Each function's *behaviour fingerprint* is its outputs on fixed probe inputs of its
signature (``probe_inputs``); two functions of one signature with equal fingerprints are
duplicates, and only the better one (smaller, then faster; seeds always stay) is kept.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import json
import os
import random
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from riscmoe.functions.sandbox import InProcessRunner, Sandbox, UnsafeSourceError, ast_size, check_source, rename_function
from riscmoe.functions.values import Signature, canonical, format_call, values_equal

FORMAT = "riscmoe-functions"
FORMAT_VERSION = 1
PROVENANCES = ("seed", "synthesised", "llm")
DEFAULT_PATH = "riscmoe-functions.sqlite"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE functions (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    arg_types TEXT NOT NULL,          -- JSON list of type tags
    return_type TEXT NOT NULL,
    description TEXT NOT NULL,
    provenance TEXT NOT NULL,
    examples TEXT NOT NULL,           -- JSON [[args, output], ...] it was verified on
    fingerprint TEXT NOT NULL,        -- JSON list: canonical output per probe ("!" = failed)
    fingerprint_hash TEXT NOT NULL,
    size INTEGER NOT NULL,            -- AST nodes
    mean_seconds REAL NOT NULL,       -- mean run time per call on the probes
    uses INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,            -- unix time
    solved TEXT NOT NULL DEFAULT '[]' -- JSON list: texts of the tasks it answered (latest MAX_SOLVED)
);
CREATE INDEX functions_by_signature ON functions (arg_types, return_type, fingerprint_hash);
""" + """
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,             -- hash of a task's examples and the creators' settings
    state TEXT NOT NULL,              -- library_state() when every creator failed on it
    reason TEXT NOT NULL,
    created REAL NOT NULL
);
"""
_FAILURES = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS failures"):]
_COLUMNS = ("name", "source", "arg_types", "return_type", "description", "provenance", "examples",
            "fingerprint", "fingerprint_hash", "size", "mean_seconds", "uses", "created", "solved")

_PROBES = {
    "int": [-7, -3, -1, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 15, 21],
    "float": [-2.5, -1.0, 0.0, 0.5, 1.0, 2.0, 3.7, 10.0],
    "bool": [False, True],
    "list[int]": [[], [0], [3], [-2], [1, 2, 3], [3, 1, 2], [4, 4, 1], [5, -2, 7, 0], [2, 2, 4, 9, 9], [10, 3, 6, 1, 8, 3]],
}
MAX_PROBES = 40
MAX_SOLVED = 16


@functools.lru_cache(maxsize=1)
def shipped_seeds() -> dict[str, str]:
    """name -> source of the seed functions shipped with riscmoe."""
    from riscmoe.functions.seed import SEEDS

    return {check_source(src).name: src for _, _, src in SEEDS}


class LibraryFormatError(ValueError):
    """The file is not a riscmoe function library of a format version this code reads."""


@functools.lru_cache(maxsize=256)
def _probe_inputs(sig: Signature) -> tuple:
    pools = [_PROBES[t] for t in sig.args]
    combos = list(itertools.product(*pools)) if pools else [()]
    if len(combos) > MAX_PROBES:
        combos = random.Random(str(sig)).sample(combos, MAX_PROBES)
    return tuple(combos)


def probe_inputs(sig: Signature) -> list[tuple]:
    """The fixed probe argument tuples of a signature (at most ``MAX_PROBES``, deterministic)."""
    combos = _probe_inputs(sig)
    return [tuple(list(v) if isinstance(v, list) else v for v in c) for c in combos]


def fingerprint_of(outcomes: Sequence[Any]) -> tuple[list, str]:
    """Fingerprint (canonical output or "!" per probe) and its hash, from probe Outcomes."""
    fp = [canonical(o.value) if o.ok else "!" for o in outcomes]
    text = json.dumps(fp, separators=(",", ":"))
    return fp, hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class FunctionRecord:
    """One stored function."""

    name: str
    source: str
    signature: Signature
    description: str
    provenance: str
    examples: list = field(default_factory=list)  # [[args, output], ...]
    fingerprint: list = field(default_factory=list)
    fingerprint_hash: str = ""
    size: int = 0
    mean_seconds: float = 0.0
    uses: int = 0
    created: float = 0.0
    solved: list = field(default_factory=list)  # texts of tasks it answered (feeds the meta-model)

    @property
    def trusted(self) -> bool:
        """Seeds shipped with riscmoe run in-process; everything else runs in the sandbox.

        A seed counts only with its shipped source text, so an edited library file cannot
        smuggle code into this process by calling it a seed.
        """
        return self.provenance == "seed" and shipped_seeds().get(self.name) == self.source


@dataclass
class AddResult:
    """What ``add`` did: ``name`` is the stored function that now has this behaviour.

    ``action`` is "added", "kept" (an equal-behaving function stayed: ``duplicate_of``) or
    "replaced" (the new, better source took over the old name, so callers keep working).
    """

    action: str
    name: str
    duplicate_of: str | None = None


class FunctionLibrary:
    """A persistent, deduplicated library of functions.

    Args:
        path: the SQLite file (created and filled with the seed library when absent or empty).
        sandbox: runs untrusted functions (made on first need when None).
        seed: fill a new library with ``riscmoe.functions.seed.SEEDS``.

    Example:
        >>> lib = FunctionLibrary(":memory:")
        >>> lib.get("square").signature, len(lib) > 40
        (Signature(args=('int',), output='int'), True)
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, sandbox: Sandbox | None = None, seed: bool = True) -> None:
        self.path = str(path)
        self._own_sandbox = sandbox is None
        self._sandbox = sandbox
        self._trusted_runner = InProcessRunner()
        self.revision = 0  # bumps on every change (for caches such as the meta-model index)
        self._changes = 0  # bumps when a function is added or replaced (not on a use)
        self._pending_uses: dict[str, int] = {}  # name -> uses not yet written (record_use(defer=True))
        self._state: tuple[int, str] = (-1, "")
        self._conn = self._open()
        self._records: dict[str, FunctionRecord] = {}
        self._load()
        if not self._records and seed:
            self.add_seeds()

    # ------------------------------------------------------------------ format
    def _open(self) -> sqlite3.Connection:
        p = self.path
        if p != ":memory:" and Path(p).is_dir():
            raise LibraryFormatError(f"{p} is a folder; give the path of a library file (e.g. {DEFAULT_PATH})")
        if p != ":memory:" and not Path(p).parent.is_dir():
            raise FileNotFoundError(f"cannot make the library {p}: the folder {Path(p).parent} does not exist")
        try:
            conn = sqlite3.connect(p, isolation_level=None)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise LibraryFormatError(
                f"{p} is not a riscmoe function library ({exc}); it was left untouched. "
                f"Give another --library path, or move the file away to start a new library."
            ) from None
        # WAL: a commit needs no fsync of the whole file, yet a crashed process loses no
        # committed change (the log is folded back into the one file on close).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if not tables:
            conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            with _tx(conn):
                conn.executemany("INSERT INTO meta VALUES (?, ?)",
                                 [("format", FORMAT), ("format_version", str(FORMAT_VERSION)), ("created", str(time.time()))])
            return conn
        if "meta" not in tables or "functions" not in tables:
            conn.close()
            raise LibraryFormatError(
                f"{p} is a SQLite file but not a riscmoe function library (tables: {', '.join(sorted(tables))}); "
                f"it was left untouched. Give another --library path."
            )
        try:
            info = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LibraryFormatError(f"{p}: cannot read its meta table ({exc}); it was left untouched") from None
        if info.get("format") != FORMAT:
            conn.close()
            raise LibraryFormatError(f"{p} is not a riscmoe function library (format={info.get('format')!r}); it was left untouched")
        if info.get("format_version") != str(FORMAT_VERSION):
            conn.close()
            raise LibraryFormatError(
                f"{p} is function-library format version {info.get('format_version')}, this riscmoe reads version "
                f"{FORMAT_VERSION}; it was left untouched. Use the riscmoe release that wrote it."
            )
        if "failures" not in tables:  # libraries written before failures were remembered
            conn.executescript("BEGIN;" + _FAILURES + "COMMIT;")
        return conn

    def _load(self) -> None:
        try:
            rows = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM functions ORDER BY created, name").fetchall()
            records = {r[0]: _record(r) for r in rows}
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise LibraryFormatError(f"{self.path} holds a corrupt function record ({exc}); it was left untouched") from None
        self._records = records

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def get(self, name: str) -> FunctionRecord:
        """The stored function ``name`` (KeyError naming close matches if there is none)."""
        try:
            return self._records[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._records), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `riscmoe functions list` shows them all"
            raise KeyError(f"no function named {name!r} in {self.path}{hint}") from None

    def list(self) -> list[FunctionRecord]:
        """Every stored function, oldest first."""
        return list(self._records.values())

    def by_signature(self, sig: Signature) -> list[FunctionRecord]:
        """The stored functions of exactly this signature, oldest first."""
        return [r for r in self._records.values() if r.signature == sig]

    def sources(self) -> dict[str, str]:
        """name -> source of every stored function (what the sandbox loads)."""
        return {n: r.source for n, r in self._records.items()}

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox that runs this library's untrusted functions (started on first use)."""
        if self._sandbox is None:
            self._sandbox = Sandbox()
        return self._sandbox

    def run(self, name: str, arg_list: Sequence[tuple]) -> list:
        """Outcomes of the stored function ``name`` on each argument tuple (sandboxed unless a seed)."""
        return self.run_many([name], arg_list)[0]

    def run_many(self, names: Sequence[str], arg_list: Sequence[tuple]) -> list[list]:
        """Outcomes of each stored function on the same argument tuples, batched.

        Seeds run in this process; the others in one sandbox round trip.
        """
        return self.run_jobs([(n, arg_list) for n in names])

    def run_jobs(self, jobs: Sequence[tuple[str, Sequence[tuple]]]) -> list[list]:
        """Outcomes of each (stored function name, argument tuples) job: seeds here, the rest in one round trip."""
        for n, _ in jobs:
            self.get(n)
        out: list[list | None] = [None] * len(jobs)
        trusted = [i for i, (n, _) in enumerate(jobs) if self._records[n].trusted]
        untrusted = [i for i, (n, _) in enumerate(jobs) if not self._records[n].trusted]
        if trusted:
            seeds = {n: r.source for n, r in self._records.items() if r.trusted}
            for i, res in zip(trusted, self._trusted_runner.run_many([(None, jobs[i][0], list(jobs[i][1])) for i in trusted], seeds)):
                out[i] = res
        if untrusted:
            for i, res in zip(untrusted, self.sandbox.run_many([(None, jobs[i][0], list(jobs[i][1])) for i in untrusted], self.sources())):
                out[i] = res
        return out  # type: ignore[return-value]

    # ----------------------------------------------------------------- changes
    def add(
        self,
        name: str,
        source: str,
        signature: Signature,
        description: str = "",
        provenance: str = "synthesised",
        examples: Sequence[tuple[tuple, Any]] = (),
    ) -> AddResult:
        """Check, verify, fingerprint and store a function, unless an equal-behaving one exists.

        The source is renamed to ``name`` if it defines another name. It must pass
        ``check_source``, take ``signature.arity`` parameters and reproduce every example;
        otherwise ValueError says why and nothing is stored. When a stored function of the
        same signature has the same fingerprint, the better one is kept (smaller, then
        faster; a seed always stays); a better newcomer takes over the old name.
        """
        if provenance not in PROVENANCES:
            raise ValueError(f"unknown provenance {provenance!r}; use one of {', '.join(PROVENANCES)}")
        self.flush_uses()  # a replaced function's counters must be written before it is
        if provenance == "seed" and shipped_seeds().get(name) != source:
            raise ValueError(f"{name!r} is not a shipped seed function; only those may have provenance 'seed' "
                             f"(seeds run outside the sandbox). Use 'synthesised' or 'llm'.")
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"function name {name!r} is not a plain identifier; use letters, digits and underscores")
        if name in self._records:
            raise ValueError(f"a function named {name!r} is already stored; pick a free name (see free_name)")
        try:
            fn = check_source(source)
        except UnsafeSourceError as exc:
            raise ValueError(f"function {name!r} refused: {exc}") from None
        if fn.name != name:
            source = rename_function(source, name)
            fn = check_source(source)
        if len(fn.args.args) != signature.arity:
            raise ValueError(f"function {name!r} takes {len(fn.args.args)} parameters but its signature {signature} has {signature.arity}")
        examples = [(tuple(a), o) for a, o in examples]
        probes = probe_inputs(signature)
        calls = [a for a, _ in examples] + probes
        runner = self._trusted_runner if provenance == "seed" else self.sandbox
        library = {n: r.source for n, r in self._records.items() if provenance != "seed" or r.trusted}
        outcomes = runner.run_many([(source, name, calls)], library)[0]
        for (args, want), got in zip(examples, outcomes):
            if not got.ok or not values_equal(got.value, want, signature.output):
                what = got.reason if not got.ok else f"returned {got.value!r}"
                raise ValueError(f"function {name!r} does not reproduce its examples: {format_call(name, args)} {what}, expected {want!r}")
        probe_out = outcomes[len(examples):]
        fp, fp_hash = fingerprint_of(probe_out)
        seconds = sum(o.seconds for o in outcomes) / max(1, len(outcomes))
        rec = FunctionRecord(name, source, signature, description, provenance, [[list(a), o] for a, o in examples],
                             fp, fp_hash, ast_size(fn), seconds, 0, time.time())
        twin = next((r for r in self.by_signature(signature) if r.fingerprint_hash == fp_hash), None)
        if twin is not None:
            better = (rec.size, rec.mean_seconds) < (twin.size, twin.mean_seconds)
            if twin.trusted or not better or _calls(fn, twin.name):
                return AddResult("kept", twin.name, duplicate_of=twin.name)
            # The newcomer takes over the old name: functions that call it keep working.
            rec.source, rec.name = rename_function(source, twin.name), twin.name
            rec.uses, rec.created, rec.solved = twin.uses, twin.created, twin.solved
            with self._tx():
                self._conn.execute("DELETE FROM functions WHERE name = ?", (twin.name,))
                self._insert(rec)
            self._records[twin.name] = rec
            self.revision += 1
            self._changes += 1
            return AddResult("replaced", twin.name, duplicate_of=twin.name)
        with self._tx():
            self._insert(rec)
        self._records[name] = rec
        self.revision += 1
        self._changes += 1
        return AddResult("added", name)

    def add_seeds(self) -> list[AddResult]:
        """Store the seed library (trusted, verified in-process)."""
        from riscmoe.functions.seed import SEEDS

        results = []
        for sig, desc, src in SEEDS:
            name = check_source(src).name
            if name not in self._records:
                results.append(self.add(name, src, Signature.parse(sig), desc, provenance="seed"))
        return results

    def record_use(self, names: Sequence[str] | str, task_text: str = "", defer: bool = False) -> None:
        """Count one more use of each named function; remember the text of the task it answered.

        ``defer``: change the records in memory now and write them with the next ``flush_uses``
        (which ``add`` and ``close`` call): many uses in one transaction. A crash before then
        loses those counters, never a function.
        """
        names = [names] if isinstance(names, str) else list(names)
        for n in names:
            self.get(n)
        for n in names:
            r = self._records[n]
            if task_text and task_text not in r.solved:
                r.solved = (list(r.solved) + [task_text])[-MAX_SOLVED:]
            r.uses += 1
            self._pending_uses[n] = self._pending_uses.get(n, 0) + 1
        self.revision += 1
        if not defer:
            self.flush_uses()

    def flush_uses(self) -> None:
        """Write the use counts and solved-task texts recorded with ``defer`` in one transaction."""
        if not self._pending_uses:
            return
        pending, self._pending_uses = self._pending_uses, {}
        with self._tx():
            self._conn.executemany("UPDATE functions SET uses = uses + ?, solved = ? WHERE name = ?",
                                   [(k, json.dumps(self._records[n].solved), n) for n, k in pending.items() if n in self._records])

    @property
    def changes(self) -> int:
        """Bumps whenever a function is added or replaced (not on a use): outcomes cached under it stay true."""
        return self._changes

    def state(self) -> str:
        """A hash of every stored function's name and source: equal states, equal libraries."""
        if self._state[0] != self._changes:
            h = hashlib.sha256()
            for n in sorted(self._records):
                h.update(f"{n}\0{self._records[n].source}\0".encode())
            self._state = (self._changes, h.hexdigest()[:32])
        return self._state[1]

    def failed_before(self, key: str) -> str | None:
        """The reason recorded when every creator failed on ``key`` with the library as it is now, else None."""
        row = self._conn.execute("SELECT state, reason FROM failures WHERE key = ?", (key,)).fetchone()
        return row[1] if row is not None and row[0] == self.state() else None

    def record_failure(self, key: str, reason: str) -> None:
        """Remember that every creator failed on ``key`` with the library as it is now.

        Only ``failed_before`` reads it, and only while no function was added or replaced:
        a grown library makes a new search worth its time.
        """
        with self._tx():
            self._conn.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?)", (key, self.state(), reason, time.time()))

    def free_name(self, wanted: str) -> str:
        """``wanted`` made a valid identifier not yet stored (and not a builtin or forbidden name)."""
        from riscmoe.functions.sandbox import FORBIDDEN_NAMES, SAFE_BUILTINS
        import keyword

        base = "".join(c if c.isalnum() or c == "_" else "_" for c in wanted.strip().lower()).strip("_") or "f"
        if base[0].isdigit():
            base = "f_" + base
        taken = set(self._records) | set(SAFE_BUILTINS) | FORBIDDEN_NAMES | set(keyword.kwlist)
        if base not in taken:
            return base
        for k in itertools.count(2):
            if f"{base}_{k}" not in taken:
                return f"{base}_{k}"
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Write deferred use counts, close the file and stop the sandbox this library started."""
        try:
            self.flush_uses()
        finally:
            self._conn.close()
        if self._own_sandbox and self._sandbox is not None:
            self._sandbox.close()

    def __enter__(self) -> FunctionLibrary:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _tx(self):
        return _tx(self._conn)

    def _insert(self, r: FunctionRecord) -> None:
        self._conn.execute(
            f"INSERT INTO functions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            (r.name, r.source, json.dumps(list(r.signature.args)), r.signature.output, r.description, r.provenance,
             json.dumps(r.examples), json.dumps(r.fingerprint), r.fingerprint_hash, r.size, r.mean_seconds, r.uses, r.created,
             json.dumps(r.solved)),
        )


@contextmanager
def _tx(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _record(r: tuple) -> FunctionRecord:
    return FunctionRecord(
        name=r[0], source=r[1], signature=Signature(tuple(json.loads(r[2])), r[3]), description=r[4], provenance=r[5],
        examples=json.loads(r[6]), fingerprint=json.loads(r[7]), fingerprint_hash=r[8], size=int(r[9]),
        mean_seconds=float(r[10]), uses=int(r[11]), created=float(r[12]), solved=json.loads(r[13]),
    )


def _calls(fn: Any, name: str) -> bool:
    import ast

    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(fn))
