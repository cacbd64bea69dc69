"""The controller: a generic cascade over ranked candidates, under routing policies shared by every domain."""

# Imported on first use (PEP 562): the torch-free parts (protocols, policies, cascade) load
# without the torch-based ones, for the functions domain.
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


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
