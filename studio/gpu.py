"""GPU work on Hugging Face Spaces (ZeroGPU) without depending on Spaces anywhere else."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def gpu_task(duration_s: int = 120) -> Callable[[F], F]:
    """Decorate a function that may use the GPU: ``spaces.GPU`` when the ``spaces`` package is
    importable (a Space with ZeroGPU), the plain function otherwise."""

    def decorate(fn: F) -> F:
        try:
            import spaces  # type: ignore[import-not-found]
        except ImportError:
            return fn
        return spaces.GPU(duration=duration_s)(fn)

    return decorate
