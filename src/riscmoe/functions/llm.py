"""A creator and a chooser backed by a language model behind an OpenAI-compatible endpoint.

Any server that answers ``POST /v1/chat/completions`` the way OpenAI's API does works:
llama.cpp's ``llama-server``, Ollama (``ollama serve``), vLLM. Only the standard library's
``urllib`` is used. An API key, where the server wants one, comes from ``api_key`` or the
environment variable ``OPENAI_API_KEY``.

- ``ChatClient`` sends one chat request and returns the reply text, or raises ``LLMError``
  saying what went wrong (server unreachable, too slow, HTTP error, not a chat completion).
- ``LLMCreator`` writes a function for a task: it shows the model the stored functions
  nearest the task whole (``similar_functions``: by text and by behaviour on the task's
  examples), then the task's signature, description, examples and the library functions it
  may call; it extracts one ``def`` from the reply, verifies it on the examples and, when
  that fails, asks again with the failures listed (a bounded number of repairs). It returns
  the first source that passes, or None. ``ChatClient.calls_`` keeps each request's tokens
  (the server's counts) and seconds.
- ``LLMChooser`` asks the model which of a few candidate functions fits a task
  (``riscmoe.functions.router.LLMRouter`` asks it which stored function applies at all).

Example (needs a running server)::

    creator = LLMCreator(base_url="http://127.0.0.1:8080", model="qwen2.5-coder")
    source = creator.create(task, library)  # verified on task.examples, or None
"""

from __future__ import annotations

import ast
import hashlib
import http.client
import json
import os
import re
import socket
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from riscmoe.functions.values import Signature, format_call
from riscmoe.registry import register

if TYPE_CHECKING:
    from riscmoe.functions.library import FunctionLibrary, FunctionRecord
    from riscmoe.functions.tasks import Task

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
Verify = Callable[[str, "Task", "FunctionLibrary"], Sequence[str]]  # (source, task, library) -> failures


MAX_REPLY_BYTES = 1 << 20  # a chat completion holding one small function is a few kB
MAX_ERROR_BYTES = 64 << 10  # of an HTTP error's body, enough to quote it


class LLMError(RuntimeError):
    """The language-model server could not be reached, was too slow or answered something unusable."""


@dataclass(frozen=True)
class Call:
    """One answered chat request: seconds from sending it to the whole reply, and the server's token counts.

    ``prompt_tokens`` / ``completion_tokens`` are None when the server sent no ``usage``.
    """

    seconds: float
    prompt_tokens: int | None
    completion_tokens: int | None


def usage_of(calls: Sequence[Call]) -> dict:
    """``{"requests", "prompt_tokens", "completion_tokens", "seconds", "uncounted"}`` over ``calls``
    (``uncounted``: requests whose reply carried no token counts, left out of the sums)."""
    counted = [c for c in calls if c.prompt_tokens is not None and c.completion_tokens is not None]
    return {"requests": len(calls), "prompt_tokens": sum(c.prompt_tokens for c in counted),  # type: ignore[misc]
            "completion_tokens": sum(c.completion_tokens for c in counted),  # type: ignore[misc]
            "seconds": sum(c.seconds for c in calls), "uncounted": len(calls) - len(counted)}


