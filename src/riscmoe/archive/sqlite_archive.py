"""The archive of important experiences, persisted in SQLite and mirrored in memory.

What it keeps, by kind (``KINDS``):

- ``unexplained``: inputs no member could handle; the creator's raw material.
- ``mistake``: inputs a member accepted although they were not its own.
- ``close_call``: inputs near a meta-model's threshold (almost or barely answered).
- ``sample``: a representative sample of what each member handles, for rehearsal and as
  the negatives of new members.

The archive is bounded by a count and/or byte budget. What goes when it is full is its
``ArchivePolicy``'s choice (``riscmoe.archive.policy``; by default, from the label that
holds the most records, the record of lowest importance, so every class keeps its share
and, within a class, the least useful record goes first); this module is the storage.

Every change goes to SQLite inside an open transaction that ``commit`` closes, so a crash
mid-batch leaves the file as it was after the previous batch.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from riscmoe.archive.policy import KINDS, ArchivePolicy, Balanced

FORMAT_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    label INTEGER NOT NULL,
    member INTEGER NOT NULL,
    importance REAL NOT NULL,
    step INTEGER NOT NULL,
    x BLOB NOT NULL
);
"""


class ArchiveFormatError(ValueError):
    """The file is not a riscmoe archive of a format version this code reads."""


