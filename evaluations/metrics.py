"""The field's metrics as pure functions on numpy arrays (DESIGN.md §6).

Every function validates its inputs (shape, finiteness, enough samples) and raises ``ValueError``
with a message that names the argument; every result is a small frozen dataclass that carries the
constants it was computed with (``result.to_dict()`` gives a JSON-ready dict), so a table built
from results can always say how its numbers were made. Arithmetic is float64 throughout, whatever
the input dtype.

Conventions, per source:

* **HumanML3D protocol** (Guo et al. 2022, text-to-motion code; used by Express4D):
  :func:`frechet_distance` (FID), :func:`r_precision`, :func:`multimodal_distance` (MM-Dist),
  :func:`diversity`, :func:`multimodality`; 20 replications summarised as mean ± 1.96·σ/√n by
  :func:`replication_summary` / :func:`replicate` (σ with ddof=0, as ``np.std`` in that code).
* **KeyframeFace**: :func:`wasserstein_distance` (W-Dist), :func:`coefficient_errors` (MSE, MAE,
  RMSE), plus FID / R-precision / MM-Dist above.
* **CTEG / EmoAva**: :func:`variation`, :func:`fine_grained_diversity` (FgD),
  :func:`diversity_on_test` (DoT), :func:`continuous_perplexity` (Cppl); standard errors by
  :func:`bootstrap_se` (1,000 resamples).
* **EmoteGPT**: :func:`ccc` (Lin's concordance correlation coefficient, for valence/arousal).

Where the papers leave a detail open, the reading chosen is stated in the function's docstring
and in the result's fields, never silently.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.special
from numpy.typing import ArrayLike

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "CONFIDENCE_Z",
    "CPPL_DELTA",
    "CPPL_SIGMA",
    "EXPRESS4D_DIVERSITY_PAIRS",
    "HUMANML3D_DIVERSITY_PAIRS",
    "HUMANML3D_MM_PAIRS",
    "HUMANML3D_MM_PROMPTS",
    "HUMANML3D_MM_SAMPLES",
    "HUMANML3D_REPLICATIONS",
    "R_PRECISION_BATCH_SIZE",
    "R_PRECISION_CONVENTIONS",
    "R_PRECISION_TOP_K",
    "BootstrapResult",
    "CCCResult",
    "CoefficientErrors",
    "DiversityResult",
    "FIDResult",
    "MultimodalDistanceResult",
    "MultimodalityResult",
    "PerplexityResult",
    "RPrecisionResult",
    "ReplicationSummary",
    "SequenceMetricResult",
    "WassersteinResult",
    "bootstrap_se",
    "ccc",
    "coefficient_errors",
    "continuous_perplexity",
    "diversity",
    "diversity_on_test",
    "fine_grained_diversity",
    "frechet_distance",
    "multimodal_distance",
    "multimodality",
    "r_precision",
    "replicate",
    "replication_summary",
    "variation",
    "wasserstein_distance",
]

# --------------------------------------------------------------------------------------------
# Protocol constants (DESIGN.md §6). Functions take them as defaults; results echo what was used.
# --------------------------------------------------------------------------------------------

R_PRECISION_BATCH_SIZE = 32
R_PRECISION_TOP_K = 3
HUMANML3D_DIVERSITY_PAIRS = 300
EXPRESS4D_DIVERSITY_PAIRS = 48
HUMANML3D_MM_PROMPTS = 100
HUMANML3D_MM_SAMPLES = 30
HUMANML3D_MM_PAIRS = 10
HUMANML3D_REPLICATIONS = 20
CONFIDENCE_Z = 1.96
CPPL_DELTA = 0.8
CPPL_SIGMA = 0.2
BOOTSTRAP_RESAMPLES = 1000

Metric = Literal["euclidean", "cosine"]
Direction = Literal["text_to_motion", "motion_to_text"]

#: The two R-precision conventions in the literature, as ``(metric, direction)``. The HumanML3D
#: code (and so MDM and Express4D's released evaluation) ranks the batch's motions for each text
#: by Euclidean distance; the Express4D paper's text describes cosine, ranking texts per motion.
R_PRECISION_CONVENTIONS: Mapping[str, tuple[Metric, Direction]] = MappingProxyType(
    {
        "humanml3d-code": ("euclidean", "text_to_motion"),
        "express4d-paper": ("cosine", "motion_to_text"),
    }
)

_ARROWS = {"text_to_motion": "text→motion", "motion_to_text": "motion→text"}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Result:
    """Mixin: ``to_dict()`` for JSON; ``float(result)`` for results with one headline ``value``."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def __float__(self) -> float:
        value = getattr(self, "value", None)
        if value is None:
            raise TypeError(f"{type(self).__name__} has no single headline value")
        return float(value)


