"""The function library: every stored function with its signature, provenance and behaviour, in SQLite.

One file holds everything. A ``meta`` table stamps the format and its version. A file is
first checked read-only (a ``mode=ro`` connection: not one byte of a foreign file changes);
only a riscmoe library is then opened for writing and switched to WAL. Files of versions 1
to 3 are migrated to version 4 in one transaction (all of it or none of it); other formats
and newer versions are refused.
Every change runs in one ``BEGIN IMMEDIATE`` transaction, so a crash in the middle loses no
stored function, and several processes may share one file (each change is made against the
file as it is; ``refresh`` brings a process's view up to date with the others' commits).

Use counts may be deferred (``record_use(..., defer=True)``) and written together by
``flush_uses`` (``add`` and ``close`` flush too): a crash loses at most those counters.

The failure memo. A ``failed_searches`` table remembers each search in which every creator
failed: one row per task and settings (fingerprints the controller makes), holding a
fingerprint of what the creators could read of the library when they searched. The
controller skips the creators while the task, the settings and that fingerprint are all
the same (``failed_before``), so a second pass over a task file does not repeat searches
that cannot come out otherwise, and searches again as soon as anything they could see has
changed. Rows are read defensively: one that is malformed is no memo (the task is searched).

Faults: a stored function whose run times out or takes the sandbox worker down has it
counted (``timeouts``); after ``quarantine_after`` such runs it is *quarantined*: kept in the
file, shown by ``riscmoe functions list``, but no longer ranked, verified or offered as a
building block (``list()`` leaves it out), so one function that hangs cannot slow every
later task. One the worker cannot even load is quarantined at once and not loaded.
``release`` takes a function out of quarantine.

Deduplication. Each function's *behaviour fingerprint* is its outputs on fixed probe inputs
of its signature (``probe_inputs``: lists of 0 to 30 elements, values from -50 to 100, so
that "the first 6 elements" and "every element", or "drop 2" and "elements 3 to 7", differ
on them). Equal fingerprints only make two functions *candidate* twins: they are merged
(only the better one kept: smaller, then faster; seeds always stay) only when each also
reproduces every example the other was verified on (``examples``: those of every task it
answered, not only the one it was made for) and they agree on the inputs the caller names
(``compare_on``: the task's queries). In doubt, both are kept: a replacement never makes a
task answered before come out differently.

Version 3 changed the probes; its migration clears the version-2 fingerprints (in the same
transaction), and each is recomputed lazily (``refingerprint``): before ``add`` looks for a
twin among functions of its signature, and by the controller at the start of a run. A
function without a fingerprint is never merged and only its examples count as its known
behaviour, so a half-recomputed library is safe to use.

Evidence per function, from the controller's held-back check: ``confirmed`` counts the
held-back examples, new to the function, it reproduced (so a second pass over the same
tasks confirms nothing more), ``refuted`` those it failed after fitting the rest of a
task's examples. The meta-models' ranking and the synthesiser's component costs read both.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import random
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from riscmoe.functions.sandbox import (InProcessRunner, Sandbox, SandboxError, UnsafeSourceError, ast_size, check_source,
                                       rename_function)
from riscmoe.functions.values import Signature, canonical, format_call, values_equal

FORMAT = "riscmoe-functions"
FORMAT_VERSION = 4
OLDEST_MIGRATED = 1  # versions from this one up to FORMAT_VERSION - 1 are migrated on open
PROVENANCES = ("seed", "synthesised", "llm")
DEFAULT_PATH = "riscmoe-functions.sqlite"
QUARANTINE_AFTER = 2  # runs that timed out (or took the worker down) before a function is quarantined
BUSY_SECONDS = 60.0  # how long a writer waits for another process's transaction before giving up
CRASH = "crash"  # quarantine reasons starting with this: the worker dies loading it, so it is not loaded at all
REFUSED = "refused"  # reasons starting with this: today's source check refuses it (stored by an earlier build); not loaded
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS functions (
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
    solved TEXT NOT NULL DEFAULT '[]',-- JSON list: texts of the tasks it answered (latest MAX_SOLVED)
    timeouts INTEGER NOT NULL DEFAULT 0,    -- runs in which it timed out or took the sandbox worker down
    quarantined TEXT NOT NULL DEFAULT '',   -- why it is no longer offered ('' = in use)
    confirmed INTEGER NOT NULL DEFAULT 0,   -- held-back examples, new to it, it reproduced
    refuted INTEGER NOT NULL DEFAULT 0,     -- held-back examples it failed after fitting the other examples of a task
    refuted_by TEXT NOT NULL DEFAULT '[]'   -- JSON list of [args, output]: those examples (the latest MAX_SOLVED)
);
CREATE INDEX IF NOT EXISTS functions_by_signature ON functions (arg_types, return_type, fingerprint_hash);
CREATE TABLE IF NOT EXISTS failed_searches (
    task TEXT NOT NULL,               -- fingerprint of the task as the creators see it
    settings TEXT NOT NULL,           -- fingerprint of the search's settings (creators, budgets, code)
    library TEXT NOT NULL,            -- fingerprint of what the creators could read of the library
    reason TEXT NOT NULL,             -- why every creator failed (for people)
    created REAL NOT NULL,            -- unix time
    PRIMARY KEY (task, settings)
);
"""
# Version 1 -> 2: the fault and confirmation columns; failures remembered under version 1's
# keys (examples only, worker crashes included) are dropped, so those tasks are searched again.
_MIGRATE_1_TO_2 = """
ALTER TABLE functions ADD COLUMN timeouts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE functions ADD COLUMN quarantined TEXT NOT NULL DEFAULT '';
ALTER TABLE functions ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, state TEXT NOT NULL, reason TEXT NOT NULL, created REAL NOT NULL);
DELETE FROM failures;
"""
# Version 2 -> 3: the refutation columns; the probes changed (lists of up to 30 elements,
# larger values), so the version-2 fingerprints are cleared and recomputed lazily
# (``refingerprint``); failures remembered by the older search are dropped.
_MIGRATE_2_TO_3 = """
ALTER TABLE functions ADD COLUMN refuted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE functions ADD COLUMN refuted_by TEXT NOT NULL DEFAULT '[]';
UPDATE functions SET fingerprint = '[]', fingerprint_hash = '';
DELETE FROM failures;
"""
# Version 3 -> 4: the failure memo keyed by task, settings and what the creators could see
# (``failed_searches``). Version 3 compared a hash of every stored function's source, taken
# after the search, which missed what the synthesiser reads besides (which functions it may
# compose, their order); its rows cannot be compared with the new fingerprints and are
# dropped with their table, so those tasks are searched once more.
_MIGRATE_3_TO_4 = """
CREATE TABLE IF NOT EXISTS failed_searches (task TEXT NOT NULL, settings TEXT NOT NULL, library TEXT NOT NULL,
    reason TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (task, settings));
DROP TABLE IF EXISTS failures;
"""
_MIGRATIONS = {1: _MIGRATE_1_TO_2, 2: _MIGRATE_2_TO_3, 3: _MIGRATE_3_TO_4}  # version -> the statements that lead to the next one
_COLUMNS = ("name", "source", "arg_types", "return_type", "description", "provenance", "examples",
            "fingerprint", "fingerprint_hash", "size", "mean_seconds", "uses", "created", "solved",
            "timeouts", "quarantined", "confirmed", "refuted", "refuted_by")


