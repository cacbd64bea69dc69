"""The functions domain as a service: ``POST /solve`` answers tasks from a library file, growing it.

Every library operation runs on one thread of its own (the library's SQLite connection
belongs to the thread that opened it, and the controller solves one task at a time); the
library's own transactions make each stored function durable before the answer goes out,
and several processes may share the file (see the README's functions section).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from riscmoe.serve.service import RequestError


class FunctionsService:
    """Serve a functions library file: ``solve`` a batch of tasks, list its functions.

    Args:
        library: the library file (``riscmoe functions solve --library``).
        time_limit: the synthesiser's nominal seconds of search per task.
        max_batch: most tasks in one request.
    """

    domain = "functions"

    def __init__(self, library: str | Path, time_limit: float = 5.0, max_batch: int = 64) -> None:
        self.path = Path(library)
        self.max_batch = int(max_batch)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="riscmoe-functions")
        self._lock = threading.Lock()
        self.started = time.time()
        self.by_status: Counter[str] = Counter()
        self.tasks = 0

        def open_library() -> None:
            from riscmoe.functions.controller import FunctionController
            from riscmoe.functions.library import FunctionLibrary
            from riscmoe.functions.synthesis import SynthesisCreator

            self.library = FunctionLibrary(str(self.path))
            self.controller = FunctionController(self.library, creators=[SynthesisCreator(budget=float(time_limit))])

        self._pool.submit(open_library).result()

    def _on_thread(self, fn: Any, *args: Any) -> Any:
        return self._pool.submit(fn, *args).result()

    def solve(self, body: Any) -> dict[str, Any]:
        """``{"tasks": [TASK, ...]}`` (the task-file format) -> ``{"answers": [answers-file lines]}``."""
        from riscmoe.functions.tasks import task_from_dict

        if not isinstance(body, dict) or set(body) != {"tasks"} or not isinstance(body["tasks"], list) or not body["tasks"]:
            raise RequestError(422, "the body must be {\"tasks\": [TASK, ...]} with tasks in the task-file format "
                                    "({\"name\", \"examples\": [{\"args\", \"output\"}], \"queries\": [{\"args\"}]})")
        if len(body["tasks"]) > self.max_batch:
            raise RequestError(413, f"{len(body['tasks'])} tasks in one request; at most {self.max_batch}")
        tasks = []
        for i, d in enumerate(body["tasks"]):
            try:
                tasks.append(task_from_dict(d))
            except (ValueError, TypeError) as exc:
                raise RequestError(422, f"tasks[{i}]: {exc}") from None

        def run() -> list[dict]:
            out = []
            for t in tasks:
                r = self.controller.solve(t)
                out.append(r.to_answer_line())
            return out

        answers = self._on_thread(run)
        with self._lock:
            self.tasks += len(answers)
            self.by_status.update(a["status"] for a in answers)
        return {"answers": answers}

    def members(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        def rows() -> tuple[int, list[dict]]:
            records = self.library.list(include_quarantined=True)
            return len(records), [{"name": r.name, "signature": str(r.signature), "description": r.description,
                                   "provenance": r.provenance, "uses": r.uses, "confirmed": r.confirmed, "refuted": r.refuted,
                                   "state": r.state, "size": r.size} for r in records[offset: offset + limit]]

        total, page = self._on_thread(rows)
        return {"total": total, "offset": offset, "limit": limit, "members": page}

    def health(self) -> dict[str, Any]:
        n = self._on_thread(len, self.library)
        return {"status": "ok", "domain": "functions", "members": n, "tasks_solved": self.tasks,
                "uptime_seconds": time.time() - self.started}

    def stats_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"tasks": self.tasks, "by_status": dict(self.by_status)}

    def describe(self) -> str:
        return f"{self._on_thread(len, self.library)} functions in {self.path}"

    def close(self) -> None:
        if self._pool._shutdown:
            return
        try:
            self._on_thread(self.library.close)
        finally:
            self._pool.shutdown()
