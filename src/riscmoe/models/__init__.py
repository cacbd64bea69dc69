"""Members' models: small trainable networks that run only when routed to."""

from riscmoe.models.protocol import MemberModel, ModelFactory
from riscmoe.models.verifier import Verifier, VerifierKind

__all__ = ["MemberModel", "ModelFactory", "Verifier", "VerifierKind"]
