"""CTEG / EmoAva sequence metrics ("When Words Smile", App. D): Variation, FgD, DoT, Cppl.

The paper's equations are implemented under the paper's names, exactly as written:
:func:`variation` (eq. 13), :func:`fine_grained_diversity` (eq. 14), :func:`diversity_on_test`
(eq. 15) and :func:`continuous_perplexity` (eqs. 16–18, "box reading", see there). A different
reading that is still useful keeps its own name and never the paper's: :func:`temporal_variation`
(variance over time per channel, what this module called Variation before).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special
from numpy.typing import ArrayLike

from evaluations.metrics.base import MetricResult, as_sequences
from evaluations.metrics.protocol import CPPL_DELTA, CPPL_SIGMA

_LN2 = math.log(2.0)
# 2 ** h overflows a float64 from h = 1024 bits on; beyond that the perplexity is reported as inf.
_MAX_BITS = 1024.0


def pow2(bits: float) -> float:
    """``2 ** bits`` as a float, ``inf`` where it would overflow (bits ≥ 1024)."""
    return float(2.0**bits) if bits < _MAX_BITS else math.inf


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
    """Continuous perplexity, CTEG eqs. 16–18 (see :func:`continuous_perplexity`).

    ``value = 2 ** mean_entropy_bits``; ``per_sequence_bits[i]`` is H_i in bits per frame, so a
    caller can bootstrap over sequences in log space.
    """

    value: float  # Cppl = 2 ** mean_entropy_bits (inf past 1024 bits), ≥ best_possible
    mean_entropy_bits: float  # (1/N) Σ_i H_i, bits per frame
    per_sequence_bits: tuple[float, ...]  # H_i = −(1/T_i) Σ_j log2 p_ij
    delta: float  # half-width of the box, coefficient units
    sigma: float  # Gaussian standard deviation, coefficient units
    n_sequences: int
    n_frames: int  # Σ_i T_i
    n_channels: int
    best_possible: float  # Cppl of an exact prediction, erf(δ/(σ√2)) ** (−C)
    reading: str


def _frames(name: str, x: ArrayLike | Sequence[ArrayLike], min_frames: int) -> list[np.ndarray]:
    """Sequences from (N, T, C), a sequence of (T_i, C) arrays, or one (T, C) array (N = 1)."""
    if isinstance(x, np.ndarray) and x.ndim == 2:
        return as_sequences(name, [x], min_frames=min_frames)
    return as_sequences(name, x, min_frames=min_frames)


def variation(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """Variation, CTEG eq. 13: ``(1/N) Σ_i (1/n_i) Σ_j var(E_ij)``.

    ``var(E_ij)`` is the variance of frame j's expression vector *across its C channels*
    (population variance, ddof=0); it is averaged over the n_i frames of sequence i, then over the
    N sequences (each sequence weighs the same, whatever its length). Units: squared coefficient
    units. A frozen but non-neutral face scores the across-channel variance of its one pose (not
    0); only a face whose every coefficient is equal scores 0. For variance over time see
    :func:`temporal_variation`.

    Args:
        seqs: (N, T, C) array, a sequence of (T_i, C) arrays, or one (T, C) array; T_i ≥ 1.
    """
    items = _frames("seqs", seqs, min_frames=1)
    per_seq = [float(s.var(axis=1).mean()) for s in items]
    return SequenceMetricResult(
        value=float(np.mean(per_seq)),
        name="Variation",
        n_sequences=len(items),
        n_channels=items[0].shape[1],
        definition="CTEG eq. 13: mean over sequences of mean over frames of var over channels (ddof=0)",
    )


def temporal_variation(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """Temporal variation (not the paper's eq. 13): mean per-channel variance over time.

    For each sequence (T, C): the variance over its T frames of each channel (ddof=0), averaged
    over the C channels; then the plain mean over sequences. Units: squared coefficient units.
    Measures how much the face moves within a clip; a frozen face scores 0.

    Args:
        seqs: (N, T, C) array, a sequence of (T_i, C) arrays, or one (T, C) array; T_i ≥ 2.
    """
    items = _frames("seqs", seqs, min_frames=2)
    per_seq = [float(s.var(axis=0).mean()) for s in items]
    return SequenceMetricResult(
        value=float(np.mean(per_seq)),
        name="Temporal variation",
        n_sequences=len(items),
        n_channels=items[0].shape[1],
        definition="not CTEG eq. 13: mean over sequences of mean over channels of var over frames (ddof=0)",
    )


def fine_grained_diversity(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """FgD, CTEG eq. 14: mean Euclidean length of all adjacent-frame steps, pooled.

    ``Σ_i Σ_j ‖E_i,j+1 − E_i,j‖₂ / Σ_i (n_i − 1)``: every step of every sequence weighs the same,
    so a long clip counts more than a short one (for equal lengths this is eq. 14's
    ``1/((T−1)N) Σ_i Σ_j``). Units: coefficient units per frame step, so it depends on the frame
    rate — compare only clips at the same fps.

    Args:
        seqs: (N, T, C) array, a sequence of (T_i, C) arrays, or one (T, C) array; T_i ≥ 2.
    """
    items = _frames("seqs", seqs, min_frames=2)
    total = sum(float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in items)
    steps = sum(len(s) - 1 for s in items)
    return SequenceMetricResult(
        value=total / steps,
        name="FgD",
        n_sequences=len(items),
        n_channels=items[0].shape[1],
        definition="CTEG eq. 14: sum over all sequences and t of ||x[t+1] - x[t]||_2 / total steps (pooled)",
    )


def diversity_on_test(seqs: ArrayLike | Sequence[ArrayLike]) -> SequenceMetricResult:
    """DoT, CTEG eq. 15: mean pairwise Euclidean distance between generated test sequences.

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
        definition="CTEG eq. 15: mean over pairs i<j of ||X_i - X_j||_F (flattened sequences)",
    )


