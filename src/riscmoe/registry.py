"""Named kinds of every part of the system, so that ``RiscClassifier(meta="gaussian")`` finds its class.

A *kind* is a frozen dataclass registered under a part and a name. Its fields are the
part's configuration (what ``get_params(deep=True)`` shows as ``part__field``, what a save
records, what ``riscmoe run --set part.field=value`` changes). Depending on the part, an
instance of the kind either *is* the part (stateless parts: routing policy, archive
policy, creator, feedback schedule) or *builds* it once the input's shape is known
(stateful parts: encoder, meta-model bank, member model); see each part's ``protocol``
module for the contract.

Kinds belong to *domains*: ``recognition`` (``RiscClassifier``) and ``functions``
(``riscmoe functions``) share the routing policies and each supply the rest (recognition's
Gaussian bank and verifier; the functions domain's applicability index, synthesiser and
language-model creator). A third domain is a folder of kinds registered under its own name,
run by the same cascade (``riscmoe.controller.cascade``). Lookups name the domain
(``recognition`` unless told), so each sees its own kinds and the shared ones.

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
DOMAINS = ("recognition", "functions")
ALL_DOMAINS = ("*",)  # a kind every domain may use (the routing policies)

_KINDS: dict[str, dict[str, type]] = {part: {} for part in PARTS}
_ATTR = "__riscmoe_kind__"
_DOMAINS_ATTR = "__riscmoe_domains__"


def register(part: str, name: str, *, version: int = 1, domains: tuple[str, ...] = ("recognition",)):
    """Class decorator: register a frozen dataclass as the kind ``name`` of ``part``.

    ``version`` is written into saves beside the kind's configuration and arrays, so that
    a kind whose saved layout changes can tell (and migrate) its earlier saves.
    ``domains``: the domains that may use it (any names: a new domain needs no list of
    riscmoe's; ``ALL_DOMAINS`` for every one). Names are unique per part across domains.
    """
    if part not in _KINDS:
        raise ValueError(f"unknown part {part!r}; the parts are {', '.join(PARTS)}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a kind needs a non-empty string name, got {name!r}")
    if isinstance(domains, str) or not domains or not all(isinstance(d, str) and d for d in domains):
        raise ValueError(f"domains must be a non-empty tuple of domain names, got {domains!r}")

    def decorate(cls: type) -> type:
        if not cls.__module__.startswith("riscmoe."):
            for domain in domains:  # riscmoe's own kinds of these domains first, so that a clash with one is caught here
                _load_shipped(part, domain)
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            raise TypeError(f"{cls.__name__} must be a frozen dataclass (@dataclass(frozen=True)) to be a kind of {part}: "
                            "its fields are the part's configuration")
        known = _KINDS[part].get(name)
        # Registering the same class again (a module imported twice, a test run twice) is fine.
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"{part} kind {name!r} is already registered by {known.__module__}.{known.__qualname__}")
        setattr(cls, _ATTR, (part, name, int(version)))
        setattr(cls, _DOMAINS_ATTR, tuple(domains))
        _KINDS[part][name] = cls
        return cls

    return decorate


def unregister(part: str, name: str) -> None:
    """Remove a kind (tests that register toy kinds clean up with it)."""
    _KINDS[part].pop(name, None)


def _in(cls: type, domain: str) -> bool:
    domains = getattr(cls, _DOMAINS_ATTR, ("recognition",))
    return domains == ALL_DOMAINS or domain in domains


def kinds(part: str, domain: str = "recognition") -> list[str]:
    """Names of the registered kinds of ``part`` that ``domain`` may use, in registration order."""
    _load_shipped(part, domain)
    return [name for name, cls in _KINDS[part].items() if _in(cls, domain)]


def kind_class(part: str, name: str, domain: str = "recognition") -> type:
    _load_shipped(part, domain)
    cls = _KINDS[part].get(name)
    if cls is None or not _in(cls, domain):
        where = f" of the {domain} domain" if domain != "recognition" else ""
        raise ValueError(f"unknown {part} kind {name!r}{where}; registered kinds: {', '.join(kinds(part, domain)) or 'none'}")
    return cls


def kind_of(value: Any) -> tuple[str, str, int] | None:
    """(part, name, version) of an instance of a registered kind, else None."""
    info = getattr(type(value), _ATTR, None)
    if info is None:
        return None
    part, name, _ = info
    return info if _KINDS[part].get(name) is type(value) else None


def spec(part: str, value: Any, domain: str = "recognition") -> Any:
    """The kind instance ``value`` stands for: a name gives the kind with its defaults; an
    instance of a kind of ``part`` is itself; anything else is returned as it is (an object
    the caller adapts or uses directly)."""
    if isinstance(value, str):
        return kind_class(part, value, domain)()
    info = kind_of(value)
    if info is not None and info[0] != part:
        raise TypeError(f"{type(value).__name__} is a kind of {info[0]}, not of {part}")
    return value


def config(value: Any) -> dict[str, Any]:
    """The configuration fields of a kind instance, as a plain dict."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def from_config(part: str, name: str, fields: dict[str, Any], domain: str = "recognition") -> Any:
    """A kind instance rebuilt from a saved configuration (unknown fields refused by name)."""
    cls = kind_class(part, name, domain)
    known = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(fields) - known)
    if extra:
        raise ValueError(f"{part} kind {name!r} has no setting {extra[0]!r}; its settings: {', '.join(sorted(known))}")
    return cls(**fields)


