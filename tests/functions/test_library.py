"""The function library: seeds, format checks, dedup, transactions and sandboxed runs."""

import sqlite3

import pytest

from riscmoe.functions.library import FORMAT_VERSION, FunctionLibrary, LibraryFormatError, probe_inputs
from riscmoe.functions.sandbox import Sandbox
from riscmoe.functions.seed import SEEDS
from riscmoe.functions.values import Signature

INT = Signature(("int",), "int")
LL = Signature(("list[int]",), "list[int]")


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


@pytest.mark.parametrize("stored, stored_examples, newcomer, new_examples", [
    # "take the first 6" looked like "every element" on lists of at most six elements.
    ("def take_six(xs):\n    return xs[:6]\n", [(([5, 6, 7, 8, 9, 10, 11, 12],), [5, 6, 7, 8, 9, 10]), (([1, 2],), [1, 2])],
     "def unchanged(xs):\n    return xs\n", [(([3, 1],), [3, 1]), (([4, 4, 1],), [4, 4, 1])]),
    # "elements 3 to 7" looked like "drop 2".
    ("def elements_3_to_7(xs):\n    return xs[2:7]\n", [((list(range(11, 20)),), [13, 14, 15, 16, 17]), (([4, 5, 6],), [6])],
     "def drop_two(xs):\n    return xs[2:]\n", [(([4, 5, 6],), [6]), (([1, 2, 3, 4],), [3, 4])]),
])
def test_functions_that_differ_on_long_lists_are_never_merged(box, stored, stored_examples, newcomer, new_examples):
    """Issue 19, item 1: a smaller function that agreed on short probes took over one that was right on longer lists."""
    lib = FunctionLibrary(":memory:", sandbox=box)
    old = lib.add(stored[4:stored.index("(")], stored, LL, examples=stored_examples).name
    res = lib.add(newcomer[4:newcomer.index("(")], newcomer, LL, examples=new_examples)
    assert (res.action, res.duplicate_of) == ("added", None), res  # stored next to it, not merged
    assert lib.get(old).source == stored and lib.get(res.name).source == newcomer
    assert lib.get(old).fingerprint_hash != lib.get(res.name).fingerprint_hash  # today's probes tell them apart
    long_list = list(range(30))
    assert lib.run(old, [(long_list,)])[0].value == (long_list[:6] if "six" in old else long_list[2:7])


def test_a_twin_on_the_probes_is_merged_only_if_it_reproduces_every_example_the_other_was_verified_on(box):
    """Equal fingerprints are not enough: thresholds above every probe value are told apart by the examples.

    The stored function keeps the examples of every task it answered; a newcomer that fails
    one of them is stored next to it (not a replacement), and so is one that differs on the
    caller's inputs (``compare_on``, the task's queries). A true twin still replaces it and
    takes over its examples.
    """
    lib = FunctionLibrary(":memory:", sandbox=box)
    above_500 = "def above_500(xs):\n    return [v for v in xs if not v <= 500]\n"
    lib.add("above_500", above_500, LL, "keep those above 500", examples=[(([1, 550],), [550])])
    lib.record_use("above_500", "keep the big ones", examples=[(([700, 3, 501],), [700, 501])])  # a later task's examples
    # Smaller, equal on every probe (all below 500), but 550 and 501 say otherwise: not a replacement.
    res = lib.add("above_600", "def above_600(xs):\n    return [v for v in xs if v > 600]\n", LL, examples=[(([700, 3],), [700])])
    assert lib.get("above_600").fingerprint_hash == lib.get("above_500").fingerprint_hash
    assert res.action == "added" and lib.get("above_500").source == above_500
    # Larger, equal on the probes and on every example of both: merged ("kept") unless the
    # caller's inputs tell them apart.
    below_900 = "def f(xs):\n    return [v for v in xs if v > 500 and v < 900]\n"
    assert lib.add("in_range", below_900, LL, examples=[(([800],), [800])], compare_on=[([950],)]).action == "added"
    kept = lib.add("in_range_2", below_900, LL, examples=[(([800],), [800])])
    assert (kept.action, kept.name) == ("kept", "above_500") and [[[800]], [800]] in lib.get("above_500").examples
    # A true twin, smaller: takes over the name, the description and every example.
    res = lib.add("gt_500", "def gt_500(xs):\n    return [v for v in xs if v > 500]\n", LL, examples=[(([600],), [600])])
    r = lib.get("above_500")
    assert (res.action, res.name, r.description) == ("replaced", "above_500", "keep those above 500")
    assert r.source == "def above_500(xs):\n    return [v for v in xs if v > 500]\n"
    assert [a for a, _ in r.examples] == [[[1, 550]], [[700, 3, 501]], [[800]], [[600]]]


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
    # '²' counts as alphanumeric but not as an identifier character; names stay plain ASCII.
    assert lib.free_name("x²") == "x" and lib.free_name("été") == "t" and lib.free_name("é") == "f"
    assert all(lib.free_name(w).isidentifier() and lib.free_name(w).isascii() for w in ("x²", "ü_1", "½", "9"))


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


