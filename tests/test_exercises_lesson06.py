"""Lesson 06's "your turn" checks: right, wrong (naming the input) and blank answers."""

from dlparallel.exercises.lesson06 import check_budget, check_quantize


def test_budget():
    assert check_budget(1000 / 90 - 4.5)
    wrong = check_budget(1000 / 90)
    assert not wrong and "90 fps" in repr(wrong)
    assert repr(check_budget(...)).startswith("Not answered yet")


def test_quantize():
    def right(w, max_abs):
        return round(w * 127 / max_abs)

    def wrong_scale(w, max_abs):
        return round(w * 255 / max_abs)

    def returns_a_float(w, max_abs):
        return w * 127 / max_abs

    def blank(w, max_abs):
        raise NotImplementedError

    assert check_quantize(right)
    verdict = check_quantize(wrong_scale)
    assert not verdict and "(0.3, 0.8)" in repr(verdict)
    assert not check_quantize(returns_a_float)
    assert repr(check_quantize(blank)).startswith("Not answered yet")
    assert repr(check_quantize(...)).startswith("Not answered yet")
