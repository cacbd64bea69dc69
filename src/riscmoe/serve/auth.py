"""Tokens of the service: a read scope (predict, members, the page) and a write scope (feedback).

Tokens come from a file (``--tokens FILE``: one ``read TOKEN`` or ``write TOKEN`` per line,
``#`` comments) or from the environment (``RISCMOE_SERVE_READ_TOKEN``,
``RISCMOE_SERVE_WRITE_TOKEN``; several tokens of one scope separated by commas). A write
token may also read. With no read token, reading is open to whoever reaches the address
(127.0.0.1 by default); with no write token, nothing can be written: no token, no write.
Clients send ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

SCOPES = ("read", "write")
ENV = {"read": "RISCMOE_SERVE_READ_TOKEN", "write": "RISCMOE_SERVE_WRITE_TOKEN"}
MIN_LENGTH = 16  # characters: a short token is guessed


class AuthError(Exception):
    """A request without the token its scope needs; ``status`` is 401 (none or unknown) or 403 (too weak)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Tokens:
    """The tokens of each scope."""

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    source: str = field(default="none", compare=False)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> "Tokens":
        """Tokens from ``path`` if given, else from the environment (``env``, default ``os.environ``)."""
        found: dict[str, list[str]] = {"read": [], "write": []}
        if path is not None:
            p = Path(path)
            try:
                text = p.read_text()
            except OSError as exc:
                raise ValueError(f"--tokens {p}: cannot read it ({exc.strerror or exc})") from None
            for i, line in enumerate(text.splitlines(), start=1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split()
                if len(parts) != 2 or parts[0] not in SCOPES:
                    raise ValueError(f"--tokens {p} line {i}: expected 'read TOKEN' or 'write TOKEN', got {len(parts)} words "
                                     f"starting {parts[0][:10]!r}")
                found[parts[0]].append(parts[1])
            source = f"file {p}"
        else:
            env = os.environ if env is None else env
            for scope, name in ENV.items():
                found[scope] = [t.strip() for t in env.get(name, "").split(",") if t.strip()]
            source = "environment" if any(found.values()) else "none"
        for scope, tokens in found.items():
            for t in tokens:
                if len(t) < MIN_LENGTH:
                    raise ValueError(f"a {scope} token of {len(t)} characters is too short to be safe; use at least {MIN_LENGTH} "
                                     "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')")
        return cls(tuple(found["read"]), tuple(found["write"]), source)

    @property
    def writable(self) -> bool:
        return bool(self.write)

    def check(self, scope: str, header: str | None) -> None:
        """Raise AuthError unless the ``Authorization`` header carries a token of ``scope`` (write covers read)."""
        if scope == "read" and not self.read:
            return  # reading is open
        if scope == "write" and not self.write:
            raise AuthError(403, "this service was started without a write token, so it takes no feedback: start it with "
                                 "--tokens FILE (a line 'write TOKEN') or RISCMOE_SERVE_WRITE_TOKEN")
        token = _bearer(header)
        if token is None:
            raise AuthError(401, f"this needs a {scope} token: send the header 'Authorization: Bearer TOKEN'")
        if any(hmac.compare_digest(token, t) for t in self.write):
            return
        if any(hmac.compare_digest(token, t) for t in self.read):
            if scope == "read":
                return
            raise AuthError(403, "this token may read only; feedback needs a write token")
        raise AuthError(401, "unknown token")


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
