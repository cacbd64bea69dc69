"""Input checks: every malformed batch is refused with a message naming the problem."""

import numpy as np
import pytest

from riscmoe.validation import check_X, check_y


def test_check_y_refuses_a_list_mixing_ints_and_strings():
    # np.asarray would quietly turn [1, "a"] into the strings "1" and "a".
    with pytest.raises(TypeError, match="mixes"):
        check_y([1, "a", 2], 3)
    with pytest.raises(TypeError, match="mixes"):
        check_y(np.array([1, "a"], dtype=object), 2)


def test_check_y_refuses_booleans():
    with pytest.raises(TypeError, match="bool"):
        check_y([True, False], 2)
    with pytest.raises(TypeError, match="bool"):
        check_y(np.array([True, False]), 2)
    with pytest.raises(TypeError, match="bool"):
        check_y(np.array([1, True], dtype=object), 2)


def test_check_y_refuses_integers_that_do_not_fit_int64():
    with pytest.raises(ValueError, match="int64"):
        check_y(np.array([2**63 + 5, 1], dtype=np.uint64), 2)
    with pytest.raises(ValueError, match="int64"):
        check_y([2**70, 1], 2)
    with pytest.raises(ValueError, match="int64"):
        check_y(np.array([1e30, 1.0]), 2)


def test_check_y_keeps_kinds_apart():
    ints = check_y(np.array([3, 4], dtype=object), 2)  # Python ints in an object array are integer labels
    assert ints.dtype == np.int64 and ints.tolist() == [3, 4]
    assert check_y([3, 4], 2).dtype == np.int64
    assert check_y(np.array([3, 4], dtype=np.uint8), 2).tolist() == [3, 4]
    strs = check_y(["a", "b"], 2)
    assert strs.dtype == object and strs.tolist() == ["a", "b"]
    assert check_y([2.0, 3.0], 2).tolist() == [2, 3]


def test_check_X_refuses_examples_of_no_size():
    with pytest.raises(ValueError, match="no values"):
        check_X(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="no values"):
        check_X(np.zeros((3, 4, 0)))


def test_check_X_refuses_lists_mixing_numbers_and_strings():
    with pytest.raises(TypeError):
        check_X([[1, 2], ["a", 3]])
