"""Lesson 04's "your turn" checks: right, wrong (saying what is wrong) and blank answers."""

from dlparallel.exercises.lesson04 import check_blocks, check_peak_tflops


def test_blocks():
    assert check_blocks(3907)
    wrong = check_blocks(3906)
    assert not wrong and "1,000,000 elements is 3906" in repr(wrong) and "round up" in repr(wrong)
    assert repr(check_blocks(...)).startswith("Not answered yet")


def test_peak_tflops():
    assert check_peak_tflops(84 * 128 * 2 * 1.7e9 / 1e12)
    wrong = check_peak_tflops(84 * 128 * 1.7e9 / 1e12)     # forgot the 2 FLOPs of a fused multiply-add
    assert not wrong and "84 SMs x 128 lanes at 1.7 GHz" in repr(wrong)
    assert not check_peak_tflops(84 * 128 * 2 * 1.7e9)     # in FLOP/s, not TFLOP/s
    assert repr(check_peak_tflops(...)).startswith("Not answered yet")