CPPL_READING = (
    "CTEG eqs. 16-18, box reading: per frame j, p_j = prod over channels c of "
    "[Phi((delta - e_c)/sigma) - Phi((-delta - e_c)/sigma)], e = target - predictive mean "
    "(mass of N(mu_j, sigma^2 I) in the box target_j +- delta, half-width delta); "
    "H_i = -(1/T_i) sum_j log2 p_j (bits per frame); Cppl = 2 ** ((1/N) sum_i H_i)"
)


def log_box_mass(err: np.ndarray, delta: float, sigma: float) -> np.ndarray:
    """Natural log of ``Φ((δ − e)/σ) − Φ((−δ − e)/σ)`` elementwise, stable for any error e.

    The mass is symmetric in e, so with z = |e|/σ and h = δ/σ it is written with upper tails,
    ``P(Z ≥ z − h) − P(Z ≥ z + h)``, and evaluated in log space (``log_ndtr``): for large z both
    Φ terms of the plain difference round to 1 and cancel, whereas the upper tails stay accurate
    and give a large finite −log p instead of log(0).

    Args:
        err: any-shaped array of errors e (target − mean), coefficient units.
        delta: half-width δ of the box (> 0); sigma: standard deviation σ (> 0).
    Returns:
        log p, same shape as ``err``, ≤ 0.
    """
    h = delta / sigma
    z = np.minimum(np.abs(err) / sigma, 1e150)  # beyond this z² overflows; p is 0 to any precision
    log_near = scipy.special.log_ndtr(h - z)  # log P(Z ≥ z − h)
    log_far = scipy.special.log_ndtr(-h - z)  # log P(Z ≥ z + h)
    with np.errstate(divide="ignore"):
        return log_near + np.log(-np.expm1(log_far - log_near))


def continuous_perplexity(
    targets: ArrayLike | Sequence[ArrayLike],
    predictive_means: ArrayLike | Sequence[ArrayLike],
    *,
    delta: float = CPPL_DELTA,
    sigma: float = CPPL_SIGMA,
) -> PerplexityResult:
    """Cppl, CTEG eqs. 16–18: perplexity of the ground truth under the model's one-step Gaussian.

    For sequence i and frame j, μ_ij is the model's predictive mean of frame j (given the
    ground-truth prefix, in the paper) and ψ_ij the ground-truth frame, both C-vectors. The
    model's predictive distribution is N(μ_ij, σ²I) (independent per coefficient), and p_ij is its
    probability mass in the box ψ_ij ± δ over the *whole vector*::

        e = ψ_ij − μ_ij
        p_ij = Π_c [Φ((δ − e_c)/σ) − Φ((−δ − e_c)/σ)]          (eqs. 16–17, box reading)
        H_i  = −(1/T_i) Σ_j log₂ p_ij                            (bits per frame)
        Cppl = 2 ** ((1/N) Σ_i H_i)                              (eq. 18)

    *Box reading*: eq. 17 read literally is F(ψ + δ) − F(ψ − δ) with F the multivariate Gaussian
    CDF, a difference of two orthant masses; for C > 1 that is the mass of an L-shaped region, not
    of a box around ψ, and it is lopsided (it favours errors of one sign). The box ψ ± δ of
    half-width δ in every coordinate is what the equation evidently means and what is computed
    here. Each log p is summed in log space (``log_ndtr``), so large errors give large
    finite entropies. Lower is better. An exact prediction (e = 0) gives p = erf(δ/(σ√2))^C per
    frame, hence the best possible value ``best_possible = erf(δ/(σ√2)) ** (−C)`` (≈ 1.0000633^C
    for δ = 0.8, σ = 0.2: 1.0034 for C = 53). Units: δ and σ are in coefficient units (z-scored
    FLAME expression codes in CTEG), so the number is comparable only under the same
    normalisation and the same C.

    Args:
        targets: ground truth: (N, T, C) array, a sequence of (T_i, C) arrays, or one (T, C)
            array (N = 1); T_i ≥ 1.
        predictive_means: the model's predictive means, same structure and per-sequence shapes.
        delta: box half-width δ (> 0), coefficient units.
        sigma: Gaussian standard deviation σ (> 0), coefficient units.
    """
    if not (math.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be a positive finite number, got {delta}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    ys = _frames("targets", targets, min_frames=1)
    mus = _frames("predictive_means", predictive_means, min_frames=1)
    if len(ys) != len(mus):
        raise ValueError(f"targets has {len(ys)} sequences but predictive_means has {len(mus)}")
    for i, (y, mu) in enumerate(zip(ys, mus, strict=True)):
        if y.shape != mu.shape:
            raise ValueError(f"targets[{i}] has shape {y.shape} but predictive_means[{i}] has {mu.shape}")
    per_seq = []
    for y, mu in zip(ys, mus, strict=True):
        log_p_frame = log_box_mass(y - mu, delta, sigma).sum(axis=1)  # (T_i,) natural log per frame
        per_seq.append(float(-log_p_frame.mean() / _LN2))
    mean_h = float(np.mean(per_seq))
    c = ys[0].shape[1]
    best_bits = -c * math.log2(math.erf(delta / (sigma * math.sqrt(2.0))))
    return PerplexityResult(
        value=pow2(mean_h),
        mean_entropy_bits=mean_h,
        per_sequence_bits=tuple(per_seq),
        delta=float(delta),
        sigma=float(sigma),
        n_sequences=len(ys),
        n_frames=int(sum(len(y) for y in ys)),
        n_channels=c,
        best_possible=pow2(best_bits),
        reading=CPPL_READING,
    )
