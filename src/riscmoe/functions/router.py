"""A language model as the controller: it reads a task and proposes which stored function applies.

The applicability index (``riscmoe.functions.meta``) ranks the stored functions of a task's
signature; ``LLMRouter`` shows the model the task (name, description, examples) and the
index's top candidates (name, description, source), with a few one-step functions to compose
(for a task from a type to itself: the stored functions nearest it by text and behaviour,
those the index refuted included), and asks which one computes the task, or which composition of
two (``outer(inner(x))``). The answer is only a proposal: the controller verifies it like
any candidate, in the sandbox, on the task's examples (the held-back one included), and
uses it only if it reproduces them all (``FunctionController(router=...)``).

``Proposal.source`` is what runs: the stored function's own call, or for a composition a
new two-line function that the controller stores (made by ``llm``) once it is verified.

Example (needs a running server)::

    router = LLMRouter("http://127.0.0.1:8080", "qwen2.5-coder")
    proposal = router.propose(task, index.rank(task, library)[0], library)
    proposal.text, proposal.source  # "reverse(sort(xs))", "def routed(xs): ..."
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from riscmoe.functions.llm import _THINK, ChatClient, _identifier, _param_names, describe, similar_functions, usage_of
from riscmoe.functions.values import Signature, format_call

if TYPE_CHECKING:
    from riscmoe.functions.library import FunctionLibrary, FunctionRecord
    from riscmoe.functions.meta import Candidate
    from riscmoe.functions.tasks import Task

ROUTER_RULES = """\
You route tasks to stored functions. Read the task's examples, then pick the listed function that
computes them, or a composition of two listed functions written outer(inner(x)).
Answer with one line only: the function's name, or the composition, or the word none."""

