"""Model creators: what makes a new member when no member copes (one protocol for every domain)."""

# Imported on first use (PEP 562): the torch-free parts (protocols, policies, cascade) load
# without the torch-based ones, for the functions domain.
_LAZY = {
    "Creator": "riscmoe.creator.protocol",
    "ArchiveCreator": "riscmoe.creator.protocol",
    "MemberCreator": "riscmoe.creator.protocol",
    "Creation": "riscmoe.creator.protocol",
    "FromArchive": "riscmoe.creator.creator",
    "AsMember": "riscmoe.creator.member",
}

__all__ = ['ArchiveCreator', 'AsMember', 'Creation', 'Creator', 'FromArchive', 'MemberCreator']


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
