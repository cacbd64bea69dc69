"""Kinds of parts: registered from outside riscmoe's files, composed by name, saved and loaded by kind."""

from dataclasses import dataclass

import numpy as np
import pytest

from riscmoe import RiscClassifier, SaveFormatError, load, registry
from tests import toy_kinds
from tests.conftest import class_incremental_batches

GROUPS = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


def _train(clf, digits, groups=GROUPS):
    Xtr, ytr, _, _ = digits
    for Xb, yb in class_incremental_batches(Xtr, ytr, groups):
        clf.partial_fit(Xb, yb)
    return clf


def test_a_toy_kind_of_every_part_trains_predicts_saves_and_loads(digits, tmp_path):
    """Seven kinds that riscmoe's own files know nothing of, one per part, composed by name."""
    _, _, Xte, yte = digits
    clf = _train(RiscClassifier(seed=0, min_examples=16, **toy_kinds.TOYS), digits, GROUPS[:4])
    params = clf.get_params()
    assert params["meta__sharpness"] == 2.0 and params["model__lr"] == 0.5 and params["encoder__squares"] is True
    assert params["archive__weight"] == 1.0 and params["creator__steps"] == 50 and params["feedback__steps"] == 1
    clf.save(tmp_path / "toys")
    twin = load(tmp_path / "toys")
    assert {name: registry.kind_of(twin.part(name))[1] for name in registry.PARTS} == toy_kinds.TOYS
    np.testing.assert_array_equal(twin.predict_detailed(Xte).confidence, clf.predict_detailed(Xte).confidence)
    # Both learn the last group alike (the loaded one from its saved state, through every toy part).
    for model in (clf, twin):
        _train(model, digits, GROUPS[4:])
    pred = clf.predict(Xte)
    np.testing.assert_array_equal(twin.predict(Xte), pred)
    assert clf.n_experts_ == 10 and [m.reason for m in clf.collection_.members] == ["toy"] * 10
    assert np.mean(pred == yte) > 0.4  # nearest block-centroid, roughly; chance is 0.1
    # A setting of a toy part changes through the estimator like any other.
    clf.set_params(meta__sharpness=0.5)
    assert clf.part("meta") == toy_kinds.ToyCentroids(sharpness=0.5)


def test_a_users_own_module_as_encoder_must_be_given_again_to_load(digits, tmp_path):
    _, _, Xte, _ = digits
    clf = _train(RiscClassifier(seed=0, min_examples=16, encoder=toy_kinds.BlockMeans(squares=True)), digits, GROUPS[:2])
    assert clf.get_params()["encoder__flatten"] is False  # wrapped as the ``module`` kind
    clf.save(tmp_path / "own")
    with pytest.raises(SaveFormatError, match=r"your own encoder .*riscmoe.load\(path, encoder=...\)"):
        load(tmp_path / "own")
    twin = load(tmp_path / "own", encoder=toy_kinds.BlockMeans(squares=True))
    np.testing.assert_array_equal(twin.predict(Xte), clf.predict(Xte))
    with pytest.raises(ValueError, match="features"):  # another module, another feature space: refused
        load(tmp_path / "own", encoder=toy_kinds.BlockMeans(squares=False))


def test_a_kind_the_loading_process_has_not_registered_is_refused_by_name(digits, tmp_path):
    clf = _train(RiscClassifier(seed=0, min_examples=16, policy="toy-top1"), digits, GROUPS[:1])
    clf.save(tmp_path / "sys")
    registry.unregister("policy", "toy-top1")
    try:
        with pytest.raises(SaveFormatError, match="unknown policy kind 'toy-top1'.*registered"):
            load(tmp_path / "sys")
    finally:
        registry.register("policy", "toy-top1")(toy_kinds.ToyTop1)
    assert load(tmp_path / "sys").n_experts_ == clf.n_experts_


def test_registration_rules():
    with pytest.raises(TypeError, match="frozen dataclass"):
        @registry.register("policy", "toy-mutable")
        @dataclass
        class Mutable:
            sure: float = 0.1
    with pytest.raises(ValueError, match="already registered"):
        @registry.register("policy", "best")
        @dataclass(frozen=True)
        class Impostor:
            pass
    with pytest.raises(ValueError, match="unknown part"):
        registry.register("router", "x")
    with pytest.raises(ValueError, match=r"unknown meta kind 'nope'; registered kinds: (.*, )?gaussian"):
        registry.spec("meta", "nope")
    with pytest.raises(TypeError, match="a kind of policy, not of meta"):
        registry.spec("meta", toy_kinds.ToyTop1())
    assert {"first", "best", "mixture", "toy-top1"} <= set(registry.kinds("policy"))
    assert registry.kind_of(toy_kinds.ToyFifo()) == ("archive", "toy-fifo", 1) and registry.kind_of(object()) is None


def test_a_part_that_keeps_no_protocol_is_refused_before_anything_is_built(digits):
    Xtr, ytr, _, _ = digits
    for name in ("policy", "archive", "creator", "feedback", "meta", "model"):
        clf = RiscClassifier(**{name: object()})
        with pytest.raises(TypeError, match=name):
            clf.partial_fit(Xtr[:32], ytr[:32])
        assert not clf.is_fitted


def test_a_clash_with_a_shipped_kind_is_caught_before_riscmoe_has_loaded_its_own():
    import subprocess
    import sys

    code = ("from dataclasses import dataclass\nfrom riscmoe import registry\n"
            "@registry.register('policy', 'best', domains=('functions',))\n@dataclass(frozen=True)\nclass B:\n    pass\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "policy kind 'best' is already registered by riscmoe.controller.policies.Best" in proc.stderr
