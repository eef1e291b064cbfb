"""Tests of FID, Diversity, MultiModality and W-Dist.

Hand-computed cases, invariants, controls and scipy cross-checks.

Every hand-computed expectation is worked out in a comment next to it, independently of the code
under test. Hypothesis runs derandomised so the suite is deterministic.
"""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluations.metrics import (
    diversity,
    frechet_distance,
    multimodality,
    wasserstein_distance,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_one_dimensional_by_hand(method):
    # a = {0, 2}: mean 1, unbiased variance ((−1)² + 1²)/1 = 2.
    # b = {2, 6}: mean 4, unbiased variance (4 + 4)/1 = 8.
    # FID = (1 − 4)² + 2 + 8 − 2·√(2·8) = 9 + 10 − 8 = 11.
    r = frechet_distance([[0.0], [2.0]], [[2.0], [6.0]], method=method)
    assert r.value == pytest.approx(11.0, abs=1e-12)
    assert r.mean_term == pytest.approx(9.0) and r.trace_term == pytest.approx(2.0)
    assert (r.n_a, r.n_b, r.dim, r.method, r.covariance_ddof) == (2, 2, 1, method, 1)


def test_fid_matches_closed_form_for_diagonal_gaussians():
    # Independent channels: FID = Σ (μa − μb)² + Σ (σa − σb)² (1-D Fréchet distances add up).
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4000, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    b = rng.standard_normal((5000, 3)) * [3.0, 1.0, 0.5] + [2.0, 1.0, 1.0]
    # Use the sample statistics themselves so the identity is exact up to the off-diagonals.
    a = (a - a.mean(0)) / a.std(0, ddof=1) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    b = (b - b.mean(0)) / b.std(0, ddof=1) * [3.0, 1.0, 0.5] + [2.0, 1.0, 1.0]
    expected = (2.0**2 + 0.0 + 2.0**2) + ((1 - 3) ** 2 + (2 - 1) ** 2 + 0.0)  # 8 + 5 = 13
    # Sample off-diagonal covariances of ~4000 independent draws are O(1/√n); allow for them.
    assert frechet_distance(a, b).value == pytest.approx(expected, rel=0.02)


def test_fid_methods_agree_and_eigh_handles_singular_covariance():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 20)), rng.standard_normal((250, 20)) * 1.5 + 0.2
    assert frechet_distance(a, b).value == pytest.approx(
        frechet_distance(a, b, method="sqrtm").value, rel=1e-9
    )
    # Fewer samples than dims: singular covariances, still finite, flagged, and FID(x, x) = 0.
    x = rng.standard_normal((10, 64))
    r = frechet_distance(x, x)
    assert r.singular_covariance and r.value == pytest.approx(0.0, abs=1e-9 * np.trace(np.cov(x.T)))
    assert math.isfinite(frechet_distance(x, rng.standard_normal((12, 64))).value)


@SETTINGS
@given(seed=seeds, n=st.integers(3, 60), d=st.integers(1, 12), scale=st.floats(0.01, 100.0))
def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric(seed, n, d, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * scale
    y = rng.standard_normal((n + 5, d)) * scale + scale
    size = np.trace(np.atleast_2d(np.cov(x.T))) + np.trace(np.atleast_2d(np.cov(y.T))) + 1e-300
    assert frechet_distance(x, x).value <= 1e-9 * size
    ab, ba = frechet_distance(x, y).value, frechet_distance(y, x).value
    assert ab == pytest.approx(ba, rel=1e-7, abs=1e-9 * size)


@SETTINGS
@given(seed=seeds, n=st.integers(3, 50), d=st.integers(1, 8))
def test_fid_is_row_permutation_invariant_and_a_shift_adds_its_squared_norm(seed, n, d):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, d)), rng.standard_normal((n + 3, d))
    assert frechet_distance(x[rng.permutation(n)], y).value == pytest.approx(
        frechet_distance(x, y).value, rel=1e-9, abs=1e-9
    )
    # Same covariance, means apart by v: FID = ‖v‖².
    v = rng.standard_normal(d)
    assert frechet_distance(x, x + v).value == pytest.approx(float(v @ v), rel=1e-8, abs=1e-8)


