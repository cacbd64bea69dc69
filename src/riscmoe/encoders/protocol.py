"""What an encoder is: the fixed map from inputs to the features every member works in."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Encoder(Protocol):
    """The shared feature map.

    Contract:

    - ``encoder(X)`` takes a float32 tensor of flattened inputs ``(B, D)`` and returns a
      float32 tensor of features ``(B, dim)``, row for row: the same input always gives the
      same features, whatever batch it comes in, and encoding changes no state. Members'
      statistics are kept in this space, so an encoder must not drift once learning
      started (train yours beforehand, then freeze it).
    - ``dim``: the feature count F.
    - ``macs_per_input``: multiply-adds per input, and ``n_parameters``: the numbers that
      define it, each None where unknown (reported by ``RiscClassifier.cost_per_input_``
      and ``n_parameters_``).

    Any ``torch.nn.Module`` or callable serves through ``ModuleEncoder``, which
    ``RiscClassifier(encoder=...)`` wraps around it.
    """

    dim: int

    @property
    def macs_per_input(self) -> int | None: ...

    @property
    def n_parameters(self) -> int | None: ...

    def __call__(self, X: torch.Tensor) -> torch.Tensor: ...


class EncoderKind(Protocol):
    """A registered encoder kind: builds the encoder for a per-example input shape.

    ``build`` may return an ``Encoder`` or any module or callable (wrapped in
    ``ModuleEncoder``). The same shape and seed must give the same encoder.
    """

    def build(self, input_shape: tuple[int, ...], seed: int) -> Any: ...


class ModuleEncoder:
    """Any ``torch.nn.Module`` or callable as an ``Encoder``.

    The callable gets a batch shaped like the inputs given to ``partial_fit``,
    ``(B, *input_shape)`` (``flatten=True``: ``(B, D)``), as a float32 torch tensor
    (``numpy=True``: a NumPy array), and returns ``(B, F)`` features as a tensor or an
    array. It runs under ``torch.no_grad()``; a module is put in evaluation mode once,
    here. Its output is checked (two dimensions, one row per input, finite size).

    Args:
        fn: the module or callable.
        input_shape: the per-example shape of the inputs.
        flatten: hand it flat rows ``(B, D)`` instead.
        numpy: hand it NumPy arrays instead of tensors.
        chunk: inputs encoded per call (bounds the memory a large model needs).

    Example:
        >>> import torch
        >>> enc = ModuleEncoder(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)), (2, 2))
        >>> enc(torch.zeros(5, 4)).shape, enc.dim
        (torch.Size([5, 3]), 3)
    """

    def __init__(self, fn: Any, input_shape: tuple[int, ...], flatten: bool = False, numpy: bool = False, chunk: int = 1024) -> None:
        if not callable(fn):
            raise TypeError(f"an encoder must be a torch.nn.Module or a callable, got {type(fn).__name__}")
        self.fn, self.input_shape = fn, tuple(int(s) for s in input_shape)
        self.flatten, self.numpy, self.chunk = bool(flatten), bool(numpy), int(chunk)
        if isinstance(fn, torch.nn.Module):
            fn.eval()
            for p in fn.parameters():
                p.requires_grad_(False)
        self.dim = int(self._run(torch.zeros(1, int(np.prod(self.input_shape)))).shape[1])

    @property
    def macs_per_input(self) -> int | None:
        return None

    @property
    def n_parameters(self) -> int | None:
        if isinstance(self.fn, torch.nn.Module):
            return sum(p.numel() for p in self.fn.parameters())
        return None

    def _run(self, X: torch.Tensor) -> torch.Tensor:
        x: Any = X if self.flatten else X.reshape(len(X), *self.input_shape)
        if self.numpy:
            x = x.numpy()
        with torch.no_grad():
            out = self.fn(x)
        out = torch.as_tensor(np.asarray(out) if not isinstance(out, torch.Tensor) else out.detach().cpu())
        if out.dim() != 2 or out.shape[0] != len(X) or out.shape[1] < 1:
            raise ValueError(f"the encoder {type(self.fn).__name__} returned shape {tuple(out.shape)} for {len(X)} inputs; "
                             "it must return (B, F) features, one row per input")
        return out.float().contiguous()

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        if len(X) <= self.chunk:
            return self._run(X)
        return torch.cat([self._run(X[i : i + self.chunk]) for i in range(0, len(X), self.chunk)])

    def save_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """A module's weights (so that a load can check or restore them); a plain callable has none."""
        arrays = {}
        if isinstance(self.fn, torch.nn.Module):
            arrays = {k: v.detach().cpu().contiguous() for k, v in self.fn.state_dict().items()}
        return arrays, {"class": f"{type(self.fn).__module__}.{type(self.fn).__qualname__}", "dim": self.dim}

    def load_state(self, arrays: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
        if int(info.get("dim", self.dim)) != self.dim:
            raise ValueError(f"the saved encoder gave {info.get('dim')} features; this one gives {self.dim}")
        if isinstance(self.fn, torch.nn.Module) and arrays:
            try:
                self.fn.load_state_dict(arrays)
            except RuntimeError as exc:
                raise ValueError(f"the saved encoder weights do not fit {type(self.fn).__name__}: {exc}") from None
