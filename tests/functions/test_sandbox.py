"""The sandbox: the static check refuses escapes; the worker contains what gets past it."""

import os

import pytest

from riscmoe.functions.sandbox import InProcessRunner, Sandbox, UnsafeSourceError, check_source, rename_function


@pytest.fixture(scope="module")
def box():
    with Sandbox(time_limit=0.5, grace=1.5) as b:
        yield b


@pytest.mark.parametrize(
    "source, message",
    [
        ("import os\ndef f(x):\n    return x", "Import is not allowed"),
        ("def f(x):\n    import os\n    return os.getcwd()", "Import is not allowed"),
        ("def f(x):\n    return open('/etc/passwd').read()", "is not allowed"),
        ("def f(x):\n    return open(x)", "the name 'open' is not allowed"),
        ("def f(x):\n    import socket\n    return socket.create_connection((x, 80))", "Import is not allowed"),
        ("def f(x):\n    return __import__(x)", "the name '__import__' is not allowed"),
        ("def f(x):\n    return [c for c in x.__class__.__mro__]", "attribute .__"),
        ("def f(x):\n    return ().__class__.__bases__[0].__subclasses__()", "attribute .__"),
        ("def f(x):\n    return __builtins__", "the name '__builtins__' is not allowed"),
        ("def f(x):\n    return eval(x)", "the name 'eval' is not allowed"),
        ("def f(x):\n    return getattr(x, x)", "the name 'getattr' is not allowed"),
        ("def f(x):\n    return x.gi_frame", "attribute .gi_frame is not allowed"),
        ("def f(x):\n    try:\n        return 1\n    except:\n        return 2", "Try is not allowed"),
        ("def f(x):\n    return f'{x}'", "JoinedStr is not allowed"),
        ("def f(x):\n    return '{0.__class__}'.format(x)", "is not allowed"),
        ("def f(x):\n    return x\nf(1)", "Expr is not allowed"),
        ("def f(x):\n    return x\ndef g(x):\n    return x", "2 defs"),
        ("x = 1", "Assign is not allowed"),
        ("def f(x):\n    def g():\n        return 1\n    return g()", "nested def"),
        ("@staticmethod\ndef f(x):\n    return x", "decorators"),
        ("def f(x):\n    global y\n    return x", "Global is not allowed"),
        ("def f(x:\n", "syntax error"),
        ("def f(*xs):\n    return xs", "positional parameters only"),
    ],
)
def test_check_source_refuses(source, message):
    with pytest.raises(UnsafeSourceError) as info:
        check_source(source)
    assert message in str(info.value)


def test_check_source_accepts_plain_maths():
    src = ('def f(xs, k):\n    """Docstrings are fine."""\n    out = []\n    for i, x in enumerate(xs):\n'
           '        if x % 2 == 0 and i < k:\n            out.append(max(x, k) // 2)\n    return sorted(out)[::-1] + [v * v for v in xs if v > 0]\n')
    assert check_source(src).name == "f"
    assert "def g(n)" in rename_function("def f(n):\n    return f(n - 1) if n else 0\n", "g")
    assert "g(n - 1)" in rename_function("def f(n):\n    return f(n - 1) if n else 0\n", "g")


def test_runs_batches_and_library_calls(box):
    lib = {"sq": "def sq(x):\n    return x * x\n"}
    out = box.run_many([("def f(x):\n    return sq(x) + 1\n", "f", [(2,), (3,)]), (None, "sq", [(5,)])], lib)
    assert [o.value for o in out[0]] == [5, 10] and out[1][0].value == 25
    assert all(o.ok for r in out for o in r)


HOSTILE_AT_RUN_TIME = [
    ("def f(x):\n    while True:\n        x += 1", "timeout"),
    ("def f(x):\n    return [0] * (10 ** 10)", "memory"),
    ("def f(x):\n    return f(x + 1)", "error: RecursionError"),
    ("def f(x):\n    return sum(range(10 ** 13))", "timeout"),  # one C call the worker's timer cannot interrupt
    ("def f(x):\n    return x // 0", "error: ZeroDivisionError"),
    ("def f(x):\n    return [1.5]", "list holds float"),
    ("def f(x):\n    return {1: 2}", "returned dict"),
    ("def f(x):\n    return no_such_function(x)", "error: NameError"),
]


@pytest.mark.parametrize("source, reason", HOSTILE_AT_RUN_TIME)
def test_hostile_functions_are_contained(box, source, reason):
    before = set(os.listdir("."))
    o = box.run_one(source, "f", (1,))
    assert not o.ok and reason in o.reason
    assert set(os.listdir(".")) == before
    # The sandbox still works afterwards.
    assert box.run_one("def g(x):\n    return x + 1\n", "g", (1,)).value == 2


def test_worker_has_no_network_no_files_and_limits():
    """The live worker runs with file size 0, four open files and its own network namespace."""
    from riscmoe.functions import sandbox as sb

    box = Sandbox(time_limit=1.0)
    assert box.run_one("def f(x):\n    return x\n", "f", (1,)).value == 1
    pid = box._proc.pid
    limits = open(f"/proc/{pid}/limits").read()
    assert "Max file size" in limits and [l for l in limits.splitlines() if l.startswith("Max file size")][0].split()[3] == "0"
    assert [l for l in limits.splitlines() if l.startswith("Max open files")][0].split()[3] == "4"
    if not box.notes:  # the network namespace was granted: the worker's namespace differs from ours
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    box.close()
    assert sb.SAFE_BUILTINS.get("open") is None


def test_file_write_and_socket_refused_even_with_a_forged_builtin(tmp_path):
    """Confined as the worker confines itself, even real open() and socket() fail."""
    import json
    import subprocess
    import sys

    import riscmoe.functions.worker as w

    target = tmp_path / "written.txt"
    code = (
        "import sys, json, socket, runpy\n"
        f"ns = runpy.run_path({w.__file__!r}, run_name='not_main')\n"
        "proto, notes = ns['confine'](512)\n"
        "res = {'notes': notes}\n"
        f"try:\n    f = open({str(target)!r}, 'w')\n    f.write('x' * 10)\n    f.flush()\n    res['file'] = 'written'\n"
        "except OSError as e:\n    res['file'] = type(e).__name__\n"
        "try:\n    s = socket.create_connection(('127.0.0.1', 1), timeout=1)\n    res['socket'] = 'connected'\n"
        "except OSError as e:\n    res['socket'] = type(e).__name__\n"
        "proto.write(json.dumps(res) + '\\n')\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    res = json.loads(out.stdout.splitlines()[-1])
    assert res["file"] != "written" and res["socket"] != "connected", res
    assert not target.exists() or target.read_text() == ""


def test_in_process_runner_for_trusted_code():
    r = InProcessRunner(time_limit=0.2)
    out = r.run_many([("def f(x):\n    while True:\n        pass\n", "f", [(1,)]), (None, "sq", [(4,)])],
                     {"sq": "def sq(x):\n    return x * x\n"})
    assert out[0][0].reason == "timeout" and out[1][0].value == 16


def test_bad_arguments():
    with pytest.raises(ValueError, match="time_limit must be positive"):
        Sandbox(time_limit=0)
    with pytest.raises(ValueError, match="memory_mb=10 is too small"):
        Sandbox(memory_mb=10)
