"""Fixed encoders: the shared space in which members' meta-models and models work."""

from riscmoe.encoders.random_features import RandomConvEncoder, RandomReLUEncoder, make_encoder

__all__ = ["RandomConvEncoder", "RandomReLUEncoder", "make_encoder"]
