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
    variation,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_variation_by_hand():
    # A = [[0,0],[2,2]]: each channel {0, 2}, var (ddof 0) = 1 → 1.
    # B = three frames of (0, 1): var 0 → 0. Mean over sequences = 0.5 (lengths do not weigh).
    a = np.array([[0.0, 0.0], [2.0, 2.0]])
    b = np.array([[0.0, 1.0]] * 3)
    r = variation([a, b])
    assert r.value == pytest.approx(0.5) and (r.name, r.n_sequences, r.n_channels) == ("Variation", 2, 2)


def test_fine_grained_diversity_by_hand():
    # A: one step (0,0)→(3,4), length 5 → 5. B: steps of length 1 and 2 → mean 1.5. Mean = 3.25.
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert fine_grained_diversity([a, b]).value == pytest.approx(3.25)


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
    for fn in (variation, fine_grained_diversity, diversity_on_test):
        assert fn(x[p]).value == pytest.approx(fn(x).value, rel=1e-9, abs=1e-12)
    # A frozen face neither varies nor moves.
    still = np.repeat(x[:, :1], t, axis=1)
    assert variation(still).value == pytest.approx(0.0, abs=1e-25)
    assert fine_grained_diversity(still).value == 0.0


def test_continuous_perplexity_by_hand():
    # δ = 0.8, σ = 0.2 → half-bin δ/(2σ) = 2 standard deviations.
    # Exact prediction: p0 = Φ(2) − Φ(−2).  Off by 0.4 (= 2σ): p1 = Φ((0.4+0.4)/0.2) − Φ(0) = Φ(4) − ½.
    # Cppl = 2^(mean(−log2 p)) = (p0 · p1)^(−1/2).
    p0 = _phi(2.0) - _phi(-2.0)
    p1 = _phi(4.0) - 0.5
    r = continuous_perplexity(np.array([[0.0, 1.0]]), np.array([[0.0, 1.4]]))
    assert r.value == pytest.approx((p0 * p1) ** -0.5, rel=1e-12)
    assert r.mean_entropy_bits == pytest.approx(-(math.log2(p0) + math.log2(p1)) / 2, rel=1e-12)
    assert r.best_possible == pytest.approx(1 / p0, rel=1e-12)
    assert (r.delta, r.sigma, r.n_elements, r.n_channels) == (0.8, 0.2, 2, 2)
    assert "delta/2" in r.reading


def test_continuous_perplexity_far_tail_and_monotonicity():
    # Far off (25σ): p ≈ the upper tail beyond 23σ, log2 p ≈ −(23²/2)/ln 2 − … — finite, not inf.
    r = continuous_perplexity(np.zeros((1, 1)), np.full((1, 1), 5.0))
    assert math.isfinite(r.mean_entropy_bits) and r.mean_entropy_bits > 23**2 / 2 / math.log(2)
    # Symmetric in the sign of the error, and worse predictions never score better.
    errs = np.linspace(0.0, 3.0, 31)
    values = [continuous_perplexity(np.zeros((1, 1)), np.full((1, 1), e)).value for e in errs]
    assert np.all(np.diff(values) > 0)
    assert continuous_perplexity(np.zeros((1, 1)), np.full((1, 1), -0.7)).value == pytest.approx(
        continuous_perplexity(np.zeros((1, 1)), np.full((1, 1), 0.7)).value
    )


def test_continuous_perplexity_accepts_variable_length_sequences():
    rng = np.random.default_rng(0)
    y = [rng.standard_normal((5, 3)), rng.standard_normal((8, 3))]
    mu = [s + 0.1 for s in y]
    pooled = continuous_perplexity(np.concatenate(y), np.concatenate(mu))
    assert continuous_perplexity(y, mu).value == pytest.approx(pooled.value)
    with pytest.raises(ValueError, match="structure"):
        continuous_perplexity(y, mu[::-1])
