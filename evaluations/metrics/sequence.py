"""CTEG / EmoAva sequence metrics: Variation, FgD, DoT and continuous perplexity (Cppl)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.special
from numpy.typing import ArrayLike

from evaluations.metrics.base import MetricResult, as_rows, as_sequences, same_structure
from evaluations.metrics.protocol import CPPL_DELTA, CPPL_SIGMA


@dataclass(frozen=True)
class SequenceMetricResult(MetricResult):
    """A CTEG sequence metric (Variation, FgD, DoT) with the reading that produced it."""

    value: float
    name: str
    n_sequences: int
    n_channels: int
    definition: str


@dataclass(frozen=True)
class PerplexityResult(MetricResult):
    """Continuous perplexity (see :func:`continuous_perplexity` for the exact reading)."""

    value: float  # Cppl = 2 ** mean_entropy_bits, ≥ best_possible
    mean_entropy_bits: float  # mean of −log2 p over all elements
    delta: float
    sigma: float
    n_elements: int
    n_channels: int
    best_possible: float  # Cppl of an exact prediction, 1 / P(|Z| ≤ δ/(2σ))
    reading: str


def variation(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """Variation (CTEG): mean over sequences of the mean per-channel temporal variance.

    Reading of "mean per-frame variance": for each sequence X (T, C), the variance over its T
    frames of each channel (population, ddof=0), averaged over the C channels; then the plain mean
    over sequences (each sequence weighs the same, whatever its length). Units: squared channel
    units. Measures how much the face moves within a clip; a frozen face scores 0.

    Args:
        seqs: (N, T, C) array or a sequence of (T_i, C) arrays, T_i ≥ 2.
    """
    items = as_sequences("seqs", seqs, min_frames=2)
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
    items = as_sequences("seqs", seqs, min_frames=2)
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
    items = as_sequences("seqs", seqs, min_frames=1)
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
    y = as_rows("targets", targets)
    mu = as_rows("predicted_means", predicted_means)
    if y.shape != mu.shape:
        raise ValueError(f"targets pool to {y.shape} but predicted_means pool to {mu.shape}")
    if not same_structure(targets, predicted_means):
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
