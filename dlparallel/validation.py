"""Argument checks shared by the library: each names the argument and the value it refused.

Example:
    >>> positive_int(3, "epochs")
    3
    >>> positive_int(True, "epochs")
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive integer, got True
    >>> positive_number(float("inf"), "lr", finite=True)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a positive finite number, got inf
"""

from __future__ import annotations

import math
import numbers

__all__ = ["is_positive_int", "positive_int", "non_negative_int", "positive_number"]


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is a whole number of at least 1: an ``int``, not a ``bool`` nor a float.

    Example:
        >>> [is_positive_int(v) for v in (1, 0, 2.0, False)]
        [True, False, False, False]
    """
    return _is_int(value) and value >= 1  # type: ignore[operator]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: object, name: str) -> int:
    """``value`` if :func:`is_positive_int` holds, else a ``ValueError`` that names ``name``."""
    if not is_positive_int(value):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value  # type: ignore[return-value]


def non_negative_int(value: object, name: str) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) of at least 0, else a ``ValueError`` that names ``name``.

    Example:
        >>> non_negative_int(-1, "m")
        Traceback (most recent call last):
        ...
        ValueError: m must be a non-negative integer, got -1
    """
    if not (_is_int(value) and value >= 0):  # type: ignore[operator]
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value  # type: ignore[return-value]


def positive_number(value: object, name: str, *, finite: bool = False) -> float:
    """``value`` if it is a real number above 0 (with ``finite``, also not infinite), else a ``ValueError``.

    NaN is refused, as no comparison holds for it; so are ``bool`` and tensors.

    Example:
        >>> positive_number(0.5, "lr")
        0.5
        >>> positive_number(0, "seconds")
        Traceback (most recent call last):
        ...
        ValueError: seconds must be positive, got 0
    """
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (real and value > 0 and (math.isfinite(value) or not finite)):  # type: ignore[operator]
        wanted = "a positive finite number" if finite else "positive"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value  # type: ignore[return-value]
