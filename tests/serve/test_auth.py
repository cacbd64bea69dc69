"""Tokens: a read scope and a write scope; no write token, no write; bad token files refused by line."""

import pytest

from riscmoe.serve.auth import AuthError, Tokens

R, W = "r" * 20, "w" * 20


def test_scopes():
    t = Tokens((R,), (W,))
    t.check("read", f"Bearer {R}")
    t.check("read", f"Bearer {W}")  # write covers read
    t.check("write", f"bearer {W}")
    for scope, header, status in (("write", f"Bearer {R}", 403), ("write", None, 401), ("read", None, 401),
                                  ("read", "Bearer " + "x" * 20, 401), ("write", f"Basic {W}", 401), ("write", "Bearer ", 401)):
        with pytest.raises(AuthError) as exc:
            t.check(scope, header)
        assert exc.value.status == status


def test_no_read_token_opens_reads_and_no_write_token_closes_writes():
    t = Tokens((), ())
    t.check("read", None)
    with pytest.raises(AuthError, match="without a write token") as exc:
        t.check("write", f"Bearer {W}")
    assert exc.value.status == 403 and not t.writable


def test_file_and_environment(tmp_path):
    p = tmp_path / "tokens"
    p.write_text(f"# comment\nread {R}\n\nwrite {W}  # mine\n")
    t = Tokens.load(p)
    assert t.read == (R,) and t.write == (W,)
    env = Tokens.load(env={"RISCMOE_SERVE_READ_TOKEN": f"{R}, {'s' * 20}", "RISCMOE_SERVE_WRITE_TOKEN": W})
    assert env.read == (R, "s" * 20) and env.write == (W,)
    assert Tokens.load(env={}).write == ()
    p.write_text("admin " + W + "\n")
    with pytest.raises(ValueError, match="line 1: expected 'read TOKEN' or 'write TOKEN'"):
        Tokens.load(p)
    p.write_text("write short\n")
    with pytest.raises(ValueError, match="too short"):
        Tokens.load(p)
    with pytest.raises(ValueError, match="cannot read it"):
        Tokens.load(tmp_path / "missing")
