"""A saved recognition system that answers requests and learns from feedback at the same time.

Two copies of the system live in the service:

- the **learner**, which only ever learns (``partial_fit``, one call per accepted feedback
  record, in the order of the log), touched by the learning thread alone;
- the **served** system, an immutable copy of the learner taken after it learned, brought
  exactly up to date (``prepare()``), that every prediction reads. A new copy replaces it in
  one assignment (with the number of the last record it holds, as one pair), so a
  prediction sees the system before an update or after it, never half of one.

A copy is what ``copy.deepcopy(learner)`` then ``prepare()`` would be, but it does not copy
the whole system (``riscmoe.serve.snapshot``): the members, and the bank's per-member
statistics, that learning did not change since the previous copy are that copy's own
objects, which nothing writes to once served; only what changed is copied. At 2,000 members
that made a copy four times cheaper (a feedback record changes a handful of members), and
memory stays what two copies hold: the learner, and a served copy whose unchanged members
every later copy shares.

``learn="continuous"`` serves a new copy as soon as the feedback queued meanwhile is learned;
``learn="phases"`` only once every ``phase_length`` examples of feedback (answers change at
phase ends only). Either way the learner's own feedback schedule (the saved system's
``feedback`` part: ``continuous`` or ``phases``) decides how each batch is learned.

Durability: a feedback request is checked completely (shapes, labels, answer ids, values
within the system's outlier limit) before anything changes; then written to the feedback log
and fsynced (``riscmoe.serve.log``); only then acknowledged. On start the service loads the
newest checkpoint in its state folder (else the saved system, which it never changes) and
learns every logged record after it again, in order: the learner is then where it would have
been, and every acknowledged feedback is in it. Every ``checkpoint_every`` records the
learner is saved as a checkpoint and the log is cut down to what follows it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from riscmoe.serve.log import FeedbackLog, Record
from riscmoe.serve.snapshot import Snapshots

LEARN_MODES = ("continuous", "phases")


class RequestError(ValueError):
    """Bad input in a request: ``status`` is the HTTP status to answer (4xx); nothing was changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Answer:
    x: np.ndarray  # (D,) float32: the input answered
    label: Any  # the label served (None for "unknown")
    member: int
    used: bool = False  # feedback was given on it already


def system_identity(system_dir: Path) -> str:
    """The saved system's manifest checksum: feedback logged for it is for this system only."""
    from riscmoe.persistence.folder import read_manifest

    manifest = read_manifest(system_dir)
    return str(manifest.get("manifest_checksum") or manifest.get("riscmoe_version"))


