import copy
import json
import subprocess
import sys

import numpy as np
import torch
import pytest

from sklearn.exceptions import NotFittedError

from riscmoe import RiscClassifier, SaveFormatError, load
from tests.conftest import class_incremental_batches
from tests.saves import data_file, restamp, write_manifest


def test_class_incremental_digits_learns_every_class(fitted, digits):
    _, _, Xte, yte = digits
    pred = fitted.predict(Xte)
    assert 10 <= fitted.n_experts_ <= 12
    assert np.mean(pred == yte) > 0.9
    assert fitted.predict_detailed(Xte).runs_per_input <= 2.0
    assert set(m.label for m in fitted.collection_.members) == set(range(10))


def test_params_stored_by_name():
    clf = RiscClassifier(policy="mixture", threshold=0.01, max_experts=2, seed=3)
    params = clf.get_params(deep=False)
    assert params["policy"] == "mixture" and params["threshold"] == 0.01 and params["seed"] == 3
    assert RiscClassifier(**params).get_params() == clf.get_params()


def test_parts_settings_are_params():
    clf = RiscClassifier()
    deep = clf.get_params(deep=True)
    assert deep["model__hidden"] == 64 and deep["policy__close"] == 3.0 and deep["meta__pair_margin"] == 10.0
    assert deep["feedback__min_rows"] == 64 and deep["creator__steps"] == 40 and deep["archive__mistake"] == 2.0
    assert set(clf.get_params(deep=False).items()) <= set((k, v) for k, v in deep.items() if not isinstance(v, dict))
    clf.set_params(model__hidden=16, policy="first", policy__sure=0.3)
    assert clf.get_params()["model__hidden"] == 16 and clf.get_params()["policy__sure"] == 0.3
    assert "policy__close" not in clf.get_params()  # the first policy has no close calls
    with pytest.raises(ValueError, match="no setting 'width'"):
        clf.set_params(model__width=3)
    with pytest.raises(ValueError, match="unknown parameter 'hidden'"):
        clf.set_params(hidden=3)


def test_policies_all_work(digits):
    Xtr, ytr, Xte, yte = digits
    for policy in ("first", "best", "mixture"):
        clf = RiscClassifier(policy=policy, seed=0, min_examples=16)
        for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]):
            clf.partial_fit(Xb, yb)
        # Borders are sharp enough that even "first" (the oldest accepting member) is right.
        assert np.mean(clf.predict(Xte) == yte) > 0.85, policy
        assert 0.9 <= clf.predict_detailed(Xte).runs_per_input <= clf.max_experts
        # Few members accept an input besides its own.
        conf = clf.collection_.evaluate(clf.collection_.encode(torch.from_numpy(Xte.reshape(len(Xte), -1)))).conf
        assert float((conf >= clf.threshold).sum(1).float().mean()) < 1.5


def test_unknown_before_a_class_is_learned(digits):
    Xtr, ytr, Xte, yte = digits
    clf = RiscClassifier(seed=0, min_examples=16)
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1)]):
        clf.partial_fit(Xb, yb)
    pred = clf.predict(Xte[np.isin(yte, (0, 1))])
    assert np.mean(pred == yte[np.isin(yte, (0, 1))]) > 0.95
    # Inputs from another domain (the same digits with their pixels shuffled) are refused:
    # "unknown" (-1) is a legitimate answer.
    shuffled = Xte.reshape(len(Xte), -1)[:, np.random.default_rng(0).permutation(64)].reshape(Xte.shape)
    assert np.mean(clf.predict(shuffled) == -1) > 0.9
    # Digits it never saw look less like its members than the digits it knows.
    _, conf_seen, _ = clf.predict_with_confidence(Xte[np.isin(yte, (0, 1))])
    _, conf_unseen, _ = clf.predict_with_confidence(Xte[~np.isin(yte, (0, 1))])
    assert np.median(conf_unseen) < 0.5 * np.median(conf_seen)


