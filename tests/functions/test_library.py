"""The function library: seeds, format checks, dedup, transactions and sandboxed runs."""

import sqlite3

import pytest

from riscmoe.functions.library import FORMAT_VERSION, FunctionLibrary, LibraryFormatError, probe_inputs
from riscmoe.functions.sandbox import Sandbox
from riscmoe.functions.seed import SEEDS
from riscmoe.functions.values import Signature

INT = Signature(("int",), "int")


@pytest.fixture(scope="module")
def box():
    with Sandbox(time_limit=0.5, grace=1.5) as b:
        yield b


def test_new_library_holds_the_seeds(tmp_path, box):
    lib = FunctionLibrary(tmp_path / "lib.sqlite", sandbox=box)
    assert len(lib) == len(SEEDS) >= 40
    sq = lib.get("square")
    assert sq.provenance == "seed" and sq.signature == INT and sq.size > 0
    assert len(sq.fingerprint) == len(probe_inputs(INT)) and sq.fingerprint[3] == 0
    assert {r.name for r in lib.by_signature(Signature(("list[int]",), "float"))} == {"mean", "median"}
    assert [o.value for o in lib.run("factorial", [(5,), (0,)])] == [120, 1]
    assert not lib.run("factorial", [(-1,)])[0].ok
    with pytest.raises(KeyError, match="did you mean square"):
        lib.get("squar")
    lib.close()


def test_add_persist_and_reopen(tmp_path, box):
    path = tmp_path / "lib.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        res = lib.add("sq_plus_one", "def anything(x):\n    return square(x) + 1\n", INT, "x*x+1", "synthesised", [((2,), 5)])
        assert res.action == "added" and res.name == "sq_plus_one"
        assert lib.get("sq_plus_one").source.startswith("def sq_plus_one(x)")
        assert [o.value for o in lib.run("sq_plus_one", [(3,)])] == [10]
        lib.record_use(["sq_plus_one", "square"])
    with FunctionLibrary(path, sandbox=box) as lib:
        r = lib.get("sq_plus_one")
        assert r.uses == 1 and r.provenance == "synthesised" and r.examples == [[[2], 5]]
        assert lib.get("square").uses == 1 and len(lib) == len(SEEDS) + 1


def test_dedup_keeps_the_better_one(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    long_src = "def p2(x):\n    y = x + 1\n    z = y + 1\n    return z\n"
    assert lib.add("p2", long_src, INT).action == "added"
    # Same behaviour on the probes, smaller: takes over the old name, so callers keep working.
    lib.add("calls_p2", "def calls_p2(x):\n    return p2(x) * 3\n", INT)
    res = lib.add("plus_two", "def plus_two(x):\n    return x + 2\n", INT)
    assert res.action == "replaced" and res.name == "p2" and "plus_two" not in lib
    assert lib.get("p2").source == "def p2(x):\n    return x + 2\n"
    assert lib.run("calls_p2", [(1,)])[0].value == 9
    # Same behaviour, larger: not stored twice.
    res = lib.add("p2_long", long_src, INT)
    assert res.action == "kept" and res.duplicate_of == "p2" and "p2_long" not in lib
    # A seed always stays, even against a smaller twin.
    res = lib.add("dbl", "def dbl(x):\n    return x + x\n", INT)
    assert res.action == "kept" and res.duplicate_of == "double"
    n = len(lib)
    lib.add("p3", "def p3(x):\n    return x + 3\n", INT)
    assert len(lib) == n + 1


def test_add_refuses_and_changes_nothing(box):
    lib = FunctionLibrary(":memory:", sandbox=box)
    n, rev = len(lib), lib.revision
    with pytest.raises(ValueError, match="does not reproduce its examples: f\\(2\\) returned 4, expected 5"):
        lib.add("f", "def f(x):\n    return x * 2\n", INT, examples=[((2,), 5)])
    with pytest.raises(ValueError, match="refused: line 1: Import"):
        lib.add("g", "import os\n", INT)
    with pytest.raises(ValueError, match="takes 2 parameters"):
        lib.add("h", "def h(a, b):\n    return a\n", INT)
    with pytest.raises(ValueError, match="already stored"):
        lib.add("square", "def square(x):\n    return x\n", INT)
    with pytest.raises(ValueError, match="timeout"):
        lib.add("loop", "def loop(x):\n    while True:\n        pass\n", INT, examples=[((1,), 1)])
    with pytest.raises(ValueError, match="unknown provenance"):
        lib.add("k", "def k(x):\n    return x\n", INT, provenance="magic")
    with pytest.raises(ValueError, match="not a shipped seed function"):
        lib.add("k", "def k(x):\n    return x\n", INT, provenance="seed")
    assert len(lib) == n and lib.revision == rev


def test_corrupt_and_foreign_files_are_refused_untouched(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    before = junk.read_bytes()
    with pytest.raises(LibraryFormatError, match=f"{junk} is not a riscmoe function library"):
        FunctionLibrary(junk)
    assert junk.read_bytes() == before

    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE users (id INTEGER)")
    c.commit()
    c.close()
    with pytest.raises(LibraryFormatError, match="tables: users"):
        FunctionLibrary(other)

    path = tmp_path / "lib.sqlite"
    FunctionLibrary(path).close()
    c = sqlite3.connect(path)
    c.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION + 1),))
    c.commit()
    c.close()
    with pytest.raises(LibraryFormatError, match=f"version {FORMAT_VERSION + 1}, this riscmoe reads version {FORMAT_VERSION}"):
        FunctionLibrary(path)
    c = sqlite3.connect(path)
    assert c.execute("SELECT COUNT(*) FROM functions").fetchone()[0] == len(SEEDS)  # nothing lost


def test_a_crash_mid_change_loses_nothing(tmp_path, box, monkeypatch):
    path = tmp_path / "lib.sqlite"
    lib = FunctionLibrary(path, sandbox=box)
    lib.add("p5", "def p5(x):\n    return x + 5\n", INT)

    def boom(record):
        raise OSError("disk vanished")

    monkeypatch.setattr(lib, "_insert", boom)
    with pytest.raises(OSError):
        lib.add("p6", "def p6(x):\n    return x + 6\n", INT)
    lib._conn.close()  # the process dies here
    with FunctionLibrary(path, sandbox=box) as again:
        assert "p5" in again and "p6" not in again and len(again) == len(SEEDS) + 1


def test_free_name():
    lib = FunctionLibrary(":memory:")
    assert lib.free_name("square") == "square_2"
    assert lib.free_name("Sum of squares!") == "sum_of_squares"
    assert lib.free_name("3x") == "f_3x"
    assert lib.free_name("max") == "max_2"


def test_an_edited_seed_is_no_longer_trusted(tmp_path, box):
    """A library file edited to call foreign code a seed does not get it run in this process."""
    path = tmp_path / "lib.sqlite"
    FunctionLibrary(path).close()
    c = sqlite3.connect(path)
    c.execute("UPDATE functions SET source = ? WHERE name = 'square'", ("def square(x):\n    return x * x + 1\n",))
    c.commit()
    c.close()
    with FunctionLibrary(path, sandbox=box) as lib:
        assert not lib.get("square").trusted and lib.get("cube").trusted
        assert lib.run("square", [(3,)])[0].value == 10  # ran, but in the sandbox