# outer(inner(x)) with any argument list inside: the two names are what counts.
_COMPOSITION = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(\s*([A-Za-z_]\w*)\s*\(")


@dataclass(frozen=True)
class Proposal:
    """What the model proposed for a task.

    ``kind`` is "function" (one stored function: ``names`` holds it), "composition"
    (``names`` = (outer, inner); ``source`` defines ``routed`` calling them), "none" (the
    model said none applies) or "invalid" (a name not listed, types that do not fit, or no
    answer it could be read as: ``why`` says which).
    """

    kind: str
    names: tuple[str, ...]
    text: str  # the reply's line, as read
    source: str | None = None
    why: str = ""


@dataclass
class LLMRouter:
    """Asks a language model which stored function (or composition of two) a task needs.

    Args:
        base_url, model, timeout, api_key: as for ``ChatClient``.
        top_k: candidates from the index shown to the model (the index's best first).
        steps: one-step functions also shown for compositions (of the task's input type to
            itself, and of its output type to itself; by text similarity to the task).
        temperature: sampling temperature (0: the model's most likely answer).
        max_tokens: most tokens of the reply (a name or a composition is a few).
        server_id: what the failure memo and reports know the server by (an embedded model).

    ``client_`` is the ``ChatClient``; ``replies_`` records every reply.
    """

    base_url: str
    model: str
    top_k: int = 6
    steps: int = 4
    timeout: float = 120.0
    temperature: float = 0.0
    max_tokens: int | None = 32
    api_key: str | None = field(default=None, repr=False)
    server_id: str | None = None
    client_: ChatClient = field(init=False, repr=False)
    replies_: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        for what, v in (("top_k", self.top_k), ("steps", self.steps)):
            if not (isinstance(v, int) and v >= 0):
                raise ValueError(f"{what} must be a whole number, 0 or more, got {v!r}")
        if self.top_k == 0 and self.steps == 0:
            raise ValueError("top_k and steps are both 0: the router would show the model no function to pick")
        if self.max_tokens is not None and not (isinstance(self.max_tokens, int) and self.max_tokens >= 1):
            raise ValueError(f"max_tokens must be a positive whole number of tokens or None, got {self.max_tokens!r}")
        self.client_ = ChatClient(self.base_url, self.model, self.timeout, self.api_key)

    def usage(self) -> dict:
        """Requests, tokens in and out and seconds of every ``propose`` so far (``ChatClient.usage``)."""
        return usage_of(self.client_.calls_)

    def options(self, task: Task, candidates: Sequence[Candidate], library: FunctionLibrary) -> tuple[list[FunctionRecord], list[FunctionRecord]]:
        """The functions shown: the index's top ``top_k`` candidates, and up to ``steps`` one-step
        functions for compositions: for a task from a type to itself, those of its signature
        nearest it by text and behaviour (``similar_functions``); otherwise those from its input
        type to itself and from its output type to itself, nearest the task's text first."""
        from riscmoe.functions.meta import _text, embed

        shown = [library.get(c.name) for c in candidates[: self.top_k]]
        sig = task.signature
        if sig.arity != 1 or self.steps == 0:
            return shown, []
        taken = {r.name for r in shown}
        if sig.args == (sig.output,):
            # A type to itself: the steps are functions of the task's own signature, nearest by
            # text and by behaviour on its examples (those the index refuted included: a step
            # need not compute the task alone).
            near_fns = similar_functions(task, library, self.steps + len(shown))
            return shown, [library.get(f.name) for f in near_fns if f.name not in taken][: self.steps]
        step_sigs = {Signature((sig.args[0],), sig.args[0]), Signature((sig.output,), sig.output)}
        pool = [r for r in library.list() if r.signature in step_sigs and r.name not in taken]
        if not pool:
            return shown, []
        q = embed([f"{task.name} {task.description}"])[0]
        near = embed([_text(r) for r in pool]) @ q
        order = sorted(range(len(pool)), key=lambda i: (-float(near[i]), pool[i].size, i))
        return shown, [pool[i] for i in order[: self.steps]]

    def prompt(self, task: Task, shown: Sequence[FunctionRecord], steps: Sequence[FunctionRecord]) -> str:
        """The request: the task and its examples, then the functions with their code."""
        name = _identifier(task.name)
        lines = [f"Task {name}" + (f": {task.description}" if task.description else ""), "Examples:"]
        lines += [f"    {format_call(name, args)} == {out!r}" for args, out in task.examples]
        lines.append("\nStored functions that may compute it:")
        for r in shown:
            lines.append(f"- {describe(r.name, r.signature, r.description)}")
            lines.append("    " + " ".join(r.source.split()))
        if steps:
            lines.append("\nSteps that can be composed with them:")
            lines += [f"- {describe(r.name, r.signature, r.description)}" for r in steps]
        param = _param_names(task.signature.args)[0]
        lines.append(f"\nWhich function computes {name}? Answer with its name, or outer(inner({param})), or none.")
        return "\n".join(lines)

    def propose(self, task: Task, candidates: Sequence[Candidate], library: FunctionLibrary) -> Proposal | None:
        """The model's proposal for ``task`` among ``candidates`` (the index's ranking), or None
        when there is nothing to show it. LLMError when the server fails."""
        shown, steps = self.options(task, candidates, library)
        if not shown and not steps:
            return None
        reply = self.client_.complete(
            [{"role": "system", "content": ROUTER_RULES}, {"role": "user", "content": self.prompt(task, shown, steps)}],
            temperature=self.temperature, max_tokens=self.max_tokens,
        )
        self.replies_.append(reply)
        return parse_proposal(reply, task.signature, {r.name: r for r in [*shown, *steps]})


def parse_proposal(reply: str, sig: Signature, listed: dict[str, FunctionRecord]) -> Proposal:
    """Read a router reply: one listed function of signature ``sig``, a composition of two listed
    functions that fits ``sig``, "none", or "invalid" (with why).

    >>> from riscmoe.functions.library import FunctionLibrary
    >>> lib = FunctionLibrary(":memory:")
    >>> sig = Signature(("list[int]",), "list[int]")
    >>> listed = {r.name: r for r in lib.by_signature(sig)}
    >>> p = parse_proposal("reverse(sort(xs))", sig, listed)
    >>> p.kind, p.names
    ('composition', ('reverse', 'sort'))
    >>> parse_proposal("`sort`", sig, listed).kind, parse_proposal("None.", sig, listed).kind
    ('function', 'none')
    """
    text = _THINK.sub("", reply).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = line.strip("`'\"*.:! \t")
    if "=" in line and not _COMPOSITION.search(line.split("=", 1)[0]):
        line = line.rsplit("=", 1)[1].strip(" `")  # "f = outer(inner(x))" or "answer: ... = name"
    m = _COMPOSITION.search(line)
    if m:
        outer, inner = m.group(1), m.group(2)
        unknown = [n for n in (outer, inner) if n not in listed]
        if unknown:
            return Proposal("invalid", (outer, inner), line, why=f"{', '.join(unknown)} not among the functions shown")
        a, b = listed[outer].signature, listed[inner].signature
        if b.args != sig.args or a.args != (b.output,) or a.output != sig.output:
            return Proposal("invalid", (outer, inner), line,
                            why=f"{outer}({inner}(...)) does not fit {sig}: {inner} is {b}, {outer} is {a}")
        params = ", ".join(_param_names(sig.args))
        source = f"def routed({params}):\n    return {outer}({inner}({params}))"
        return Proposal("composition", (outer, inner), line, source)
    if re.fullmatch(r"(?i)none|no function|nothing", line) or (not line and text):
        return Proposal("none", (), line)
    same = [n for n, r in listed.items() if r.signature == sig]
    if line in same:
        return Proposal("function", (line,), line)
    found = {n for n in same if re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", text)}
    if len(found) == 1:
        return Proposal("function", (found.pop(),), line)
    if re.search(r"(?i)\bnone\b", line):
        return Proposal("none", (), line)
    why = "names several listed functions" if found else "names no listed function of the task's signature"
    return Proposal("invalid", tuple(sorted(found)), line, why=why)