def test_string_labels_and_none_for_unknown(digits):
    Xtr, ytr, Xte, yte = digits
    names = np.array(["zero", "one", "two"], dtype=object)
    clf = RiscClassifier(seed=0, min_examples=16)
    mask = np.isin(ytr, (0, 1, 2))
    for s in range(0, mask.sum(), 32):
        clf.partial_fit(Xtr[mask][s : s + 32], names[ytr[mask][s : s + 32]])
    # Known digits, and the same digits with their pixels shuffled (unlike anything known).
    known = Xte[np.isin(yte, (0, 1, 2))]
    shuffled = known.reshape(len(known), -1)[:, np.random.default_rng(0).permutation(64)].reshape(known.shape)
    pred = clf.predict(np.concatenate([known, shuffled]))
    assert pred.dtype == object
    assert set(pred.tolist()) <= {"zero", "one", "two", None}
    assert None in pred.tolist()


def test_returning_class_reuses_its_member(digits):
    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(seed=0, min_examples=16)
    first = {c: np.flatnonzero(ytr == c) for c in range(6)}
    def feed(classes, part):
        idx = np.concatenate([first[c][part::2] for c in classes])
        np.random.default_rng(0).shuffle(idx)
        for s in range(0, len(idx), 32):
            clf.partial_fit(Xtr[idx[s : s + 32]], ytr[idx[s : s + 32]])
    feed((0, 1), 0)
    feed((2, 3), 0)
    feed((4, 5), 0)
    n = clf.n_experts_
    feed((0, 1), 1)  # digits 0 and 1 come back after a long absence
    assert clf.n_experts_ == n


def test_seed_repeatability(digits):
    Xtr, ytr, Xte, _ = digits
    preds = []
    for _ in range(2):
        clf = RiscClassifier(seed=5, min_examples=16)
        for Xb, yb in class_incremental_batches(Xtr[:600], ytr[:600], [(0, 1, 2), (3, 4, 5)]):
            clf.partial_fit(Xb, yb)
        preds.append(clf.predict(Xte))
    np.testing.assert_array_equal(preds[0], preds[1])


def _snapshot(clf, X):
    return clf.predict(X).copy(), len(clf.archive_), clf.archive_.ids().copy(), clf.n_experts_, clf.n_seen_


@pytest.mark.parametrize(
    "make_bad, error",
    [
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y), ValueError),
        (lambda X, y: (X.reshape(len(X), -1), y), ValueError),
        (lambda X, y: (X.astype(str), y), TypeError),
        (lambda X, y: (X[:0], y[:0]), ValueError),
        (lambda X, y: (X, y[:-1]), ValueError),
        (lambda X, y: (X, np.full(len(y), -1)), ValueError),
        (lambda X, y: (X, y.astype(str)), TypeError),
    ],
    ids=["nan", "wrong-shape", "wrong-dtype", "empty", "length-mismatch", "minus-one-label", "label-kind-change"],
)
def test_bad_input_raises_and_changes_nothing(fitted, digits, make_bad, error, tmp_path):
    fitted.save(tmp_path / "copy")
    clf = load(tmp_path / "copy")
    _, _, Xte, yte = digits
    before = _snapshot(clf, Xte)
    Xb, yb = make_bad(Xte[:20].copy(), yte[:20].copy())
    with pytest.raises(error):
        clf.partial_fit(Xb, yb)
    after = _snapshot(clf, Xte)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[2], after[2])
    assert before[1] == after[1] and before[3:] == after[3:]


