"""The checks behind the lessons' "your turn" cells: they never raise, and say what is wrong."""

from dlparallel.exercises import check_function, check_value


def test_a_wrong_type_is_named_not_raised():
    verdict = check_value("six", 6.0, name="the count")
    assert not verdict and "should be a number, got str 'six'" in repr(verdict)


def test_tolerance_is_relative():
    assert check_value(1e9 * (1 + 1e-7), 1e9, name="n")
    assert not check_value(1e9 * (1 + 1e-3), 1e9, name="n")


def test_a_crashing_function_reports_the_input_that_crashed_it():
    verdict = check_function(lambda x: 1 / x, [((1,), 1.0), ((0,), 0.0)], name="inverse")
    assert not verdict
    assert "raised ZeroDivisionError" in repr(verdict) and "(0,)" in repr(verdict)


def test_an_unwritten_function_is_not_answered_yet():
    def stub(x):
        raise NotImplementedError

    assert repr(check_function(stub, [((1,), 1)], name="f")).startswith("Not answered yet")


def test_non_numbers_compare_with_equality():
    assert check_function(lambda s: s.upper(), [(("a",), "A")], name="upper")
    assert not check_function(lambda s: s, [(("a",), "A")], name="upper")