@dataclass(frozen=True)
class FIDResult(_Result):
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
class RPrecisionResult(_Result):
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
        return f"{self.metric}, {_ARROWS[self.direction]}"

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
            f"{rates} ({self.metric} distance, {_ARROWS[self.direction]}: each of the {queries} ranks "
            f"the {self.batch_size} {candidates} of its batch; {self.n_batches} batches of "
            f"{self.batch_size}, {self.n_dropped} pairs dropped, seed {self.seed})"
        )


@dataclass(frozen=True)
class MultimodalDistanceResult(_Result):
    """Mean Euclidean distance between matched text and motion features (MM-Dist)."""

    value: float
    n_pairs: int
    dim: int


@dataclass(frozen=True)
class DiversityResult(_Result):
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
class MultimodalityResult(_Result):
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
class WassersteinResult(_Result):
    """Per-channel 1-D Wasserstein-1 distance between pooled rows, averaged over channels."""

    value: float
    per_channel: tuple[float, ...]
    n_gen: int
    n_ref: int
    n_channels: int


@dataclass(frozen=True)
class CoefficientErrors(_Result):
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
class SequenceMetricResult(_Result):
    """A CTEG sequence metric (Variation, FgD, DoT) with the reading that produced it."""

    value: float
    name: str
    n_sequences: int
    n_channels: int
    definition: str


@dataclass(frozen=True)
class PerplexityResult(_Result):
    """Continuous perplexity (see :func:`continuous_perplexity` for the exact reading)."""

    value: float  # Cppl = 2 ** mean_entropy_bits, ≥ best_possible
    mean_entropy_bits: float  # mean of −log2 p over all elements
    delta: float
    sigma: float
    n_elements: int
    n_channels: int
    best_possible: float  # Cppl of an exact prediction, 1 / P(|Z| ≤ δ/(2σ))
    reading: str


@dataclass(frozen=True)
class CCCResult(_Result):
    """Lin's concordance correlation coefficient, population (ddof=0) moments.

    ``value`` is the mean over columns; ``per_column`` has one entry per column (one for 1-D input).
    """

    value: float
    per_column: tuple[float, ...]
    n: int
    ddof: int = 0


@dataclass(frozen=True)
class BootstrapResult(_Result):
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
class ReplicationSummary(_Result):
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


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _as_float(name: str, x: ArrayLike) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def _as_2d(name: str, x: ArrayLike, *, min_rows: int = 1) -> np.ndarray:
    arr = _as_float(name, x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns (shape {arr.shape})")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {arr.shape[0]}")
    return arr


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    return int(value)


def _check_seed(seed: int) -> int:
    return _check_int("seed", seed, 0)


def _rows(name: str, x: ArrayLike | Sequence[ArrayLike]) -> np.ndarray:
    """Pool rows from (..., C) arrays or a sequence of (T_i, C) arrays into one (N, C) array."""
    if isinstance(x, np.ndarray) or not isinstance(x, Sequence) or not _is_ragged(x):
        arr = _as_float(name, x)
        if arr.ndim < 2:
            raise ValueError(f"{name} must have a channel axis: shape (..., C), got {arr.shape}")
        return arr.reshape(-1, arr.shape[-1])
    return np.concatenate([a.reshape(-1, a.shape[-1]) for a in _sequences(name, x, min_frames=1)])


def _is_ragged(x: Sequence[Any]) -> bool:
    shapes = {np.shape(item) for item in x}
    return len(shapes) > 1


def _sequences(name: str, seqs: ArrayLike | Sequence[ArrayLike], *, min_frames: int) -> list[np.ndarray]:
    """A list of (T_i, C) float64 arrays from an (N, T, C) array or a sequence of (T_i, C) arrays."""
    if isinstance(seqs, np.ndarray):
        arr = _as_float(name, seqs)
        if arr.ndim != 3:
            raise ValueError(f"{name} as an array must be (n_sequences, frames, channels), got {arr.shape}")
        items = list(arr)
    elif isinstance(seqs, Sequence) and not isinstance(seqs, str | bytes):
        items = [_as_float(f"{name}[{i}]", s) for i, s in enumerate(seqs)]
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


