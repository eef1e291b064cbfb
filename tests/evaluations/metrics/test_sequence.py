"""Tests of CTEG sequence metrics (Variation, FgD, DoT, Cppl).

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
    continuous_perplexity,
    diversity_on_test,
    fine_grained_diversity,
    temporal_variation,
    variation,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_variation_is_eq13_variance_across_channels_by_hand():
    # Eq. 13: var over one frame's channels (ddof 0), mean over frames, then over sequences.
    # A = [[0,0],[2,2]]: each frame has equal channels, var 0 → 0.
    # B = three frames of (0, 1): var {0, 1} = 0.25 per frame → 0.25. Mean over sequences = 0.125.
    a = np.array([[0.0, 0.0], [2.0, 2.0]])
    b = np.array([[0.0, 1.0]] * 3)
    r = variation([a, b])
    assert r.value == pytest.approx(0.125) and (r.name, r.n_sequences, r.n_channels) == ("Variation", 2, 2)
    assert "eq. 13" in r.definition
    # The old reading (variance over time) keeps its own name: A → 1, B → 0, mean 0.5.
    t = temporal_variation([a, b])
    assert t.value == pytest.approx(0.5) and "not CTEG eq. 13" in t.definition


def test_variation_of_a_frozen_face():
    # A frozen, non-neutral face (0, 1, 2, 3) held for 12 frames: across-channel mean 1.5,
    # var = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25 in every frame → 1.25, not 0 (the temporal
    # reading gives 0). A face whose coefficients are all equal scores 0 under eq. 13.
    frozen = np.tile([0.0, 1.0, 2.0, 3.0], (12, 1))
    assert variation([frozen]).value == pytest.approx(1.25)
    assert temporal_variation([frozen]).value == 0.0
    assert variation([np.full((12, 4), 0.5)]).value == 0.0
    # Frame counts do not weigh sequences: one frame of the face scores the same.
    assert variation([frozen, frozen[:1]]).value == pytest.approx(1.25)


def test_fine_grained_diversity_pools_all_steps_by_hand():
    # Eq. 14 pools every step: A has one step (0,0)→(3,4) of length 5; B steps of length 1 and 2.
    # Pooled: (5 + 1 + 2) / 3 = 8/3. (The per-sequence mean would be (5 + 1.5) / 2 = 3.25.)
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert fine_grained_diversity([a, b]).value == pytest.approx(8 / 3)
    assert fine_grained_diversity([a, b]).value != pytest.approx(3.25)
    # With equal lengths pooled and per-sequence means coincide, as eq. 14's 1/((T−1)N) says.
    c = np.array([[0.0, 0.0], [0.0, 2.0]])
    assert fine_grained_diversity([a, c]).value == pytest.approx((5 + 2) / 2)


def test_diversity_on_test_by_hand_and_against_pdist():
    # Three one-frame sequences (0,0), (3,4), (6,8): pair distances 5, 10, 5 → mean 20/3.
    seqs = np.array([[[0.0, 0.0]], [[3.0, 4.0]], [[6.0, 8.0]]])
    assert diversity_on_test(seqs).value == pytest.approx(20 / 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 7, 5))
    expected = scipy.spatial.distance.pdist(x.reshape(12, -1)).mean()
    assert diversity_on_test(x).value == pytest.approx(expected, rel=1e-10)
    assert diversity_on_test(list(x)).value == pytest.approx(expected, rel=1e-10)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 8), t=st.integers(2, 6), c=st.integers(1, 4))
def test_sequence_metrics_are_invariant_to_sequence_order(seed, n, t, c):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, t, c))
    p = rng.permutation(n)
    for fn in (variation, temporal_variation, fine_grained_diversity, diversity_on_test):
        assert fn(x[p]).value == pytest.approx(fn(x).value, rel=1e-9, abs=1e-12)
    # A frozen face does not move; eq. 13 still sees the spread of its one pose over channels.
    still = np.repeat(x[:, :1], t, axis=1)
    assert temporal_variation(still).value == pytest.approx(0.0, abs=1e-25)
    assert fine_grained_diversity(still).value == 0.0
    assert variation(still).value == pytest.approx(float(x[:, 0].var(axis=1).mean()), rel=1e-12)


def test_continuous_perplexity_box_reading_by_hand():
    # δ = 0.8, σ = 0.2 → the box half-width δ/σ = 4 standard deviations per coefficient.
    # One sequence, two frames, two channels; e = target − mean.
    #   frame 1: e = (0, 0.8):    p1 = [Φ(4) − Φ(−4)] · [Φ(0) − Φ(−8)]
    #   frame 2: e = (0.4, −0.2): p2 = [Φ(2) − Φ(−6)] · [Φ(5) − Φ(−3)]
    # H = −(log2 p1 + log2 p2) / 2 bits per frame; Cppl = 2^H = (p1 · p2)^(−1/2).
    p1 = (_phi(4.0) - _phi(-4.0)) * (_phi(0.0) - _phi(-8.0))
    p2 = (_phi(2.0) - _phi(-6.0)) * (_phi(5.0) - _phi(-3.0))
    target = np.array([[0.0, 1.0], [0.4, 0.0]])
    mean = np.array([[0.0, 0.2], [0.0, 0.2]])
    r = continuous_perplexity(target, mean)
    assert r.mean_entropy_bits == pytest.approx(-(math.log2(p1) + math.log2(p2)) / 2, rel=1e-12)
    assert r.value == pytest.approx((p1 * p2) ** -0.5, rel=1e-12)
    assert (r.delta, r.sigma, r.n_sequences, r.n_frames, r.n_channels) == (0.8, 0.2, 1, 2, 2)
    assert "box" in r.reading and "half-width delta" in r.reading


def test_continuous_perplexity_best_possible_is_an_exact_prediction():
    # e = 0 everywhere: every coefficient gets Φ(δ/σ) − Φ(−δ/σ) = erf(δ/(σ√2)), so
    # p_j = erf(δ/(σ√2))^C for every frame, H = −C·log2 erf(δ/(σ√2)) and
    # Cppl_best = erf(δ/(σ√2))^(−C): for δ=0.8, σ=0.2, erf(2√2) = 0.99993666 → 1.0000633^C.
    rng = np.random.default_rng(0)
    for c in (1, 7, 53):
        x = [rng.standard_normal((5, c)), rng.standard_normal((9, c))]
        r = continuous_perplexity(x, x)
        expected = math.erf(2 * math.sqrt(2)) ** -c
        assert r.value == pytest.approx(expected, rel=1e-12) and r.best_possible == pytest.approx(expected)
    assert continuous_perplexity(x, x).value == pytest.approx(1.00336, abs=1e-5)  # C = 53


def test_continuous_perplexity_averages_entropy_over_sequences_not_frames():
    # Sequence A: 1 frame, error 0.8 in one channel: H_A = −log2(½ − Φ(−8)) ≈ 1 bit.
    # Sequence B: 3 exact frames: H_B = −log2(Φ(4) − Φ(−4)) ≈ 9.1e-5 bits.
    # Eq. 18 takes the mean over sequences, (H_A + H_B)/2, not over the 4 pooled frames.
    h_a = -math.log2(_phi(0.0) - _phi(-8.0))
    h_b = -math.log2(_phi(4.0) - _phi(-4.0))
    y = [np.zeros((1, 1)), np.zeros((3, 1))]
    mu = [np.full((1, 1), 0.8), np.zeros((3, 1))]
    r = continuous_perplexity(y, mu)
    assert r.per_sequence_bits == pytest.approx((h_a, h_b), rel=1e-12)
    assert r.mean_entropy_bits == pytest.approx((h_a + h_b) / 2, rel=1e-12)
    assert r.mean_entropy_bits != pytest.approx((h_a + 3 * h_b) / 4, rel=1e-3)


def test_continuous_perplexity_far_tail_and_monotonicity():
    # Far off (25σ): p ≈ the upper tail beyond 21σ, log2 p ≈ −(21²/2)/ln 2 − … — finite, not inf.
    r = continuous_perplexity(np.zeros((1, 1)), np.full((1, 1), 5.0))
    assert math.isfinite(r.mean_entropy_bits) and r.mean_entropy_bits > 21**2 / 2 / math.log(2)
    # Symmetric in the sign of each error (the box reading; a literal orthant-CDF difference is
    # not), and worse predictions never score better.
    errs = np.linspace(0.0, 3.0, 31)
    values = [continuous_perplexity(np.zeros((1, 1)), np.full((1, 1), e)).value for e in errs]
    assert np.all(np.diff(values) > 0)
    zero = np.zeros((1, 2))
    signs = [continuous_perplexity(zero, np.array([[a, b]])).value for a in (-0.9, 0.9) for b in (-0.5, 0.5)]
    assert signs == pytest.approx([signs[0]] * 4, rel=1e-12)
    # A perplexity past the float range is inf, but its entropy stays finite.
    huge = continuous_perplexity(np.zeros((1, 61)), np.full((1, 61), 3.0))
    assert huge.value == math.inf and math.isfinite(huge.mean_entropy_bits) and huge.mean_entropy_bits > 1024


def test_continuous_perplexity_checks_structure():
    rng = np.random.default_rng(0)
    y = [rng.standard_normal((5, 3)), rng.standard_normal((8, 3))]
    mu = [s + 0.1 for s in y]
    assert continuous_perplexity(y, mu).n_frames == 13
    assert continuous_perplexity(np.stack([y[0], y[0]]), np.stack([mu[0], mu[0]])).n_sequences == 2
    with pytest.raises(ValueError, match="shape"):
        continuous_perplexity(y, mu[::-1])
    with pytest.raises(ValueError, match="sequences"):
        continuous_perplexity(y, mu[:1])
