"""scikit-learn's and river's conventions: estimator checks, pure predict, pickling, the _one wrappers."""

import copy
import pickle
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from riscmoe import RiscClassifier

# Every check scikit-learn runs that this estimator fails, and why. Of the 55 checks of
# scikit-learn 1.9, 48 pass, these 5 fail as expected (strictly: one that starts passing
# fails the test, so that this list stays true), and 2 are skipped by scikit-learn itself
# where pandas or the array API are not installed.
EXPECTED_FAILED = {
    "check_complex_data": "complex input is refused with a TypeError naming its dtype (a wrong type, not a wrong value); "
                          "the check wants a ValueError",
    "check_classifiers_one_label": "an input unlike everything learned is answered 'unknown' (-1) by design; the check "
                                   "wants the one class learned for every input",
    "check_classifiers_classes": "-1 is reserved for 'unknown' answers, so a label of -1 is refused; the check trains on "
                                 "labels -1 and 1",
    "check_supervised_y_2d": "y of shape (n, 1) is refused with an error saying so, rather than flattened with a warning",
    "check_methods_subset_invariance": "labels and members are the same on a subset; confidences (predict_proba) differ in "
                                       "the seventh digit there (matrix products of other shapes round otherwise), above "
                                       "the check's 1e-7 tolerance",
}

# Checks that pass where the matrix products round alike whatever the rows' order, and fail
# by rounding alone where they do not (see the test): a failure beyond rounding still fails.
ROUNDING_SENSITIVE = {"check_methods_sample_order_invariance"}


# min_examples=2: the checks' data sets hold a few dozen examples of each class.
@parametrize_with_checks([RiscClassifier(min_examples=2)], expected_failed_checks=lambda est: EXPECTED_FAILED,
                         xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    name = getattr(check, "func", check).__name__
    try:
        check(estimator)
    except AssertionError as exc:
        # Reordering the rows of a batch may change how the matrix products round a row's
        # confidences (blocked, threaded BLAS): by about 1e-8 in float32, on some machines and
        # thread counts, and then the check's 1e-7 relative tolerance trips. Labels never
        # change. Anything beyond rounding (1e-5 relative) still fails the test.
        found = re.search(r"Max relative difference among violations: ([0-9.eE+-]+)", str(exc))
        if name in ROUNDING_SENSITIVE and found and float(found.group(1)) < 1e-5:
            pytest.xfail(f"{name}: confidences differ by {found.group(1)} relative after reordering (rounding only)")
        raise


@pytest.fixture()
def small(digits):
    Xtr, ytr, Xte, yte = digits
    return RiscClassifier(seed=0, min_examples=16).partial_fit(Xtr[:400], ytr[:400]), Xte


def test_predict_changes_no_learned_state(small):
    clf, Xte = small
    clf.prepare()  # the bank's caches filled now: what predict would fill
    before = pickle.dumps(clf)
    keys = set(clf.__dict__)
    found = clf.predict_detailed(Xte)
    clf.predict(Xte), clf.predict_proba(Xte[:5]), clf.predict_one(Xte[0])
    assert set(clf.__dict__) == keys and pickle.dumps(clf) == before
    assert found.members_run.shape == (len(Xte),) and found.model_runs.sum() == found.members_run.sum()
    assert found.timing["n"] == len(Xte) and 0.9 <= found.runs_per_input <= 3


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_fitted_estimator_copies_whole_and_learns_on_alike(small, digits, how):
    clf, Xte = small
    Xtr, ytr, _, _ = digits
    twin = pickle.loads(pickle.dumps(clf)) if how == "pickle" else copy.deepcopy(clf)
    np.testing.assert_array_equal(twin.predict(Xte), clf.predict(Xte))
    assert twin.archive_.featurizer.__self__ is twin  # its archive encodes with its own encoder
    for model in (clf, twin):
        model.partial_fit(Xtr[400:700], ytr[400:700])
    np.testing.assert_array_equal(twin.archive_.ids(), clf.archive_.ids())
    np.testing.assert_array_equal(twin.predict_detailed(Xte).confidence, clf.predict_detailed(Xte).confidence)
    assert len(clf.archive_) == len(twin.archive_) > 0


def test_unfitted_and_fitted_attributes(digits):
    Xtr, ytr, Xte, _ = digits
    clf = RiscClassifier(min_examples=16)
    for method in (clf.predict, clf.predict_proba, clf.predict_detailed):
        with pytest.raises(NotFittedError, match="partial_fit or fit"):
            method(Xte)
    with pytest.raises(NotFittedError):
        clf.prepare()
    clf.partial_fit(Xtr[:300], ytr[:300])
    assert clf.n_features_in_ == 64 and clf.classes_.tolist() == sorted(set(ytr[:300].tolist()))
    proba = clf.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    pred = clf.predict(Xte)
    known = pred != -1
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)][known], pred[known])


def test_fit_learns_afresh_and_an_error_keeps_the_estimator(digits):
    Xtr, ytr, Xte, yte = digits
    order = np.argsort(ytr, kind="stable")[:700]  # classes one after another, as a stream would bring them
    clf = RiscClassifier(seed=0, min_examples=16).fit(Xtr[order], ytr[order])
    assert clf.n_experts_ >= 5 and clf.n_seen_ == 700
    again = clone(clf).fit(Xtr[order], ytr[order])
    np.testing.assert_array_equal(again.predict(Xte), clf.predict(Xte))
    bad = Xtr[order].copy()
    bad[650, 0, 0] = 1e9  # an outlier in a late batch: refused after earlier batches were learned
    before = clf.predict(Xte)
    with pytest.raises(ValueError, match="outlier_factor"):
        clf.fit(bad, ytr[order])
    np.testing.assert_array_equal(clf.predict(Xte), before)
    assert clf.n_seen_ == 700


def test_partial_fit_takes_classes_and_refuses_labels_outside_them(digits):
    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(min_examples=16).partial_fit(Xtr[:50], ytr[:50], classes=list(range(12)))
    assert clf.classes_.tolist() == list(range(12))  # 10 and 11 not seen yet, known already
    assert clf.predict_proba(Xtr[:3]).shape == (3, 12)
    with pytest.raises(ValueError, match="neither among classes"):
        RiscClassifier().partial_fit(Xtr[:50], ytr[:50], classes=[0, 1])


def test_river_style_one_example_calls_are_the_batch_path(small, digits):
    clf, Xte = small
    batch = clf.predict(Xte[:20])
    assert [clf.predict_one(x) for x in Xte[:20]] == batch.tolist()
    one = clf.predict_proba_one(Xte[0])
    assert list(one) == clf.classes_.tolist() and one == dict(zip(clf.classes_.tolist(), clf.predict_proba(Xte[:1])[0]))
    Xtr, ytr, _, _ = digits
    a, b = copy.deepcopy(clf), copy.deepcopy(clf)
    for x, y in zip(Xtr[400:410], ytr[400:410]):
        a.learn_one(x, y)
        b.partial_fit(x[None], [y])
    np.testing.assert_array_equal(a.predict_detailed(Xte).confidence, b.predict_detailed(Xte).confidence)
