"""The functions domain: a growing library of code functions, found by meta-models, written by creators.

- ``tasks``: examples of an unknown function plus queries (JSON Lines files);
- ``library``: the functions, in SQLite, deduplicated by behaviour; ``seed``: the seed functions;
- ``meta``: the meta-models that say which stored functions may solve a task;
- ``controller``: reuse (policies first / best / mixture, optionally a ``Chooser``) or create, then answer;
- ``creator``: the creator protocol; ``synthesis``: the embedded program synthesiser;
  ``llm``: a language-model creator (the library's nearest functions as context, repairs from
  the verifier's failures) and chooser; ``router``: a language model as controller, proposing
  the stored function or composition a task needs;
- ``sandbox`` (and ``worker``): safe execution of untrusted functions.
"""

from riscmoe.functions.controller import POLICIES, Chooser, FunctionController, Router, TaskResult
from riscmoe.functions.creator import FunctionCreator, check_on_examples
from riscmoe.functions.library import AddResult, FunctionLibrary, FunctionRecord, LibraryFormatError
from riscmoe.functions.meta import ApplicabilityIndex, Candidate
from riscmoe.functions.sandbox import Outcome, Sandbox, UnsafeSourceError, check_source
from riscmoe.functions.synthesis import SynthesisCreator, search
from riscmoe.functions.tasks import Task, TaskFormatError, load_tasks
from riscmoe.functions.values import Signature

__all__ = [
    "POLICIES", "AddResult", "ApplicabilityIndex", "Candidate", "Chooser", "Creator", "FunctionController", "FunctionLibrary",
    "FunctionRecord", "LibraryFormatError", "Outcome", "Router", "Sandbox", "Signature", "SynthesisCreator", "Task",
    "TaskFormatError", "TaskResult", "UnsafeSourceError", "check_on_examples", "check_source", "load_tasks", "search",
]