@pytest.mark.parametrize("name", ["other.sqlite", "we#ird?na%2Fme 1.sqlite"])
def test_a_foreign_sqlite_file_is_checked_read_only_and_left_byte_for_byte(tmp_path, name):
    """The format check comes first and reads only: no WAL switch (header bytes), no new file beside it."""
    other = tmp_path / name
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE users (id INTEGER)")
    c.execute("INSERT INTO users VALUES (1)")
    c.commit()
    c.close()
    before = other.read_bytes()
    with pytest.raises(LibraryFormatError, match="tables: users.*left untouched"):
        FunctionLibrary(other)
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    # A file with riscmoe's table names but another format: refused, untouched too.
    c = sqlite3.connect(other)
    c.executescript("CREATE TABLE meta (key TEXT, value TEXT); CREATE TABLE functions (name TEXT); "
                    "INSERT INTO meta VALUES ('format', 'someone-else');")
    c.close()
    before = other.read_bytes()
    with pytest.raises(LibraryFormatError, match="format='someone-else'.*left untouched"):
        FunctionLibrary(other)
    assert other.read_bytes() == before


def test_a_library_path_with_hash_question_mark_and_percent_round_trips(tmp_path, box):
    path = tmp_path / "my #1 lib?v=2%2F.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        lib.add("p9", "def p9(x):\n    return x + 9\n", INT)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing cut at '#' or '?'
    with FunctionLibrary(path, sandbox=box) as lib:
        assert lib.run("p9", [(1,)])[0].value == 10 and len(lib) == len(SEEDS) + 1


def _old_failures_table(c):
    """Versions 1 to 3 kept their failure memo in ``failures`` (key, state, reason, created); version 4 has ``failed_searches``."""
    c.execute("DROP TABLE IF EXISTS failed_searches")
    c.execute("CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, state TEXT NOT NULL, reason TEXT NOT NULL, created REAL NOT NULL)")


def _as_version_1(path):
    """Turn a library file into the version-1 layout: no fault, confirmation or refutation columns."""
    c = sqlite3.connect(path)
    for col in ("timeouts", "quarantined", "confirmed", "refuted", "refuted_by"):
        c.execute(f"ALTER TABLE functions DROP COLUMN {col}")
    c.execute("UPDATE meta SET value = '1' WHERE key = 'format_version'")
    _old_failures_table(c)
    c.execute("INSERT INTO failures VALUES ('k', 's', 'worker died: timeout', 0)")
    c.commit()
    c.close()


def test_a_version_1_library_is_migrated_in_one_transaction(tmp_path, box):
    path = tmp_path / "old.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        lib.add("p7", "def p7(x):\n    return x + 7\n", INT)
        lib.record_use("p7", "add seven")
    _as_version_1(path)
    with FunctionLibrary(path, sandbox=box) as lib:
        r = lib.get("p7")
        assert (r.uses, r.solved, r.timeouts, r.quarantined, r.confirmed, r.refuted) == (1, ["add seven"], 0, "", 0, 0)
    c = sqlite3.connect(path)
    meta = dict(c.execute("SELECT key, value FROM meta"))
    assert (meta["format_version"], meta["migrated_from"]) == (str(FORMAT_VERSION), "1") and FORMAT_VERSION == 4
    assert _tables(c) >= {"meta", "functions", "failed_searches"} and "failures" not in _tables(c)  # keyed the old way: searched again
    assert c.execute("SELECT COUNT(*) FROM failed_searches").fetchone()[0] == 0
    c.close()
    # A migration that fails half-way leaves the version-1 file as it was.
    _as_version_1(path)
    c = sqlite3.connect(path)
    c.execute("ALTER TABLE functions ADD COLUMN refuted INTEGER")  # the 2 -> 3 step's first ALTER will fail
    c.commit()
    c.close()
    with pytest.raises(LibraryFormatError, match="cannot migrate this version-1 .*duplicate column name: refuted.*rolled back"):
        FunctionLibrary(path, sandbox=box)
    c = sqlite3.connect(path)
    cols = [r[1] for r in c.execute("PRAGMA table_info(functions)")]
    assert "timeouts" not in cols and dict(c.execute("SELECT key, value FROM meta"))["format_version"] == "1"
    c.close()