def _list_probes() -> list[list[int]]:
    """Probe lists: short hand-picked ones, then two random ones of each length from 6 to 30.

    Lengths past 6 tell apart functions that agree on short lists (``xs[:6]`` and ``xs``,
    ``xs[2:7]`` and ``xs[2:]``); values up to 100 and down to -50 tell apart thresholds
    and offsets the tasks use (``v > 40`` and ``v > 50``); the small-valued ones repeat
    elements (counts, duplicates). Fixed by a seed: every library probes the same lists.
    """
    rng = random.Random(19)
    out = [[], [0], [3], [-2], [1, 2, 3], [3, 1, 2], [4, 4, 1], [5, -2, 7, 0], [2, 2, 4, 9, 9], [10, 3, 6, 1, 8, 3]]
    for n in (6, 7, 8, 9, 10, 11, 12, 15, 20, 25, 30):
        out.append([rng.randint(0, 100) for _ in range(n)])
        out.append([rng.randint(-50, 9) if k % 3 == 0 else rng.randint(0, 9) for k in range(n)])
    out += [list(range(1, 21)), list(range(60, -30, -3))]
    return out


_PROBES = {
    "int": [-7, -3, -1, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 15, 21, 25, 30, 40, 41, 50, 99, 100, -10, -50],
    "float": [-2.5, -1.0, 0.0, 0.5, 1.0, 2.0, 3.7, 10.0, 41.5, -50.0],
    "bool": [False, True],
    "list[int]": _list_probes(),
}
MAX_PROBES = 64
MAX_SOLVED = 16
MAX_EXAMPLES = 128  # examples kept per function (the first ones: what it was made and first verified on)
LONG_OUTPUT = 1000  # a probe output longer than this (as JSON) is kept in the fingerprint as a digest only


@functools.lru_cache(maxsize=1)
def shipped_seeds() -> dict[str, str]:
    """name -> source of the seed functions shipped with riscmoe."""
    from riscmoe.functions.seed import SEEDS

    return {check_source(src).name: src for _, _, src in SEEDS}


class LibraryFormatError(ValueError):
    """The file is not a riscmoe function library of a format version this code reads."""


@functools.lru_cache(maxsize=256)
def _probe_inputs(sig: Signature) -> tuple:
    """Every value of every argument's pool at least once, then a fixed sample of other combinations."""
    pools = [_PROBES[t] for t in sig.args]
    if not pools:
        return ((),)
    if len(pools) == 1:
        return tuple((v,) for v in pools[0])
    # Each pool cycled with its own stride (coprime to its length) against the longest one,
    # so each argument meets several values of the others.
    strides = [next(s for s in itertools.count(k + 1) if math.gcd(s, len(p)) == 1) for k, p in enumerate(pools)]
    combos = [tuple(p[(i * s + k) % len(p)] for k, (p, s) in enumerate(zip(pools, strides))) for i in range(max(map(len, pools)))]
    seen = {_args_key(c) for c in combos}
    rng = random.Random(str(sig))
    for _ in range(20 * MAX_PROBES):
        if len(combos) >= MAX_PROBES:
            break
        c = tuple(rng.choice(p) for p in pools)
        if _args_key(c) not in seen:
            seen.add(_args_key(c))
            combos.append(c)
    return tuple(combos)


def probe_inputs(sig: Signature) -> list[tuple]:
    """The fixed probe argument tuples of a signature (at most ``MAX_PROBES``, deterministic)."""
    combos = _probe_inputs(sig)
    return [tuple(list(v) if isinstance(v, list) else v for v in c) for c in combos]


def fingerprint_of(outcomes: Sequence[Any]) -> tuple[list, str]:
    """Fingerprint and its hash, from probe Outcomes.

    Per probe: the canonical output, "!" where the call failed, or "#" and a digest of an
    output longer than ``LONG_OUTPUT`` characters of JSON (outputs are never strings, so
    the strings mark these; the meta-models take them as unknown).
    """
    fp = []
    for o in outcomes:
        if not o.ok:
            fp.append("!")
            continue
        v = canonical(o.value)
        text = json.dumps(v, separators=(",", ":"))
        fp.append(v if len(text) <= LONG_OUTPUT else "#" + hashlib.sha256(text.encode()).hexdigest()[:16])
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
    timeouts: int = 0  # runs in which it timed out or took the sandbox worker down
    quarantined: str = ""  # why it is no longer offered to tasks ("" = in use)
    confirmed: int = 0  # held-back examples, new to it, it reproduced (see the controller)
    refuted: int = 0  # held-back examples it failed after fitting the rest of a task's examples
    refuted_by: list = field(default_factory=list)  # [[args, output], ...] those examples (latest MAX_SOLVED)

    @property
    def trusted(self) -> bool:
        """Seeds shipped with riscmoe run in-process; everything else runs in the sandbox.

        A seed counts only with its shipped source text, so an edited library file cannot
        smuggle code into this process by calling it a seed.
        """
        return self.provenance == "seed" and shipped_seeds().get(self.name) == self.source

    @property
    def reliability(self) -> float:
        """How far held-back examples bear it out: ``(confirmed + 1) / (confirmed + refuted + 2)``.

        Laplace's rule of succession over the controller's held-back checks: 0.5 with no
        evidence, towards 1 as checks confirm it, towards 0 as tasks it looked right for
        refute it. The applicability index ranks by it (``log(2 * reliability)``, 0 with no
        evidence); ``composable`` reads it.
        """
        return (self.confirmed + 1) / (self.confirmed + self.refuted + 2)

    @property
    def composable(self) -> bool:
        """Whether the synthesiser may build other functions from it.

        A seed always; a learned function once a held-back example has confirmed it
        (``confirmed >= 1``: it was right on an example that played no part in making or
        choosing it) and while it has been refuted no more often than confirmed. One that
        only fitted the examples it was made from may have fitted them by chance, and a
        program built on it would inherit the mistake on every task it answers.
        """
        return self.trusted or (self.confirmed >= 1 and self.refuted <= self.confirmed)

    @property
    def state(self) -> str:
        """For people: "ok", "ok, 1 timeout" or "quarantined: WHY"."""
        if self.quarantined:
            return f"quarantined: {self.quarantined}"
        return "ok" if not self.timeouts else f"ok, {self.timeouts} timeout{'s' * (self.timeouts != 1)}"