def import_modules(names) -> None:
    """Import each module that registers a user's kinds (``--import``): by name (the current folder
    first on the path) or as a ``.py`` file. Errors say which module and why."""
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    for name in names:
        path = Path(name)
        try:
            if name.endswith(".py"):
                if not path.is_file():
                    raise ValueError(f"--import {name}: no such file")
                spec = importlib.util.spec_from_file_location(path.stem, path)
                module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
                sys.modules[path.stem] = module
                spec.loader.exec_module(module)  # type: ignore[union-attr]
            else:
                if "" not in sys.path and str(Path.cwd()) not in sys.path:
                    sys.path.insert(0, str(Path.cwd()))
                importlib.import_module(name)
        except ValueError:
            raise
        except ModuleNotFoundError as exc:
            raise ValueError(f"--import {name}: {exc} (give a module on the Python path or in this folder, or a .py file)") from None
        except Exception as exc:  # the user's module failed while importing: say which and why
            raise RuntimeError(f"--import {name} failed while importing: {type(exc).__name__}: {exc}") from None


# The modules that register riscmoe's own kinds, by domain and part: a lookup imports only
# its own (the functions domain never imports torch).
_SHIPPED: dict[str, dict[str, tuple[str, ...]]] = {
    "*": {"policy": ("riscmoe.controller.policies",)},  # every domain's, a new one's too
    "recognition": {
        "encoder": ("riscmoe.encoders.kinds",),
        "meta": ("riscmoe.meta.gaussian",),
        "model": ("riscmoe.models.verifier",),
        "archive": ("riscmoe.archive.policy",),
        "creator": ("riscmoe.creator.creator", "riscmoe.creator.member"),
        "feedback": ("riscmoe.feedback.learner", "riscmoe.feedback.phases"),
    },
    "functions": {
        "meta": ("riscmoe.functions.meta",),
        "creator": ("riscmoe.functions.synthesis", "riscmoe.functions.llm"),
    },
}


def _load_shipped(part: str, domain: str) -> None:
    """Import the modules that register riscmoe's own kinds of ``part`` for ``domain`` (cheap after the first call)."""
    import importlib

    for module in _SHIPPED["*"].get(part, ()) + _SHIPPED.get(domain, {}).get(part, ()):
        importlib.import_module(module)
