"""Text-motion retrieval metrics: R-precision and MM-Dist on matched feature pairs (HumanML3D)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from evaluations.metrics.base import MetricResult, as_2d, check_int, check_seed
from evaluations.metrics.protocol import (
    DIRECTION_ARROWS,
    R_PRECISION_BATCH_SIZE,
    R_PRECISION_TOP_K,
    Direction,
    Metric,
    describe_convention,
)


@dataclass(frozen=True)
class RPrecisionResult(MetricResult):
    """Top-1..k retrieval hit rates in batches of ``batch_size`` matched (text, motion) pairs.

    ``rates[k-1]`` is R@k. ``chance[k-1] = k / batch_size`` is what unrelated features score.
    Ties in distance are resolved by their expectation under random tie-breaking (``ties``).
    """

    rates: tuple[float, ...]
    top_k: int
    batch_size: int
    metric: str
    direction: str
    n_batches: int
    n_pairs: int  # pairs scored = n_batches × batch_size
    n_dropped: int  # pairs left over after the last full batch (HumanML3D drops them)
    seed: int
    chance: tuple[float, ...]
    ties: str = "expected"

    @property
    def convention(self) -> str:
        return f"{self.metric}, {DIRECTION_ARROWS[self.direction]}"

    def at(self, k: int) -> float:
        """R@k, k in 1..top_k."""
        if not 1 <= k <= self.top_k:
            raise ValueError(f"k must be in 1..{self.top_k}, got {k}")
        return self.rates[k - 1]

    def __str__(self) -> str:
        rates = " ".join(f"R@{k}={r:.3f}" for k, r in enumerate(self.rates, start=1))
        queries, candidates = ("texts", "motions")
        if self.direction == "motion_to_text":
            queries, candidates = candidates, queries
        return (
            f"{rates} ({describe_convention(self.metric, self.direction)}: each of the {queries} ranks "
            f"the {self.batch_size} {candidates} of its batch; {self.n_batches} batches of "
            f"{self.batch_size}, {self.n_dropped} pairs dropped, seed {self.seed})"
        )


@dataclass(frozen=True)
class MultimodalDistanceResult(MetricResult):
    """Mean Euclidean distance between matched text and motion features (MM-Dist)."""

    value: float
    n_pairs: int
    dim: int


# Two candidate distances closer than this (relative to the squared norms involved) count as a
# tie: identical candidate vectors can differ by a few ulps after a matrix product.
_TIE_RTOL = 1e-11


def r_precision(
    text_feats: ArrayLike,
    motion_feats: ArrayLike,
    batch_size: int = R_PRECISION_BATCH_SIZE,
    top_k: int = R_PRECISION_TOP_K,
    metric: Metric = "euclidean",
    direction: Direction = "text_to_motion",
    seed: int = 0,
) -> RPrecisionResult:
    """R-precision: top-1..k retrieval accuracy of matched pairs within batches.

    Protocol (HumanML3D): row i of ``text_feats`` and row i of ``motion_feats`` are a matched
    pair. Pairs are shuffled with ``seed`` and cut into ``n // batch_size`` batches of
    ``batch_size``; the remainder is dropped (the evaluation loader's ``drop_last=True``). Within a
    batch every query ranks the ``batch_size`` candidates of the other modality by distance; R@k
    is the fraction of queries whose own partner is among the k nearest.

    Conventions (both selectable; the result records which was used):

    * ``metric="euclidean", direction="text_to_motion"`` (default) — the HumanML3D code: each
      text ranks the batch's motions by Euclidean distance.
    * ``metric="cosine", direction="motion_to_text"`` — the Express4D paper's description: each
      motion ranks the batch's texts by cosine distance (1 − cosine similarity).

    Ties (e.g. a model that emits the same motion for several prompts) are scored by their
    expectation under uniformly random tie-breaking, so duplicates neither win nor lose: with
    ``l`` candidates strictly closer and ``t`` others tied with the partner, the hit credit at k is
    ``clip(k − l, 0, t + 1) / (t + 1)``. ``argsort`` in the reference code breaks ties by memory
    order instead, which can flatter or punish duplicates arbitrarily.

    Args:
        text_feats: (n, D) text features; n ≥ batch_size.
        motion_feats: (n, D) motion features, row-aligned with ``text_feats``.
        batch_size: candidates per ranking (32 in the protocol); ≥ 2.
        top_k: largest k reported, 1 ≤ top_k ≤ batch_size.
        metric: ``"euclidean"`` or ``"cosine"`` (zero-norm rows are rejected for cosine).
        direction: ``"text_to_motion"`` or ``"motion_to_text"``.
        seed: seeds the shuffle that forms the batches.

    Returns:
        :class:`RPrecisionResult` with ``rates`` (R@1..R@top_k) and every constant used;
        ``str(result)`` spells out the convention.
    """
    t = as_2d("text_feats", text_feats)
    m = as_2d("motion_feats", motion_feats)
    if t.shape != m.shape:
        raise ValueError(f"text_feats {t.shape} and motion_feats {m.shape} must have the same shape")
    batch_size = check_int("batch_size", batch_size, 2)
    top_k = check_int("top_k", top_k, 1)
    if top_k > batch_size:
        raise ValueError(f"top_k ({top_k}) cannot exceed batch_size ({batch_size})")
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    if direction not in ("text_to_motion", "motion_to_text"):
        raise ValueError(f"direction must be 'text_to_motion' or 'motion_to_text', got {direction!r}")
    seed = check_seed(seed)
    n = t.shape[0]
    if n < batch_size:
        raise ValueError(f"R-precision needs at least batch_size={batch_size} pairs, got {n}")

    if metric == "cosine":
        t, m = _unit_rows("text_feats", t), _unit_rows("motion_feats", m)
    queries, candidates = (t, m) if direction == "text_to_motion" else (m, t)

    n_batches = n // batch_size
    order = np.random.default_rng(seed).permutation(n)[: n_batches * batch_size]
    q = queries[order].reshape(n_batches, batch_size, -1)
    c = candidates[order].reshape(n_batches, batch_size, -1)

    cross = q @ c.transpose(0, 2, 1)  # (B, n, n): query i · candidate j
    if metric == "euclidean":
        qq = np.einsum("bid,bid->bi", q, q)
        cc = np.einsum("bjd,bjd->bj", c, c)
        dist = qq[:, :, None] + cc[:, None, :] - 2.0 * cross  # squared distance ranks the same
        scale = qq + cc.max(axis=1, keepdims=True)  # round-off of dist grows with the norms
    else:
        dist = 1.0 - cross
        scale = np.ones(q.shape[:2])
    own = np.diagonal(dist, axis1=1, axis2=2)  # (B, n): distance of each query to its partner
    tol = (_TIE_RTOL * scale)[:, :, None]
    gap = dist - own[:, :, None]
    closer = np.count_nonzero(gap < -tol, axis=2)
    tied = np.count_nonzero(np.abs(gap) <= tol, axis=2) - 1  # minus the partner itself
    ks = np.arange(1, top_k + 1)[:, None, None]
    credit = np.clip(ks - closer[None], 0, tied[None] + 1) / (tied[None] + 1)
    rates = tuple(float(r) for r in credit.reshape(top_k, -1).mean(axis=1))
    return RPrecisionResult(
        rates=rates,
        top_k=top_k,
        batch_size=batch_size,
        metric=metric,
        direction=direction,
        n_batches=n_batches,
        n_pairs=n_batches * batch_size,
        n_dropped=n - n_batches * batch_size,
        seed=seed,
        chance=tuple(k / batch_size for k in range(1, top_k + 1)),
    )


def _unit_rows(name: str, x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0.0):
        raise ValueError(f"{name} has {int(np.sum(norms == 0.0))} zero row(s); cosine distance is undefined")
    return x / norms


def multimodal_distance(text_feats: ArrayLike, motion_feats: ArrayLike) -> MultimodalDistanceResult:
    """MM-Dist: mean Euclidean distance ‖f_text,i − f_motion,i‖ over matched pairs.

    Args:
        text_feats: (n, D) text features.
        motion_feats: (n, D) motion features, row-aligned.

    All n pairs are used (the HumanML3D code averages over the pairs of its full R-precision
    batches, i.e. it also drops the remainder; with n ≫ 32 the difference is negligible).
    """
    t = as_2d("text_feats", text_feats)
    m = as_2d("motion_feats", motion_feats)
    if t.shape != m.shape:
        raise ValueError(f"text_feats {t.shape} and motion_feats {m.shape} must have the same shape")
    return MultimodalDistanceResult(
        value=float(np.linalg.norm(t - m, axis=1).mean()), n_pairs=t.shape[0], dim=t.shape[1]
    )