@dataclass
class AddResult:
    """What ``add`` did: ``name`` is the stored function that now has this behaviour.

    ``action`` is "added", "kept" (an equal-behaving function stayed: ``duplicate_of``) or
    "replaced" (the new, better source took over the old name, so callers keep working).
    """

    action: str
    name: str
    duplicate_of: str | None = None


@dataclass
class _Pending:
    """Use counts, answered-task texts, examples, confirmations and refutations recorded with ``defer``, not yet written."""

    uses: int = 0
    confirmed: int = 0
    refuted: int = 0
    texts: list = field(default_factory=list)
    examples: list = field(default_factory=list)
    refuted_by: list = field(default_factory=list)


class FunctionLibrary:
    """A persistent, deduplicated library of functions.

    Args:
        path: the SQLite file (created and filled with the seed library when absent or empty).
        sandbox: runs untrusted functions (made on first need when None).
        seed: fill a new library with ``riscmoe.functions.seed.SEEDS``.
        quarantine_after: runs that time out (or take the sandbox worker down) before a
            function is quarantined: kept in the file, but no longer offered to tasks.

    Several processes may use one file at once: every change is one ``BEGIN IMMEDIATE``
    transaction that first brings this process's view up to date with what the others
    committed (``refresh``), so names are allocated, twins found and counters added against
    the file as it is, not as it was when this process read it.

    Example:
        >>> lib = FunctionLibrary(":memory:")
        >>> lib.get("square").signature, len(lib) > 40
        (Signature(args=('int',), output='int'), True)
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, sandbox: Sandbox | None = None, seed: bool = True,
                 quarantine_after: int = QUARANTINE_AFTER) -> None:
        if quarantine_after < 1:
            raise ValueError(f"quarantine_after must be at least 1 run, got {quarantine_after}")
        self.path = str(path)
        self.quarantine_after = quarantine_after
        self._own_sandbox = sandbox is None
        self._sandbox = sandbox
        self._guard: LibrarySandbox | None = None
        self._trusted_runner = InProcessRunner()
        self.revision = 0  # bumps on every change (for caches such as the meta-model index)
        self._changes = 0  # bumps when the usable functions change (added, replaced, quarantined; not on a use)
        self._pending: dict[str, _Pending] = {}  # record_use(defer=True) not yet written
        self._state: tuple[int, str] = (-1, "")
        self._data_version = -1
        self._records: dict[str, FunctionRecord] = {}
        self._conn = self._open()
        self._load()
        if not self._records and seed:
            self.add_seeds()

    # ------------------------------------------------------------------ format
    def _open(self) -> sqlite3.Connection:
        """Check the file read-only, then open it for writing (WAL) only if it is a library of ours."""
        p = self.path
        if p == ":memory:":
            conn = sqlite3.connect(p, isolation_level=None)
            conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            _stamp(conn)
            return conn
        if Path(p).is_dir():
            raise LibraryFormatError(f"{p} is a folder; give the path of a library file (e.g. {DEFAULT_PATH})")
        if not Path(p).parent.is_dir():
            raise FileNotFoundError(f"cannot make the library {p}: the folder {Path(p).parent} does not exist")
        version = _inspect(p)  # raises, having written nothing, unless this is (or will be) a library of ours
        conn = sqlite3.connect(p, isolation_level=None, timeout=BUSY_SECONDS)
        try:
            # WAL: a commit needs no fsync of the whole file, yet a crashed process loses no
            # committed change (the log is folded back into the one file on close); readers
            # never wait for a writer in another process.
            _wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            if version is None:
                self._create_schema(conn)
            elif version < FORMAT_VERSION:
                self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        """Make the tables of a new library; idempotent, so two processes may race to do it."""
        with _tx(conn):
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and not {"meta", "functions"} <= tables:
                raise LibraryFormatError(f"{self.path} was filled by another program while riscmoe opened it "
                                         f"(tables: {', '.join(sorted(tables))}); it was left as that program wrote it")
            if not tables:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                _stamp(conn)
        _check_meta(self.path, dict(conn.execute("SELECT key, value FROM meta").fetchall()))

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring an older library to ``FORMAT_VERSION`` in one transaction (all of it or none of it).

        Each version's statements lead to the next (``_MIGRATIONS``); a version-1 file goes
        through 1 -> 2 -> 3 -> 4 in the same transaction, so no half-migrated file is ever left.
        """
        version = None
        try:
            with _tx(conn):
                info = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                version = _check_meta(self.path, info)  # another process may have migrated it since _inspect looked
                for v in range(version, FORMAT_VERSION):
                    for statement in _MIGRATIONS[v].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                if version < FORMAT_VERSION:
                    conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
                    conn.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_from', ?)", (str(version),))
        except sqlite3.DatabaseError as exc:
            raise LibraryFormatError(
                f"{self.path}: cannot migrate this version-{version} library to version {FORMAT_VERSION} ({exc}); the change was "
                f"rolled back and the file is as it was. Use the riscmoe release that wrote it, or start a new library."
            ) from None

    def _load(self) -> None:
        """Read every record (the view of this process) and note the file's data version."""
        try:
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            rows = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM functions ORDER BY created, name").fetchall()
            records = {r[0]: _record(r) for r in rows}
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise LibraryFormatError(f"{self.path} holds a corrupt function record ({exc}); it was left untouched") from None
        for r in records.values():
            # A source stored by an earlier build whose check was looser is out of use
            # (in this view only: the file is not written on opening it).
            why = _refusal(r.source)
            if why and not r.quarantined:
                r.quarantined = f"{REFUSED} by today's source check: {why}"
        for n, pend in self._pending.items():  # what this process recorded and has not written yet
            r = records.get(n)
            if r is not None:
                r.uses += pend.uses
                r.confirmed += pend.confirmed
                r.refuted += pend.refuted
                r.solved = _merge_texts(r.solved, pend.texts)
                r.examples = _merge_examples(r.examples, pend.examples)[0]
                r.refuted_by = _merge_examples(r.refuted_by, pend.refuted_by, MAX_SOLVED, latest=True)[0]
        # In order: caches indexed by position (the meta-models' rows) must rebuild if it moved.
        before = [(n, r.source, r.quarantined) for n, r in self._records.items()]
        self._records = records
        if before != [(n, r.source, r.quarantined) for n, r in records.items()]:
            self._changes += 1
        self.revision += 1

    def refresh(self) -> bool:
        """Bring this view up to date if another process committed a change; whether it did.

        Cheap (one ``PRAGMA data_version``) when nothing changed; the controller calls it per task.
        """
        if self.path == ":memory:":
            return False
        if self._conn.execute("PRAGMA data_version").fetchone()[0] == self._data_version:
            return False
        self._load()
        return True

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def get(self, name: str) -> FunctionRecord:
        """The stored function ``name``, quarantined or not (KeyError naming close matches if there is none)."""
        try:
            return self._records[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._records), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `riscmoe functions list` shows them all"
            raise KeyError(f"no function named {name!r} in {self.path}{hint}") from None

    def list(self, include_quarantined: bool = False) -> list[FunctionRecord]:
        """The stored functions in use, oldest first (with ``include_quarantined``: every one).

        What ranks, verifies and composes functions for tasks (the meta-models, the
        synthesiser's components, the functions offered to a language model) reads this, so
        a quarantined function costs later tasks nothing.
        """
        return [r for r in self._records.values() if include_quarantined or not r.quarantined]

    def by_signature(self, sig: Signature) -> list[FunctionRecord]:
        """The stored functions of exactly this signature (quarantined ones too), oldest first."""
        return [r for r in self._records.values() if r.signature == sig]

    def sources(self) -> dict[str, str]:
        """name -> source of every function the sandbox loads.

        A function quarantined for timeouts stays loaded (functions that call it keep
        working where it answers); one that takes the worker down when loaded does not.
        """
        return {n: r.source for n, r in self._records.items() if not r.quarantined.startswith((CRASH, REFUSED))}

    @property
    def sandbox(self) -> LibrarySandbox:
        """The sandbox that runs this library's untrusted functions (started on first use).

        It is the library's guard around the ``Sandbox``: timeouts of stored functions are
        recorded (``record_faults``), and a function that takes the worker down when loaded
        is quarantined and left out instead of failing every later run.
        """
        if self._sandbox is None:
            self._sandbox = Sandbox()
        if self._guard is None or self._guard.box is not self._sandbox:
            self._guard = LibrarySandbox(self, self._sandbox)
        return self._guard

    @property
    def worker_restarts(self) -> int:
        """How often the sandbox worker died (hung, crashed) so far: a search it cut short found nothing for sure."""
        return int(getattr(self._sandbox, "restarts", 0)) if self._sandbox is not None else 0

    def run(self, name: str, arg_list: Sequence[tuple]) -> list:
        """Outcomes of the stored function ``name`` on each argument tuple (sandboxed unless a seed)."""
        return self.run_many([name], arg_list)[0]

    def run_many(self, names: Sequence[str], arg_list: Sequence[tuple]) -> list[list]:
        """Outcomes of each stored function on the same argument tuples, batched.

        Seeds run in this process; the others in one sandbox round trip.
        """
        return self.run_jobs([(n, arg_list) for n in names])

    def run_jobs(self, jobs: Sequence[tuple[str, Sequence[tuple]]]) -> list[list]:
        """Outcomes of each (stored function name, argument tuples) job: seeds here, the rest in one round trip.

        The jobs of one function are run as one job (its distinct arguments once each): a
        function that hangs costs one timeout per round trip, not one per task that asked.
        """
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
            merged: dict[str, dict[tuple, int]] = {}  # name -> argument key -> position in its merged job
            calls: dict[str, list[tuple]] = {}
            for i in untrusted:
                name, args = jobs[i]
                seen, todo = merged.setdefault(name, {}), calls.setdefault(name, [])
                for a in args:
                    k = _args_key(a)
                    if k not in seen:
                        seen[k] = len(todo)
                        todo.append(tuple(a))
            names = list(calls)
            results = dict(zip(names, self.sandbox.run_many([(None, n, calls[n]) for n in names], self.sources())))
            for i in untrusted:
                name, args = jobs[i]
                out[i] = [results[name][merged[name][_args_key(a)]] for a in args]
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
        allocate: bool = False,
        held_back: Sequence[tuple[tuple, Any]] = (),
        compare_on: Sequence[tuple] = (),
    ) -> AddResult:
        """Check, verify, fingerprint and store a function, unless an equal-behaving one exists.

        The source is renamed to ``name`` if it defines another name. It must pass
        ``check_source``, take ``signature.arity`` parameters and reproduce every example
        (``examples`` and ``held_back``); otherwise ValueError says why and nothing is stored.

        A stored function of the same signature is its twin when it has the same fingerprint,
        each reproduces every example the other was verified on, and both give the same
        outputs on ``compare_on`` (say, the task's queries: inputs a task gives). Then the
        better one is kept (smaller, then faster; a seed always stays); a better newcomer
        takes over the old name and its examples. Anything short of that, and both are
        stored: two functions that differ on an input a task gave are never merged.

        ``held_back``: examples that played no part in making the function (the controller's
        check); one new to the stored function counts in its ``confirmed``.

        ``allocate``: ``name`` is a wish, made a free name (``free_name``) if it is taken.
        Either way, if another process stores a function under the name before this one
        commits, the next free name is used: ``AddResult.name`` says where the function went.
        """
        if provenance not in PROVENANCES:
            raise ValueError(f"unknown provenance {provenance!r}; use one of {', '.join(PROVENANCES)}")
        self.flush_uses()  # a replaced function's counters must be written before it is
        self.refresh()
        if allocate:
            name = self.free_name(name)
        if provenance == "seed" and shipped_seeds().get(name) != source:
            raise ValueError(f"{name!r} is not a shipped seed function; only those may have provenance 'seed' "
                             f"(seeds run outside the sandbox). Use 'synthesised' or 'llm'.")
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"function name {name!r} is not a plain identifier; use letters, digits and underscores")
        if name in self._records:
            raise ValueError(f"a function named {name!r} is already stored; pick a free name (see free_name)")
        rec, fn = self._prepare(name, source, signature, description, provenance, [*examples, *held_back])
        self.refingerprint(signature)  # a twin is looked for among fingerprints of today's probes
        twins = self._twins(rec, compare_on)
        with self._tx():
            result = self._store(rec, fn, twins, held_back)
        self.revision += 1
        self._changes += 1  # a kept twin learned examples: the meta-models' known outputs changed too
        return result

    def _prepare(self, name: str, source: str, signature: Signature, description: str, provenance: str,
                 examples: Sequence[tuple[tuple, Any]]) -> tuple[FunctionRecord, Any]:
        """The record of a new function, checked and run on its examples and probes (nothing stored yet)."""
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
        # A seed is verified in this process among the shipped seeds only; anything else in the sandbox.
        # Examples and probes are two jobs: a hang on a probe does not cost the examples' outcomes.
        runner = self._trusted_runner if provenance == "seed" else self.sandbox
        library = shipped_seeds() if provenance == "seed" else self.sources()
        example_out, probe_out = runner.run_many([(source, name, [a for a, _ in examples]), (source, name, probes)], library)
        for (args, want), got in zip(examples, example_out):
            if not got.ok or not values_equal(got.value, want, signature.output):
                what = got.reason if not got.ok else f"returned {got.value!r}"
                raise ValueError(f"function {name!r} does not reproduce its examples: {format_call(name, args)} {what}, expected {want!r}")
        fp, fp_hash = fingerprint_of(probe_out)
        outcomes = example_out + probe_out
        seconds = sum(o.seconds for o in outcomes) / max(1, len(outcomes))
        faults = int(any(_is_fault(o.reason) for o in probe_out if not o.ok))  # it already hung on a probe
        why = "timed out on a probe input when it was stored" if faults >= self.quarantine_after else ""
        rec = FunctionRecord(name, source, signature, description, provenance, [[list(a), o] for a, o in examples],
                             fp, fp_hash, ast_size(fn), seconds, 0, time.time(), timeouts=faults, quarantined=why)
        return rec, fn

    def _candidate_twins(self, rec: FunctionRecord) -> list[FunctionRecord]:
        """Stored functions in use with the same signature and (today's) fingerprint as ``rec``."""
        return [r for r in self.by_signature(rec.signature)
                if r.fingerprint_hash and r.fingerprint_hash == rec.fingerprint_hash and not r.quarantined]

    def _twins(self, rec: FunctionRecord, compare_on: Sequence[tuple]) -> dict[str, str]:
        """The candidate twins of ``rec`` that behave like it wherever either is known: name -> the source checked.

        Each must reproduce ``rec``'s examples, ``rec`` must reproduce each one's examples
        (those of every task it answered), and both must agree on ``compare_on``. Run before
        the write transaction (runs may take a while); ``_store`` merges only with a twin
        whose source is still the one checked here.
        """
        cands = self._candidate_twins(rec)
        if not cands:
            return {}
        out_t = rec.signature.output
        extra = [tuple(a) for a in compare_on]
        mine = [tuple(a) for a, _ in rec.examples]
        runner = self._trusted_runner if rec.trusted else self.sandbox
        library = shipped_seeds() if rec.trusted else self.sources()
        # One job of the newcomer (every candidate's examples, then the extra inputs), one per candidate.
        new_jobs = [(rec.source, rec.name, [tuple(a) for a, _ in c.examples]) for c in cands] + [(rec.source, rec.name, extra)]
        *new_on_theirs, new_on_extra = runner.run_many(new_jobs, library)
        old_out = self.run_jobs([(c.name, mine + extra) for c in cands])

        def reproduces(outs: list, examples: list) -> bool:
            return all(o.ok and values_equal(o.value, want, out_t) for o, (_, want) in zip(outs, examples))

        def agree(a: list, b: list) -> bool:
            return all(x.ok == y.ok and (not x.ok or values_equal(x.value, y.value, out_t)) for x, y in zip(a, b))

        return {c.name: c.source for c, theirs, outs in zip(cands, new_on_theirs, old_out)
                if reproduces(theirs, c.examples) and reproduces(outs[: len(mine)], rec.examples) and agree(new_on_extra, outs[len(mine):])}

    def _store(self, rec: FunctionRecord, fn: Any, twins: dict[str, str] | None = None, held_back: Sequence = ()) -> AddResult:
        """Insert a prepared record, inside a transaction whose view is current (see ``_tx``).

        ``twins``: name -> source of the stored functions ``_twins`` found to behave like it
        (a candidate twin stored or changed since then is not one: both are kept).
        """
        twins = twins or {}
        twin = next((r for r in self._candidate_twins(rec) if twins.get(r.name) == r.source), None)
        if twin is not None:
            better = (rec.size, rec.mean_seconds) < (twin.size, twin.mean_seconds)
            merged, new_held = _merge_examples(twin.examples, rec.examples, known=[a for a, _ in held_back])
            if twin.trusted or not better or _calls(fn, twin.name):
                # The twin stays and has been verified on the newcomer's examples too.
                twin.examples, twin.confirmed = merged, twin.confirmed + bool(new_held)
                self._conn.execute("UPDATE functions SET examples = ?, confirmed = ? WHERE name = ?",
                                   (_json(twin.examples), twin.confirmed, twin.name))
                return AddResult("kept", twin.name, duplicate_of=twin.name)
            # The newcomer takes over the old name (functions that call it keep working), its
            # description (which goes with the name), its counters and every example it was
            # verified on (the newcomer reproduces them all: ``_twins`` checked).
            rec.source, rec.name, rec.description = rename_function(rec.source, twin.name), twin.name, twin.description
            rec.uses, rec.created, rec.solved = twin.uses, twin.created, twin.solved
            rec.confirmed, rec.refuted, rec.refuted_by = twin.confirmed + bool(new_held), twin.refuted, twin.refuted_by
            rec.examples = merged
            self._conn.execute("DELETE FROM functions WHERE name = ?", (twin.name,))
            self._insert(rec)
            self._records[twin.name] = rec
            return AddResult("replaced", twin.name, duplicate_of=twin.name)
        rec.confirmed = int(bool(held_back))
        taken = self._records.get(rec.name)
        if taken is not None:  # another process stored a function under this name meanwhile
            if taken.source == rec.source:
                return AddResult("kept", taken.name, duplicate_of=taken.name)
            wanted = rec.name
            rec.name = self.free_name(wanted)
            rec.source = rename_function(rec.source, rec.name)
        self._insert(rec)
        self._records[rec.name] = rec
        return AddResult("added", rec.name)

    def add_seeds(self) -> list[AddResult]:
        """Store the seed library (trusted, verified in-process), in one transaction."""
        from riscmoe.functions.seed import SEEDS

        prepared = []
        for sig, desc, src in SEEDS:
            name = check_source(src).name
            if name not in self._records:
                prepared.append(self._prepare(name, src, Signature.parse(sig), desc, "seed", ()))
        results = []
        with self._tx():  # another process may be seeding the same new file: its seeds count
            for rec, fn in prepared:
                if rec.name not in self._records:
                    results.append(self._store(rec, fn))
        self.revision += 1
        self._changes += 1
        return results

    def record_use(self, names: Sequence[str] | str, task_text: str = "", defer: bool = False,
                   examples: Sequence[tuple[tuple, Any]] = (), held_back: Sequence[tuple[tuple, Any]] = ()) -> None:
        """Count one more use of each named function; remember the task's text and the examples it reproduced.

        ``examples``: the task's examples the function reproduced; they join the examples it
        is known to be verified on (``FunctionRecord.examples``), which a function that would
        replace it must reproduce too. ``held_back``: examples held back from choosing or
        making the function (the controller's check) that it reproduced; one it had not been
        verified on before counts in ``confirmed`` (once per call: a second pass over the same
        task confirms nothing new).
        ``defer``: change the records in memory now and write them with the next ``flush_uses``
        (which ``add`` and ``close`` call): many uses in one transaction. A crash before then
        loses those counters, never a function.
        """
        names = [names] if isinstance(names, str) else list(names)
        for n in names:
            self.get(n)
        new = [[list(a), o] for a, o in [*examples, *held_back]]
        for n in names:
            r = self._records[n]
            pend = self._pending.setdefault(n, _Pending())
            if task_text and task_text not in r.solved:
                r.solved = _merge_texts(r.solved, [task_text])
            if task_text and task_text not in pend.texts:
                pend.texts.append(task_text)
            r.uses += 1
            pend.uses += 1
            confirmed = bool(held_back) and bool(_merge_examples(r.examples, [], known=[a for a, _ in held_back])[1])
            r.confirmed += confirmed
            pend.confirmed += confirmed
            r.examples = _merge_examples(r.examples, new)[0]
            pend.examples = _merge_examples(pend.examples, new)[0]
        self.revision += 1
        if not defer:
            self.flush_uses()

    def record_refutation(self, names: Sequence[str] | str, held_back: Sequence[tuple[tuple, Any]], defer: bool = False) -> None:
        """Count, per named function, a held-back example it failed after fitting the rest of a task's examples.

        It looked right for the task and was not: ``refuted`` weighs against it in the
        meta-models' ranking and the synthesiser's component costs. An example already
        counted against the function (the same task again) is not counted twice.
        ``defer`` as in ``record_use``.
        """
        names = [names] if isinstance(names, str) else list(names)
        for n in names:
            self.get(n)
        held = [[list(a), o] for a, o in held_back]
        if not held:
            return
        for n in names:
            r = self._records[n]
            merged, fresh = _merge_examples(r.refuted_by, held, MAX_SOLVED, latest=True, known=[a for a, _ in held])
            if not fresh:
                continue
            pend = self._pending.setdefault(n, _Pending())
            r.refuted_by, r.refuted = merged, r.refuted + 1
            pend.refuted_by, pend.refuted = _merge_examples(pend.refuted_by, held, MAX_SOLVED, latest=True)[0], pend.refuted + 1
        self.revision += 1
        if not defer:
            self.flush_uses()

    def flush_uses(self) -> None:
        """Write what ``record_use`` and ``record_refutation`` recorded with ``defer``, in one transaction.

        Counters are added to the file's (another process's uses stay); texts and examples are merged.
        """
        if not self._pending:
            return
        with self._tx():  # the sync inside merges our pending texts and examples into the other writers' lists
            pending, self._pending = self._pending, {}
            self._conn.executemany(
                "UPDATE functions SET uses = uses + ?, confirmed = confirmed + ?, refuted = refuted + ?, solved = ?, "
                "examples = ?, refuted_by = ? WHERE name = ?",
                [(p.uses, p.confirmed, p.refuted, _json(r.solved), _json(r.examples), _json(r.refuted_by), n)
                 for n, p in pending.items() if (r := self._records.get(n)) is not None])

    def refingerprint(self, signature: Signature | None = None) -> int:
        """Fingerprint the functions in use that have none (a migration cleared them); those of ``signature``, or all.

        One round trip runs them on their probes, one transaction writes the fingerprints
        (of functions whose source is still the one run). Returns how many were written.
        Until then such a function is never merged as a twin and only its examples count as
        its known behaviour.
        """
        stale = [r for r in self._records.values()
                 if not r.fingerprint_hash and not r.quarantined and (signature is None or r.signature == signature)]
        if not stale:
            return 0
        outs = self.run_jobs([(r.name, probe_inputs(r.signature)) for r in stale])
        done = 0
        with self._tx():
            for r, o in zip(stale, outs):
                cur = self._records.get(r.name)
                if cur is None or cur.source != r.source or cur.fingerprint_hash or cur.quarantined:
                    continue  # changed by another process meanwhile (or it hung on a probe just now)
                cur.fingerprint, cur.fingerprint_hash = fingerprint_of(o)
                self._conn.execute("UPDATE functions SET fingerprint = ?, fingerprint_hash = ? WHERE name = ?",
                                   (_json(cur.fingerprint), cur.fingerprint_hash, cur.name))
                done += 1
        self.revision += 1
        self._changes += 1  # the meta-models' known outputs grew
        return done

    def record_faults(self, names: Sequence[str], crash: bool = False) -> list[str]:
        """Count one more run that timed out (``crash``: took the worker down loading it) per name.

        A function reaching ``quarantine_after`` such runs is quarantined at once when
        ``crash`` (a worker that cannot load it cannot run anything else either). Returns the
        names quarantined now. Written at once: the next process must not pay for them again.
        """
        names = [n for n in dict.fromkeys(names) if n in self._records and not self._records[n].trusted]
        if not names:
            return []
        newly = []
        with self._tx():
            for n in names:
                r = self._records.get(n)
                if r is None or r.quarantined:
                    continue
                timeouts = r.timeouts + 1
                why = ""
                if crash:
                    why = f"{CRASH}: the sandbox worker died loading it"
                elif timeouts >= self.quarantine_after:
                    why = f"timed out in {timeouts} runs"
                self._conn.execute("UPDATE functions SET timeouts = timeouts + 1, quarantined = ? WHERE name = ?", (why, n))
                r.timeouts, r.quarantined = timeouts, why
                if why:
                    newly.append(n)
        self.revision += 1
        self._changes += bool(newly)
        return newly

    def release(self, name: str) -> None:
        """Take ``name`` out of quarantine and clear its timeouts (e.g. after they came from an overloaded machine)."""
        self.get(name)
        with self._tx():
            if name in self._records:
                self._conn.execute("UPDATE functions SET timeouts = 0, quarantined = '' WHERE name = ?", (name,))
                self._records[name].timeouts, self._records[name].quarantined = 0, ""
        self.revision += 1
        self._changes += 1

    @property
    def changes(self) -> int:
        """Bumps whenever the usable functions change (added, replaced, quarantined; not on a use)."""
        return self._changes

    def state(self) -> str:
        """A hash of the functions in use as any creator could read them: equal states, equal libraries to search.

        Per function: name, signature, description, source and whether the synthesiser may
        compose it (``FunctionRecord.composable``, which held-back checks change). The
        failure memo falls back on it for a creator that does not say what it reads
        (``library_view``, see ``riscmoe.functions.creator``). Use counts and answered-task
        texts are left out: a creator whose search reads them says so in its own view.
        """
        if self._state[0] != self.revision:
            h = hashlib.sha256()
            for n in sorted(self._records):
                r = self._records[n]
                if not r.quarantined:
                    h.update(f"{n}\0{r.signature}\0{r.description}\0{r.source}\0{r.composable}\0".encode("utf-8", "backslashreplace"))
            self._state = (self.revision, h.hexdigest()[:32])
        return self._state[1]

    def failed_before(self, task: str, settings: str) -> tuple[str, str] | None:
        """What the failure memo holds for ``task`` under ``settings``: (library fingerprint, reason), else None.

        ``task`` and ``settings`` are the controller's fingerprints; the library fingerprint is
        what the creators could see when every one of them failed (the caller compares it with
        today's). A row that cannot be read or holds anything but text is no memo: the task is
        searched again, and its outcome replaces the row.
        """
        try:
            row = self._conn.execute("SELECT library, reason FROM failed_searches WHERE task = ? AND settings = ?",
                                     (task, settings)).fetchone()
        except sqlite3.DatabaseError:
            return None
        if row is None or not all(isinstance(v, str) for v in row):
            return None
        return row[0], row[1]

    def record_failure(self, task: str, settings: str, view: str, reason: str) -> bool:
        """Remember that every creator failed on ``task`` under ``settings`` seeing the library as ``view``.

        One transaction; it replaces what the memo held for the task and settings (a failure
        against an older library says nothing once a newer one failed too). Returns whether
        it was written: the memo only saves time, so a file that refuses the write (a table
        another program changed) costs a search next time, never the run.
        """
        try:
            with self._tx():
                self._conn.execute("INSERT OR REPLACE INTO failed_searches VALUES (?, ?, ?, ?, ?)",
                                   (task, settings, view, reason, time.time()))
        except sqlite3.DatabaseError:
            return False
        return True

    def free_name(self, wanted: str) -> str:
        """``wanted`` made a valid identifier not yet stored (and not a builtin or forbidden name)."""
        from riscmoe.functions.sandbox import FORBIDDEN_NAMES, SAFE_BUILTINS
        import keyword

        base = "".join(c if c.isalnum() or c == "_" else "_" for c in wanted.strip().lower()).strip("_") or "f"
        if not base.isascii():  # keep names plain ASCII: what every tool (and the worker) reads
            base = "".join(c if c.isascii() else "_" for c in base).strip("_") or "f"
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

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One write transaction, with this view brought up to date first (another process may have written)."""
        with _tx(self._conn):
            self.refresh()
            yield

    def _insert(self, r: FunctionRecord) -> None:
        self._conn.execute(
            f"INSERT INTO functions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            (r.name, r.source, _json(list(r.signature.args)), r.signature.output, r.description, r.provenance,
             _json(r.examples), _json(r.fingerprint), r.fingerprint_hash, r.size, r.mean_seconds, r.uses, r.created,
             _json(r.solved), r.timeouts, r.quarantined, r.confirmed, r.refuted, _json(r.refuted_by)),
        )


class LibrarySandbox:
    """A library's guard around its ``Sandbox``: same ``run_many`` / ``request`` interface.

    What it adds, for the library's sake:

    - a stored function whose run times out (or takes the worker down) gets it recorded
      (``FunctionLibrary.record_faults``), so repeated offenders are quarantined;
    - a synthesis request that the worker did not survive is followed by a run of its
      stored components on their probes and the task's inputs: the one that hangs is found
      and recorded, instead of hanging every later search;
    - when the worker dies loading the library, each stored source is loaded on its own to
      find the ones it cannot load; those are quarantined and left out, and the call is
      retried once without them (instead of every later call failing).

    Anything else (``notes``, ``restarts``, ``close``, ...) is the sandbox's own.
    """

    def __init__(self, library: FunctionLibrary, box: Sandbox) -> None:
        self.library, self.box = library, box

    def __getattr__(self, name: str) -> Any:
        return getattr(self.box, name)

    def run_many(self, jobs: Sequence[Any], library: dict[str, str] | None = None) -> list[list]:
        """``Sandbox.run_many``, recording the timeouts of stored functions."""
        results = self._loading(lambda lib: self.box.run_many(jobs, lib), library)
        faulty = [job[1] for job, outs in zip(jobs, results) if job[0] is None and any(_is_fault(o.reason) for o in outs if not o.ok)]
        if faulty:
            self.library.record_faults(faulty)
        return results

    def run_one(self, source: str | None, name: str, args: Sequence, library: dict[str, str] | None = None) -> Any:
        return self.run_many([(source, name, [tuple(args)])], library)[0][0]

    def request(self, msg: dict, library: dict[str, str] | None, timeout: float) -> dict:
        """``Sandbox.request``; after a synthesis the worker did not survive, find the component that hung."""
        restarts = self.box.restarts
        reply = self._loading(lambda lib: self.box.request(msg, lib, timeout), library)
        if msg.get("op") == "synthesise" and self.box.restarts != restarts:
            self._blame(msg)
        return reply

    def _blame(self, msg: dict) -> None:
        """Run the request's stored, untrusted components on their probes and its inputs (timeouts get recorded)."""
        lib = self.library
        inputs = [tuple(a) for a in msg.get("inputs", [])]
        jobs = []
        for name, arg_types, *_ in msg.get("components", []):  # [name, argument types, output type(, call size)]
            r = lib._records.get(name)
            if r is None or r.trusted or r.quarantined:
                continue
            own = [tuple(a) for a in probe_inputs(r.signature)]
            extra = inputs if list(arg_types) == list(msg.get("arg_types", [])) else []
            jobs.append((name, own + extra))
        if jobs:
            lib.run_jobs(jobs)

    def _loading(self, call: Any, library: dict[str, str] | None) -> Any:
        """``call(library)``; if the worker dies loading the library, leave out what it cannot load and retry once."""
        try:
            return call(library)
        except SandboxError:
            if not library:
                raise
            bad = self._unloadable(library)
            if not bad:
                raise
            return call({n: s for n, s in library.items() if n not in bad})

    def _unloadable(self, library: dict[str, str]) -> list[str]:
        """Load each stored source on its own (a call with too many arguments: its body never runs); those that kill the worker."""
        names = [n for n in library if n in self.library and not self.library.get(n).trusted]
        jobs = []
        for n in names:
            try:
                arity = len(check_source(library[n]).args.args)
            except UnsafeSourceError:
                arity = 0
            jobs.append((library[n], n, [(None,) * (arity + 1)]))
        outs = self.box.run_many(jobs, None)
        bad = [n for n, o in zip(names, outs) if not o[0].ok and _is_fault(o[0].reason)]
        self.library.record_faults(bad, crash=True)
        return bad


