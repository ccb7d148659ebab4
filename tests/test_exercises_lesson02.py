"""Lesson 02's "your turn" checks: right, wrong (naming what is wrong) and blank answers."""

from dlparallel.exercises import lesson02


def test_shared_input_gradient():
    assert lesson02.check_shared_input_gradient(2 * 3 + 3 * 3)
    one_path = lesson02.check_shared_input_gradient(2 * 3)
    assert not one_path and "both paths" in repr(one_path) and "a=1, b=2, c=3" in repr(one_path)
    assert repr(lesson02.check_shared_input_gradient(...)).startswith("Not answered yet")


def test_sigmoid_backward():
    assert lesson02.check_sigmoid_backward(lambda dy, y: dy * y * (1 - y))
    local_only = lesson02.check_sigmoid_backward(lambda dy, y: y * (1 - y))
    assert not local_only and "a tensor of shape (4, 3)" in repr(local_only) and "((4, 3), (4, 3))" in repr(local_only)
    crashed = lesson02.check_sigmoid_backward(lambda dy, y: dy @ y)
    assert not crashed and "raised RuntimeError" in repr(crashed)

    def blank(dy, y):
        raise NotImplementedError

    assert repr(lesson02.check_sigmoid_backward(blank)).startswith("Not answered yet")
