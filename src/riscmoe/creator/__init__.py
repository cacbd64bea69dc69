"""Model creators: what makes a new member when no member copes (one protocol for every domain)."""

# Imported on first use (PEP 562): the torch-free parts (protocols, policies, cascade) load
# without the torch-based ones, for the functions domain.
from riscmoe.lazy import lazy_names

_LAZY = {
    "Creator": "riscmoe.creator.protocol",
    "ArchiveCreator": "riscmoe.creator.protocol",
    "MemberCreator": "riscmoe.creator.protocol",
    "Creation": "riscmoe.creator.protocol",
    "FromArchive": "riscmoe.creator.creator",
    "AsMember": "riscmoe.creator.member",
}

__all__ = ['ArchiveCreator', 'AsMember', 'Creation', 'Creator', 'FromArchive', 'MemberCreator']


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
