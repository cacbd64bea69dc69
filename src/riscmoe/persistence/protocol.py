"""The persistence contract every stateful part keeps: its own arrays and notes, under its kind."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Persistent(Protocol):
    """A part that saves and restores its own learned state.

    Contract:

    - ``save_state()`` returns ``(arrays, info)``: tensors by name (written to the save's
      safetensors file under the part's prefix; names need not be unique across parts) and
      a JSON-serialisable dict of everything else (counts, random states). It changes
      no learned state (it may bring derived caches up to date).
    - ``load_state(arrays, info)`` restores exactly that state into a part freshly built
      from the same kind and configuration, so that it answers and learns on as the saved
      one would. It raises ``ValueError`` naming what does not fit, before changing anything
      it cannot finish.
    """

    def save_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]: ...

    def load_state(self, arrays: dict[str, torch.Tensor], info: dict[str, Any]) -> None: ...