def test_diversity_counts_self_pairs_like_the_reference():
    # Simplex points: every two distinct points are exactly 1 apart, a point and itself 0 apart.
    # With n_pairs == n the value is (n − #self pairs)/n, and over many seeds the mean number of
    # self pairs of two independent permutations of n items is 1 (n · 1/n), so E[value] = 1 − 1/n.
    n = 5
    feats = np.eye(n) / math.sqrt(2.0)
    values = []
    for seed in range(400):
        r = diversity(feats, n_pairs=n, seed=seed)
        assert r.value == pytest.approx((n - r.n_self_pairs) / n)
        values.append(r.value)
    assert np.mean(values) == pytest.approx(1 - 1 / n, abs=0.03)


def test_diversity_estimates_the_mean_pairwise_distance():
    # For x, y ~ N(0, I_d) independent, ‖x − y‖ ~ √2·χ_d: E = √2·√2·Γ((d+1)/2)/Γ(d/2).
    d = 16
    expected = 2.0 * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    feats = np.random.default_rng(2).standard_normal((20000, d))
    r = diversity(feats, n_pairs=5000, seed=0)
    assert r.value == pytest.approx(expected, rel=0.02)
    assert (r.n_pairs, r.n_samples, r.seed) == (5000, 20000, 0)
    assert diversity(feats, 300, seed=1) == diversity(feats, 300, seed=1)
    assert diversity(np.ones((50, 3)), 48).value == 0.0


def test_multimodality_by_hand_and_scaling():
    # Two prompts of 4 simplex points e_i/√2: distinct samples are exactly 1 apart, a sample and
    # itself 0 apart, so over 2 prompts × 2 pairs the mean is (4 − #self pairs)/4.
    simplex = np.eye(4) / math.sqrt(2.0)
    for seed in range(20):
        r = multimodality([simplex, simplex + 5.0], n_pairs=2, seed=seed)
        assert r.value == pytest.approx((4 - r.n_self_pairs) / 4)
    assert (r.n_prompts, r.n_pairs, r.min_samples_per_prompt, r.dim) == (2, 2, 4, 4)
    # A prompt whose samples are all the same has no multimodality.
    assert multimodality([np.ones((6, 3))], n_pairs=3).value == 0.0
    # Mappings and (P, S, D) arrays are accepted; scaling all features scales the value.
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((100, 30, 8))
    base = multimodality(feats, n_pairs=10)
    assert multimodality(feats * 3.0, n_pairs=10).value == pytest.approx(3.0 * base.value)
    assert multimodality({f"p{i}": f for i, f in enumerate(feats)}, n_pairs=10) == base
    # Samples ~ N(0, I_8): the mean over distinct pairs ≈ 2Γ(4.5)/Γ(4); self pairs pull it down a bit.
    expected = 2.0 * math.exp(math.lgamma(4.5) - math.lgamma(4.0)) * (1 - base.n_self_pairs / 1000)
    assert base.value == pytest.approx(expected, rel=0.05)


def test_wasserstein_by_hand():
    # Channel 0: {0, 1} vs {1, 2} — a shift by 1 → W1 = 1.
    # Channel 1: {0, 0} vs {0, 4} — move half the mass by 4 → W1 = 2. Mean = 1.5.
    r = wasserstein_distance([[0.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [2.0, 4.0]])
    assert r.per_channel == pytest.approx((1.0, 2.0)) and r.value == pytest.approx(1.5)
    assert (r.n_gen, r.n_ref, r.n_channels) == (2, 2, 2)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 40), m=st.integers(1, 40), c=st.integers(1, 5), ties=st.booleans())
def test_wasserstein_matches_scipy_per_channel(seed, n, m, c, ties):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, c)), rng.standard_normal((m, c)) * 2 + 0.5
    if ties:  # quantised values exercise tied samples within and across the two sets
        a, b = np.round(a), np.round(b)
    r = wasserstein_distance(a, b)
    expected = [scipy.stats.wasserstein_distance(a[:, j], b[:, j]) for j in range(c)]
    assert r.per_channel == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert r.value == pytest.approx(np.mean(expected), rel=1e-9, abs=1e-12)
    assert wasserstein_distance(a[rng.permutation(n)], b).value == pytest.approx(r.value, abs=1e-12)


def test_wasserstein_pools_frames_of_sequences():
    rng = np.random.default_rng(0)
    seqs = [rng.random((5, 3)), rng.random((9, 3))]
    ref = rng.random((4, 7, 3))
    assert wasserstein_distance(seqs, ref).value == pytest.approx(
        wasserstein_distance(np.concatenate(seqs), ref.reshape(-1, 3)).value
    )
