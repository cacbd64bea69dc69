"""Earlier save formats load through riscmoe.persistence.migrations and answer as their build did."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from riscmoe import SaveFormatError, load
from riscmoe.persistence import migrations
from riscmoe.persistence.folder import read_manifest
from tests.saves import write_manifest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V4 = FIXTURES / "v4-save"  # made by build 1456a0d (tests/fixtures/make_v4_save.py)


@pytest.fixture(scope="module")
def expected():
    return np.load(FIXTURES / "v4-expected.npz")


def _same_confidence(actual, desired):
    """Confidences as the build that made the save gave them, to the last float32 digits: those
    vary with the machine's maths libraries (6.6e-6 at most between numpy 2.4.6 / scipy 1.17.1
    and the libraries the fixtures were made with); labels and members must match exactly."""
    np.testing.assert_allclose(actual, desired, rtol=0, atol=5e-5)


def _listing(folder):
    return sorted((p.name, p.stat().st_size) for p in Path(folder).iterdir())


def test_a_format_4_save_answers_and_learns_on_as_the_build_that_made_it(expected, tmp_path):
    before = _listing(V4)
    clf = load(V4)
    labels, conf, member = clf.predict_with_confidence(expected["X"])
    np.testing.assert_array_equal(labels, expected["labels"])
    _same_confidence(conf, expected["confidence"])
    np.testing.assert_array_equal(member, expected["member"])
    params = clf.get_params()
    assert params["policy"] == "best" and params["model__hidden"] == 64 and params["min_examples"] == 16
    assert any(len(m.held) for m in clf.collection_.members)  # the held rows came through
    # Learning on from the save gives exactly what the old build gave (its optimiser and
    # random states, held rows and archive all carried over).
    clf.partial_fit(expected["X_more"], expected["y_more"])
    clf.prepare()  # (the old build brought the fit up to date in predict; this one does so here)
    after, conf_after, _ = clf.predict_with_confidence(expected["X"])
    np.testing.assert_array_equal(after, expected["labels_after"])
    _same_confidence(conf_after, expected["confidence_after"])
    assert _listing(V4) == before  # a load only reads
    clf.save(tmp_path / "v5")
    assert read_manifest(tmp_path / "v5")["format_version"] == 5 == migrations.CURRENT
    np.testing.assert_array_equal(load(tmp_path / "v5").predict(expected["X"]), after)


def test_a_format_4_save_can_be_replaced_by_a_format_5_one(expected, tmp_path):
    shutil.copytree(V4, tmp_path / "sys")
    clf = load(tmp_path / "sys")
    clf.save(tmp_path / "sys")  # over the old format: its files are known, so it may
    assert read_manifest(tmp_path / "sys")["format_version"] == 5
    assert len(list((tmp_path / "sys").iterdir())) == 4
    np.testing.assert_array_equal(load(tmp_path / "sys").predict(expected["X"]), expected["labels"])


def test_inspect_shows_a_format_4_save_in_todays_terms():
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    import os

    r = subprocess.run([sys.executable, "-m", "riscmoe.cli.main", "inspect", str(V4)], capture_output=True, text=True,
                       env={**os.environ, **env}, check=True)
    assert "format 4, 3 members" in r.stdout and "model    verifier (hidden=64, lr=0.002)" in r.stdout
    assert "border" in r.stdout


def test_a_format_4_save_the_migration_cannot_read_is_refused_by_name(tmp_path):
    shutil.copytree(V4, tmp_path / "sys")
    manifest = json.loads((tmp_path / "sys" / "manifest.json").read_text())
    manifest["members"][1]["hidden"] = 32  # members of two widths: format 5 keeps one model setting
    write_manifest(tmp_path / "sys", manifest)
    with pytest.raises(SaveFormatError, match="format version 4.*widths \\[32, 64\\]"):
        load(tmp_path / "sys")
    del manifest["members"][1]["hidden"], manifest["encoder"]
    write_manifest(tmp_path / "sys", manifest)
    with pytest.raises(SaveFormatError, match="manifest is incomplete"):
        load(tmp_path / "sys")


def test_migrate_leaves_todays_format_alone_and_refuses_unknown_ones():
    today = {"format_version": migrations.CURRENT, "x": 1}
    assert migrations.migrate(today, {}) == (today, {})
    with pytest.raises(migrations.MigrationError, match="version 2 cannot be read"):
        migrations.migrate({"format_version": 2}, {})
    with pytest.raises(migrations.MigrationError, match="array 'extra.0'"):
        manifest = read_manifest(V4)
        migrations.migrate(manifest, {"extra.0": np.zeros(1)})


V5_GAUSSIAN1 = FIXTURES / "v5-gaussian1-save"  # made by build 2f49e34 (tests/fixtures/make_v4_save.py ... v5-gaussian1)


def test_a_save_of_the_gaussian_bank_version_1_answers_and_learns_on_as_its_build_did(tmp_path):
    expected = np.load(FIXTURES / "v5-gaussian1-expected.npz")
    manifest = read_manifest(V5_GAUSSIAN1)
    assert manifest["format_version"] == 5 and manifest["parts"]["meta"]["version"] == 1
    assert "shape_rank" not in manifest["parts"]["meta"]["config"]
    clf = load(V5_GAUSSIAN1)
    assert clf.get_params()["meta__shape_rank"] == 0  # version 1 kept full scatters: so does the loaded bank
    labels, conf, member = clf.predict_with_confidence(expected["X"])
    np.testing.assert_array_equal(labels, expected["labels"])
    _same_confidence(conf, expected["confidence"])
    np.testing.assert_array_equal(member, expected["member"])
    clf.partial_fit(expected["X_more"], expected["y_more"])
    clf.prepare()  # (the old build brought the fit up to date in predict; this one does so here)
    after, conf_after, _ = clf.predict_with_confidence(expected["X"])
    np.testing.assert_array_equal(after, expected["labels_after"])
    _same_confidence(conf_after, expected["confidence_after"])
    clf.save(tmp_path / "again")
    assert read_manifest(tmp_path / "again")["parts"]["meta"]["version"] == 6
    assert clf.get_params()["meta__member_kb"] == 0 and clf.get_params()["meta__pair_block"] == 0  # full scatters, as it learned


def test_kind_steps_bring_a_parts_entry_forward_and_refuse_what_they_cannot_read():
    old = {"member_kb": 0, "pair_block": 0, "reservoir": 256, "half_reservoir": False, "block_bits": 16}  # version 5's layout
    entry = {"kind": "gaussian", "version": 1, "config": {"pair_margin": 5.0}}
    assert migrations.migrate_part("meta", entry) == {"kind": "gaussian", "version": 6,
                                                      "config": dict(old, pair_margin=5.0, shape_rank=0)}
    for version in (2, 3, 4, 5):
        assert migrations.migrate_part("meta", {"kind": "gaussian", "version": version, "config": {}}) == {
            "kind": "gaussian", "version": 6, "config": old}
    # a version 5 save names its layout: it is kept as it learned
    kept = {"pair_block": 1152, "reservoir": 60, "half_reservoir": True, "block_bits": 8}
    assert migrations.migrate_part("meta", {"kind": "gaussian", "version": 5, "config": kept})["config"] == dict(old, **kept)
    with pytest.raises(migrations.MigrationError, match="has a member_kb setting"):
        migrations.migrate_part("meta", {"kind": "gaussian", "version": 5, "config": {"member_kb": 10}})
    today = {"kind": "gaussian", "version": 6, "config": {}}
    assert migrations.migrate_part("meta", today) is today
    assert migrations.migrate_part("policy", {"kind": "best", "version": 1}) == {"kind": "best", "version": 1}
    with pytest.raises(migrations.MigrationError, match="has a shape_rank setting"):
        migrations.migrate_part("meta", {"kind": "gaussian", "version": 1, "config": {"shape_rank": 3}})
