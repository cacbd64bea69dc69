"""Members' models: small trainable networks that run only when routed to."""

from riscmoe.models.verifier import Verifier

__all__ = ["Verifier"]
