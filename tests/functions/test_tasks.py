"""Task files: the documented format loads; malformed lines fail with file, line and problem."""

import json

import pytest

from riscmoe.functions.tasks import Task, TaskFormatError, load_tasks
from riscmoe.functions.values import Signature, type_of, values_equal


def write(tmp_path, lines):
    p = tmp_path / "tasks.jsonl"
    p.write_text("\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n")
    return p


GOOD = {"name": "tri", "description": "triangular numbers", "examples": [{"args": [3], "output": 6}, {"args": [4], "output": 10}],
        "queries": [{"args": [10], "expected": 55}, {"args": [0]}]}


def test_loads_documented_format(tmp_path):
    t, = load_tasks(write(tmp_path, [GOOD]))
    assert t.name == "tri" and t.description == "triangular numbers"
    assert t.examples == [((3,), 6), ((4,), 10)]
    assert t.queries == [(10,), (0,)]
    assert t.expected == [55, None]
    assert t.signature == Signature(("int",), "int")


def test_signature_types_and_widening(tmp_path):
    lines = [
        {"name": "a", "examples": [{"args": [[1, 2], 3], "output": True}]},
        {"name": "b", "examples": [{"args": [1], "output": 2}, {"args": [2], "output": 2.5}], "queries": [{"args": [3]}]},
    ]
    a, b = load_tasks(write(tmp_path, lines))
    assert str(a.signature) == "(list[int], int) -> bool"
    assert str(b.signature) == "(int) -> float"
    assert b.examples[0] == ((1,), 2.0) and isinstance(b.examples[0][1], float)
    assert a.queries == [] and a.expected is None


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        ({"examples": [{"args": [1], "output": 1}]}, 'missing field "name"'),
        ({"name": "x"}, 'missing field "examples"'),
        ({"name": "x", "examples": []}, "non-empty list"),
        ({"name": "x", "examples": [{"args": [1]}]}, 'no "output"'),
        ({"name": "x", "examples": [{"args": 1, "output": 1}]}, '"args" must be a list'),
        ({"name": "x", "examples": [{"args": ["a"], "output": 1}]}, "values must be int, float, bool or list[int]"),
        ({"name": "x", "examples": [{"args": [[1, 2.5]], "output": 1}]}, "lists hold ints only"),
        ({"name": "x", "examples": [{"args": [1], "output": 1}, {"args": [1, 2], "output": 1}]}, "same arity"),
        ({"name": "x", "examples": [{"args": [1], "output": 1}, {"args": [True], "output": 1}]}, "types must agree"),
        ({"name": "x", "examples": [{"args": [1], "output": 1}], "queries": [{"args": [[1]]}]}, "do not fit (int) -> int"),
        ({"name": "x", "examples": [{"args": [1], "output": 1}], "queries": [{"args": [1], "expected": [1]}]}, "not of output type int"),
        ({"name": "x", "examples": [{"args": [1], "output": 1}], "colour": "red"}, "unknown field(s) 'colour'"),
        ('{"name": "x", "examples": [{"args": [NaN], "output": 1}]}', "NaN is not allowed"),
        ({"name": "", "examples": [{"args": [1], "output": 1}]}, "non-empty string"),
    ],
)
def test_malformed_lines_name_file_line_and_problem(tmp_path, line, message):
    p = write(tmp_path, [GOOD | {"name": "ok"}, line])
    with pytest.raises(TaskFormatError) as info:
        load_tasks(p)
    text = str(info.value)
    assert f"{p}, line 2" in text
    assert message in text


def test_duplicate_names_and_empty_file(tmp_path):
    with pytest.raises(TaskFormatError, match="already used on line 1"):
        load_tasks(write(tmp_path, [GOOD, GOOD]))
    (tmp_path / "empty.jsonl").write_text("\n# only a comment\n")
    with pytest.raises(TaskFormatError, match="no tasks found"):
        load_tasks(tmp_path / "empty.jsonl")


def test_bool_is_not_int_and_float_tolerance():
    assert type_of(True) == "bool" and type_of(1) == "int"
    assert not values_equal(True, 1, "int") and not values_equal(1, True, "bool")
    assert values_equal(0.1 + 0.2, 0.3, "float") and not values_equal(0.31, 0.3, "float")
    assert values_equal([1, 2], [1, 2], "list[int]") and not values_equal([1, 2], [2, 1], "list[int]")
    with pytest.raises(ValueError, match="no examples"):
        Task("t", [])


def test_text_that_cannot_round_trip_is_refused_at_load(tmp_path):
    """A lone surrogate (JSON "\\ud800") is no character: refused with file and line, not after the first answer."""
    base = {"examples": [{"args": [1], "output": 2}]}
    with pytest.raises(TaskFormatError, match=r"line 1: task name '\\ud800x' holds a lone surrogate \(U\+D800\)"):
        load_tasks(write(tmp_path, ['{"name": "\\ud800x", "examples": [{"args": [1], "output": 2}]}']))
    with pytest.raises(TaskFormatError, match=r"line 2: task 'b': description 'a\\udfff' holds a lone surrogate \(U\+DFFF\)"):
        load_tasks(write(tmp_path, [dict(base, name="a"), '{"name": "b", "description": "a\\udfff", "examples": [{"args": [1], "output": 2}]}']))
    # A surrogate pair is one character, control characters load (they are escaped where printed).
    t, u = load_tasks(write(tmp_path, ['{"name": "smile \\ud83d\\ude00", "examples": [{"args": [1], "output": 2}]}',
                                       dict(base, name="bell\x07", description="esc\x1b[2J")]))
    assert t.name == "smile \U0001f600" and u.name == "bell\x07" and u.description == "esc\x1b[2J"
