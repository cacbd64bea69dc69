"""The controller: a generic cascade over ranked candidates, under routing policies shared by every domain."""

# Imported on first use (PEP 562): the torch-free parts (protocols, policies, cascade) load
# without the torch-based ones, for the functions domain.
from riscmoe.lazy import lazy_names

_LAZY = {
    "Controller": "riscmoe.controller.controller",
    "Routing": "riscmoe.controller.controller",
    "Best": "riscmoe.controller.policies",
    "First": "riscmoe.controller.policies",
    "Mixture": "riscmoe.controller.policies",
    "RoutingPolicy": "riscmoe.controller.protocol",
    "Cascaded": "riscmoe.controller.cascade",
}

__all__ = ['Best', 'Cascaded', 'Controller', 'First', 'Mixture', 'Routing', 'RoutingPolicy']


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
