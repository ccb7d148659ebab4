"""Lesson 05's "your turn" checks: right, wrong (naming the input) and blank answers."""

from dlparallel.exercises.lesson05 import check_ring_bytes, check_shard


def test_ring_bytes():
    assert check_ring_bytes(2 * 7 / 8 * 40e6)
    wrong = check_ring_bytes(80e6)
    assert not wrong and repr(wrong).startswith("Not yet") and "8 workers" in repr(wrong)
    assert repr(check_ring_bytes(...)).startswith("Not answered yet")


def test_shard():
    def right(n, rank, world_size):
        return list(range(rank, world_size * (n // world_size), world_size))

    def keeps_the_tail(n, rank, world_size):
        return list(range(rank, n, world_size))

    def blank(n, rank, world_size):
        raise NotImplementedError

    assert check_shard(right)
    wrong = check_shard(keeps_the_tail)
    assert not wrong and "(10, 0, 3)" in repr(wrong)
    assert repr(check_shard(blank)).startswith("Not answered yet")
    assert repr(check_shard(...)).startswith("Not answered yet")
