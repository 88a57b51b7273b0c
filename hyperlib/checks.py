"""Argument checks shared by every public entry point; each message names the argument.

A wrong type raises TypeError, a wrong value ValueError. A bool is never a number here (True
would quietly mean 1), and a float is never an int (2.0 is not a count).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(value: object, name: str, minimum: int | None = None) -> int:
    """``value`` as an int, refusing bools, floats and anything below ``minimum``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def counts(**values: object) -> tuple[int, ...]:
    """The values, each an int >= 1 (a count or a size), named by its keyword."""
    return tuple(integer(value, name, 1) for name, value in values.items())


def positive(value: object, name: str) -> float:
    """``value`` as a float, refusing bools, non-numbers, NaN, infinities and numbers <= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not 0 < value < math.inf:  # False for NaN too
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def shape(value: object, name: str, length: int | None = None) -> tuple[int, ...]:
    """An int or a non-empty sequence of ints >= 1, as a tuple (of ``length`` sizes if given)."""
    value = (value,) if _is_int(value) else value
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(map(_is_int, value)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}")
    sizes = tuple(int(s) for s in value)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{name} must be non-empty with every size >= 1, got {sizes}")
    if length is not None and len(sizes) != length:
        raise ValueError(f"{name} must have {length} sizes, got {sizes}")
    return sizes


def region(value: object, size: tuple[int, ...]) -> tuple[int, ...]:
    """The side of the local sampling box per learned column: an int (the same for every
    column) or len(size) ints, each in 1..size[d]."""
    regions = shape((value,) * len(size) if _is_int(value) else value, "region", len(size))
    if any(x > s for x, s in zip(regions, size, strict=True)):
        raise ValueError(f"region {regions} is larger than the tensor's learned sizes {size}")
    return regions


def chunk(value: object, k: int) -> int:
    """Tuples per normalisation pool: an int >= 1 that divides the number of tuples k."""
    chunk = integer(value, "chunk", 1)
    if k % chunk:
        raise ValueError(f"chunk must divide k = {k}, got {chunk}")
    return chunk


def window(value: object, k: int, name: str = "chunk") -> int:
    """Tuples per overlapping pool (a window): an int in 1..k."""
    width = integer(value, name, 1)
    if width > k:
        raise ValueError(f"{name} must be at most k = {k}, got {width}")
    return width


def floating(value: object, name: str) -> Tensor:
    """``value`` if it is a floating-point tensor."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
    return value


def finite(tensors: dict[str, Tensor], source: str) -> None:
    """Raise ValueError naming the tensors that hold NaN or inf, as "{source} non-finite
    numbers in ...". One host-device synchronisation, however many tensors (on one device)."""
    ok = torch.stack([torch.isfinite(t).all() for t in tensors.values()])
    if not ok.all():
        bad = [name for name, good in zip(tensors, ok.tolist(), strict=True) if not good]
        raise ValueError(f"{source} non-finite numbers in {', '.join(bad)}")