def _inspect(path: str) -> int | None:
    """The format version of an existing riscmoe library at ``path``, None for an absent or empty file.

    Read-only (a ``mode=ro`` URI, so no byte of a foreign file changes): anything that is not
    a riscmoe library of a version this code reads or migrates raises LibraryFormatError.
    """
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return None
    uri = p.resolve().as_uri() + "?mode=ro"  # as_uri quotes '#', '?' and '%', so any name round-trips
    untouched = "it was left untouched"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_SECONDS)
    except sqlite3.Error as exc:
        raise LibraryFormatError(f"{path}: cannot open it read-only ({exc}); {untouched}") from None
    try:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise LibraryFormatError(
                f"{path} is not a riscmoe function library ({exc}); {untouched}. "
                f"Give another --library path, or move the file away to start a new library."
            ) from None
        if not tables:
            return None
        if "meta" not in tables or "functions" not in tables:
            raise LibraryFormatError(
                f"{path} is a SQLite file but not a riscmoe function library (tables: {', '.join(sorted(tables))}); "
                f"{untouched}. Give another --library path."
            )
        try:
            info = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise LibraryFormatError(f"{path}: cannot read its meta table ({exc}); {untouched}") from None
        return _check_meta(path, info)
    finally:
        conn.close()


def _check_meta(path: str, info: dict) -> int:
    """The format version the meta table states, if this code reads it (else LibraryFormatError)."""
    if info.get("format") != FORMAT:
        raise LibraryFormatError(f"{path} is not a riscmoe function library (format={info.get('format')!r}); it was left untouched")
    version = info.get("format_version")
    if version not in {str(v) for v in range(OLDEST_MIGRATED, FORMAT_VERSION + 1)}:
        raise LibraryFormatError(
            f"{path} is function-library format version {version}, this riscmoe reads version "
            f"{FORMAT_VERSION} (and migrates {', '.join(str(v) for v in range(OLDEST_MIGRATED, FORMAT_VERSION))}); "
            f"it was left untouched. Use the riscmoe release that wrote it."
        )
    return int(version)


