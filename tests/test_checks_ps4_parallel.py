"""check_exact, the exact-rational assertion that problem set 4's histogram percentiles use."""

import fractions
from fractions import Fraction

import numpy as np
import pytest

from dlparallel.grading.checks import check_exact


def test_equal_rationals_pass_in_any_form():
    check_exact(Fraction(6, 4), Fraction(3, 2))
    check_exact(3, Fraction(6, 2))
    check_exact(Fraction(-5, 1), -5)


@pytest.mark.parametrize("actual", [1.5, np.float64(1.5), "3/2", None, True])
def test_inexact_or_foreign_types_fail(actual):
    with pytest.raises(AssertionError, match="must be an exact Fraction"):
        check_exact(actual, Fraction(3, 2))


def test_a_wrong_value_is_named():
    with pytest.raises(AssertionError, match=r"the p99 is 7/3, expected 5/2"):
        check_exact(Fraction(7, 3), Fraction(5, 2), name="the p99")


def test_subclasses_and_replaced_methods_do_not_fool_it():
    class Lenient(Fraction):
        def __eq__(self, other):
            return True

    with pytest.raises(AssertionError, match="got Lenient"):
        check_exact(Lenient(1, 3), Fraction(1, 2))
    saved = Fraction.__eq__, Fraction.numerator, Fraction.denominator
    try:
        fractions.Fraction.__eq__ = lambda self, other: True
        fractions.Fraction.numerator = property(lambda self: 1)
        fractions.Fraction.denominator = property(lambda self: 2)
        with pytest.raises(AssertionError, match="is 1/3, expected 1/2"):
            check_exact(Fraction(1, 3), Fraction(1, 2))
    finally:
        Fraction.__eq__, Fraction.numerator, Fraction.denominator = saved


def test_expected_must_be_rational():
    with pytest.raises(TypeError):
        check_exact(Fraction(1, 2), 0.5)
