"""The functions domain's creators: whatever writes a new function when no stored one fits a task.

``FunctionCreator`` is riscmoe's one creator protocol (``riscmoe.creator.protocol.Creator``:
``create(need, context)``) as this domain fills it in: the need is a task, the context the
function library, the member made the source of one function.

Two creators implement it: ``riscmoe.functions.synthesis.SynthesisCreator`` (the embedded
default, a program synthesiser that needs no model) and ``riscmoe.functions.llm.LLMCreator``
(a language model behind an OpenAI-compatible endpoint). The controller asks them in turn,
checks what they return with ``check_source``, verifies it in the sandbox on every example
and stores it; a creator never writes to the library itself.

Contract of ``create(task, library)``:

- return the source text of exactly one top-level ``def`` (any name: the controller renames
  it to a free library name) whose positional parameters match ``task.signature.args``;
  it may call stored library functions by name and the builtins in
  ``riscmoe.functions.sandbox.SAFE_BUILTINS``;
- or return ``None`` when it found nothing within its budget;
- never read ``task.expected`` (held-back answers, for scoring only);
- run untrusted code only through a ``Sandbox`` (``riscmoe.functions.sandbox``);
  ``check_on_examples`` below does that for a candidate source.

Optionally, ``library_view(task, library) -> str``: a fingerprint of everything ``create``
would read of the library for that task (both shipped creators have one). The controller's
failure memo keys on it: while the task, the creator's settings (its public scalar
attributes) and this view are unchanged, a search that failed is not run again. Without it
the memo takes the library's ``state()`` (every function in use: name, signature,
description, source, whether it may be composed), so a creator that reads more (use counts,
say) should say so in its own view.

The command line builds the LLM creator as ``LLMCreator(base_url=URL, model=NAME)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from riscmoe.creator.protocol import Creator

if TYPE_CHECKING:
    from riscmoe.functions.library import FunctionLibrary
    from riscmoe.functions.sandbox import Sandbox
    from riscmoe.functions.tasks import Task


@runtime_checkable
class FunctionCreator(Creator, Protocol):
    """Writes one function for a task that no stored function solves.

    Attributes:
        provenance: recorded with every function it makes: "synthesised" or "llm".
    """

    provenance: str

    def create(self, task: Task, library: FunctionLibrary) -> str | None:
        """Source of one function meant to reproduce ``task.examples``, or None."""
        ...


def check_on_examples(source: str, task: Task, library: FunctionLibrary, sandbox: Sandbox) -> list[str]:
    """Run ``source`` on the task's examples in the sandbox; what went wrong, one line each.

    An empty list means the source passed the static check and reproduced every example.
    The lines are meant for people and for a language model's retry prompt, e.g.
    ``"f(3) returned 7, expected 6"`` or ``"f(0) failed: error: ZeroDivisionError: ..."``.
    """
    from riscmoe.functions.sandbox import UnsafeSourceError, check_source
    from riscmoe.functions.values import format_call, values_equal

    try:
        tree = check_source(source)
    except UnsafeSourceError as exc:
        return [f"refused by the source check: {exc}"]
    name = tree.name
    outcomes = sandbox.run_many([(source, name, [args for args, _ in task.examples])], library.sources())[0]
    problems = []
    for (args, want), got in zip(task.examples, outcomes):
        call = format_call(name, args)
        if not got.ok:
            problems.append(f"{call} failed: {got.reason}")
        elif not values_equal(got.value, want, task.signature.output):
            problems.append(f"{call} returned {got.value!r}, expected {want!r}")
    return problems