def test_predict_bad_input(fitted, digits):
    _, _, Xte, _ = digits
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(np.full((2, 8, 8), np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        fitted.predict(Xte[:3, :4])
    with pytest.raises(ValueError, match="empty"):
        fitted.predict(Xte[:0])
    with pytest.raises(NotFittedError, match="partial_fit"):
        RiscClassifier().predict(Xte)


def test_save_load_identical_in_new_process(fitted, digits, tmp_path):
    _, _, Xte, _ = digits
    fitted.save(tmp_path / "sys")
    np.save(tmp_path / "X.npy", Xte)
    expected = fitted.predict(Xte)
    code = (
        "import numpy as np, riscmoe, sys; c = riscmoe.load(sys.argv[1]); "
        "np.save(sys.argv[2], c.predict(np.load(sys.argv[3])))"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "sys"), str(tmp_path / "p.npy"), str(tmp_path / "X.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)
    loaded = load(tmp_path / "sys")
    assert loaded.n_experts_ == fitted.n_experts_
    assert len(loaded.archive_) == len(fitted.archive_)
    # A loaded system keeps learning.
    loaded.partial_fit(Xte[:10], np.zeros(10, dtype=int))


def test_save_keeps_the_models_optimiser_state(fitted, tmp_path):
    fitted.save(tmp_path / "sys")
    loaded = load(tmp_path / "sys")
    for a, b in zip(fitted.collection_.members, loaded.collection_.members):
        assert a.model._t == b.model._t > 0
        for x, y in zip(a.model._m + a.model._v, b.model._m + b.model._v):
            assert torch.equal(x, y)
    # Optimiser arrays that are missing, or do not fit the models, are refused.
    from safetensors.torch import load_file, save_file

    weights = data_file(tmp_path / "sys", "weights")
    tensors = load_file(str(weights))
    save_file({k: v for k, v in tensors.items() if not k.startswith("members.0.model.optim.")}, str(weights))
    restamp(tmp_path / "sys")
    with pytest.raises(SaveFormatError, match="model of member 0: optimiser state"):
        load(tmp_path / "sys")
    tensors["members.0.model.optim.m0"] = tensors["members.0.model.optim.m0"][:, :3].contiguous()
    save_file(tensors, str(weights))
    restamp(tmp_path / "sys")
    with pytest.raises(SaveFormatError, match="model of member 0: optimiser state"):
        load(tmp_path / "sys")


def test_save_keeps_the_members_own_scatters(digits, tmp_path):
    from safetensors.torch import load_file, save_file

    Xtr, ytr, _, _ = digits
    # pair_min 100: the digits' members (about 135 examples each) make their own scatters,
    # except those still below it, which the save names as deferred.
    fitted = RiscClassifier(seed=0, min_examples=16).set_params(meta__pair_min=100)
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]):
        fitted.partial_fit(Xb, yb)
    assert sum(S is not None for S in fitted.collection_.meta.scatters) >= 5
    fitted.save(tmp_path / "sys")
    loaded = load(tmp_path / "sys")
    assert loaded.collection_.meta.deferred == fitted.collection_.meta.deferred
    for a, b in zip(fitted.collection_.meta.scatters, loaded.collection_.meta.scatters):
        assert (a is None and b is None) or torch.equal(a, b)
    # A scatter that does not fit is refused, with the file named.
    weights = data_file(tmp_path / "sys", "weights")
    tensors = load_file(str(weights))
    tensors["meta.deferred"] = torch.zeros(0, dtype=torch.int64)  # every member's scatter saved...
    tensors["meta.1.scatter_tril"] = torch.zeros(7)  # ...and member 1's of the wrong size
    save_file(tensors, str(weights))
    restamp(tmp_path / "sys")
    with pytest.raises(SaveFormatError, match=r"weights-\w+-\w+.safetensors: saved scatter of meta-model 1"):
        load(tmp_path / "sys")


def test_a_loaded_system_learns_on_exactly_as_the_saved_one(digits, tmp_path):
    Xtr, ytr, Xte, _ = digits
    batches = list(class_incremental_batches(Xtr, ytr, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]))
    a = RiscClassifier(seed=0, min_examples=16)
    for Xb, yb in batches[: len(batches) // 2]:
        a.partial_fit(Xb, yb)
    # Some models hold new rows for their next step: the save keeps them.
    assert any(len(m.held) for m in a.collection_.members)
    a.save(tmp_path / "sys")
    b = load(tmp_path / "sys")
    for ma, mb in zip(a.collection_.members, b.collection_.members):
        assert torch.equal(ma.held, mb.held) if len(ma.held) else len(mb.held) == 0
        assert torch.equal(ma.held_target, mb.held_target)
    for Xb, yb in batches[len(batches) // 2 :]:
        a.partial_fit(Xb, yb)
        b.partial_fit(Xb, yb)
    assert b.n_experts_ == a.n_experts_ and len(b.archive_) == len(a.archive_)
    np.testing.assert_array_equal(b.archive_.ids(), a.archive_.ids())
    np.testing.assert_array_equal(b.predict(Xte), a.predict(Xte))
    for ma, mb in zip(a.collection_.members, b.collection_.members):
        assert torch.equal(ma.model.net[0].weight, mb.model.net[0].weight)
    # Random states that do not fit are refused with the file named.
    manifest = json.loads((tmp_path / "sys" / "manifest.json").read_text())
    manifest["rng"]["learner"] = {"bit_generator": "PCG64", "state": "garbage"}
    write_manifest(tmp_path / "sys", manifest)
    with pytest.raises(SaveFormatError, match="random states"):
        load(tmp_path / "sys")


def test_save_overwrites_atomically(fitted, tmp_path):
    fitted.save(tmp_path / "sys")
    fitted.save(tmp_path / "sys")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sys"]


def test_corrupt_or_foreign_save_folders(fitted, tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SaveFormatError, match="manifest"):
        load(tmp_path / "empty")
    fitted.save(tmp_path / "sys")
    manifest = (tmp_path / "sys" / "manifest.json").read_text()
    from riscmoe.persistence.folder import FORMAT_VERSION

    assert f'"format_version": {FORMAT_VERSION}' in manifest
    (tmp_path / "sys" / "manifest.json").write_text(manifest.replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99'))
    with pytest.raises(SaveFormatError, match="version 99"):
        load(tmp_path / "sys")
    # A save whose recorded encoder is not the one this code builds is refused, not misread.
    data = json.loads(manifest)
    data["parts"]["encoder"]["info"]["built"]["filters"] += 1
    (tmp_path / "sys" / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(SaveFormatError, match="its own checksum"):  # changed by hand
        load(tmp_path / "sys")
    write_manifest(tmp_path / "sys", data)
    with pytest.raises(SaveFormatError, match="encoder"):
        load(tmp_path / "sys")
    (tmp_path / "sys" / "manifest.json").write_text("{not json")
    with pytest.raises(SaveFormatError, match="corrupt"):
        load(tmp_path / "sys")
    fitted.save(tmp_path / "sys2")
    data_file(tmp_path / "sys2", "weights").write_bytes(b"garbage")
    with pytest.raises(SaveFormatError, match="weights.*checksum"):
        load(tmp_path / "sys2")
    restamp(tmp_path / "sys2")  # garbage, consistently recorded: refused for what it is
    with pytest.raises(SaveFormatError, match="weights.*corrupt"):
        load(tmp_path / "sys2")
    fitted.save(tmp_path / "sys3")
    data_file(tmp_path / "sys3", "archive").write_bytes(b"not a database at all, really")
    with pytest.raises(SaveFormatError, match="archive.*checksum"):
        load(tmp_path / "sys3")
    restamp(tmp_path / "sys3")
    with pytest.raises(ValueError, match="archive"):
        load(tmp_path / "sys3")


def test_held_rows_that_do_not_fit_are_refused(fitted, tmp_path):
    from safetensors.torch import load_file, save_file

    fitted.save(tmp_path / "sys")
    weights = data_file(tmp_path / "sys", "weights")
    tensors = load_file(str(weights))
    held = sorted(k for k in tensors if ".held." in k and k.endswith(".features"))
    assert held, "the fitted system holds rows for some model"
    key = held[0]
    tensors[key] = tensors[key][:, :-1].contiguous()  # one feature short
    save_file(tensors, str(weights))
    restamp(tmp_path / "sys")
    with pytest.raises(SaveFormatError, match=r"weights-\w+-\w+.safetensors: the held rows of member \d+ do not fit"):
        load(tmp_path / "sys")


def test_predict_answers_the_same_whatever_the_block_size(fitted, digits):
    _, _, Xte, _ = digits
    whole = fitted.predict_detailed(Xte)
    blocked = copy.deepcopy(fitted).set_params(predict_block=7).predict_detailed(Xte)  # 450 inputs in 65 blocks, the last of 2
    np.testing.assert_array_equal(whole.labels, blocked.labels)
    np.testing.assert_array_equal(whole.member, blocked.member)
    np.testing.assert_allclose(whole.confidence, blocked.confidence, rtol=1e-4, atol=1e-7)  # (products of other shapes round otherwise)
    np.testing.assert_array_equal(whole.members_run, blocked.members_run)
    np.testing.assert_array_equal(whole.model_runs, blocked.model_runs)
    assert blocked.timing["n"] == len(Xte) and whole.model_runs.sum() == whole.members_run.sum()


@pytest.mark.parametrize(
    "param, value",
    [
        ("archive_size", 0), ("archive_size", 10), ("archive_size", 2.5), ("archive_bytes", 100), ("model__lr", float("nan")),
        ("model__lr", 0.0), ("model__lr", "fast"), ("model__hidden", 0), ("model__hidden", True), ("max_experts", 1.5),
        ("threshold", float("nan")), ("margin", float("inf")), ("min_examples", 3.7), ("seed", -1), ("seed", "zero"),
        ("policy", None), ("policy", "random"), ("meta", "nope"), ("meta__shrinkage", 2.0), ("policy__sure", -0.5),
        ("feedback__min_rows", 0), ("creator__steps", 1.5), ("encoder__filters", 0), ("predict_block", 0),
        ("outlier_factor", 1.0), ("outlier_factor", float("nan")),
    ],
)
def test_a_bad_parameter_is_refused_before_any_state_exists(digits, param, value):
    Xtr, ytr, Xte, yte = digits
    clf = RiscClassifier(seed=0, min_examples=16, encoder="random-conv" if param.startswith("encoder") else "auto")
    clf.set_params(**{param: value})
    with pytest.raises((ValueError, TypeError), match=param):
        clf.partial_fit(Xtr[:32], ytr[:32])
    assert not clf.is_fitted and not hasattr(clf, "archive_") and not hasattr(clf, "classes_")
    # Mended, the same estimator learns as a new one would.
    default = RiscClassifier(seed=0, min_examples=16, encoder="random-conv" if param.startswith("encoder") else "auto")
    clf.set_params(**{param: default.get_params()[param]})
    clf.partial_fit(Xtr[:64], ytr[:64])
    fresh = RiscClassifier(**clf.get_params(deep=False)).partial_fit(Xtr[:64], ytr[:64])
    np.testing.assert_array_equal(clf.predict(Xte), fresh.predict(Xte))


def test_an_archive_too_small_for_one_member_is_refused(digits):
    Xtr, ytr, _, _ = digits
    with pytest.raises(ValueError, match="archive_bytes"):
        RiscClassifier(min_examples=16, archive_bytes=10 * 64 * 4).partial_fit(Xtr[:32], ytr[:32])
    RiscClassifier(min_examples=16, archive_bytes=64 * 64 * 4).partial_fit(Xtr[:32], ytr[:32])


def test_empty_examples_do_not_lock_the_learner(digits):
    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(seed=0)
    with pytest.raises(ValueError, match="no values"):
        clf.partial_fit(np.zeros((3, 0)), [1, 2, 3])
    assert not clf.is_fitted
    clf.partial_fit(Xtr[:32], ytr[:32])
    assert clf.input_shape_ == (8, 8)


def test_integer_labels_in_an_object_array_stay_integers(digits):
    Xtr, ytr, Xte, _ = digits
    clf = RiscClassifier(seed=0, min_examples=16).partial_fit(Xtr[:200], np.array(ytr[:200].tolist(), dtype=object))
    assert clf.label_kind_ == "int"
    assert clf.predict(Xte).dtype == np.int64
    with pytest.raises(TypeError, match="mixes"):
        clf.partial_fit(Xtr[:2], [1, "one"])


@pytest.mark.parametrize("value", [1e6, 1e20, 3.4e38])
def test_one_outlier_cannot_poison_a_fitted_system(fitted, digits, tmp_path, value):
    """One pixel far outside the range learned is refused; nothing changes (it once put NaN in the bank)."""
    fitted.save(tmp_path / "copy")
    clf = load(tmp_path / "copy")
    Xtr, ytr, Xte, yte = digits
    before = _snapshot(clf, Xte)
    Xb = Xtr[:32].copy()
    Xb[5, 3, 3] = value
    with pytest.raises(ValueError, match=r"row 5 .*outlier_factor"):
        clf.partial_fit(Xb, ytr[:32])
    with pytest.raises(ValueError, match=r"row 5 "):
        clf.predict(Xb)
    after = _snapshot(clf, Xte)
    np.testing.assert_array_equal(before[0], after[0])
    assert before[1] == after[1] and before[3:] == after[3:]
    assert all(bool(torch.isfinite(s).all()) for s in clf.collection_.meta.state_dict().values() if s.is_floating_point())
    # The rest of the batch, and later batches, learn as before.
    clf.partial_fit(np.delete(Xb, 5, axis=0), np.delete(ytr[:32], 5))
    assert clf.score(Xte, yte) > 0.95


def test_a_first_batch_judges_its_own_rows(digits):
    Xtr, ytr, _, _ = digits
    Xb = Xtr[:32].copy()
    Xb[0, 0, 0] = 1e20
    clf = RiscClassifier(seed=0)
    with pytest.raises(ValueError, match="row 0 "):
        clf.partial_fit(Xb, ytr[:32])
    assert not clf.is_fitted


def test_values_within_the_outlier_band_are_learned_harmlessly(fitted, digits, tmp_path):
    """A pixel at 50 times the usual largest value is learned; the accuracy stays where it was."""
    fitted.save(tmp_path / "copy")
    clf = load(tmp_path / "copy")
    Xtr, ytr, Xte, yte = digits
    base = clf.score(Xte, yte)
    Xb = Xtr[:32].copy()
    Xb[5, 3, 3] = 50.0
    clf.partial_fit(Xb, ytr[:32])
    assert clf.score(Xte, yte) >= base - 0.01
    # With the check off, a far outlier is learned from (the user's choice), and still no value turns non-finite.
    clf.set_params(outlier_factor=None)
    Xb[5, 3, 3] = 1e20
    with pytest.raises(ValueError, match="too large"):
        clf.partial_fit(Xb, ytr[:32])


def test_creation_never_starves_in_a_small_archive(digits):
    """An archive of 96 gives each of 6 labels a share under min_examples=16: without the
    archive's reserve for unexplained inputs, creation stopped at 6 members (59% right)."""
    from tests.conftest import class_incremental_batches

    Xtr, ytr, Xte, yte = digits
    clf = RiscClassifier(archive_size=96, archive_per_member=0, min_examples=16, seed=0)  # a fixed archive
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]):
        clf.partial_fit(Xb, yb)
    assert sorted({clf.labels_[m.label] for m in clf.collection_.members}) == list(range(10))
    assert clf.score(Xte, yte) > 0.9 and len(clf.archive_) <= 96
    clf.set_params(min_examples=20)
    clf.partial_fit(Xte[:8], yte[:8])
    assert clf.archive_.reserve == 20  # set_params reaches the archive


def test_the_archive_grows_with_the_collection(digits, tmp_path):
    from tests.conftest import class_incremental_batches

    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(archive_size=64, archive_per_member=20, min_examples=16, seed=0)
    sizes = []
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]):
        clf.partial_fit(Xb, yb)
        sizes.append((len(clf.collection_), clf.archive_.capacity, len(clf.archive_)))
    assert all(cap == max(64, 20 * m) and n <= cap for m, cap, n in sizes)
    assert sizes[-1][1] >= 200 and sizes[-1][2] > 64  # ten members or more: room for 20 records each
    clf.save(tmp_path / "s")
    assert load(tmp_path / "s").archive_.capacity == sizes[-1][1]
    with pytest.raises(ValueError, match="archive_per_member must be 0 or more"):
        RiscClassifier(archive_per_member=-1).partial_fit(Xtr[:8], ytr[:8])


def test_a_first_stage_of_candidates_answers_as_scoring_every_member(digits):
    from tests.conftest import class_incremental_batches

    Xtr, ytr, Xte, yte = digits
    full, staged = RiscClassifier(min_examples=16, seed=0), RiscClassifier(min_examples=16, seed=0).set_params(meta__candidates=4)
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]):
        full.partial_fit(Xb, yb)
        staged.partial_fit(Xb, yb)
    assert staged.n_experts_ == full.n_experts_ >= 10  # training scores every member: the same system
    assert staged.collection_.meta._clusters is not None
    agree = float((staged.predict(Xte) == full.predict(Xte)).mean())
    assert agree > 0.97 and staged.score(Xte, yte) > full.score(Xte, yte) - 0.03
