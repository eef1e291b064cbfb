"""Thread limits for small, latency-bound work on a few shared cores.

One clip or one prompt is a small computation: spreading it over threads gains nothing on an
idle machine and loses badly on a busy one. Measured on the 2-core machine with both cores
taken by other processes (the browser's software GL, say): `mdm` made one 4 s clip in 2.4-6.0 s
with torch's two intra-op threads and in 0.64-0.82 s with one (0.33-0.40 s either way when
idle); OpenBLAS spreading a 5k x 384 mat-vec over two threads made it ~40x slower (7.7 ms vs
0.2 ms), and the corpus's many (T, 61) products ~400x slower.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import lru_cache


@lru_cache(maxsize=1)
def _threadpools():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS (OpenBLAS, MKL) on one thread inside the block."""
    pools = _threadpools()
    return pools.limit(limits=1, user_api="blas") if pools is not None else contextlib.nullcontext()


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch's intra-op work on one thread inside the block. The setting is the calling thread's
    (OpenMP keeps one per thread; a thread started meanwhile inherits it), so each block sets and
    restores its own thread's value and blocks on other threads do not interfere."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """BLAS and torch on one thread inside the block: for one request's clip or prompt."""
    with one_blas_thread(), one_torch_thread():
        yield


def machine_threads() -> int:
    """The intra-op threads a batch job should use: ``OMP_NUM_THREADS`` when set, else the cores
    this process may run on (torch's own default on the machines the studio runs on)."""
    from studio.config import omp_threads

    configured = omp_threads()
    if configured is not None:
        return configured
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def all_threads() -> Iterator[None]:
    """torch on :func:`machine_threads` threads inside the block, for a batch job on a thread that
    may have been started while a request held one thread (it would have inherited that)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(machine_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)
