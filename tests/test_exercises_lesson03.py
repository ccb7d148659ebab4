"""Lesson 03's "your turn" checks: right, wrong (naming what is wrong) and blank answers."""

from dlparallel.exercises import lesson03


def test_laptop_peak():
    assert lesson03.check_laptop_peak(8 * 3.0 * 8 * 2 * 2)
    one_flop = lesson03.check_laptop_peak(8 * 3.0 * 8 * 2)
    assert not one_flop and "2 FLOPs per lane" in repr(one_flop) and "laptop CPU" in repr(one_flop)
    assert "multiply cores" in repr(lesson03.check_laptop_peak(8 * 3.0 * 16 * 2 * 2))
    assert repr(lesson03.check_laptop_peak(...)).startswith("Not answered yet")


def test_axpy_intensity():
    assert lesson03.check_axpy_intensity(2 / 24)
    wrong = lesson03.check_axpy_intensity(1 / 12 / 2)
    assert not wrong and "float64" in repr(wrong) and "8 bytes each" in repr(wrong)
    assert repr(lesson03.check_axpy_intensity(...)).startswith("Not answered yet")
