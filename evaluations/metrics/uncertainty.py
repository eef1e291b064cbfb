"""Uncertainty of a metric: bootstrap standard errors (CTEG) and replication intervals (HumanML3D)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evaluations.metrics.base import MetricResult, as_float, as_scalar, check_int, check_seed
from evaluations.metrics.protocol import BOOTSTRAP_RESAMPLES, CONFIDENCE_Z, HUMANML3D_REPLICATIONS


@dataclass(frozen=True)
class BootstrapResult(MetricResult):
    """A statistic, its bootstrap standard error (ddof=1) and a percentile 95 % interval."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n_resamples: int
    n_items: int
    seed: int

    @property
    def value(self) -> float:
        return self.estimate

    def __str__(self) -> str:
        return f"{self.estimate:.4g} ± {self.se:.2g} (bootstrap SE, {self.n_resamples} resamples)"


@dataclass(frozen=True)
class ReplicationSummary(MetricResult):
    """Mean and confidence half-width over replications: ``mean ± z·std/√n``."""

    mean: float
    half_width: float
    std: float
    n: int
    z: float
    ddof: int
    values: tuple[float, ...]
    seeds: tuple[int, ...] | None = None

    @property
    def value(self) -> float:
        return self.mean

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.half_width:.2g}"


def bootstrap_se(
    fn: Callable[[Any], Any],
    data: np.ndarray | Sequence[Any],
    n: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> BootstrapResult:
    """Bootstrap standard error of a statistic (CTEG: 1,000 resamples).

    ``data`` is resampled with replacement along its first axis (an array) or as a list of items
    (a sequence, e.g. variable-length clips), ``n`` times; ``fn`` is evaluated on the original and
    on every resample. SE is the standard deviation of the resampled statistics (ddof=1); the
    2.5/97.5 percentiles give a 95 % interval.

    Args:
        fn: statistic of one dataset; returns a number or a result with one ``value`` (e.g.
            ``variation``). For paired data, bundle the pairs as items, e.g. ``data = list of
            (target, prediction)``. For pairwise statistics on big data, pass ``np.arange(N)``
            as data and let ``fn`` index a precomputed distance matrix.
        data: an array (rows are items) or a sequence of items; at least 2 items.
        n: number of resamples (≥ 2).
        seed: seeds the resampling.
    """
    n = check_int("n", n, 2)
    seed = check_seed(seed)
    is_array = isinstance(data, np.ndarray)
    if not is_array and not (isinstance(data, Sequence) and not isinstance(data, str | bytes)):
        raise ValueError("data must be a numpy array or a sequence of items")
    size = len(data)
    if size < 2:
        raise ValueError(f"bootstrap needs at least 2 items, got {size}")
    estimate = as_scalar("fn", fn(data))
    idx = np.random.default_rng(seed).integers(0, size, size=(n, size))
    if is_array:
        stats = np.array([as_scalar("fn", fn(data[i])) for i in idx])  # type: ignore[index]
    else:
        stats = np.array([as_scalar("fn", fn([data[j] for j in i])) for i in idx])
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return BootstrapResult(
        estimate=estimate,
        se=float(stats.std(ddof=1)),
        ci_low=float(lo),
        ci_high=float(hi),
        n_resamples=n,
        n_items=size,
        seed=seed,
    )


def replication_summary(values: ArrayLike, z: float = CONFIDENCE_Z, ddof: int = 0) -> ReplicationSummary:
    """HumanML3D summary over replications: ``mean ± z·std/√n``.

    The reference code (``get_metric_statistics``) uses ``np.std`` — population, ddof=0 — and
    z = 1.96 over 20 replications; both are parameters here and recorded in the result.

    Args:
        values: (n,) one metric value per replication, n ≥ 2.
        z: normal quantile of the interval (1.96 ↔ 95 %).
        ddof: delta degrees of freedom of the standard deviation.
    """
    v = as_float("values", values)
    if v.ndim != 1 or v.shape[0] < 2:
        raise ValueError(f"values must be (n,) with n ≥ 2 replications, got shape {v.shape}")
    ddof = check_int("ddof", ddof, 0)
    if ddof >= v.shape[0]:
        raise ValueError(f"ddof={ddof} needs more than {ddof} values")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be positive and finite, got {z}")
    std = float(v.std(ddof=ddof))
    return ReplicationSummary(
        mean=float(v.mean()),
        half_width=float(z * std / math.sqrt(v.shape[0])),
        std=std,
        n=int(v.shape[0]),
        z=float(z),
        ddof=ddof,
        values=tuple(float(x) for x in v),
    )


def replicate(
    fn: Callable[[int], Any],
    n_replications: int = HUMANML3D_REPLICATIONS,
    seed: int = 0,
    *,
    z: float = CONFIDENCE_Z,
) -> ReplicationSummary | dict[str, ReplicationSummary]:
    """Run ``fn(seed + i)`` for i in 0..n_replications−1 and summarise (HumanML3D protocol).

    ``fn`` returns one number (or a one-value result) per replication, or a mapping of metric
    name → number, in which case every metric is summarised separately. Replication i always
    uses seed ``seed + i``, so any replication can be rerun alone.
    """
    n_replications = check_int("n_replications", n_replications, 2)
    seed = check_seed(seed)
    seeds = tuple(seed + i for i in range(n_replications))
    outputs = [fn(s) for s in seeds]
    if all(isinstance(o, Mapping) for o in outputs):
        keys = list(outputs[0])
        if any(list(o) != keys for o in outputs):
            raise ValueError("replications returned different metric names")
        return {
            k: dataclasses.replace(
                replication_summary([as_scalar(f"fn[{k!r}]", o[k]) for o in outputs], z=z), seeds=seeds
            )
            for k in keys
        }
    values = [as_scalar("fn", o) for o in outputs]
    return dataclasses.replace(replication_summary(values, z=z), seeds=seeds)
