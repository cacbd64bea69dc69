"""The controller: routing policies over the collection."""

from riscmoe.controller.controller import POLICIES, Controller, Routing

__all__ = ["POLICIES", "Controller", "Routing"]