def _wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting while another process holds the file (the busy timeout does not cover this pragma)."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _stamp(conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                     [("format", FORMAT), ("format_version", str(FORMAT_VERSION)), ("created", str(time.time()))])


@contextmanager
def _tx(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")  # the write lock now: a read-modify-write sees no other writer
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _json(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _is_fault(reason: str) -> bool:
    """Whether a failed call's reason says the call hung or took the worker down (not a plain error)."""
    return reason.startswith("timeout") or reason.startswith("crash")


def _args_key(args: Sequence) -> tuple:
    """An exact, hashable key of one argument tuple (1, 1.0 and True stay apart)."""
    return tuple((type(a), tuple(a) if isinstance(a, list) else a) for a in args)


def _merge_examples(old: list, new: list, cap: int = MAX_EXAMPLES, latest: bool = False, known: Sequence = ()) -> tuple[list, int]:
    """``old`` with the examples of ``new`` whose arguments it lacks: (merged list, how many of ``known`` args it lacked).

    Examples are ``[args, output]``; at most ``cap`` are kept: the first ones (what the
    function was made and first verified on), or with ``latest`` the latest ones.
    """
    keys = {_args_key(a) for a, _ in old}
    lacked = sum(_args_key(a) not in keys for a in known)
    out = list(old)
    for a, o in new:
        k = _args_key(a)
        if k not in keys:
            keys.add(k)
            out.append([list(a), o])
    return (out[-cap:] if latest else out[:cap]), lacked


def _merge_texts(old: list, new: list) -> list:
    out = list(old)
    for t in new:
        if t not in out:
            out.append(t)
    return out[-MAX_SOLVED:]


@functools.lru_cache(maxsize=4096)
def _refusal(source: str) -> str:
    """Why today's source check refuses ``source``, or "" (cached: a library is read again after every change)."""
    try:
        check_source(source)
    except UnsafeSourceError as exc:
        return str(exc)
    return ""


def _record(r: tuple) -> FunctionRecord:
    return FunctionRecord(
        name=r[0], source=r[1], signature=Signature(tuple(json.loads(r[2])), r[3]), description=r[4], provenance=r[5],
        examples=json.loads(r[6]), fingerprint=json.loads(r[7]), fingerprint_hash=r[8], size=int(r[9]),
        mean_seconds=float(r[10]), uses=int(r[11]), created=float(r[12]), solved=json.loads(r[13]),
        timeouts=int(r[14]), quarantined=str(r[15]), confirmed=int(r[16]), refuted=int(r[17]), refuted_by=json.loads(r[18]),
    )


def _calls(fn: Any, name: str) -> bool:
    import ast

    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(fn))
