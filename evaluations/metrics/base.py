"""What every metric shares: the result mixin and input validation.

Validators raise ``ValueError`` naming the argument and return float64 arrays.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class MetricResult:
    """Mixin: ``to_dict()`` for JSON; ``float(result)`` for results with one headline ``value``."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def __float__(self) -> float:
        value = getattr(self, "value", None)
        if value is None:
            raise TypeError(f"{type(self).__name__} has no single headline value")
        return float(value)


def as_float(name: str, x: ArrayLike) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def as_2d(name: str, x: ArrayLike, *, min_rows: int = 1) -> np.ndarray:
    arr = as_float(name, x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns (shape {arr.shape})")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {arr.shape[0]}")
    return arr


def check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    return int(value)


def check_seed(seed: int) -> int:
    return check_int("seed", seed, 0)


def as_rows(name: str, x: ArrayLike | Sequence[ArrayLike]) -> np.ndarray:
    """Pool rows from (..., C) arrays or a sequence of (T_i, C) arrays into one (N, C) array."""
    if isinstance(x, np.ndarray) or not isinstance(x, Sequence) or not _is_ragged(x):
        arr = as_float(name, x)
        if arr.ndim < 2:
            raise ValueError(f"{name} must have a channel axis: shape (..., C), got {arr.shape}")
        return arr.reshape(-1, arr.shape[-1])
    return np.concatenate([a.reshape(-1, a.shape[-1]) for a in as_sequences(name, x, min_frames=1)])


def _is_ragged(x: Sequence[Any]) -> bool:
    shapes = {np.shape(item) for item in x}
    return len(shapes) > 1


def as_sequences(name: str, seqs: ArrayLike | Sequence[ArrayLike], *, min_frames: int) -> list[np.ndarray]:
    """A list of (T_i, C) float64 arrays from an (N, T, C) array or a sequence of (T_i, C) arrays."""
    if isinstance(seqs, np.ndarray):
        arr = as_float(name, seqs)
        if arr.ndim != 3:
            raise ValueError(f"{name} as an array must be (n_sequences, frames, channels), got {arr.shape}")
        items = list(arr)
    elif isinstance(seqs, Sequence) and not isinstance(seqs, str | bytes):
        items = [as_float(f"{name}[{i}]", s) for i, s in enumerate(seqs)]
    else:
        raise ValueError(f"{name} must be an (N, T, C) array or a sequence of (T, C) arrays")
    if not items:
        raise ValueError(f"{name} is empty")
    channels = None
    for i, s in enumerate(items):
        if s.ndim != 2:
            raise ValueError(f"{name}[{i}] must be (frames, channels), got shape {s.shape}")
        if s.shape[0] < min_frames:
            raise ValueError(f"{name}[{i}] has {s.shape[0]} frame(s); this metric needs ≥ {min_frames}")
        if channels is None:
            channels = s.shape[1]
        elif s.shape[1] != channels:
            raise ValueError(f"{name}[{i}] has {s.shape[1]} channels, {name}[0] has {channels}")
    if channels == 0:
        raise ValueError(f"{name} has no channels")
    return items


def _item_shapes(x: Any) -> list[tuple[int, ...]]:
    if not isinstance(x, np.ndarray) and isinstance(x, Sequence) and _is_ragged(x):
        return [np.shape(item) for item in x]
    return [np.shape(np.asarray(x))]


def same_structure(a: Any, b: Any) -> bool:
    return _item_shapes(a) == _item_shapes(b)


def as_scalar(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must return a number (or a result with one value), got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} returned a non-finite value ({out})")
    return out