# --------------------------------------------------------------------------------------------
# HumanML3D protocol: FID, R-precision, MM-Dist, Diversity, MultiModality
# --------------------------------------------------------------------------------------------


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
    a = _as_2d("feats_a", feats_a, min_rows=2)
    b = _as_2d("feats_b", feats_b, min_rows=2)
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
    t = _as_2d("text_feats", text_feats)
    m = _as_2d("motion_feats", motion_feats)
    if t.shape != m.shape:
        raise ValueError(f"text_feats {t.shape} and motion_feats {m.shape} must have the same shape")
    batch_size = _check_int("batch_size", batch_size, 2)
    top_k = _check_int("top_k", top_k, 1)
    if top_k > batch_size:
        raise ValueError(f"top_k ({top_k}) cannot exceed batch_size ({batch_size})")
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    if direction not in ("text_to_motion", "motion_to_text"):
        raise ValueError(f"direction must be 'text_to_motion' or 'motion_to_text', got {direction!r}")
    seed = _check_seed(seed)
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
    t = _as_2d("text_feats", text_feats)
    m = _as_2d("motion_feats", motion_feats)
    if t.shape != m.shape:
        raise ValueError(f"text_feats {t.shape} and motion_feats {m.shape} must have the same shape")
    return MultimodalDistanceResult(
        value=float(np.linalg.norm(t - m, axis=1).mean()), n_pairs=t.shape[0], dim=t.shape[1]
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
    x = _as_2d("feats", feats, min_rows=2)
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    seed = _check_seed(seed)
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
        arr = _as_float("feats_by_prompt", feats_by_prompt)
        if arr.ndim != 3:
            raise ValueError(f"feats_by_prompt as an array must be (prompts, samples, D), got {arr.shape}")
        groups_in = list(arr)
    else:
        groups_in = list(feats_by_prompt)  # type: ignore[arg-type]
    if not groups_in:
        raise ValueError("feats_by_prompt is empty")
    n_pairs = _check_int("n_pairs", n_pairs, 1)
    seed = _check_seed(seed)
    groups = [_as_2d(f"feats_by_prompt[{i}]", g, min_rows=n_pairs) for i, g in enumerate(groups_in)]
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


# --------------------------------------------------------------------------------------------
# KeyframeFace: W-Dist and coefficient errors
# --------------------------------------------------------------------------------------------


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
    a = _rows("gen", gen)
    b = _rows("ref", ref)
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
    p = _as_float("pred", pred)
    g = _as_float("gt", gt)
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


# --------------------------------------------------------------------------------------------
# CTEG / EmoAva sequence metrics
# --------------------------------------------------------------------------------------------


def variation(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """Variation (CTEG): mean over sequences of the mean per-channel temporal variance.

    Reading of "mean per-frame variance": for each sequence X (T, C), the variance over its T
    frames of each channel (population, ddof=0), averaged over the C channels; then the plain mean
    over sequences (each sequence weighs the same, whatever its length). Units: squared channel
    units. Measures how much the face moves within a clip; a frozen face scores 0.

    Args:
        seqs: (N, T, C) array or a sequence of (T_i, C) arrays, T_i ≥ 2.
    """
    items = _sequences("seqs", seqs, min_frames=2)
    per_seq = [float(s.var(axis=0).mean()) for s in items]
    return SequenceMetricResult(
        value=float(np.mean(per_seq)),
        name="Variation",
        n_sequences=len(items),
        n_channels=items[0].shape[1],
        definition="mean over sequences of mean over channels of var over frames (ddof=0)",
    )


def fine_grained_diversity(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """FgD (CTEG): mean Euclidean distance between adjacent frames.

    For each sequence X (T, C): mean over t of ‖X[t+1] − X[t]‖₂ (T − 1 steps); then the plain
    mean over sequences. Units: channel units per frame step, so it depends on the frame rate —
    compare only clips at the same fps.

    Args:
        seqs: (N, T, C) array or a sequence of (T_i, C) arrays, T_i ≥ 2.
    """
    items = _sequences("seqs", seqs, min_frames=2)
    per_seq = [float(np.linalg.norm(np.diff(s, axis=0), axis=1).mean()) for s in items]
    return SequenceMetricResult(
        value=float(np.mean(per_seq)),
        name="FgD",
        n_sequences=len(items),
        n_channels=items[0].shape[1],
        definition="mean over sequences of mean over t of ||x[t+1] - x[t]||_2",
    )


def diversity_on_test(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """DoT (CTEG): mean pairwise Euclidean distance between generated test sequences.

    Every unordered pair i < j of the N sequences, distance ‖X_i − X_j‖ over the flattened
    (T·C) sequence (Frobenius norm), averaged over the N(N−1)/2 pairs. All sequences must share
    one shape (pad or resample first). Computed through the Gram matrix (BLAS); near-identical
    pairs carry a rounding error of about 1e-8 × the sequence norm.

    Args:
        seqs: (N, T, C) array or a sequence of N equally shaped (T, C) arrays, N ≥ 2.
    """
    items = _sequences("seqs", seqs, min_frames=1)
    if len(items) < 2:
        raise ValueError("diversity_on_test needs at least 2 sequences")
    shapes = {s.shape for s in items}
    if len(shapes) != 1:
        raise ValueError(f"diversity_on_test needs equally shaped sequences, got shapes {sorted(shapes)}")
    flat = np.stack([s.ravel() for s in items])
    sq = np.einsum("ij,ij->i", flat, flat)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (flat @ flat.T)
    iu = np.triu_indices(len(items), k=1)
    value = float(np.sqrt(np.maximum(d2[iu], 0.0)).mean())
    return SequenceMetricResult(
        value=value,
        name="DoT",
        n_sequences=len(items),
        n_channels=items[0].shape[1],
        definition="mean over pairs i<j of ||X_i - X_j||_F (flattened sequences)",
    )


_CPPL_READING = (
    "each element (frame, channel) of the target is scored under N(predicted, sigma^2): "
    "p = P(|y - mu| <= delta/2) = Phi((y-mu+delta/2)/sigma) - Phi((y-mu-delta/2)/sigma), "
    "the mass of a bin of width delta centred on the target; entropy = -log2 p per element; "
    "Cppl = 2 ** mean entropy over all elements (per-frame perplexity = Cppl ** n_channels)"
)


def continuous_perplexity(
    targets: ArrayLike | Sequence[ArrayLike],
    predicted_means: ArrayLike | Sequence[ArrayLike],
    delta: float = CPPL_DELTA,
    sigma: float = CPPL_SIGMA,
) -> PerplexityResult:
    """Cppl (CTEG): perplexity of ground truth under a Gaussian around the predictions.

    Reading (CTEG gives "Cppl = 2^(mean entropy), Gaussian likelihood, δ=0.8, σ=0.2"; this is
    how those pieces are put together here). A continuous value has no probability, only a
    density, so each target element y is given the probability mass that a Gaussian centred on the
    prediction μ with standard deviation σ puts on the bin of width δ centred on y::

        p = Φ((y − μ + δ/2) / σ) − Φ((y − μ − δ/2) / σ)
        H = mean over all elements of −log₂ p          (bits per element)
        Cppl = 2 ** H

    Elements are individual coefficients (frames × channels × sequences, all pooled with equal
    weight), so Cppl is per coefficient; the per-frame (joint, diagonal-Gaussian) perplexity is
    ``Cppl ** n_channels``. Lower is better; an exact prediction scores
    ``1 / P(|Z| ≤ δ/(2σ))`` (≈ 1.048 for δ=0.8, σ=0.2), a prediction off by ≫ δ grows without
    bound. p is evaluated in log space (``log_ndtr``), so large errors give large finite entropy
    rather than log(0). Units: δ and σ are in the units of the coefficients (z-scored FLAME
    expression codes in CTEG), so the number is only comparable under the same normalisation.

    Args:
        targets: ground truth, any (..., C) array or a sequence of (T_i, C) arrays.
        predicted_means: predictions with exactly the same structure and shapes.
        delta: bin width δ (> 0).
        sigma: Gaussian standard deviation σ (> 0).
    """
    if not (math.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be a positive finite number, got {delta}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    y = _rows("targets", targets)
    mu = _rows("predicted_means", predicted_means)
    if y.shape != mu.shape:
        raise ValueError(f"targets pool to {y.shape} but predicted_means pool to {mu.shape}")
    if not _same_structure(targets, predicted_means):
        raise ValueError("targets and predicted_means must have the same structure and per-item shapes")
    if y.size == 0:
        raise ValueError("targets is empty")
    half = delta / (2.0 * sigma)
    # The bin mass is symmetric in the error, so use |z| and write it with upper tails, which keeps
    # log p accurate far out (both Φ terms → 1 would cancel catastrophically).
    z = np.minimum(np.abs(y - mu) / sigma, 1e150)  # beyond this z² overflows; p is 0 anyway
    log_upper_near = scipy.special.log_ndtr(half - z)  # log P(Z ≥ z − half)
    log_upper_far = scipy.special.log_ndtr(-half - z)  # log P(Z ≥ z + half)
    with np.errstate(divide="ignore"):
        log_p = log_upper_near + np.log(-np.expm1(log_upper_far - log_upper_near))
    entropy_bits = -log_p / math.log(2.0)
    mean_h = float(entropy_bits.mean())
    best = 1.0 / math.erf(half / math.sqrt(2.0))
    return PerplexityResult(
        value=float(2.0**mean_h) if mean_h < 1024 else math.inf,
        mean_entropy_bits=mean_h,
        delta=float(delta),
        sigma=float(sigma),
        n_elements=int(y.size),
        n_channels=int(y.shape[1]),
        best_possible=best,
        reading=_CPPL_READING,
    )


def _item_shapes(x: Any) -> list[tuple[int, ...]]:
    if not isinstance(x, np.ndarray) and isinstance(x, Sequence) and _is_ragged(x):
        return [np.shape(item) for item in x]
    return [np.shape(np.asarray(x))]


def _same_structure(a: Any, b: Any) -> bool:
    return _item_shapes(a) == _item_shapes(b)


# --------------------------------------------------------------------------------------------
# EmoteGPT: concordance
# --------------------------------------------------------------------------------------------


def ccc(y: ArrayLike, y_hat: ArrayLike) -> CCCResult:
    """Lin's concordance correlation coefficient.

    ``CCC = 2·cov(y, ŷ) / (var(y) + var(ŷ) + (mean(y) − mean(ŷ))²)`` with population (1/n)
    moments, as in Lin (1989) and the AVEC challenges. 1 = perfect agreement, 0 = none,
    −1 = perfect reversal. Undefined (ValueError) when both series are constant.

    Args:
        y: (n,) reference values (e.g. valence), or (n, K) for K targets (valence, arousal).
        y_hat: predictions of the same shape; n ≥ 2.
    """
    a = _as_float("y", y)
    b = _as_float("y_hat", y_hat)
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


# --------------------------------------------------------------------------------------------
# Uncertainty: bootstrap (CTEG) and replications (HumanML3D)
# --------------------------------------------------------------------------------------------


def _scalar(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must return a number (or a result with one value), got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} returned a non-finite value ({out})")
    return out


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
    n = _check_int("n", n, 2)
    seed = _check_seed(seed)
    is_array = isinstance(data, np.ndarray)
    if not is_array and not (isinstance(data, Sequence) and not isinstance(data, str | bytes)):
        raise ValueError("data must be a numpy array or a sequence of items")
    size = len(data)
    if size < 2:
        raise ValueError(f"bootstrap needs at least 2 items, got {size}")
    estimate = _scalar("fn", fn(data))
    idx = np.random.default_rng(seed).integers(0, size, size=(n, size))
    if is_array:
        stats = np.array([_scalar("fn", fn(data[i])) for i in idx])  # type: ignore[index]
    else:
        stats = np.array([_scalar("fn", fn([data[j] for j in i])) for i in idx])
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
    v = _as_float("values", values)
    if v.ndim != 1 or v.shape[0] < 2:
        raise ValueError(f"values must be (n,) with n ≥ 2 replications, got shape {v.shape}")
    ddof = _check_int("ddof", ddof, 0)
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
    n_replications = _check_int("n_replications", n_replications, 2)
    seed = _check_seed(seed)
    seeds = tuple(seed + i for i in range(n_replications))
    outputs = [fn(s) for s in seeds]
    if all(isinstance(o, Mapping) for o in outputs):
        keys = list(outputs[0])
        if any(list(o) != keys for o in outputs):
            raise ValueError("replications returned different metric names")
        return {
            k: dataclasses.replace(
                replication_summary([_scalar(f"fn[{k!r}]", o[k]) for o in outputs], z=z), seeds=seeds
            )
            for k in keys
        }
    values = [_scalar("fn", o) for o in outputs]
    return dataclasses.replace(replication_summary(values, z=z), seeds=seeds)
