"""Per-sample agreement with ground truth: coefficient errors (KeyframeFace) and CCC (EmoteGPT)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from evaluations.metrics.base import MetricResult, as_float


@dataclass(frozen=True)
class CoefficientErrors(MetricResult):
    """MSE, MAE and RMSE over all elements and per channel (same units as the inputs).

    The overall RMSE is √(overall MSE), not the mean of the per-channel RMSEs.
    """

    mse: float
    mae: float
    rmse: float
    per_channel_mse: tuple[float, ...]
    per_channel_mae: tuple[float, ...]
    per_channel_rmse: tuple[float, ...]
    n_rows: int
    n_channels: int
    channels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CCCResult(MetricResult):
    """Lin's concordance correlation coefficient, population (ddof=0) moments.

    ``value`` is the mean over columns; ``per_column`` has one entry per column (one for 1-D input).
    """

    value: float
    per_column: tuple[float, ...]
    n: int
    ddof: int = 0


def coefficient_errors(
    pred: ArrayLike, gt: ArrayLike, *, channels: Sequence[str] | None = None
) -> CoefficientErrors:
    """MSE, MAE and RMSE between predicted and ground-truth coefficients, overall and per channel.

    Args:
        pred: (..., C) predictions, e.g. (N, 61) keyframe coefficients (ARKit order).
        gt: ground truth of the same shape.
        channels: optional C channel names, echoed in the result.

    Overall values average over every element (= over rows and channels); per-channel values
    average over rows. RMSE is the square root of the corresponding MSE.
    """
    p = as_float("pred", pred)
    g = as_float("gt", gt)
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} must have the same shape")
    if p.ndim < 1 or p.size == 0:
        raise ValueError(f"pred and gt must be non-empty (..., C) arrays, got shape {p.shape}")
    p2 = p.reshape(-1, p.shape[-1]) if p.ndim > 1 else p.reshape(-1, 1)
    err = p2 - g.reshape(p2.shape)
    if channels is not None:
        channels = tuple(str(c) for c in channels)
        if len(channels) != err.shape[1]:
            raise ValueError(f"{len(channels)} channel names for {err.shape[1]} channels")
    sq = err**2
    ch_mse = sq.mean(axis=0)
    mse = float(sq.mean())
    return CoefficientErrors(
        mse=mse,
        mae=float(np.abs(err).mean()),
        rmse=math.sqrt(mse),
        per_channel_mse=tuple(float(v) for v in ch_mse),
        per_channel_mae=tuple(float(v) for v in np.abs(err).mean(axis=0)),
        per_channel_rmse=tuple(float(v) for v in np.sqrt(ch_mse)),
        n_rows=err.shape[0],
        n_channels=err.shape[1],
        channels=channels,
    )


def ccc(y: ArrayLike, y_hat: ArrayLike) -> CCCResult:
    """Lin's concordance correlation coefficient.

    ``CCC = 2·cov(y, ŷ) / (var(y) + var(ŷ) + (mean(y) − mean(ŷ))²)`` with population (1/n)
    moments, as in Lin (1989) and the AVEC challenges. 1 = perfect agreement, 0 = none,
    −1 = perfect reversal. Undefined (ValueError) when both series are constant.

    Args:
        y: (n,) reference values (e.g. valence), or (n, K) for K targets (valence, arousal).
        y_hat: predictions of the same shape; n ≥ 2.
    """
    a = as_float("y", y)
    b = as_float("y_hat", y_hat)
    if a.shape != b.shape:
        raise ValueError(f"y {a.shape} and y_hat {b.shape} must have the same shape")
    if a.ndim not in (1, 2):
        raise ValueError(f"y must be (n,) or (n, K), got shape {a.shape}")
    a2 = a.reshape(a.shape[0], -1)
    b2 = b.reshape(b.shape[0], -1)
    if a2.shape[0] < 2:
        raise ValueError(f"CCC needs at least 2 samples, got {a2.shape[0]}")
    da, db = a2 - a2.mean(axis=0), b2 - b2.mean(axis=0)
    var_a, var_b = (da * da).mean(axis=0), (db * db).mean(axis=0)
    cov = (da * db).mean(axis=0)
    denom = var_a + var_b + (a2.mean(axis=0) - b2.mean(axis=0)) ** 2
    if np.any(denom == 0.0):
        raise ValueError("CCC is undefined where y and y_hat are both constant and equal")
    per = 2.0 * cov / denom
    return CCCResult(value=float(per.mean()), per_column=tuple(float(v) for v in per), n=a2.shape[0])
