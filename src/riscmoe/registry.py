"""Named kinds of every part of the system, so that ``RiscClassifier(meta="gaussian")`` finds its class.

A *kind* is a frozen dataclass registered under a part and a name. Its fields are the
part's configuration (what ``get_params(deep=True)`` shows as ``part__field``, what a save
records, what ``riscmoe run --set part.field=value`` changes). Depending on the part, an
instance of the kind either *is* the part (stateless parts: routing policy, archive
policy, creator, feedback schedule) or *builds* it once the input's shape is known
(stateful parts: encoder, meta-model bank, member model); see each part's ``protocol``
module for the contract.

A new kind needs no change to riscmoe's own files::

    >>> from dataclasses import dataclass
    >>> from riscmoe import registry
    >>> @registry.register("policy", "doc-example")
    ... @dataclass(frozen=True)
    ... class MyPolicy:
    ...     sure: float = 0.5
    >>> registry.spec("policy", "doc-example")
    MyPolicy(sure=0.5)
    >>> registry.kind_of(MyPolicy())
    ('policy', 'doc-example', 1)
    >>> registry.unregister("policy", "doc-example")
"""

from __future__ import annotations

import dataclasses
from typing import Any

PARTS = ("encoder", "meta", "model", "policy", "archive", "creator", "feedback")

_KINDS: dict[str, dict[str, type]] = {part: {} for part in PARTS}
_ATTR = "__riscmoe_kind__"


def register(part: str, name: str, *, version: int = 1):
    """Class decorator: register a frozen dataclass as the kind ``name`` of ``part``.

    ``version`` is written into saves beside the kind's configuration and arrays, so that
    a kind whose saved layout changes can tell (and migrate) its earlier saves.
    """
    if part not in _KINDS:
        raise ValueError(f"unknown part {part!r}; the parts are {', '.join(PARTS)}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a kind needs a non-empty string name, got {name!r}")

    def decorate(cls: type) -> type:
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            raise TypeError(f"{cls.__name__} must be a frozen dataclass (@dataclass(frozen=True)) to be a kind of {part}: "
                            "its fields are the part's configuration")
        known = _KINDS[part].get(name)
        # Registering the same class again (a module imported twice, a test run twice) is fine.
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"{part} kind {name!r} is already registered by {known.__module__}.{known.__qualname__}")
        setattr(cls, _ATTR, (part, name, int(version)))
        _KINDS[part][name] = cls
        return cls

    return decorate


def unregister(part: str, name: str) -> None:
    """Remove a kind (tests that register toy kinds clean up with it)."""
    _KINDS[part].pop(name, None)


def kinds(part: str) -> list[str]:
    """Names of the registered kinds of ``part``, in registration order."""
    _load_shipped()
    return list(_KINDS[part])


def kind_class(part: str, name: str) -> type:
    _load_shipped()
    try:
        return _KINDS[part][name]
    except KeyError:
        raise ValueError(f"unknown {part} kind {name!r}; registered kinds: {', '.join(_KINDS[part]) or 'none'}") from None


def kind_of(value: Any) -> tuple[str, str, int] | None:
    """(part, name, version) of an instance of a registered kind, else None."""
    info = getattr(type(value), _ATTR, None)
    if info is None:
        return None
    part, name, _ = info
    return info if _KINDS[part].get(name) is type(value) else None


def spec(part: str, value: Any) -> Any:
    """The kind instance ``value`` stands for: a name gives the kind with its defaults; an
    instance of a kind of ``part`` is itself; anything else is returned as it is (an object
    the caller adapts or uses directly)."""
    if isinstance(value, str):
        return kind_class(part, value)()
    info = kind_of(value)
    if info is not None and info[0] != part:
        raise TypeError(f"{type(value).__name__} is a kind of {info[0]}, not of {part}")
    return value


def config(value: Any) -> dict[str, Any]:
    """The configuration fields of a kind instance, as a plain dict."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def from_config(part: str, name: str, fields: dict[str, Any]) -> Any:
    """A kind instance rebuilt from a saved configuration (unknown fields refused by name)."""
    cls = kind_class(part, name)
    known = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(fields) - known)
    if extra:
        raise ValueError(f"{part} kind {name!r} has no setting {extra[0]!r}; its settings: {', '.join(sorted(known))}")
    return cls(**fields)


_SHIPPED = (
    "riscmoe.encoders.kinds",
    "riscmoe.meta.gaussian",
    "riscmoe.models.verifier",
    "riscmoe.controller.policies",
    "riscmoe.archive.policy",
    "riscmoe.creator.creator",
    "riscmoe.creator.member",
    "riscmoe.feedback.learner",
    "riscmoe.feedback.phases",
)


def _load_shipped() -> None:
    """Import the modules that register riscmoe's own kinds (cheap after the first call)."""
    import importlib

    for module in _SHIPPED:
        importlib.import_module(module)
