"""The shipped encoder kinds: ``auto`` (chosen by input shape), ``random-conv``, ``random-relu``, ``module``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from riscmoe.encoders.protocol import Encoder, ModuleEncoder
from riscmoe.encoders.random_features import RandomConvEncoder, RandomReLUEncoder, make_encoder
from riscmoe.registry import register


@register("encoder", "auto")
@dataclass(frozen=True)
class AutoEncoder:
    """riscmoe's default: random convolutions for images, random ReLU features otherwise (see ``make_encoder``)."""

    def build(self, input_shape: tuple[int, ...], seed: int) -> Encoder:
        return make_encoder(tuple(input_shape), seed=seed)


@register("encoder", "random-conv")
@dataclass(frozen=True)
class RandomConv:
    """Random 2-D convolution + ReLU + average pooling (``RandomConvEncoder``), for (H, W) or (C, H, W) inputs."""

    filters: int = field(default=64, metadata={"min": 1})
    kernel: int = field(default=5, metadata={"min": 1})
    pool: int = field(default=4, metadata={"min": 1})
    stride: int | None = field(default=None, metadata={"min": 1})
    chunk: int = field(default=16, metadata={"min": 1})

    def build(self, input_shape: tuple[int, ...], seed: int) -> Encoder:
        return RandomConvEncoder(tuple(input_shape), filters=self.filters, kernel=self.kernel, pool=self.pool, seed=seed,
                                 chunk=self.chunk, stride=self.stride)


@register("encoder", "random-relu")
@dataclass(frozen=True)
class RandomReLU:
    """Random projection + ReLU (``RandomReLUEncoder``); ``dim=None`` picks 8 per input value, 64 to 1,024."""

    dim: int | None = field(default=None, metadata={"min": 1})

    def build(self, input_shape: tuple[int, ...], seed: int) -> Encoder:
        d = 1
        for s in input_shape:
            d *= int(s)
        return RandomReLUEncoder(d, dim=self.dim if self.dim is not None else min(1024, max(64, 8 * d)), seed=seed)


@register("encoder", "module")
@dataclass(frozen=True)
class Module:
    """A user's ``torch.nn.Module`` or callable (see ``ModuleEncoder``); ``RiscClassifier(encoder=net)`` makes one.

    A save keeps a module's weights but not its code: ``riscmoe.load(path, encoder=net)``
    takes the module again (or register a kind that builds it, and loads need nothing).
    """

    module: Any = None
    flatten: bool = False
    numpy: bool = False

    def build(self, input_shape: tuple[int, ...], seed: int) -> Encoder:
        if self.module is None:
            raise ValueError("the 'module' encoder kind needs the module: RiscClassifier(encoder=your_module), "
                             "or riscmoe.load(path, encoder=your_module) for a save made with one")
        return ModuleEncoder(self.module, input_shape, flatten=self.flatten, numpy=self.numpy)


def as_encoder(built: Any, input_shape: tuple[int, ...]) -> Encoder:
    """What a kind built, as an ``Encoder``: one already (it has ``dim``), or a module or callable wrapped."""
    if isinstance(built, (RandomConvEncoder, RandomReLUEncoder, ModuleEncoder)):
        return built
    if isinstance(built, torch.nn.Module) or not isinstance(getattr(built, "dim", None), int):
        return ModuleEncoder(built, input_shape)
    return built
