"""Typed settings: field checks, PART.NAME=VALUE assignments, JSON and TOML files."""

from dataclasses import dataclass, field

import pytest

from riscmoe import RiscClassifier
from riscmoe.config import check_fields, parse_assignment, read_file


@dataclass(frozen=True)
class Settings:
    count: int = field(default=3, metadata={"min": 1})
    rate: float = field(default=0.5, metadata={"above": 0.0, "below": 1.0})
    limit: int | None = None
    on: bool = True
    name: str = "x"


def test_fields_are_checked_against_their_types_and_ranges():
    check_fields("part", Settings())
    check_fields("part", Settings(count=4.0, limit=None))  # a whole float is a whole number
    for bad, error, text in [
        (Settings(count=0), ValueError, "part__count must be at least 1, got 0"),
        (Settings(count=1.5), TypeError, "part__count must be an integer"),
        (Settings(count=True), TypeError, "part__count must be an integer"),
        (Settings(rate=1.0), ValueError, "part__rate must be below 1.0"),
        (Settings(rate=float("nan")), ValueError, "part__rate must be finite"),
        (Settings(rate="fast"), TypeError, "part__rate must be a number"),
        (Settings(limit="many"), TypeError, "part__limit must be an integer"),
        (Settings(on=1), TypeError, "part__on must be true or false"),
        (Settings(name=3), TypeError, "part__name must be a string"),
    ]:
        with pytest.raises(error, match=text):
            check_fields("part", bad)


def test_assignments_read_as_the_estimators_parameters():
    assert parse_assignment("model.hidden=32") == ("model__hidden", 32)
    assert parse_assignment("policy=mixture") == ("policy", "mixture")
    assert parse_assignment("threshold=1e-2") == ("threshold", 0.01)
    assert parse_assignment("archive_bytes=None") == ("archive_bytes", None)
    assert parse_assignment("encoder.stride=null") == ("encoder__stride", None)
    assert parse_assignment("meta.half_reservoir=True") == ("meta__half_reservoir", True)
    assert parse_assignment("meta.half_reservoir=false") == ("meta__half_reservoir", False)
    with pytest.raises(ValueError, match="PART.NAME=VALUE"):
        parse_assignment("model.hidden")


def test_json_and_toml_files_set_the_same_parameters(tmp_path):
    (tmp_path / "a.json").write_text('{"threshold": 0.01, "model": {"hidden": 32}, "policy": {"kind": "first", "sure": 0.3}}')
    (tmp_path / "a.toml").write_text('threshold = 0.01\n[model]\nhidden = 32\n[policy]\nkind = "first"\nsure = 0.3\n')
    expected = {"threshold": 0.01, "model__hidden": 32, "policy": "first", "policy__sure": 0.3}
    assert read_file(tmp_path / "a.json") == read_file(tmp_path / "a.toml") == expected
    clf = RiscClassifier().set_params(**expected)
    assert clf.get_params()["policy__sure"] == 0.3 and clf.part("policy").sure == 0.3
    (tmp_path / "bad.toml").write_text("threshold = = 1")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_file(tmp_path / "bad.toml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="table of settings"):
        read_file(tmp_path / "list.json")
    with pytest.raises(ValueError, match="cannot read the config file"):
        read_file(tmp_path / "missing.json")
