"""Encoders: the fixed feature space in which members' meta-models and models work."""

from riscmoe.encoders.protocol import Encoder, EncoderKind, ModuleEncoder
from riscmoe.encoders.random_features import RandomConvEncoder, RandomReLUEncoder, make_encoder

__all__ = ["Encoder", "EncoderKind", "ModuleEncoder", "RandomConvEncoder", "RandomReLUEncoder", "make_encoder"]