class RecognitionService:
    """Serve a saved ``RiscClassifier`` from ``system_dir``, learning from feedback into ``state_dir``.

    Args:
        system_dir: a saved system (``RiscClassifier.save``, ``riscmoe run``'s ``system/``); never written.
        state_dir: where the feedback log and the checkpoints live (made if absent).
        learn: ``continuous`` or ``phases`` (see the module).
        phase_length: examples of feedback per phase (``learn="phases"``).
        keep_answers: answers remembered for feedback by answer id (their inputs stay in memory).
        checkpoint_every: records between checkpoints (0: a checkpoint only on a clean stop).
        max_batch: most inputs in one request.
    """

    domain = "recognition"

    def __init__(self, system_dir: str | Path, state_dir: str | Path, learn: str = "continuous", phase_length: int = 512,
                 keep_answers: int = 10000, checkpoint_every: int = 1000, max_batch: int = 4096,
                 progress: Any = None) -> None:
        if learn not in LEARN_MODES:
            raise ValueError(f"learn must be one of {', '.join(LEARN_MODES)}, got {learn!r}")
        for name, value, low in (("phase_length", phase_length, 1), ("keep_answers", keep_answers, 0),
                                 ("checkpoint_every", checkpoint_every, 0), ("max_batch", max_batch, 1)):
            if int(value) < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        self.system_dir, self.state_dir = Path(system_dir), Path(state_dir)
        self.learn_mode, self.phase_length = learn, int(phase_length)
        self.keep_answers, self.checkpoint_every, self.max_batch = int(keep_answers), int(checkpoint_every), int(max_batch)
        self._say = progress or (lambda text: print(f"riscmoe serve: {text}", file=sys.stderr, flush=True))
        self.boot = secrets.token_hex(4)  # answer ids of this run of the service start with it
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._answers_lock = threading.Lock()
        self._feedback_lock = threading.Lock()
        self._counter = 0
        self._cond = threading.Condition()
        self._queue: deque[Record] = deque()
        self._stop = False
        self._checkpoint_on_stop = True
        self._closed = False
        self.applied_seq = 0  # the learner holds every record up to this one
        # The served system and the last record it holds, as one pair: a request that reads
        # it once never pairs one copy with another copy's number.
        self._now: tuple[Any, int] = (None, 0)
        self._snapshots = Snapshots()
        self.last_swap: dict[str, Any] = {}  # the last served copy: seconds to make it, members copied and shared
        self.failed: list[dict] = []  # records the learner refused (none pass the checks and fail; kept for the record)
        self._since_swap = 0
        self.started = time.time()
        self.stats = _Stats()
        self._start()

    # ------------------------------------------------------------------ start
    def _start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        identity = system_identity(self.system_dir)
        self.log = FeedbackLog(self.state_dir / "feedback.log", identity)
        if self.log.truncated:
            self._say(f"cut off a torn last line of {self.log.truncated} bytes in {self.log.path} (never acknowledged)")
        # The learner lives in its own thread from the load on (its archive's SQLite connection
        # belongs to the thread that opened it).
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.learner_error: str | None = None
        self._thread = threading.Thread(target=self._main, name="riscmoe-learner", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self.log.close()
            raise self._error

    def _main(self) -> None:
        try:
            self._load()
        except BaseException as exc:  # handed to the starting thread, which raises it
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._run()
        except BaseException as exc:
            # Feedback is still accepted and logged (it is learned on the next start); health says so.
            self.learner_error = f"{type(exc).__name__}: {exc}"
            self._say(f"learning stopped: {self.learner_error}; feedback is still logged and will be learned on restart")

    def _load(self) -> None:
        import riscmoe

        checkpoint, base_seq = self._newest_checkpoint()
        self.learner = riscmoe.load(checkpoint if checkpoint is not None else self.system_dir)
        self.applied_seq = base_seq
        if base_seq > self.log.last_seq:
            self.log.last_seq = base_seq  # (the log was cut down to nothing after this checkpoint)
        todo = [r for r in self.log.records if r.seq > base_seq]
        if todo and todo[0].seq != base_seq + 1:
            raise ValueError(f"the feedback log {self.log.path} starts at record {todo[0].seq} but the newest checkpoint holds "
                             f"records up to {base_seq}: records are missing; the state folder is damaged")
        if todo:
            self._say(f"learning {len(todo)} logged feedback records again (from record {todo[0].seq})")
        for rec in todo:
            self._learn(rec)
            self.stats.feedback(rec)
        self.log.records = []  # (not needed any more)
        self.last_checkpoint = base_seq
        self._swap()

    def _checkpoints(self) -> list[tuple[int, Path]]:
        folder = self.state_dir / "checkpoints"
        out = []
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith("seq-") and p.name[4:].isdigit() and p.is_dir():
                    out.append((int(p.name[4:]), p))
        return sorted(out)

    def _newest_checkpoint(self) -> tuple[Path | None, int]:
        from riscmoe.persistence.folder import SaveFormatError, read_manifest

        for seq, path in reversed(self._checkpoints()):
            try:
                read_manifest(path)
                return path, seq
            except (SaveFormatError, OSError, ValueError) as exc:
                self._say(f"checkpoint {path} does not load ({exc}); trying an older one")
        return None, 0

    # ---------------------------------------------------------------- predict
    @property
    def system(self) -> Any:
        """The system predictions read now (never changed once served)."""
        return self._now[0]

    @property
    def served_seq(self) -> int:
        """The last feedback record the served system holds."""
        return self._now[1]

    def _inputs(self, raw: Any, clf: Any, what: str) -> np.ndarray:
        """Inputs of a request as a float32 (n, *input_shape) array, or RequestError."""
        from riscmoe.validation import check_X

        if not isinstance(raw, list) or not raw:
            raise RequestError(422, f"{what} must be a non-empty list of inputs (each a list of {clf.n_features_in_} numbers)")
        if len(raw) > self.max_batch:
            raise RequestError(413, f"{what} holds {len(raw)} inputs; at most {self.max_batch} per request")
        try:
            X = np.asarray(raw, dtype=np.float64)
        except (ValueError, TypeError):
            raise RequestError(422, f"{what} must be a list of equal-length lists of numbers") from None
        shape = tuple(clf.input_shape_)
        if X.ndim >= 2 and X.shape[1:] != shape and int(np.prod(X.shape[1:])) == int(np.prod(shape)):
            X = X.reshape(len(X), *shape)  # flat inputs of the right size are taken as they are
        try:
            Xc = check_X(X, input_shape=shape, what=what, who="this system")
            clf.value_scale_.check(Xc, clf.outlier_factor, learning=False, what=what)
        except (ValueError, TypeError) as exc:
            raise RequestError(422, str(exc)) from None
        return Xc

    def predict(self, raw: Any) -> dict[str, Any]:
        """Answers for a batch: label, confidence, the member that answered, models run, and an id per answer."""
        clf, seq = self._now  # one system for the whole request
        X = self._inputs(raw, clf, "inputs")
        t0 = time.perf_counter()
        view = _Recording(clf.collection_)
        p = clf._predict(X, collection=view)  # (the hook riscmoe.sharding uses: here it notes which models ran)
        wall = time.perf_counter() - t0
        ran = view.ran(len(X))
        labels = [None if (v is None or (clf.label_kind_ == "int" and int(v) == -1)) else _plain(v) for v in p.labels.tolist()]
        ids = []
        with self._answers_lock:
            for i in range(len(X)):
                self._counter += 1
                aid = f"{self.boot}-{self._counter}"
                ids.append(aid)
                if self.keep_answers:
                    self._answers[aid] = _Answer(X[i].reshape(-1), labels[i], int(p.member[i]))
            while len(self._answers) > self.keep_answers:
                self._answers.popitem(last=False)
        self.stats.predicted(p, labels, wall)
        return {
            "answers": [{"id": ids[i], "label": labels[i], "confidence": float(p.confidence[i]), "member": int(p.member[i]),
                         "members_run": int(p.members_run[i]),
                         "ran": ran[i] if len(ran[i]) == int(p.members_run[i]) else ([int(p.member[i])] if p.member[i] >= 0 else [])}
                        for i in range(len(X))],
            "system_version": seq,
        }

    # --------------------------------------------------------------- feedback
    def _labels(self, raw: Any, n: int, clf: Any, what: str) -> list:
        if not isinstance(raw, list) or len(raw) != n:
            raise RequestError(422, f"{what} must be a list of {n} labels (one per input), got "
                                    f"{len(raw) if isinstance(raw, list) else type(raw).__name__}")
        kind = clf.label_kind_
        for i, v in enumerate(raw):
            if kind == "int" and not (isinstance(v, int) and not isinstance(v, bool)):
                raise RequestError(422, f"{what}[{i}] is {v!r}; this system's labels are integers")
            if kind == "str" and not isinstance(v, str):
                raise RequestError(422, f"{what}[{i}] is {v!r}; this system's labels are strings")
            if kind == "int" and not -(2**63) <= v < 2**63:
                raise RequestError(422, f"{what}[{i}] = {v} lies outside 64-bit integers")
            if kind == "int" and v == -1:
                raise RequestError(422, f"{what}[{i}] is -1, which stands for 'unknown'; give the true label")
        return list(raw)

    def feedback(self, body: Any, wait: bool = False, timeout: float = 60.0) -> dict[str, Any]:
        """Accept feedback (answers' true labels and/or new labelled examples), durably, then acknowledge it.

        ``body``: ``{"answers": [{"id": ..., "label": ...}], "examples": {"inputs": [...], "labels": [...]},
        "client": "..."}`` (either part may be missing, not both). With ``wait``, returns once the
        feedback is learned (and, learning continuously, served).
        """
        clf = self.system
        if not isinstance(body, dict):
            raise RequestError(422, "the body must be a JSON object with 'answers' and/or 'examples'")
        unknown = sorted(set(body) - {"answers", "examples", "client"})
        if unknown:
            raise RequestError(422, f"unknown field {unknown[0]!r}; a feedback body has 'answers', 'examples' and 'client'")
        client = body.get("client", "")
        if not isinstance(client, str) or len(client) > 200:
            raise RequestError(422, "client must be a string of at most 200 characters")
        answers = body.get("answers") or []
        examples = body.get("examples")
        if not answers and not examples:
            raise RequestError(422, "give 'answers' (a list of {\"id\", \"label\"}) and/or 'examples' ({\"inputs\", \"labels\"})")
        if not isinstance(answers, list):
            raise RequestError(422, "answers must be a list of {\"id\": ANSWER_ID, \"label\": TRUE_LABEL}")
        if len(answers) > self.max_batch:
            raise RequestError(413, f"answers holds {len(answers)} items; at most {self.max_batch} per request")
        ids = []
        for i, a in enumerate(answers):
            if not isinstance(a, dict) or set(a) != {"id", "label"} or not isinstance(a["id"], str):
                raise RequestError(422, f"answers[{i}] must be {{\"id\": ANSWER_ID, \"label\": TRUE_LABEL}}, got {str(a)[:80]}")
            ids.append(a["id"])
        if len(set(ids)) != len(ids):
            raise RequestError(422, "the same answer id is given twice in one request")
        a_labels = self._labels([a["label"] for a in answers], len(answers), clf, "answers' labels") if answers else []
        Xe = np.zeros((0, clf.n_features_in_), np.float32)
        e_labels: list = []
        if examples is not None:
            if not isinstance(examples, dict) or set(examples) != {"inputs", "labels"}:
                raise RequestError(422, "examples must be {\"inputs\": [...], \"labels\": [...]}")
            Xe = self._inputs(examples["inputs"], clf, "examples' inputs").reshape(-1, clf.n_features_in_)
            e_labels = self._labels(examples["labels"], len(Xe), clf, "examples' labels")
        if len(answers) + len(Xe) > self.max_batch:
            raise RequestError(413, f"{len(answers) + len(Xe)} examples in one request; at most {self.max_batch}")
        with self._feedback_lock:  # one feedback at a time: the log's order is the learner's order
            with self._answers_lock:
                found = []
                for aid in ids:
                    a = self._answers.get(aid)
                    if a is None:
                        why = ("it was given before this service restarted" if not aid.startswith(self.boot + "-")
                               else f"it is not among the last {self.keep_answers} answers")
                        raise RequestError(404, f"unknown answer id {aid[:40]!r} ({why}); send its input with the true "
                                                "label under 'examples' instead")
                    if a.used:
                        raise RequestError(409, f"answer {aid!r} has had its feedback already")
                    found.append(a)
            X = np.concatenate([np.stack([a.x for a in found]) if found else np.zeros((0, clf.n_features_in_), np.float32), Xe])
            labels = a_labels + e_labels
            served = [a.label for a in found] + [None] * len(e_labels)
            now = time.time()
            rec = self.log.append(lambda seq: Record(seq=seq, inputs=X.tolist(), labels=labels, served=served, time=now,
                                                     client=client, answers=ids))
            # Durable from here on.
            with self._answers_lock:
                for a in found:
                    a.used = True
            with self._cond:
                self._queue.append(rec)
                self._cond.notify_all()
        self.stats.feedback(rec)
        if wait:
            with self._cond:
                deadline = time.monotonic() + timeout
                done = (lambda: self.applied_seq >= rec.seq) if self.learn_mode == "phases" else (lambda: self.served_seq >= rec.seq)
                while not done() and not self._stop:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
        right = sum(1 for s, t in zip(served[: len(ids)], labels) if s == t)
        return {"seq": rec.seq, "examples": len(labels), "answers_right": int(right), "answers": len(ids),
                "learned": self.applied_seq >= rec.seq, "served": self.served_seq >= rec.seq}

    # --------------------------------------------------------------- learning
    def _learn(self, rec: Record) -> None:
        """One record into the learner (the same call at first and on every replay)."""
        clf = self.learner
        X = np.asarray(rec.inputs, dtype=np.float32).reshape(len(rec.inputs), *clf.input_shape_)
        y = np.asarray(rec.labels, dtype=object if clf.label_kind_ == "str" else np.int64)
        try:
            clf.partial_fit(X, y)
        except (ValueError, TypeError) as exc:
            # The checks before logging make this rare (e.g. a row an earlier record made an
            # outlier); partial_fit refuses bad input with nothing changed, the same on replay.
            self.failed.append({"seq": rec.seq, "error": str(exc)})
        self.applied_seq = rec.seq
        self._since_swap += len(rec.labels)

    def _swap(self) -> None:
        """Serve a prepared copy of the learner (members it did not change since the last copy are that copy's)."""
        t0 = time.perf_counter()
        served = self._snapshots.take(self.learner)
        self._now = (served, self.applied_seq)
        self._since_swap = 0
        self.last_swap = {"seconds": round(time.perf_counter() - t0, 4), "members_copied": self._snapshots.copied,
                          "members_shared": self._snapshots.shared}

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                batch = list(self._queue)
                self._queue.clear()
                stop = self._stop
            for rec in batch:
                self._learn(rec)
            if batch and (self.learn_mode == "continuous" or self._since_swap >= self.phase_length) and not stop:
                self._swap()
            with self._cond:
                self._cond.notify_all()
            if stop:
                if self._checkpoint_on_stop:
                    self.checkpoint()  # (nothing when nothing was learned since the last one)
                return
            if self.checkpoint_every and self.applied_seq - self.last_checkpoint >= self.checkpoint_every:
                self.checkpoint()

    def checkpoint(self) -> Path | None:
        """Save the learner as the state folder's newest checkpoint, then drop the log's records it holds.

        Called from the learning thread (or once it stopped)."""
        seq = self.applied_seq
        if seq <= self.last_checkpoint:
            return None
        path = self.state_dir / "checkpoints" / f"seq-{seq:012d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.learner.save(path)  # appears whole or not at all
        self.last_checkpoint = seq
        self.log.drop_through(seq)
        for old_seq, old in self._checkpoints():
            if old_seq < seq:
                shutil.rmtree(old, ignore_errors=True)
        return path

    def close(self, checkpoint: bool = True) -> None:
        """Stop learning: what was queued is learned first, then saved as a checkpoint (unless ``checkpoint`` is False)."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._stop = True
            self._checkpoint_on_stop = checkpoint
            self._cond.notify_all()
        self._thread.join()
        self.log.close()

    # ---------------------------------------------------------------- looking
    def describe(self) -> str:
        return (f"{self.system.n_experts_} members, feedback learned {self.learn_mode}"
                + (f" (phases of {self.phase_length} examples)" if self.learn_mode == "phases" else "")
                + f", state in {self.state_dir}")

    def pending(self) -> int:
        return self.log.last_seq - self.applied_seq

    def health(self) -> dict[str, Any]:
        clf = self.system
        return {"status": "ok" if self.learner_error is None else f"learning stopped ({self.learner_error})", "domain": "recognition", "members": clf.n_experts_, "labels": len(clf.labels_),
                "input_shape": list(clf.input_shape_), "accepted_seq": self.log.last_seq, "learned_seq": self.applied_seq,
                "served_seq": self.served_seq, "pending": self.pending(), "learn": self.learn_mode,
                "refused_by_learner": len(self.failed), "last_swap": self.last_swap, "uptime_seconds": time.time() - self.started}

    def members(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        clf = self.system
        members = clf.collection_.members
        total = len(members)
        rows = [self._member_row(clf, m) for m in members[offset: offset + limit]]
        return {"total": total, "offset": offset, "limit": limit, "members": rows}

    def _member_row(self, clf: Any, m: Any) -> dict[str, Any]:
        border = getattr(clf.collection_.meta, "border", None)
        b = border[m.index].tolist() if border is not None and m.index < len(border) else None
        return {"index": m.index, "label": _plain(clf.labels_[m.label]), "examples": int(m.n_positive),
                "refused": int(m.n_negative), "border": b, "answered": self.stats.answered(m.index),
                "made_at": int(m.created_at), "reason": m.reason, "parameters": int(m.model.n_parameters)}


class _Recording:
    """A collection as the controller sees it, noting which members' models ran on which inputs."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self._offset = 0  # first row of the block being answered (predict answers blocks of rows in order)
        self._next = 0
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return len(self.collection)

    def encode(self, X: Any) -> Any:
        self._offset = self._next
        self._next += len(X)
        return self.collection.encode(X)

    def labels(self) -> Any:
        return self.collection.labels()

    def evaluate(self, Z: Any, exact: bool = True) -> Any:
        return self.collection.evaluate(Z, exact=exact)

    def run_models(self, Z: Any, rows: Any, members: Any, runs: Any) -> Any:
        self._pairs.append((rows.numpy() + self._offset, members.numpy().copy()))
        return self.collection.run_models(Z, rows, members, runs)

    def ran(self, n: int) -> list[list[int]]:
        """Per input, the members whose models ran on it, in the order they ran."""
        out: list[list[int]] = [[] for _ in range(n)]
        for rows, members in self._pairs:
            for r, m in zip(rows.tolist(), members.tolist()):
                if m not in out[r]:
                    out[r].append(m)
        return out


def _plain(v: Any) -> Any:
    """A label as JSON holds it."""
    if isinstance(v, np.integer):
        return int(v)
    return v


class _Stats:
    """What the page shows, aggregated as it happens (bounded: the last requests only, and sums)."""

    def __init__(self, recent: int = 2000) -> None:
        self._lock = threading.Lock()
        self.routing: deque[tuple[Any, int]] = deque(maxlen=recent)  # (label served, member) of the last answers
        self._answered: dict[int, int] = {}
        self.timing: deque[tuple[int, float, float, float, float]] = deque(maxlen=200)  # n, encoder, meta, models, wall s
        self.accuracy: deque[tuple[float, int, int]] = deque(maxlen=100_000)  # (time, right, answers) per record on answers
        self.requests = 0
        self.inputs = 0
        self.feedback_examples = 0

    def predicted(self, p: Any, labels: list, wall: float) -> None:
        with self._lock:
            self.requests += 1
            self.inputs += len(labels)
            for lab, mem in zip(labels, p.member.tolist()):
                self.routing.append((lab, int(mem)))
                self._answered[int(mem)] = self._answered.get(int(mem), 0) + 1
            t = p.timing
            self.timing.append((len(labels), t["encoder_seconds"], t["meta_seconds"], t["model_seconds"], wall))

    def feedback(self, rec: Record) -> None:
        with self._lock:
            self.feedback_examples += len(rec.labels)
            k = len(rec.answers)  # the record's first k rows are answers given feedback on
            if k:
                right = sum(1 for s, t in zip(rec.served[:k], rec.labels[:k]) if s == t)
                self.accuracy.append((rec.time, right, k))

    def answered(self, member: int) -> int:
        return self._answered.get(member, 0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"routing": list(self.routing), "timing": list(self.timing), "accuracy": list(self.accuracy),
                    "answered": dict(self._answered), "requests": self.requests, "inputs": self.inputs,
                    "feedback_examples": self.feedback_examples}


def dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=False)