def _as_version_2(path):
    """Turn a library file into the version-2 layout: no refutation columns, fingerprints of the old probes."""
    c = sqlite3.connect(path)
    # (SQLite's DROP COLUMN of the last two columns fails here: copy the table without them instead.)
    v2 = [r[1] for r in c.execute("PRAGMA table_info(functions)") if r[1] not in ("refuted", "refuted_by")]
    c.execute(f"CREATE TABLE v2 AS SELECT {', '.join(v2)} FROM functions")
    c.execute("DROP TABLE functions")
    c.execute("ALTER TABLE v2 RENAME TO functions")
    # Version 2 probed lists of at most six elements: the fingerprint of xs[:6] was that of xs.
    c.execute("UPDATE functions SET fingerprint = '[\"old\"]', fingerprint_hash = 'h2'")
    c.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")
    _old_failures_table(c)
    c.execute("INSERT INTO failures VALUES ('k', 's', 'nothing found', 0)")
    c.commit()
    c.close()


def test_a_version_2_library_is_migrated_and_its_fingerprints_recomputed_lazily(tmp_path, box):
    """The probes changed in version 3: old fingerprints are cleared on migrating, then recomputed on first need."""
    path = tmp_path / "v2.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        lib.add("take_six", "def take_six(xs):\n    return xs[:6]\n", LL, examples=[(([1, 2, 3, 4, 5, 6, 7],), [1, 2, 3, 4, 5, 6])])
        lib.add("p7", "def p7(x):\n    return x + 7\n", INT)
        want = {n: (lib.get(n).fingerprint, lib.get(n).fingerprint_hash) for n in ("take_six", "p7", "square")}
    _as_version_2(path)
    with FunctionLibrary(path, sandbox=box) as lib:
        assert all(lib.get(n).fingerprint_hash == "" for n in want)  # cleared in the migration's transaction
        c = sqlite3.connect(path)
        assert dict(c.execute("SELECT key, value FROM meta"))["migrated_from"] == "2"
        assert "failures" not in _tables(c) and c.execute("SELECT COUNT(*) FROM failed_searches").fetchone()[0] == 0
        c.close()
        # No fingerprint: never a twin. The identity is stored next to take_six, not merged with it.
        assert lib.add("same", "def same(xs):\n    return xs\n", LL).action == "added"
        assert (lib.get("take_six").fingerprint, lib.get("take_six").fingerprint_hash) == want["take_six"]  # redone on add
        assert lib.get("p7").fingerprint_hash == ""  # another signature: not needed yet
        assert lib.refingerprint() > 0 and lib.refingerprint() == 0
        assert {n: (lib.get(n).fingerprint, lib.get(n).fingerprint_hash) for n in want} == want
    with FunctionLibrary(path, sandbox=box) as lib:  # written to the file
        assert lib.get("p7").fingerprint_hash == want["p7"][1]


def _tables(c):
    return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _as_version_3(path):
    """Turn a library file into the version-3 layout: the failure memo in ``failures``, keyed by one hash."""
    c = sqlite3.connect(path)
    _old_failures_table(c)
    c.execute("INSERT INTO failures VALUES ('k', 's', 'synthesised creator found nothing (budget)', 0)")
    c.execute("UPDATE meta SET value = '3' WHERE key = 'format_version'")
    c.commit()
    c.close()


