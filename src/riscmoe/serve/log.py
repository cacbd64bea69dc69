"""The service's feedback log: every accepted feedback, on disk (fsynced) before it is acknowledged.

One file, ``feedback.log``, of text lines. The first line is a header naming the format,
its version and the system the feedback belongs to (the saved system's manifest checksum),
so that a log is never replayed onto another system. Every later line is one accepted
feedback request: ``DIGEST JSON`` where DIGEST is the first 16 hex digits of the SHA-256 of
JSON, and JSON holds the record's sequence number, its inputs, labels and (for answers given
feedback) the labels that were served.

A kill at any moment leaves the file as it was plus at most one torn last line: a last line
without its newline or whose digest does not match was never acknowledged (the answer goes
out only after ``fsync``) and is cut off when the log is opened. A bad line *followed* by
good ones is not a torn write but damage, and is refused with the line number.

After a checkpoint (a saved system that holds every record up to some sequence number) the
log is rewritten without those records: a new file, fsynced, renamed over the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riscmoe.durable import fsync_dir

FORMAT = "riscmoe-serve-log"
FORMAT_VERSION = 1


class LogFormatError(ValueError):
    """The log file is not a riscmoe service log of this version, belongs to another system, or is damaged."""


@dataclass(frozen=True)
class Record:
    """One accepted feedback request.

    seq: its sequence number (1, 2, ...; never reused, also across restarts).
    inputs: (n, D) inputs as lists of floats (float32 values, exact in JSON).
    labels: n true labels (ints or strings).
    served: n labels the service had answered for these inputs (feedback on answers), or
        None entries where the input came as a new labelled example.
    time: when it was accepted (seconds since the epoch).
    client: an identifier the client gave with the request (or "").
    """

    seq: int
    inputs: list
    labels: list
    served: list
    time: float
    client: str = ""
    answers: list = field(default_factory=list)  # the answer ids it gave feedback on

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "time": self.time, "client": self.client, "inputs": self.inputs,
                           "labels": self.labels, "served": self.served, "answers": self.answers},
                          separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "Record":
        d = json.loads(text)
        return cls(seq=int(d["seq"]), inputs=d["inputs"], labels=d["labels"], served=d["served"], time=float(d["time"]),
                   client=str(d.get("client", "")), answers=list(d.get("answers", [])))


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _line(payload: str) -> bytes:
    return f"{_digest(payload)} {payload}\n".encode()


class FeedbackLog:
    """Append-only, fsynced log of accepted feedback (see the module's promises).

    Args:
        path: the log file (created with its header if absent).
        system: the identity of the system it belongs to (a saved system's manifest checksum).
    """

    def __init__(self, path: str | os.PathLike, system: str) -> None:
        self.path = Path(path)
        self.system = system
        self._lock = threading.Lock()
        self.truncated = 0  # bytes of a torn last line cut off when opened
        self.records: list[Record] = self._open()
        self.last_seq = self.records[-1].seq if self.records else 0
        self._fh = open(self.path, "ab")

    def _header(self) -> str:
        return json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "system": self.system}, separators=(",", ":"))

    def _open(self) -> list[Record]:
        if not self.path.exists():
            self._write_whole([])
            return []
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        # ``lines[-1]`` is what follows the last newline: empty for a whole file, else a torn line.
        torn = len(lines[-1])
        whole = lines[:-1]
        if not whole:
            if data.strip():
                raise LogFormatError(f"{self.path} is not a riscmoe service log (no header line); move it away or give another --state")
            self._write_whole([])
            return []
        try:
            header = json.loads(whole[0].decode())
        except (UnicodeDecodeError, ValueError):
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise LogFormatError(f"{self.path} is not a riscmoe service log; move it away or give another --state")
        if header.get("version") != FORMAT_VERSION:
            raise LogFormatError(f"{self.path} is a service log of format version {header.get('version')}; this riscmoe "
                                 f"reads version {FORMAT_VERSION} only")
        if header.get("system") != self.system:
            raise LogFormatError(f"{self.path} holds feedback for another system (its checksum {header.get('system')!r}, this "
                                 f"system's {self.system!r}); give another --state, or delete that folder to start afresh")
        records: list[Record] = []
        for i, raw in enumerate(whole[1:], start=2):
            rec = self._parse(raw)
            if rec is None:
                if i == len(whole):  # the last whole line: a torn write that happened to end in a newline byte
                    torn += len(raw) + 1
                    break
                raise LogFormatError(f"{self.path} line {i} is damaged (its digest does not match) and good lines follow it: "
                                     "this is not a torn write; restore the file or delete the state folder")
            if records and rec.seq != records[-1].seq + 1:
                raise LogFormatError(f"{self.path} line {i}: record {rec.seq} follows record {records[-1].seq}; the log is damaged")
            records.append(rec)
        if torn:
            # Never acknowledged (the answer follows the fsync of a whole line): cut it off.
            with open(self.path, "r+b") as fh:
                fh.truncate(len(data) - torn)
                fh.flush()
                os.fsync(fh.fileno())
            self.truncated = torn
        return records

    @staticmethod
    def _parse(raw: bytes) -> Record | None:
        try:
            text = raw.decode()
            digest, payload = text.split(" ", 1)
            if _digest(payload) != digest:
                return None
            return Record.from_json(payload)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None

    def _write_whole(self, records: list[Record]) -> None:
        """The log as a new file holding ``records``: written beside, fsynced, renamed into place."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "wb") as fh:
            fh.write((self._header() + "\n").encode())
            for r in records:
                fh.write(_line(r.to_json()))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

    def append(self, make: Any) -> Record:
        """Write one record durably and return it.

        ``make(seq)`` builds the record for the next sequence number (called under the log's
        lock, so that sequence numbers follow the order of the file). When this returns, the
        record is on disk.
        """
        with self._lock:
            rec: Record = make(self.last_seq + 1)
            self._fh.write(_line(rec.to_json()))
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.last_seq = rec.seq
            return rec

    def drop_through(self, seq: int) -> None:
        """Rewrite the log without the records up to ``seq`` (a checkpoint holds them now)."""
        with self._lock:
            keep = [r for r in self._read_back() if r.seq > seq]
            self._fh.close()
            self._write_whole(keep)
            self._fh = open(self.path, "ab")

    def _read_back(self) -> list[Record]:
        out = []
        with open(self.path, "rb") as fh:
            next(fh)
            for raw in fh:
                rec = self._parse(raw.rstrip(b"\n"))
                if rec is not None:
                    out.append(rec)
        return out

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()