@dataclass
class ChatClient:
    """One OpenAI-compatible chat endpoint.

    Args:
        base_url: server root (``http://127.0.0.1:8080``) or its ``/v1`` path.
        model: model name the server knows (``llama-server`` ignores it, Ollama needs it).
        timeout: seconds to wait for a whole answer: for the server to start answering, and
            for the whole reply to arrive (a server that sends its reply a byte at a time is
            cut off when the total passes it, not only when one byte is late).
        api_key: sent as a bearer token; None reads ``OPENAI_API_KEY`` (and sends none if unset).
        max_reply_bytes: a longer answer is refused (LLMError) after reading that many bytes,
            before any of it is parsed.
    """

    base_url: str
    model: str
    timeout: float = 120.0
    api_key: str | None = field(default=None, repr=False)
    max_reply_bytes: int = MAX_REPLY_BYTES
    calls_: list[Call] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^/\s]+", self.base_url or ""):
            raise ValueError(
                f"language-model base URL {self.base_url!r} is not an http(s) URL; "
                "give the server root, e.g. --llm-base-url http://127.0.0.1:8080"
            )
        if not self.model:
            raise ValueError("no language-model name given; pass one with --llm-model (e.g. qwen2.5-coder)")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {self.timeout}")
        if not (isinstance(self.max_reply_bytes, int) and self.max_reply_bytes > 0):
            raise ValueError(f"max_reply_bytes must be a positive number of bytes, got {self.max_reply_bytes!r}")

    @property
    def endpoint(self) -> str:
        root = self.base_url.rstrip("/")
        return root + ("/chat/completions" if root.endswith("/v1") else "/v1/chat/completions")

    def complete(self, messages: Sequence[Message], temperature: float = 0.0, max_tokens: int | None = None,
                 stop: Sequence[str] = ()) -> str:
        """The assistant's reply to ``messages``; LLMError if there is no usable one.

        ``max_tokens``: most tokens of reply (None: the server's limit); ``stop``: strings at
        which the server ends the reply (OpenAI's ``stop``, at most 4). Each answered request
        is recorded in ``calls_`` (tokens as the server counts them, seconds waited).
        """
        request_body: dict = {"model": self.model, "messages": list(messages), "temperature": temperature}
        if max_tokens is not None:
            request_body["max_tokens"] = max_tokens
        if stop:
            request_body["stop"] = list(stop)[:4]
        body = json.dumps(request_body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.api_key if self.api_key is not None else os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
        url = self.endpoint
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = self._read_capped(response, deadline)
        except urllib.error.HTTPError as exc:
            detail = _snippet(exc.read(MAX_ERROR_BYTES))
            hint = {
                401: " Set OPENAI_API_KEY if the server wants a key.",
                404: f" Is the base URL right ({self.base_url!r})? It should be the server root or end in /v1, and the model {self.model!r} must exist.",
            }.get(exc.code, "")
            raise LLMError(f"language-model server {url} answered HTTP {exc.code} {exc.reason}: {detail}.{hint}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise LLMError(self._too_slow()) from None
            raise LLMError(
                f"cannot reach the language-model server at {url}: {exc.reason}. Start one (llama.cpp's "
                "llama-server, `ollama serve` or vLLM) or point --llm-base-url at a running one."
            ) from None
        except (TimeoutError, socket.timeout):
            raise LLMError(self._too_slow()) from None
        except (OSError, http.client.HTTPException) as exc:  # reset, closed or cut short while answering
            raise LLMError(f"the language-model server at {url} broke off its answer: {exc}") from None
        text = _reply_text(raw, url)
        self.calls_.append(Call(time.monotonic() - t0, *_usage(raw)))
        return text

    def usage(self) -> dict:
        """The requests answered so far: how many, tokens in and out, seconds waited (``Call``s summed)."""
        return usage_of(self.calls_)

    def _read_capped(self, response: http.client.HTTPResponse, deadline: float) -> bytes:
        """The body, or LLMError once it passes ``max_reply_bytes`` (read no further: a huge
        reply would cost memory and time far beyond its size once parsed) or once the time
        passes ``deadline`` (``time.monotonic()``): each read waits at most the time left."""
        cap = self.max_reply_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise LLMError(self._too_large(f"{int(declared)} bytes"))
        sock = getattr(getattr(response.fp, "raw", None), "_sock", None)  # the connection under the buffered reader
        chunks, size = [], 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LLMError(self._too_slow())
            if isinstance(sock, socket.socket):
                sock.settimeout(left)
            chunk = response.read1(min(1 << 16, cap + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                raise LLMError(self._too_large(f"more than {cap} bytes"))

    def _too_large(self, size: str) -> str:
        return (
            f"the language-model server at {self.endpoint} answered {size}; replies over "
            f"{self.max_reply_bytes} bytes are refused (max_reply_bytes). Ask for shorter answers "
            "(a smaller max_tokens on the server) or raise the limit"
        )

    def _too_slow(self) -> str:
        return (
            f"the language-model server at {self.endpoint} did not answer within {self.timeout:g} s; "
            "give it more time (timeout) or use a smaller model"
        )


def _snippet(raw: bytes | str, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _reply_text(raw: bytes, url: str) -> str:
    """``choices[0].message.content`` of a chat completion, or LLMError quoting what came instead."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise LLMError(f"the language-model server at {url} answered something that is not JSON: {_snippet(raw)}") from None
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError(
            f"the language-model server at {url} answered JSON that is not a chat completion "
            f"(no choices[0].message.content): {_snippet(json.dumps(data))}"
        ) from None
    if not isinstance(content, str):
        raise LLMError(f"the language-model server at {url} answered a non-text message content: {_snippet(json.dumps(content))}")
    return content


def _usage(raw: bytes) -> tuple[int | None, int | None]:
    """``usage.prompt_tokens`` and ``usage.completion_tokens`` of a chat completion (None where absent)."""
    try:
        usage = json.loads(raw).get("usage") or {}
    except (ValueError, AttributeError):
        return None, None
    counts = [usage.get(k) if isinstance(usage, dict) else None for k in ("prompt_tokens", "completion_tokens")]
    return tuple(c if isinstance(c, int) and not isinstance(c, bool) and c >= 0 else None for c in counts)  # type: ignore[return-value]


# -- reading a function out of a reply ---------------------------------------------------------

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)  # reasoning models' scratchpad
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|$)", re.S)


def extract_function(reply: str, name: str | None = None) -> str | None:
    """The source of one top-level ``def`` in a model's reply, or None if there is none.

    Fenced code blocks (```python ... ```) are read first, then the bare reply, from its
    first ``def`` line to the end of that function. When the code holds several functions
    the one called ``name`` wins, else the first. Imports and other statements are left
    out: only the ``def`` itself comes back.

    >>> extract_function("Sure!\\n```python\\ndef tri(n):\\n    return n * (n + 1) // 2\\n```\\nDone.")
    'def tri(n):\\n    return n * (n + 1) // 2'
    """
    text = _THINK.sub("", reply)
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "python", "py", "python3")]
    for candidate in [*blocks, text]:
        source = _one_def(candidate, name)
        if source is not None:
            return source
    return None


def _one_def(text: str, name: str | None) -> str | None:
    text = textwrap.dedent(text)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        # Prose around bare code: keep from the first "def" line to the first line back at
        # column 0 that does not continue the function.
        lines = text.splitlines()
        start = next((i for i, ln in enumerate(lines) if ln.startswith("def ")), None)
        if start is None:
            return None
        end = next((j for j in range(start + 1, len(lines)) if lines[j].strip() and not lines[j][0].isspace()), len(lines))
        text = "\n".join(lines[start:end])
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if not defs:
        return None
    chosen = next((d for d in defs if d.name == name), defs[0])
    return ast.get_source_segment(text, chosen)


# -- prompts -------------------------------------------------------------------------------------

RULES = """\
You write small, pure Python functions that reproduce input/output examples.
Answer with one ```python code block holding exactly one top-level def, and nothing else.
Rules the code must follow, or it is refused:
- no import statements; use plain Python and the listed library functions only;
- no try/except, no print, no files or network, no names starting with an underscore;
- no string literals except one docstring;
- the function is deterministic and returns within a second;
- return the output type asked for: an int as int, a float as float, a bool as True or False,
  a list of ints as a list."""


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name.strip()) or "f"
    return ident if ident[0].isalpha() or ident[0] == "_" else f"f_{ident}"


def _param_names(types: Sequence[str]) -> list[str]:
    if len(types) == 1:
        return ["xs" if types[0] == "list[int]" else "x"]
    return [chr(ord("a") + i) for i in range(len(types))]


def describe(name: str, sig: Signature, description: str = "") -> str:
    """``name(x: int) -> int  # description``: one library function as the prompt lists it."""
    params = ", ".join(f"{p}: {t}" for p, t in zip(_param_names(sig.args), sig.args))
    return f"{name}({params}) -> {sig.output}" + (f"  # {description}" if description else "")


def signature_line(name: str, task: Task) -> str:
    """``def name(a: int, xs: list[int]) -> bool:`` for a task's signature."""
    return f"def {describe(_identifier(name), task.signature)}:"


def task_prompt(task: Task, functions: Sequence[str], similar: Sequence[Similar] = ()) -> str:
    """The first request for a task; ``functions`` are the library lines to offer (see ``describe``),
    ``similar`` the stored functions shown whole as worked examples (``similar_functions``)."""
    name = _identifier(task.name)
    lines = []
    if similar:
        lines.append("Functions already in the library that come closest to this task (call them by name, or adapt "
                     "their code):\n")
        for sim in similar:
            lines += ["```python", sim.source.strip(), "```"]
            if sim.shows:
                lines.append(f"# on this task's first example: {sim.shows}")
            lines.append("")
    lines.append(f"Write this function:\n\n    {signature_line(name, task)}\n")
    if task.description:
        lines.append(f"What it computes: {task.description}\n")
    lines.append("It must satisfy every one of these examples:")
    lines += [f"    {format_call(name, args)} == {out!r}" for args, out in task.examples]
    if functions:
        lines.append("\nThese library functions are already defined; call them by name if they help:")
        lines += [f"    {line}" for line in functions]
    return "\n".join(lines)


# -- the library as context: the stored functions nearest a task ---------------------------------


@dataclass(frozen=True)
class Similar:
    """A stored function retrieved for a task: its name and source, how near it is, and what it
    gives on the task's first example (``"rev([3, 1]) == [1, 3], wanted [3, 1]"``; "" when it
    has another signature)."""

    name: str
    source: str
    text: float  # cosine of the task's and the function's hashed bags of words, 0..1
    behaviour: float  # mean closeness of its outputs to the task's on the examples, 0..1 (0: another signature)
    shows: str = ""

    @property
    def score(self) -> float:
        return self.text + self.behaviour


def similar_functions(task: Task, library: FunctionLibrary, k: int) -> list[Similar]:
    """The ``k`` stored functions nearest ``task`` by text and by behaviour, nearest first.

    Text: the cosine between the task's name and description and the function's name,
    description and the tasks it answered (``riscmoe.functions.meta``'s hashed bags of
    words). Behaviour: the functions of the task's signature are run on the task's example
    inputs (one sandbox round trip) and scored by how close their outputs come to the
    wanted ones (``closeness``): one that gets every example right scores 1, one that keeps
    the length of a list and most of its elements scores near 0.5. Score: text + behaviour;
    functions scoring 0 are left out. Ties go to the smaller function, then library order.
    """
    if k <= 0:
        return []
    from riscmoe.functions.meta import _text, embed

    recs = library.list()
    if not recs:
        return []
    q = embed([f"{task.name} {task.description}"])[0]
    text = embed([_text(r) for r in recs]) @ q  # (M,)
    same = [i for i, r in enumerate(recs) if r.signature == task.signature]
    behaviour = [0.0] * len(recs)
    shows = [""] * len(recs)
    if same:
        inputs = [a for a, _ in task.examples]
        outs = library.run_many([recs[i].name for i in same], inputs)
        out_type = task.signature.output
        for i, got in zip(same, outs):
            behaviour[i] = sum(closeness(o.value, want, out_type) if o.ok else 0.0
                               for o, (_, want) in zip(got, task.examples)) / len(task.examples)
            first = got[0]
            value = repr(first.value) if first.ok else "an error"
            shows[i] = f"{format_call(recs[i].name, task.examples[0][0])} == {value}, wanted {task.examples[0][1]!r}"
    order = sorted(range(len(recs)), key=lambda i: (-(float(text[i]) + behaviour[i]), recs[i].size, i))
    return [Similar(recs[i].name, recs[i].source, float(text[i]), behaviour[i], shows[i])
            for i in order[:k] if float(text[i]) + behaviour[i] > 1e-6]


def closeness(got: object, want: object, out_type: str) -> float:
    """How near an output is to the wanted one, 0..1: 1 equal; partial credit for near numbers and lists.

    Numbers: ``0.5 / (1 + |got - want|)``. Lists: half for the length (``1 - |la - lb| / max``)
    plus half for the elements shared (as multisets, over the longer length), times 0.9 so
    that only an equal list scores 1. Booleans and wrong types: 1 or 0.

    >>> closeness([3, 2, 1], [1, 2, 3], "list[int]"), closeness(7, 6, "int"), closeness(True, False, "bool")
    (0.9, 0.25, 0.0)
    """
    from collections import Counter

    from riscmoe.functions.values import values_equal

    if values_equal(got, want, out_type):
        return 1.0
    if out_type == "list[int]" and isinstance(got, list) and isinstance(want, list):
        longest = max(len(got), len(want))
        if longest == 0:
            return 0.0
        shared = sum((Counter(map(repr, got)) & Counter(map(repr, want))).values())
        return 0.9 * (0.5 * (1 - abs(len(got) - len(want)) / longest) + 0.5 * shared / longest)
    if out_type in ("int", "float") and isinstance(got, (int, float)) and not isinstance(got, bool):
        try:
            return 0.5 / (1.0 + abs(float(got) - float(want)))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return 0.0
    return 0.0


def retry_prompt(failures: Sequence[str], limit: int = 8) -> str:
    """The follow-up request after a reply that failed verification."""
    shown = [f"- {f}" for f in failures[:limit]]
    if len(failures) > limit:
        shown.append(f"- ... and {len(failures) - limit} more")
    return "That function is wrong:\n" + "\n".join(shown) + "\nWrite a corrected version, following the same rules."


CODE_END = ("\n```\n",)  # the reply's first code block closed: the rest would be prose, costing time and tokens
NO_DEF = "the reply holds no Python function definition; answer with one ```python block holding one def"


# -- the creator -------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One round of ``LLMCreator.create``: what the model said and how verification went."""

    task: str
    number: int  # 1 for the first request of a task
    reply: str
    source: str | None  # the def extracted from the reply, None if there was none
    failures: list[str]  # empty: it passed


@dataclass
class LLMCreator:
    """A creator that asks a language model to write the function, verifies it and retries.

    It meets the ``riscmoe.functions.creator.FunctionCreator`` protocol. Of the library it reads
    ``library.list()`` (name, signature, description and uses of each stored function) to
    show the model what it may call; the default verification also uses ``library.sandbox``.

    Args:
        base_url: server root or its ``/v1`` path (``--llm-base-url``).
        model: model name (``--llm-model``).
        max_attempts: requests per task; each retry lists the previous attempt's failures.
        timeout: seconds each request may take.
        temperature: sampling temperature of the first request; retries add 0.2 each so a
            stubborn model does not repeat itself.
        max_functions: most library functions listed in the prompt.
        api_key: bearer token; None reads ``OPENAI_API_KEY``.
        verify: ``(source, task, library) -> failures``; None runs
            ``riscmoe.functions.creator.check_on_examples`` in the library's sandbox.
        server_id: what the failure memo knows the server by, in place of ``base_url``: an
            embedded model's server (``--llm local``) listens on a new port each run, and is
            the same model whatever the port (``riscmoe.functions.local_llm``). None: the URL.
        few_shot: stored functions nearest the task (by text and by behaviour on its
            examples: ``similar_functions``) shown whole at the top of the prompt, as worked
            examples to call or adapt; 0: none (only the list of names).
        max_tokens: most tokens of each reply (None: the server's own limit). Replies stop at
            the end of the first code block either way.

    ``client_`` is the ``ChatClient``; ``attempts_`` records every attempt of every ``create``
    call; ``last`` the latest call's figures (``reason``, ``attempts``, ``llm_requests``,
    ``prompt_tokens``, ``completion_tokens``, ``llm_seconds``, ``few_shot``: the names shown).
    """

    base_url: str
    model: str
    max_attempts: int = 3
    timeout: float = 120.0
    temperature: float = 0.2
    max_functions: int = 40
    api_key: str | None = field(default=None, repr=False)
    verify: Verify | None = None
    server_id: str | None = None
    few_shot: int = 3
    max_tokens: int | None = None
    provenance: str = field(default="llm", init=False)
    client_: ChatClient = field(init=False, repr=False)
    attempts_: list[Attempt] = field(default_factory=list, init=False, repr=False)
    last: dict = field(default_factory=dict, init=False, repr=False)
    _similar_cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if not (isinstance(self.few_shot, int) and self.few_shot >= 0):
            raise ValueError(f"few_shot must be a whole number of functions, 0 or more, got {self.few_shot!r}")
        if self.max_tokens is not None and not (isinstance(self.max_tokens, int) and self.max_tokens >= 1):
            raise ValueError(f"max_tokens must be a positive whole number of tokens or None, got {self.max_tokens!r}")
        self.client_ = ChatClient(self.base_url, self.model, self.timeout, self.api_key)

    def create(self, task: Task, library: FunctionLibrary) -> str | None:
        """Source of one def that passes verification on ``task.examples``, or None.

        Raises LLMError when the server cannot be reached or answers something that is not a
        chat completion; a reply without a usable function only costs an attempt.
        """
        similar = self.similar(task, library)
        messages: list[Message] = [
            {"role": "system", "content": RULES},
            {"role": "user", "content": task_prompt(task, self.offer(task, library), similar)},
        ]
        start = len(self.client_.calls_)
        self.last = {"reason": "no attempt", "attempts": 0, "few_shot": [s.name for s in similar]}
        try:
            for number in range(1, self.max_attempts + 1):
                reply = self.client_.complete(messages, temperature=self.temperature + 0.2 * (number - 1),
                                              max_tokens=self.max_tokens, stop=CODE_END)
                source = extract_function(reply, _identifier(task.name))
                failures = [NO_DEF] if source is None else list(self._verify(source, task, library))
                self.attempts_.append(Attempt(task.name, number, reply, source, failures))
                self.last.update(attempts=number, reason="verified" if not failures else "failed")
                if not failures:
                    return source
                # Repair: the verifier's failures go back to the model, a bounded number of rounds.
                messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": retry_prompt(failures)}]
            self.last["reason"] = f"no reply passed in {self.max_attempts} attempt{'s' * (self.max_attempts != 1)}"
            return None
        finally:
            used = usage_of(self.client_.calls_[start:])
            self.last.update(llm_requests=used["requests"], prompt_tokens=used["prompt_tokens"],
                             completion_tokens=used["completion_tokens"], llm_seconds=used["seconds"])

    def similar(self, task: Task, library: FunctionLibrary) -> list[Similar]:
        """The ``few_shot`` stored functions shown whole in the prompt (``similar_functions``), kept
        per task and library revision (``library_view`` and ``create`` read the same ones)."""
        if self.few_shot == 0:
            return []
        key = (id(library), library.revision, task.name, task.description, str(task.signature),
               json.dumps([[list(a), o] for a, o in task.examples], default=str))
        found = self._similar_cache.get(key)
        if found is None:
            if len(self._similar_cache) > 256:
                self._similar_cache.clear()
            found = self._similar_cache[key] = similar_functions(task, library, self.few_shot)
        return found

    def offer(self, task: Task, library: FunctionLibrary) -> list[str]:
        """Lines presenting library functions to the model, e.g. ``square(x: int) -> int  # x times x``.

        At most ``max_functions``: those of the task's signature first, then those of its
        output type, then those sharing any type with it; the most used first within each.
        """
        records = sorted(library.list(), key=self._rank(task))  # stable: library order among equals
        return [describe(r.name, r.signature, r.description) for r in records[: self.max_functions]]

    @staticmethod
    def _rank(task: Task) -> Callable[[FunctionRecord], tuple[bool, bool, bool, int]]:
        """The order ``offer`` lists functions in: the task's signature, its output type, any shared type; most used first."""
        sig = task.signature
        wanted = {*sig.args, sig.output}

        def rank(r: FunctionRecord) -> tuple[bool, bool, bool, int]:
            s = r.signature
            return (s != sig, s.output != sig.output, not ({*s.args, s.output} & wanted), -r.uses)

        return rank

    def library_view(self, task: Task, library: FunctionLibrary) -> str:
        """A fingerprint of what ``create`` reads of the library (the failure memo's key).

        The functions it offers the model, in the prompt's order (``offer``: by type, then by
        use count), with each one's source: what a call of it in the reply runs when the reply
        is verified; and the functions shown whole (``similar``) with what they give on the
        task's first example. A model that failed on a task is asked again once either changes.
        """
        lines = self.offer(task, library)
        sources = library.sources()
        names = [r.name for r in sorted(library.list(), key=self._rank(task))[: self.max_functions]]
        shown = [[s.name, s.source, s.shows] for s in self.similar(task, library)]
        text = json.dumps([lines, [[n, sources.get(n, "")] for n in names], shown], separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]

    def _verify(self, source: str, task: Task, library: FunctionLibrary) -> Sequence[str]:
        if self.verify is not None:
            return self.verify(source, task, library)
        from riscmoe.functions.creator import check_on_examples

        return check_on_examples(source, task, library, library.sandbox)


# -- the chooser -----------------------------------------------------------------------------------


CHOOSER_RULES = """\
You pick which stored function computes what a task's examples show.
Answer with the function's name only, exactly as listed, or the word none if no function fits."""


@dataclass
class LLMChooser:
    """Asks a language model which of some candidate functions fits a task.

    Args:
        base_url, model, timeout, api_key: as for ``ChatClient``.
        temperature: sampling temperature (0: the model's most likely answer).

    ``client_`` is the ``ChatClient``; ``replies_`` records every reply.

    Example (needs a running server)::

        LLMChooser("http://127.0.0.1:8080", "qwen2.5-coder").choose(task, {"square": "x * x", "double": "2 * x"})
    """

    base_url: str
    model: str
    timeout: float = 60.0
    temperature: float = 0.0
    api_key: str | None = field(default=None, repr=False)
    client_: ChatClient = field(init=False, repr=False)
    replies_: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.client_ = ChatClient(self.base_url, self.model, self.timeout, self.api_key)

    def choose(self, task: Task, candidates: Mapping[str, str]) -> str | None:
        """One name of ``candidates`` (name -> description or source), or None.

        None when there are no candidates, the model answers "none", names no candidate,
        or names more than one. LLMError when the server fails.
        """
        if not candidates:
            return None
        name = _identifier(task.name)
        lines = [f"Task {name}" + (f": {task.description}" if task.description else "")]
        lines += [f"    {format_call(name, args)} == {out!r}" for args, out in task.examples]
        lines.append("\nCandidates:")
        for cand, about in candidates.items():
            about = " ".join(about.split())
            lines.append(f"- {cand}" + (f": {about}" if about else ""))
        lines.append("\nWhich candidate computes this? Answer with its name only, or none.")
        reply = self.client_.complete(
            [{"role": "system", "content": CHOOSER_RULES}, {"role": "user", "content": "\n".join(lines)}],
            temperature=self.temperature,
        )
        self.replies_.append(reply)
        return parse_choice(reply, list(candidates))


def parse_choice(reply: str, names: Sequence[str]) -> str | None:
    """The one name of ``names`` a reply gives, or None (none, several, or something else).

    >>> parse_choice("`square`.", ["square", "double"]), parse_choice("none", ["square"])
    ('square', None)
    """
    text = _THINK.sub("", reply).strip()
    bare = text.strip("`'\"*.:! \n\t")
    if bare in names:
        return bare
    found = {n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", text)}
    return found.pop() if len(found) == 1 else None


@register("creator", "llm", domains=("functions",))
@dataclass(frozen=True)
class LLM:
    """A language model as a kind of the functions domain's creator: builds an ``LLMCreator``
    (``riscmoe functions solve`` sets ``base_url`` and ``model`` from ``--llm-base-url`` and
    ``--llm-model``; the bearer token comes from ``OPENAI_API_KEY``, never from a setting)."""

    base_url: str = ""
    model: str = ""
    max_attempts: int = field(default=3, metadata={"min": 1})
    timeout: float = field(default=120.0, metadata={"min": 0.0})
    temperature: float = field(default=0.2, metadata={"min": 0.0})
    max_functions: int = field(default=40, metadata={"min": 0})
    server_id: str | None = None
    few_shot: int = field(default=3, metadata={"min": 0})
    max_tokens: int | None = None

    def build(self) -> LLMCreator:
        if not self.base_url or not self.model:
            raise ValueError("the llm creator needs base_url and model (--llm-base-url and --llm-model)")
        return LLMCreator(self.base_url, self.model, max_attempts=self.max_attempts, timeout=self.timeout,
                          temperature=self.temperature, max_functions=self.max_functions, server_id=self.server_id,
                          few_shot=self.few_shot, max_tokens=self.max_tokens)
