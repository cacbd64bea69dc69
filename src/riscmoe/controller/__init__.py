"""The controller: routing policies over the collection."""

from riscmoe.controller.controller import Controller, Routing
from riscmoe.controller.policies import Best, First, Mixture
from riscmoe.controller.protocol import RoutingPolicy

__all__ = ["Best", "Controller", "First", "Mixture", "Routing", "RoutingPolicy"]