class Archive:
    """A bounded store of important experiences.

    Args:
        dim: flattened input size D of every stored input (float32).
        max_records: at most this many records (None: no count limit).
        max_bytes: at most this many bytes of stored inputs (None: no byte limit).
        path: SQLite file, or ":memory:" (the default) until ``save_to`` writes one.
        connection: an open SQLite connection to use instead of opening ``path``.
        featurizer: maps inputs (n, D) to features (n, F); when given, the archive keeps
            every record's features in memory (never on disk: they can be recomputed), so
            that rehearsal does not encode the same inputs again and again.
        policy: what is evicted when the archive is full (default ``Balanced()``).
        reserve: unexplained records kept per label, whatever the policy would evict: up to
            this many of each label's (its most important) go only once nothing else can.
            The estimator sets it to ``min_examples``, the inputs its creator waits for, so
            that a full archive of older records never pushes out a new label's inputs
            before they can make a member (with a share per label, 1,000 records left a
            31st label fewer than 32: creation stopped at 30 members).

    An archive pickles and deep-copies (its records travel; the SQLite connection is
    opened again, lazily, on first use).

    Example:
        >>> a = Archive(dim=4, max_records=10)
        >>> ids = a.add(np.zeros((2, 4), np.float32), "unexplained", labels=[3, 3])
        >>> a.count(kind="unexplained", label=3)
        2
    """

    def __init__(
        self,
        dim: int,
        max_records: int | None = 1000,
        max_bytes: int | None = None,
        path: str | os.PathLike = ":memory:",
        connection: sqlite3.Connection | None = None,
        featurizer: Callable[[np.ndarray], np.ndarray] | None = None,
        policy: ArchivePolicy | None = None,
        reserve: int = 0,
    ) -> None:
        if max_records is not None and max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        if max_bytes is not None and max_bytes < 4 * dim:
            raise ValueError(f"max_bytes={max_bytes} cannot hold even one input of {4 * dim} bytes")
        self.dim = dim
        self.max_bytes = max_bytes
        self._limit(max_records)
        self.path = str(path)
        self.policy: ArchivePolicy = policy if policy is not None else Balanced()
        if isinstance(reserve, bool) or not isinstance(reserve, (int, np.integer)) or reserve < 0:
            raise ValueError(f"reserve must be a count of records, 0 or more, got {reserve!r}")
        self.reserve = int(reserve)
        self._db: sqlite3.Connection | None = connection if connection is not None else sqlite3.connect(self.path, isolation_level=None)
        self._rows: list[tuple] | None = None  # a pickled archive's records, until its connection opens
        self._conn.executescript(_SCHEMA)
        self._check_or_stamp()
        # In-memory mirror of the table: the hot path never waits on SQLite reads.
        self._ids = np.zeros(0, np.int64)
        self._kind = np.zeros(0, np.int8)
        self._label = np.zeros(0, np.int64)
        self._member = np.zeros(0, np.int64)
        self._importance = np.zeros(0, np.float64)
        # Inputs and features live in slot buffers that grow by doubling; a record's row is
        # _slot[position]. Adding and evicting then touch only the rows involved, never
        # copy the whole store (the features alone are megabytes).
        self._slot = np.zeros(0, np.int64)
        self._Xbuf = np.zeros((0, dim), np.float32)
        self._Fbuf: np.ndarray | None = None
        self._f_valid = False  # every live record's features are in _Fbuf
        self._free: list[int] = []
        self.featurizer = featurizer
        self._load_rows()
        self._next_id = int(self._ids.max()) + 1 if len(self._ids) else 1
        self._conn.execute("BEGIN")

    @property
    def _conn(self) -> sqlite3.Connection:
        """The SQLite connection; an archive that was pickled opens a new one here, on first use."""
        if self._db is None:
            self._db = _memory_copy(self.dim, self._rows or [])
            self._rows = None
        return self._db

    def __getstate__(self) -> dict:
        """Everything but the connection: its records (committed or not, as this connection sees them) instead."""
        state = dict(self.__dict__)
        rows = state.pop("_rows")
        db = state.pop("_db")
        state["_rows"] = rows if db is None else db.execute("SELECT id, kind, label, member, importance, step, x FROM records ORDER BY id").fetchall()
        state["_db"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ format
    def _check_or_stamp(self) -> None:
        rows = dict(self._conn.execute("SELECT key, value FROM info").fetchall())
        if not rows:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO info VALUES (?, ?)",
                [("format", "riscmoe-archive"), ("format_version", str(FORMAT_VERSION)), ("dim", str(self.dim))],
            )
            self._conn.execute("COMMIT")
            return
        if rows.get("format") != "riscmoe-archive":
            raise ArchiveFormatError(f"{self.path} is not a riscmoe archive (format={rows.get('format')!r})")
        if rows.get("format_version") != str(FORMAT_VERSION):
            raise ArchiveFormatError(
                f"{self.path} is archive format version {rows.get('format_version')}, "
                f"this riscmoe reads version {FORMAT_VERSION}"
            )
        if rows.get("dim") != str(self.dim):
            raise ArchiveFormatError(f"{self.path} stores inputs of size {rows.get('dim')}, expected {self.dim}")

    def _load_rows(self) -> None:
        rows = self._conn.execute("SELECT id, kind, label, member, importance, x FROM records ORDER BY id").fetchall()
        if not rows:
            return
        try:
            self._ids = np.array([r[0] for r in rows], np.int64)
            self._kind = np.array([KINDS.index(r[1]) for r in rows], np.int8)
            self._label = np.array([r[2] for r in rows], np.int64)
            self._member = np.array([r[3] for r in rows], np.int64)
            self._importance = np.array([r[4] for r in rows], np.float64)
            X = np.stack([np.frombuffer(r[5], np.float32) for r in rows])
        except ValueError as exc:
            raise ArchiveFormatError(f"{self.path} holds a corrupt record: {exc}") from None
        if X.shape[1] != self.dim:
            raise ArchiveFormatError(f"{self.path} holds inputs of size {X.shape[1]}, expected {self.dim}")
        self._Xbuf, self._slot, self._free = X, np.arange(len(X), dtype=np.int64), []
        self._Fbuf, self._f_valid = None, False

    def _alloc(self, n: int) -> np.ndarray:
        """n free slots, growing the buffers (by doubling) if needed."""
        if len(self._free) < n:
            old = len(self._Xbuf)
            size = max(2 * old, old + n - len(self._free), 64)
            X = np.zeros((size, self.dim), np.float32)
            X[:old] = self._Xbuf
            self._Xbuf = X
            if self._Fbuf is not None:
                Fb = np.zeros((size, self._Fbuf.shape[1]), np.float32)
                Fb[:old] = self._Fbuf
                self._Fbuf = Fb
            self._free.extend(range(size - 1, old - 1, -1))
        return np.array([self._free.pop() for _ in range(n)], np.int64)

    def _features(self) -> np.ndarray:
        """The feature buffer, after computing any live record's missing features."""
        if self.featurizer is None:
            raise RuntimeError("this archive has no featurizer")
        if not self._f_valid:
            F = np.asarray(self.featurizer(self._Xbuf[self._slot]), np.float32)
            if F.ndim != 2:  # (an empty archive's features are (0, F) already: -1 cannot be inferred there)
                F = F.reshape(len(self._slot), -1)
            self._Fbuf = np.zeros((len(self._Xbuf), F.shape[1]), np.float32)
            self._Fbuf[self._slot] = F
            self._f_valid = True
        assert self._Fbuf is not None
        return self._Fbuf

    def get_features(self, ids: np.ndarray) -> np.ndarray:
        """Features (n, F) of the given record ids, computed once per record."""
        return self._features()[self._slot[self._positions(ids)]]

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._ids)

    def _mask(self, kind: str | None = None, label: int | None = None, member: int | None = None) -> np.ndarray:
        m = np.ones(len(self._ids), bool)
        if kind is not None:
            m &= self._kind == KINDS.index(kind)
        if label is not None:
            m &= self._label == label
        if member is not None:
            m &= self._member == member
        return m

    def ids(self, kind: str | None = None, label: int | None = None, member: int | None = None) -> np.ndarray:
        """Ids of the records that match every given field."""
        return self._ids[self._mask(kind, label, member)]

    def count(self, kind: str | None = None, label: int | None = None, member: int | None = None) -> int:
        return int(self._mask(kind, label, member).sum())

    def counts_by_kind(self) -> dict[str, int]:
        return {k: int((self._kind == i).sum()) for i, k in enumerate(KINDS)}

    def labels(self) -> np.ndarray:
        return self._label.copy()

    def members(self) -> np.ndarray:
        return self._member.copy()

    def kinds(self) -> np.ndarray:
        """Kind of each record as an index into ``KINDS``."""
        return self._kind.copy()

    def get(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs (n, D), labels (n,) and members (n,) of the given record ids."""
        pos = self._positions(ids)
        return self._Xbuf[self._slot[pos]], self._label[pos], self._member[pos]

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        pos = np.searchsorted(self._ids, ids)
        ok = (pos < len(self._ids)) & (self._ids[np.minimum(pos, len(self._ids) - 1)] == ids) if len(self._ids) else np.zeros(len(ids), bool)
        if not np.all(ok):
            raise KeyError(f"no archive records with ids {ids[~ok][:5].tolist()}")
        return pos

    # ----------------------------------------------------------------- changes
    def add(
        self,
        X: np.ndarray,
        kind: str | np.ndarray | list[str],
        labels: np.ndarray | list[int],
        members: np.ndarray | list[int] | int = -1,
        importance: np.ndarray | float = 1.0,
        step: int = 0,
        features: np.ndarray | None = None,
    ) -> np.ndarray:
        """Store inputs X (n, D) as records of one kind (or one kind each); evict if over budget.

        ``features`` (n, F), when the caller already has the inputs' features, saves
        encoding them again. Returns the ids of the new records that survived eviction.
        """
        kinds = [kind] * len(X) if isinstance(kind, str) else [str(k) for k in kind]
        bad = sorted(set(kinds) - set(KINDS))
        if bad:
            raise ValueError(f"unknown archive kind {bad[0]!r}; expected one of {KINDS}")
        if len(kinds) != len(X):
            raise ValueError(f"got {len(kinds)} kinds for {len(X)} inputs")
        X = np.ascontiguousarray(X, np.float32).reshape(len(X), -1)
        if X.shape[1] != self.dim:
            raise ValueError(f"archive stores inputs of size {self.dim}, got {X.shape[1]}")
        n = len(X)
        if features is not None:
            features = np.ascontiguousarray(features, np.float32).reshape(len(features), -1)
            if len(features) != n or (self._Fbuf is not None and features.shape[1] != self._Fbuf.shape[1]):
                raise ValueError(f"features of shape {features.shape} do not match {n} inputs of this archive's feature size")
        if n == 0:
            return np.zeros(0, np.int64)
        labels = np.broadcast_to(np.asarray(labels, np.int64), (n,)).copy()
        members = np.broadcast_to(np.asarray(members, np.int64), (n,)).copy()
        importance = np.broadcast_to(np.asarray(importance, np.float64), (n,)).copy()
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        self._conn.executemany(
            "INSERT INTO records (id, kind, label, member, importance, step, x) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(int(i), kinds[j], int(lab), int(mem), float(imp), int(step), X[j].tobytes())
             for j, (i, lab, mem, imp) in enumerate(zip(ids, labels, members, importance))],
        )
        self._ids = np.concatenate([self._ids, ids])
        self._kind = np.concatenate([self._kind, np.array([KINDS.index(k) for k in kinds], np.int8)])
        self._label = np.concatenate([self._label, labels])
        self._member = np.concatenate([self._member, members])
        self._importance = np.concatenate([self._importance, importance])
        if self._f_valid:
            assert self.featurizer is not None
            new_F = features if features is not None else np.asarray(self.featurizer(X), np.float32).reshape(n, -1)
        slots = self._alloc(n)
        self._slot = np.concatenate([self._slot, slots])
        self._Xbuf[slots] = X
        if self._f_valid:
            assert self._Fbuf is not None
            self._Fbuf[slots] = new_F
        self._evict()
        return ids[np.isin(ids, self._ids)]

    def update(self, ids: np.ndarray, kind: str | None = None, member: int | None = None, importance: np.ndarray | float | None = None) -> None:
        """Change the kind, member or importance of stored records."""
        pos = self._positions(ids)
        if kind is not None:
            if kind not in KINDS:
                raise ValueError(f"unknown archive kind {kind!r}; expected one of {KINDS}")
            self._kind[pos] = KINDS.index(kind)
        if member is not None:
            self._member[pos] = member
        if importance is not None:
            self._importance[pos] = np.broadcast_to(np.asarray(importance, np.float64), (len(pos),))
        self._conn.executemany(
            "UPDATE records SET kind = ?, member = ?, importance = ? WHERE id = ?",
            [(KINDS[self._kind[p]], int(self._member[p]), float(self._importance[p]), int(self._ids[p])) for p in pos],
        )

    def remove(self, ids: np.ndarray) -> None:
        pos = self._positions(ids)
        self._drop(pos)

    def _drop(self, pos: np.ndarray) -> None:
        self._conn.executemany("DELETE FROM records WHERE id = ?", [(int(self._ids[p]),) for p in pos])
        keep = np.ones(len(self._ids), bool)
        keep[pos] = False
        self._ids, self._kind, self._label = self._ids[keep], self._kind[keep], self._label[keep]
        self._free.extend(self._slot[pos].tolist())
        self._member, self._importance, self._slot = self._member[keep], self._importance[keep], self._slot[keep]

    def _limit(self, max_records: int | None) -> None:
        self.max_records = max_records
        limits = [n for n in (max_records, None if self.max_bytes is None else self.max_bytes // (4 * self.dim)) if n is not None]
        self.capacity = min(limits) if limits else None

    def resize(self, max_records: int | None) -> None:
        """Change the count limit (the estimator grows it with the collection); a smaller one evicts at once."""
        if max_records is not None and (isinstance(max_records, bool) or not isinstance(max_records, (int, np.integer))
                                        or max_records < 1):
            raise ValueError(f"max_records must be at least 1 (or None), got {max_records!r}")
        if max_records == self.max_records:
            return
        self._limit(None if max_records is None else int(max_records))
        self._evict()

    def reserved(self) -> np.ndarray:
        """(N,) which stored records the reserve keeps: each label's ``reserve`` most important
        unexplained records (the earliest on a tie)."""
        keep = np.zeros(len(self._ids), bool)
        pos = np.flatnonzero(self._kind == KINDS.index("unexplained"))
        if self.reserve == 0 or len(pos) == 0:
            return keep
        order = pos[np.lexsort((pos, -self._importance[pos], self._label[pos]))]  # label by label, most important first
        labels = self._label[order]
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        keep[order[rank < self.reserve]] = True
        return keep

    def _evict(self) -> None:
        if self.capacity is None or len(self._ids) <= self.capacity:
            return
        excess = len(self._ids) - self.capacity
        kept = self.reserved()
        free, held = np.flatnonzero(~kept), np.flatnonzero(kept)
        # The policy chooses among the records the reserve does not keep; only when those
        # are too few does it choose among the reserved ones too.
        drop = self._choose(free, min(excess, len(free)))
        if excess > len(free):
            drop = np.concatenate([free, self._choose(held, excess - len(free))])
        self._drop(drop)

    def _choose(self, among: np.ndarray, n: int) -> np.ndarray:
        """Positions (n,) of stored records the policy evicts, chosen among positions ``among``."""
        if n == 0:
            return np.zeros(0, np.int64)
        if n == len(among):
            return among
        pick = np.asarray(self.policy.evict(self._label[among].copy(), self._importance[among].copy(), n), np.int64)
        if len(np.unique(pick)) != n or (len(pick) and not 0 <= pick.min() <= pick.max() < len(among)):
            raise RuntimeError(f"the archive policy {type(self.policy).__name__} chose {pick.tolist()[:5]}... to evict; it must "
                               f"choose {n} distinct positions among {len(among)}")
        return among[pick]

    def commit(self) -> None:
        """Make every change since the last commit durable, atomically."""
        self._conn.execute("COMMIT")
        self._conn.execute("BEGIN")

    def rollback(self) -> None:
        """Forget every change since the last commit (memory and file alike)."""
        self._conn.execute("ROLLBACK")
        self._conn.execute("BEGIN")
        self._ids = np.zeros(0, np.int64)
        self._kind = np.zeros(0, np.int8)
        self._label = np.zeros(0, np.int64)
        self._member = np.zeros(0, np.int64)
        self._importance = np.zeros(0, np.float64)
        self._slot = np.zeros(0, np.int64)
        self._Xbuf = np.zeros((0, self.dim), np.float32)
        self._Fbuf, self._f_valid, self._free = None, False, []
        self._load_rows()

    # ------------------------------------------------------------- persistence
    def save_to(self, path: str | os.PathLike) -> None:
        """Write a consistent copy of the committed archive to ``path`` (atomically)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=".archive-", suffix=".sqlite", dir=path.parent)
        os.close(fd)
        try:
            dest = sqlite3.connect(tmp)
            self._conn.execute("COMMIT")
            try:
                self._conn.backup(dest)
            finally:
                self._conn.execute("BEGIN")
                dest.close()
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        dim: int,
        max_records: int | None,
        max_bytes: int | None,
        featurizer: Callable[[np.ndarray], np.ndarray] | None = None,
        policy: ArchivePolicy | None = None,
        reserve: int = 0,
    ) -> "Archive":
        """Load a saved archive file into memory, checking its format version.

        The file itself is only read: later learning changes the in-memory copy, and the
        next ``save_to`` writes it back.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"archive file {path} does not exist")
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head != b"SQLite format 3\x00":
            raise ArchiveFormatError(f"{path} is not an SQLite file, so not a riscmoe archive")
        mem = sqlite3.connect(":memory:", isolation_level=None)
        try:
            # A URI, for read-only mode: the path percent-encoded, so that '#', '?' and '%'
            # in folder names stay part of it (unencoded, '#' cut the path short there).
            src = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
            try:
                src.backup(mem)
            finally:
                src.close()
            return cls(dim=dim, max_records=max_records, max_bytes=max_bytes, path=path, connection=mem, featurizer=featurizer, policy=policy,
                       reserve=reserve)
        except sqlite3.DatabaseError as exc:
            mem.close()
            raise ArchiveFormatError(f"{path} is a corrupt archive: {exc}") from None

    def close(self) -> None:
        if self._db is None:
            self._rows = None
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            pass
        self._db.close()


def _memory_copy(dim: int, rows: list[tuple]) -> sqlite3.Connection:
    """A new in-memory archive database holding ``rows``, committed, with a transaction open (as ``Archive`` keeps it)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(_SCHEMA)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO info VALUES (?, ?)",
                     [("format", "riscmoe-archive"), ("format_version", str(FORMAT_VERSION)), ("dim", str(dim))])
    conn.executemany("INSERT INTO records (id, kind, label, member, importance, step, x) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    return conn
