"""Distribution metrics: how a generated set compares with a reference set, or spreads.

FID (:func:`frechet_distance`), :func:`diversity` and :func:`multimodality` on evaluator features
(HumanML3D protocol); W-Dist (:func:`wasserstein_distance`) on raw coefficients (KeyframeFace).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.special
from numpy.typing import ArrayLike

from evaluations.metrics.base import MetricResult, as_2d, as_float, as_rows, check_int, check_seed


@dataclass(frozen=True)
class FIDResult(MetricResult):
    """Fréchet distance between two Gaussian fits. ``value = mean_term + trace_term``.

    ``singular_covariance`` is true when a set has no more samples than dimensions: its covariance
    is then rank-deficient and FID is strongly biased (compare such numbers only at equal n).
    """

    value: float
    mean_term: float  # ‖μa − μb‖²
    trace_term: float  # Tr(Σa + Σb − 2(ΣaΣb)^½)
    n_a: int
    n_b: int
    dim: int
    method: str  # "eigh" or "sqrtm"
    eps_offset: float  # diagonal offset actually applied (0.0 unless the sqrtm fallback ran)
    covariance_ddof: int
    singular_covariance: bool


@dataclass(frozen=True)
class DiversityResult(MetricResult):
    """Mean Euclidean distance over ``n_pairs`` random pairs of features.

    Pairs are drawn as in the HumanML3D code: two independent draws of ``n_pairs`` indices, each
    without replacement, paired position by position. A pair can therefore be an index with itself
    (distance 0); ``n_self_pairs`` says how many were, so nobody has to guess.
    """

    value: float
    n_pairs: int
    n_samples: int
    dim: int
    seed: int
    n_self_pairs: int
    sampling: str = "two independent draws without replacement (HumanML3D)"


@dataclass(frozen=True)
class MultimodalityResult(MetricResult):
    """Mean distance between pairs of samples generated for the same prompt (MultiModality)."""

    value: float
    n_prompts: int
    n_pairs: int  # pairs per prompt
    min_samples_per_prompt: int
    dim: int
    seed: int
    n_self_pairs: int
    sampling: str = "per prompt: two independent draws without replacement (HumanML3D)"


@dataclass(frozen=True)
class WassersteinResult(MetricResult):
    """Per-channel 1-D Wasserstein-1 distance between pooled rows, averaged over channels."""

    value: float
    per_channel: tuple[float, ...]
    n_gen: int
    n_ref: int
    n_channels: int


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    # Eigenvalues below the rounding level of the largest one are zero in truth; clipping them (and
    # negative round-off) keeps the square root real and stops √(noise) from adding up over dims.
    w = np.where(w > cov.shape[0] * np.finfo(np.float64).eps * max(float(w[-1]), 0.0), w, 0.0)
    return (v * np.sqrt(w)) @ v.T


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """Tr((Σa Σb)^½) through the symmetric matrix Σa^½ Σb Σa^½, which has the same eigenvalues."""
    root_a = _psd_sqrt(cov_a)
    m = root_a @ cov_b @ root_a
    m = (m + m.T) / 2.0  # symmetric in exact arithmetic; make it so before eigvalsh
    lam = scipy.linalg.eigh(m, eigvals_only=True, driver="evd")
    lam = np.where(lam > m.shape[0] * np.finfo(np.float64).eps * max(float(lam[-1]), 0.0), lam, 0.0)
    return float(np.sum(np.sqrt(lam)))


def _trace_sqrt_product_sqrtm(cov_a: np.ndarray, cov_b: np.ndarray, eps: float) -> tuple[float, float]:
    """The reference computation (pytorch-fid / HumanML3D): sqrtm, eps-offset fallback, drop imag."""
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b)
    offset = 0.0
    if not np.all(np.isfinite(covmean)):
        offset = eps
        eye = np.eye(cov_a.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((cov_a + eye) @ (cov_b + eye))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0.0, atol=1e-3):
            raise ValueError(
                f"FID: sqrtm has a large imaginary component ({np.max(np.abs(covmean.imag)):.3g}); "
                "the covariances are badly conditioned, use method='eigh'"
            )
        covmean = covmean.real
    return float(np.trace(covmean)), offset


def frechet_distance(
    feats_a: ArrayLike,
    feats_b: ArrayLike,
    *,
    method: Literal["eigh", "sqrtm"] = "eigh",
    eps: float = 1e-6,
) -> FIDResult:
    """Fréchet distance between Gaussians fitted to two feature sets (FID).

    ``FID = ‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½)`` with sample means and unbiased covariances
    (``np.cov``, ddof=1), as in the HumanML3D / pytorch-fid code. Symmetric in its arguments.

    Args:
        feats_a: (n_a, D) features, e.g. evaluator motion features of ground truth; n_a ≥ 2.
        feats_b: (n_b, D) features of the other set (generated motion); n_b ≥ 2.
        method: ``"eigh"`` (default) takes Tr((ΣaΣb)^½) as Σ√λ over the eigenvalues of the
            symmetric PSD matrix Σa^½ Σb Σa^½ (same spectrum as ΣaΣb), which is real by
            construction, needs no offset for singular covariances and is several times faster
            than a general matrix square root. ``"sqrtm"`` reproduces the reference code exactly:
            ``scipy.linalg.sqrtm(Σa Σb)``, retried with ``eps·I`` added to both covariances when
            the result is not finite, tiny imaginary parts dropped (large ones raise). The two
            agree to rounding on well-conditioned inputs.
        eps: the diagonal offset of the ``"sqrtm"`` fallback.

    Returns:
        :class:`FIDResult`; ``value`` is clamped at 0 (only round-off can make it negative).
    """
    a = as_2d("feats_a", feats_a, min_rows=2)
    b = as_2d("feats_b", feats_b, min_rows=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dims differ: feats_a has {a.shape[1]}, feats_b has {b.shape[1]}")
    if method not in ("eigh", "sqrtm"):
        raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    diff = mu_a - mu_b
    mean_term = float(diff @ diff)
    offset = 0.0
    if method == "eigh":
        tr_covmean = _trace_sqrt_product(cov_a, cov_b)
    else:
        tr_covmean, offset = _trace_sqrt_product_sqrtm(cov_a, cov_b, eps)
    trace_term = float(np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_covmean)
    dim = a.shape[1]
    return FIDResult(
        value=max(mean_term + trace_term, 0.0),
        mean_term=mean_term,
        trace_term=trace_term,
        n_a=a.shape[0],
        n_b=b.shape[0],
        dim=dim,
        method=method,
        eps_offset=offset,
        covariance_ddof=1,
        singular_covariance=bool(min(a.shape[0], b.shape[0]) <= dim),
    )


def diversity(feats: ArrayLike, n_pairs: int, seed: int = 0) -> DiversityResult:
    """Diversity: mean Euclidean distance between ``n_pairs`` random pairs of features.

    Sampling follows the HumanML3D code: ``first`` and ``second`` are two independent draws of
    ``n_pairs`` indices, each without replacement, and pair i is (first[i], second[i]). Protocol
    values: ``n_pairs`` = 300 (HumanML3D), 48 (Express4D's S_d).

    Args:
        feats: (n, D) generated features, n ≥ n_pairs.
        n_pairs: number of pairs S_d.
        seed: seeds both draws.
    """
    x = as_2d("feats", feats, min_rows=2)
    n_pairs = check_int("n_pairs", n_pairs, 1)
    seed = check_seed(seed)
    if n_pairs > x.shape[0]:
        raise ValueError(
            f"diversity draws n_pairs={n_pairs} indices without replacement; feats has only {x.shape[0]} rows"
        )
    rng = np.random.default_rng(seed)
    first = rng.choice(x.shape[0], n_pairs, replace=False)
    second = rng.choice(x.shape[0], n_pairs, replace=False)
    dist = np.linalg.norm(x[first] - x[second], axis=1)
    return DiversityResult(
        value=float(dist.mean()),
        n_pairs=n_pairs,
        n_samples=x.shape[0],
        dim=x.shape[1],
        seed=seed,
        n_self_pairs=int(np.count_nonzero(first == second)),
    )


def multimodality(
    feats_by_prompt: ArrayLike | Sequence[ArrayLike] | Mapping[Any, ArrayLike],
    n_pairs: int,
    seed: int = 0,
) -> MultimodalityResult:
    """MultiModality: mean distance between pairs of samples generated for the same prompt.

    For each prompt, two independent draws of ``n_pairs`` of its sample indices (each without
    replacement) are paired position by position, as in the HumanML3D code; the result is the mean
    over all prompts × pairs. Protocol: 100 prompts × 30 samples × 10 pairs. (The reference draws
    one index set shared by all prompts; drawing per prompt has the same distribution and also
    allows prompts with different sample counts.)

    Args:
        feats_by_prompt: (P, S, D) array, a sequence of (S_p, D) arrays, or a mapping prompt →
            (S_p, D) array; S_p ≥ n_pairs, P ≥ 1.
        n_pairs: pairs per prompt.
        seed: seeds the draws (prompts in the given order).
    """
    if isinstance(feats_by_prompt, Mapping):
        groups_in: Sequence[Any] = list(feats_by_prompt.values())
    elif isinstance(feats_by_prompt, np.ndarray):
        arr = as_float("feats_by_prompt", feats_by_prompt)
        if arr.ndim != 3:
            raise ValueError(f"feats_by_prompt as an array must be (prompts, samples, D), got {arr.shape}")
        groups_in = list(arr)
    else:
        groups_in = list(feats_by_prompt)  # type: ignore[arg-type]
    if not groups_in:
        raise ValueError("feats_by_prompt is empty")
    n_pairs = check_int("n_pairs", n_pairs, 1)
    seed = check_seed(seed)
    groups = [as_2d(f"feats_by_prompt[{i}]", g, min_rows=n_pairs) for i, g in enumerate(groups_in)]
    dims = {g.shape[1] for g in groups}
    if len(dims) != 1:
        raise ValueError(f"feats_by_prompt groups have different feature dims: {sorted(dims)}")
    rng = np.random.default_rng(seed)
    dists, self_pairs = [], 0
    for g in groups:
        first = rng.choice(g.shape[0], n_pairs, replace=False)
        second = rng.choice(g.shape[0], n_pairs, replace=False)
        self_pairs += int(np.count_nonzero(first == second))
        dists.append(np.linalg.norm(g[first] - g[second], axis=1))
    return MultimodalityResult(
        value=float(np.concatenate(dists).mean()),
        n_prompts=len(groups),
        n_pairs=n_pairs,
        min_samples_per_prompt=min(g.shape[0] for g in groups),
        dim=dims.pop(),
        seed=seed,
        n_self_pairs=self_pairs,
    )


def wasserstein_distance(
    gen: ArrayLike | Sequence[ArrayLike], ref: ArrayLike | Sequence[ArrayLike]
) -> WassersteinResult:
    """W-Dist: per-channel 1-D Wasserstein-1 distance, averaged over channels.

    For each channel c, W1 = ∫ |F_gen,c(x) − F_ref,c(x)| dx between the empirical distributions of
    that channel's values (same as ``scipy.stats.wasserstein_distance`` per column), in the
    channel's units; the result is the unweighted mean over channels.

    Args:
        gen: generated values, (..., C) — e.g. (N, 61) keyframes or (N, T, 61) sequences, all
            leading axes pooled — or a sequence of (T_i, C) arrays (pooled frames).
        ref: reference values in the same layout; row counts may differ.
    """
    a = as_rows("gen", gen)
    b = as_rows("ref", ref)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"gen has {a.shape[1]} channels, ref has {b.shape[1]}")
    if a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError("gen and ref need at least one row each")
    na, nb = a.shape[0], b.shape[0]
    # All channels at once: sort the pooled values per column; the running sum of +1/na (gen) and
    # −1/nb (ref) weights is F_gen − F_ref between consecutive sorted values.
    pooled = np.concatenate([a, b], axis=0)
    order = np.argsort(pooled, axis=0, kind="stable")
    values = np.take_along_axis(pooled, order, axis=0)
    cdf_gap = np.cumsum(np.where(order < na, 1.0 / na, -1.0 / nb), axis=0)[:-1]
    per_channel = np.sum(np.abs(cdf_gap) * np.diff(values, axis=0), axis=0)
    return WassersteinResult(
        value=float(per_channel.mean()),
        per_channel=tuple(float(v) for v in per_channel),
        n_gen=na,
        n_ref=nb,
        n_channels=a.shape[1],
    )
