"""Per-class generation counts: plain, balanced up to the largest class or a target, and
generate.balance=auto's choice between the two."""
import numpy as np
import pytest

from msgan.data.validate import is_imbalanced
from msgan.inference.balance import balance_counts, count_labels, decide_balance
from msgan.errors import MsganError

IMBALANCED = {"cat": 50, "dog": 20, "fox": 5}


def test_balance_off_gives_generate_num_to_every_class():
    assert balance_counts(IMBALANCED, 7, balance=False) == {"cat": 7, "dog": 7, "fox": 7}
    # target_per_class only matters with balance on.
    assert balance_counts(IMBALANCED, 7, False, target_per_class=100) == {"cat": 7, "dog": 7,
                                                                          "fox": 7}


def test_balance_fills_up_to_the_largest_class():
    out = balance_counts(IMBALANCED, 300, balance=True)
    assert out == {"cat": 0, "dog": 30, "fox": 45}
    assert list(out) == ["cat", "dog", "fox"]          # class order kept
    assert {k: IMBALANCED[k] + out[k] for k in out} == {"cat": 50, "dog": 50, "fox": 50}


def test_balance_gives_no_class_more_than_generate_num():
    """Without a target, generate_num caps each class: a 5-image class next to a 3000-image one
    gets 100, not 2995 that would bury its reals."""
    assert balance_counts({"big": 3000, "tiny": 5, "mid": 2950}, 100, True) == \
        {"big": 0, "tiny": 100, "mid": 50}


def test_auto_balances_only_an_imbalanced_folder():
    on, why = decide_balance({"a": 100, "b": 15}, "auto")
    assert on and "15 to 100 images (6.7x" in why
    assert decide_balance({"a": 100, "b": 51}, "auto")[0] is False        # 1.96x
    assert decide_balance({"a": 100, "b": 50}, "auto")[0] is True         # 2x
    # a class below min_class_images gets no images, so it does not make the folder imbalanced
    assert decide_balance({"a": 100, "b": 90, "c": 3}, "auto", min_class_images=10)[0] is False
    assert decide_balance({"a": 100, "b": 90, "c": 3}, "auto", min_class_images=0)[0] is True
    assert decide_balance({"a": 100}, "auto")[0] is False
    assert decide_balance({"a": 100, "b": 0}, "auto")[0] is False         # nothing to compare
    assert decide_balance({"a": 100, "b": 100}, True)[0] is True
    assert decide_balance({"a": 100, "b": 15}, False)[0] is False
    with pytest.raises(MsganError, match="auto, true or false"):
        decide_balance({"a": 1}, "yes")
    # the same rule decides whether the benefit check compares with repeated reals
    assert is_imbalanced([100, 0, 50]) and not is_imbalanced([100, 0, 51])
    assert not is_imbalanced([7]) and not is_imbalanced([])


def test_balance_to_a_target_never_removes_images():
    assert balance_counts(IMBALANCED, 300, True, target_per_class=30) == {"cat": 0, "dog": 10,
                                                                         "fox": 25}
    assert balance_counts(IMBALANCED, 0, True, target_per_class=80) == {"cat": 30, "dog": 60,
                                                                       "fox": 75}


def test_zero_and_empty_counts():
    assert balance_counts({"a": 0, "b": 4}, 5, True) == {"a": 4, "b": 0}
    assert balance_counts({"a": 0, "b": 0}, 3, True) == {"a": 0, "b": 0}
    assert balance_counts({"a": 0, "b": 0}, 3, True, target_per_class=2) == {"a": 2, "b": 2}
    assert balance_counts({"a": 0, "b": 0}, 3, False) == {"a": 3, "b": 3}
    assert balance_counts({}, 3, True) == {}
    assert balance_counts({}, 3, False) == {}


def test_bad_numbers_are_errors():
    with pytest.raises(MsganError, match="generate_num"):
        balance_counts(IMBALANCED, -1, False)
    with pytest.raises(MsganError, match="target_per_class"):
        balance_counts(IMBALANCED, 1, True, target_per_class=0)
    with pytest.raises(MsganError, match="'fox'"):
        balance_counts({"fox": -2}, 1, True)


def test_count_labels_lists_every_class():
    labels = np.array([0, 0, 2, 0, 2], np.int32)
    assert count_labels(labels, ["a", "b", "c"]) == {"a": 3, "b": 0, "c": 2}
    assert count_labels(np.zeros(0, np.int32), ["a"]) == {"a": 0}
    with pytest.raises(MsganError, match="index"):
        count_labels(labels, ["a", "b"])