def test_a_version_3_library_is_migrated_and_its_failure_memo_dropped(tmp_path, box):
    """Version 4 keys the failure memo by task, settings and library view; version 3's rows cannot be compared: dropped."""
    path = tmp_path / "v3.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        lib.add("p7", "def p7(x):\n    return x + 7\n", INT, examples=[((1,), 8)])
        lib.record_use("p7", "add seven")
        assert lib.record_failure("t", "s", lib.state(), "nothing found")
    _as_version_3(path)
    with FunctionLibrary(path, sandbox=box) as lib:
        r = lib.get("p7")
        assert (r.uses, r.solved, r.examples) == (1, ["add seven"], [[[1], 8]]) and len(lib) == len(SEEDS) + 1
        assert lib.failed_before("t", "s") is None  # the old memo is gone: that task is searched once more
        assert lib.record_failure("t", "s", lib.state(), "nothing found") and lib.failed_before("t", "s") == (lib.state(), "nothing found")
    c = sqlite3.connect(path)
    meta = dict(c.execute("SELECT key, value FROM meta"))
    assert (meta["format_version"], meta["migrated_from"]) == ("4", "3") and "failures" not in _tables(c)
    c.close()
    with FunctionLibrary(path, sandbox=box) as lib:  # the memo written after migrating is in the file
        assert lib.failed_before("t", "s") == (lib.state(), "nothing found")


def test_corrupt_failure_memo_rows_are_no_memo_and_never_crash(tmp_path, box):
    """A row holding a blob or a number, a dropped table: the memo says nothing, and writing it again never stops a run."""
    path = tmp_path / "lib.sqlite"
    with FunctionLibrary(path, sandbox=box) as lib:
        assert lib.record_failure("t", "s", "view", "nothing found") and lib.failed_before("t", "s") == ("view", "nothing found")
    c = sqlite3.connect(path)
    c.execute("UPDATE failed_searches SET library = x'00ff', reason = 'nothing'")  # a blob: not a fingerprint
    c.execute("INSERT INTO failed_searches VALUES ('t2', 's', 'view', 3.5, 0)")  # TEXT affinity makes 3.5 the text '3.5'
    c.commit()
    c.close()
    with FunctionLibrary(path, sandbox=box) as lib:
        assert lib.failed_before("t", "s") is None
        assert lib.failed_before("t2", "s") == ("view", "3.5")
        assert lib.record_failure("t", "s", "view", "nothing found") and lib.failed_before("t", "s") == ("view", "nothing found")
    c = sqlite3.connect(path)
    c.execute("DROP TABLE failed_searches")  # another program's doing
    c.commit()
    c.close()
    with FunctionLibrary(path, sandbox=box) as lib:
        assert lib.failed_before("t", "s") is None
        assert not lib.record_failure("t", "s", "view", "nothing found")  # refused, not raised
        assert lib.add("p8", "def p8(x):\n    return x + 8\n", INT).action == "added"  # the library still works


def _solve_process(tasks, library, out):
    """``riscmoe functions solve`` in its own process, on this checkout's source."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import riscmoe

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(riscmoe.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "riscmoe.cli.main", "functions", "solve", str(tasks), "--library", str(library),
           "--out", str(out), "--no-progress", "--time-limit", "2"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_solves_at_once_on_one_library_keep_every_function(tmp_path, box):
    """Two processes race on a new file (schema, seeds) and store different functions under one task name."""
    import json

    def task(name, f, xs=(1, 2, 3, 5, -2)):
        return {"name": name, "examples": [{"args": [x], "output": f(x)} for x in xs], "queries": [{"args": [10]}]}

    files = {
        "a": [task("made", lambda x: x * x + 10), task("other", lambda x: 3 * x - 2), task("made_2", lambda x: x * x * x + 2)],
        "b": [task("made", lambda x: 10 * x + 3), task("other", lambda x: x * x - 3), task("made_2", lambda x: 2 * x - 10)],
    }
    for k, tasks in files.items():
        (tmp_path / f"{k}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    for round_ in range(3):
        library = tmp_path / f"lib{round_}.sqlite"
        procs = {k: _solve_process(tmp_path / f"{k}.jsonl", library, tmp_path / f"{k}{round_}.jsonl") for k in files}
        for k, p in procs.items():
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, f"round {round_}, process {k}: {err[-1500:]}"
        with FunctionLibrary(library, sandbox=box, seed=False) as lib:
            assert len([r for r in lib.list() if r.provenance == "seed"]) == len(SEEDS)
            for k, tasks in files.items():
                answers = [json.loads(line) for line in (tmp_path / f"{k}{round_}.jsonl").read_text().splitlines()]
                assert [a["status"] for a in answers] == ["created"] * 3, answers
                for t, a in zip(tasks, answers):  # the function each answer names is there and is that task's
                    outs = lib.run(a["function"], [tuple(e["args"]) for e in t["examples"]])
                    assert [o.value for o in outs] == [e["output"] for e in t["examples"]], (round_, k, t["name"], a)
            assert len(lib) == len(SEEDS) + 6
        c = sqlite3.connect(library)
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        c.close()
