"""Typed settings: checks of a kind's fields, ``part.name=value`` assignments and config files.

Every part's configuration is the frozen dataclass of its kind (``riscmoe.registry``). A
field is checked against its annotation (``int``, ``float``, ``bool``, ``str``, each
optionally ``| None``) and, where the field's metadata says so, a range:
``field(default=64, metadata={"min": 1})`` (also ``"above"``, ``"max"``, ``"below"``, ``"choices"``). The
estimator runs these checks before it builds anything, so a bad setting is refused by
name (``model__hidden must be at least 1, got 0``) with nothing changed.

On the command line, ``riscmoe run --set model.hidden=32 --set policy=mixture`` and
``--config FILE`` (JSON or TOML: ``{"model": {"hidden": 32}, "policy": "mixture"}``) set
the same parameters as ``RiscClassifier.set_params(model__hidden=32, policy="mixture")``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np


def real(name: str, value: Any) -> float:
    """A setting that must be a finite real number (not a bool, not a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def integer(name: str, value: Any) -> int:
    """A setting that must be a whole number (an int, or a float with no fraction)."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def _annotation(field: dataclasses.Field) -> tuple[str | None, bool]:
    """(base type name or None for anything, whether None is allowed) of a field's annotation."""
    text = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    parts = [p.strip() for p in text.replace("Optional[", "").rstrip("]").split("|")]
    optional = "None" in parts
    base = [p for p in parts if p != "None"]
    name = base[0] if len(base) == 1 and base[0] in ("int", "float", "bool", "str") else None
    return name, optional


def check_fields(part: str, spec: Any) -> None:
    """Raise TypeError or ValueError naming ``part__field`` for any field of a kind instance that is out of type or range."""
    for field in dataclasses.fields(spec):
        name, value = f"{part}__{field.name}", getattr(spec, field.name)
        base, optional = _annotation(field)
        if value is None and optional:
            continue
        if base == "int":
            number: float = integer(name, value)
        elif base == "float":
            number = real(name, value)
        elif base == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be true or false, got {value!r} ({type(value).__name__})")
            continue
        elif base == "str":
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
            continue
        else:
            continue
        meta = field.metadata
        if "min" in meta and not number >= meta["min"]:
            raise ValueError(f"{name} must be at least {meta['min']}, got {value}")
        if "above" in meta and not number > meta["above"]:
            raise ValueError(f"{name} must be above {meta['above']}, got {value}")
        if "max" in meta and not number <= meta["max"]:
            raise ValueError(f"{name} must be at most {meta['max']}, got {value}")
        if "below" in meta and not number < meta["below"]:
            raise ValueError(f"{name} must be below {meta['below']}, got {value}")
        if "choices" in meta and number not in meta["choices"]:
            raise ValueError(f"{name} must be one of {', '.join(map(str, meta['choices']))}, got {value}")


def parse_value(text: str) -> Any:
    """A value written on the command line: JSON where it parses (``32``, ``1e-3``, ``null``,
    ``true``, ``"x"``), else the plain string (``mixture``). Python's spellings ``None``, ``True``
    and ``False`` count too (a benchmark writes its settings back as Python prints them)."""
    text = text.strip()
    if text in ("None", "none"):
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """``part.name=value`` (or ``name=value``) as the estimator's ``(part__name, value)``."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set takes PART.NAME=VALUE (e.g. model.hidden=32) or NAME=VALUE (e.g. threshold=0.01), got {text!r}")
    return key.replace(".", "__"), parse_value(value)


def read_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON or TOML file, flattened to the estimator's ``part__name`` keys.

    A table (a dict) sets the part's fields; a ``kind`` entry in it chooses the part's kind
    first: ``{"policy": {"kind": "best", "close": 1.0}}``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ValueError(f"{path}: TOML needs Python 3.11 or later; write the settings as JSON instead") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); TOML files need the .toml suffix") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a table of settings, got {type(data).__name__}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            if "kind" in value:
                out[key] = value["kind"]
            out.update({f"{key}__{k}": v for k, v in value.items() if k != "kind"})
        else:
            out[key] = value
    return out
