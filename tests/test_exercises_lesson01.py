"""Lesson 01's "your turn" checks: right, wrong (naming what is wrong) and blank answers."""

from dlparallel.exercises import lesson01


def test_parameters():
    assert lesson01.check_parameters(32 * 64 + 64 + 64 * 64 + 64 + 64 * 5 + 5)
    wrong = lesson01.check_parameters(32 * 64 + 64 * 64 + 64 * 5)
    assert not wrong and repr(wrong).startswith("Not yet") and "mlp([32, 64, 64, 5])" in repr(wrong)
    assert "biases" in repr(wrong)
    assert repr(lesson01.check_parameters(...)).startswith("Not answered yet")


def test_forward_flops():
    assert lesson01.check_forward_flops(8 * 2 * (32 * 64 + 64 * 64 + 64 * 5))
    halved = lesson01.check_forward_flops(8 * (32 * 64 + 64 * 64 + 64 * 5))
    assert not halved and "a multiply-add counts as 2 FLOPs" in repr(halved) and "batch of 8" in repr(halved)
    assert "times the batch" in repr(lesson01.check_forward_flops(2 * (32 * 64 + 64 * 64 + 64 * 5)))
    assert repr(lesson01.check_forward_flops(...)).startswith("Not answered yet")
