"""Lesson 07's "your turn" checks: right, wrong and blank answers."""

from dlparallel.exercises import lesson07


def test_zero2_bytes():
    assert lesson07.check_zero2_bytes(2 * 1.2e9 + 14 * 1.2e9 / 8)
    wrong = lesson07.check_zero2_bytes(16 * 1.2e9 / 8)
    assert not wrong and repr(wrong).startswith("Not yet") and "2.4e+09" in repr(wrong)
    assert repr(lesson07.check_zero2_bytes(...)).startswith("Not answered yet")


def test_micro_batches():
    assert lesson07.check_micro_batches(27)
    assert repr(lesson07.check_micro_batches(26)).startswith("Not yet: the fewest micro-batches")
    assert "fewer do too" in repr(lesson07.check_micro_batches(40))
    assert repr(lesson07.check_micro_batches(...)).startswith("Not answered yet")


def test_column_shard_shape():
    assert lesson07.check_column_shard_shape((512, 1024))
    wrong = lesson07.check_column_shard_shape((1024, 512))
    assert not wrong and "(1024, 512)" in repr(wrong)
    assert "pair of whole numbers" in repr(lesson07.check_column_shard_shape(512))
    assert repr(lesson07.check_column_shard_shape(...)).startswith("Not answered yet")
