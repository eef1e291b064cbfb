"""Metric functions: hand-computed cases, invariants, controls and scipy cross-checks.

Every hand-computed expectation is worked out in a comment next to it, independently of the code
under test. Hypothesis runs derandomised so the suite is deterministic.
"""

import json
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluations.metrics import (
    R_PRECISION_CONVENTIONS,
    bootstrap_se,
    ccc,
    coefficient_errors,
    continuous_perplexity,
    diversity,
    diversity_on_test,
    fine_grained_diversity,
    frechet_distance,
    multimodal_distance,
    multimodality,
    r_precision,
    replicate,
    replication_summary,
    variation,
    wasserstein_distance,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


# --------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# R-precision
# --------------------------------------------------------------------------------------------


def test_r_precision_by_hand_one_batch():
    # Three pairs on a line (batch_size 3, one batch, so the shuffle cannot matter):
    #   texts   t0=0, t1=1, t2=10     motions m0=1.2, m1=0.1, m2=10
    # text→motion, Euclidean:
    #   t0: |0−1.2|=1.2, |0−0.1|=0.1, 10  → own m0 is 2nd  → hit at k=2
    #   t1: 0.2, 0.9, 9                   → own m1 is 2nd  → hit at k=2
    #   t2: 8.8, 9.9, 0                   → own m2 is 1st  → hit at k=1
    # R@1 = 1/3, R@2 = 3/3.
    t = np.array([[0.0], [1.0], [10.0]])
    m = np.array([[1.2], [0.1], [10.0]])
    r = r_precision(t, m, batch_size=3, top_k=2)
    assert r.rates == pytest.approx((1 / 3, 1.0))
    # motion→text: m0: |1.2−0|=1.2, |1.2−1|=0.2, 8.8 → own t0 2nd; m1: 0.1, 0.9, 9.9 → own t1
    # 2nd; m2: 10, 9, 0 → own t2 1st. R@1 = 1/3, R@2 = 1. Now move m1 to 0.9 so that it is
    # nearest its own text (0.9, 0.1, 9.1) and t1 sees (0.2, 0.1, 9) → hit at k=1 both ways.
    r = r_precision(t, m, batch_size=3, top_k=2, direction="motion_to_text")
    assert r.rates == pytest.approx((1 / 3, 1.0))
    m[1, 0] = 0.9
    assert r_precision(t, m, batch_size=3, top_k=2, direction="motion_to_text").rates == pytest.approx(
        (2 / 3, 1.0)
    )
    # text→motion with m1 = 0.9: t0 sees (1.2, 0.9, 10) → own m0 2nd; t1 1st; t2 1st.
    assert r_precision(t, m, batch_size=3, top_k=2).rates == pytest.approx((2 / 3, 1.0))
    assert (r.n_batches, r.n_pairs, r.n_dropped, r.chance) == (1, 3, 0, pytest.approx((1 / 3, 2 / 3)))


def test_r_precision_cosine_uses_angles_not_lengths():
    # Cosine ignores length: t0 = (1,0) is closest in angle to m0 = (10, 1) although m1 = (0.9, 0.9)
    # is nearer in Euclidean terms. t1 = (0,1) is closest in angle to m1.
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    m = np.array([[10.0, 1.0], [0.9, 0.9]])
    assert r_precision(t, m, batch_size=2, top_k=1, metric="cosine").rates == (1.0,)
    # Euclidean: t0→(9.06, 0.91) picks m1 (miss); t1→(10, 0.91) picks m1 (hit). R@1 = 1/2.
    assert r_precision(t, m, batch_size=2, top_k=1).rates == (0.5,)


def test_r_precision_ties_are_scored_at_their_expectation():
    # Every motion identical: the partner ties with all 32 candidates, so the expected hit rate
    # under random tie-breaking is exactly k/32, whatever the texts.
    rng = np.random.default_rng(0)
    t = rng.standard_normal((64, 16))
    m = np.tile(rng.standard_normal(16), (64, 1))
    r = r_precision(t, m)
    assert r.rates == pytest.approx((1 / 32, 2 / 32, 3 / 32), abs=1e-15)
    # Two duplicates of each motion in a batch of 4 (pairs 0,1 share a motion, 2,3 share one) with
    # texts sitting on their motion: each text sees its own motion tied with one other at distance
    # 0 → R@1 = 1/2, R@2 = 1.
    m = np.array([[0.0], [0.0], [5.0], [5.0]])
    assert r_precision(m.copy(), m, batch_size=4, top_k=2).rates == pytest.approx((0.5, 1.0))


@SETTINGS
@given(seed=seeds, n_batches=st.integers(1, 4), extra=st.integers(0, 31), d=st.integers(2, 24))
def test_r_precision_is_one_for_perfectly_separated_pairs(seed, n_batches, extra, d):
    # Each pair sits at its own centre; centres are ≥ 10 apart (and far from the origin in angle
    # terms: distinct one-hot directions), jitter ≤ 0.5. Every convention must score 1.
    rng = np.random.default_rng(seed)
    n = 32 * n_batches + extra
    centres = np.zeros((n, n + d))
    centres[np.arange(n), rng.permutation(n)] = 10.0
    t = centres + rng.uniform(-0.25, 0.25, centres.shape) / math.sqrt(centres.shape[1])
    m = centres + rng.uniform(-0.25, 0.25, centres.shape) / math.sqrt(centres.shape[1])
    for metric, direction in R_PRECISION_CONVENTIONS.values():
        r = r_precision(t, m, metric=metric, direction=direction, seed=seed % 1000)
        assert r.rates == (1.0, 1.0, 1.0)
        assert r.n_batches == n_batches and r.n_dropped == extra


@pytest.mark.parametrize(("metric", "direction"), list(R_PRECISION_CONVENTIONS.values()))
def test_r_precision_of_unrelated_features_is_chance(metric, direction):
    # 200 batches × 32 queries = 6400 Bernoulli(k/32) trials: SE ≤ √(0.094·0.906/6400) ≈ 0.0037.
    rng = np.random.default_rng(7)
    t, m = rng.standard_normal((6400, 32)), rng.standard_normal((6400, 32))
    r = r_precision(t, m, metric=metric, direction=direction)
    for k, rate in enumerate(r.rates, start=1):
        assert abs(rate - k / 32) < 4 * math.sqrt((k / 32) * (1 - k / 32) / 6400)


def test_shuffled_motion_control_falls_to_chance():
    # Matched features retrieve well; shuffling the motions breaks the pairing and the score must
    # drop to chance. This is the control every evaluator run should pass.
    rng = np.random.default_rng(11)
    t = rng.standard_normal((3200, 64))
    m = t + 0.8 * rng.standard_normal(t.shape)
    matched = r_precision(t, m)
    shuffled = r_precision(t, m[rng.permutation(len(m))])
    assert matched.rates[0] > 0.9
    sd = math.sqrt((3 / 32) * (29 / 32) / 3200)
    assert abs(shuffled.rates[2] - 3 / 32) < 4 * sd and abs(shuffled.rates[0] - 1 / 32) < 0.015


@SETTINGS
@given(seed=seeds, d=st.integers(2, 10))
def test_r_precision_invariances(seed, d):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((32, d))
    m = t + rng.standard_normal((32, d))
    base = r_precision(t, m)
    # One batch holding every pair: reordering the pairs jointly cannot change anything.
    p = rng.permutation(32)
    assert r_precision(t[p], m[p]).rates == pytest.approx(base.rates)
    # A common rotation + translation of both spaces preserves Euclidean distances.
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    shift = rng.standard_normal(d)
    assert r_precision(t @ q + shift, m @ q + shift).rates == pytest.approx(base.rates)
    # Swapping the roles of texts and motions swaps the direction.
    swapped = r_precision(m, t, direction="motion_to_text")
    assert swapped.rates == pytest.approx(base.rates)
    # Cosine ignores per-row positive scaling.
    s = rng.uniform(0.1, 10.0, (32, 1))
    assert r_precision(t * s, m, metric="cosine").rates == pytest.approx(
        r_precision(t, m, metric="cosine").rates
    )


def _reference_r_precision(t, m, seed, metric, direction, batch_size=32, top_k=3):
    """The HumanML3D loop, written out plainly: shuffle, drop the remainder, argsort per batch."""
    n_batches = len(t) // batch_size
    order = np.random.default_rng(seed).permutation(len(t))[: n_batches * batch_size]
    hits = np.zeros(top_k)
    for b in range(n_batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        d = scipy.spatial.distance.cdist(t[idx], m[idx], metric=metric)  # rows: texts
        if direction == "motion_to_text":
            d = d.T
        position = np.argmax(np.argsort(d, axis=1) == np.arange(batch_size)[:, None], axis=1)
        hits += [(position < k).sum() for k in range(1, top_k + 1)]
    return tuple(hits / (n_batches * batch_size))


@pytest.mark.parametrize(
    ("metric", "direction"),
    [(m, d) for m in ("euclidean", "cosine") for d in ("text_to_motion", "motion_to_text")],
)
def test_r_precision_matches_the_reference_loop(metric, direction):
    # Continuous features have no ties, so argsort ranking and tie-aware ranking must agree exactly.
    rng = np.random.default_rng(5)
    t = rng.standard_normal((330, 12))
    m = t + 1.2 * rng.standard_normal(t.shape)
    for seed in (0, 1, 2):
        got = r_precision(t, m, metric=metric, direction=direction, seed=seed).rates
        assert got == pytest.approx(_reference_r_precision(t, m, seed, metric, direction), abs=1e-12)
    # The seed decides the batches, so it must matter.
    assert r_precision(t, m, seed=0).rates != r_precision(t, m, seed=1).rates


def test_r_precision_result_says_which_convention_and_is_reproducible():
    rng = np.random.default_rng(1)
    t, m = rng.standard_normal((100, 8)), rng.standard_normal((100, 8))
    r = r_precision(t, m)
    assert (r.metric, r.direction, r.batch_size, r.top_k) == ("euclidean", "text_to_motion", 32, 3)
    assert (r.n_batches, r.n_pairs, r.n_dropped) == (3, 96, 4)
    assert "euclidean" in str(r) and "text→motion" in str(r) and r.convention == "euclidean, text→motion"
    c = r_precision(t, m, metric="cosine", direction="motion_to_text")
    assert "cosine" in str(c) and "motion→text" in str(c)
    assert r_precision(t, m, seed=5) == r_precision(t, m, seed=5)
    assert r.at(3) == r.rates[2]
    json.dumps(r.to_dict())


# --------------------------------------------------------------------------------------------
# MM-Dist, Diversity, MultiModality
# --------------------------------------------------------------------------------------------


def test_multimodal_distance_by_hand():
    # ‖(0,0) − (3,4)‖ = 5 and ‖(1,1) − (1,1)‖ = 0 → mean 2.5.
    r = multimodal_distance([[0.0, 0.0], [1.0, 1.0]], [[3.0, 4.0], [1.0, 1.0]])
    assert r.value == 2.5 and r.n_pairs == 2 and r.dim == 2


@SETTINGS
@given(seed=seeds, n=st.integers(1, 40), d=st.integers(1, 6))
def test_multimodal_distance_is_invariant_to_joint_reordering(seed, n, d):
    rng = np.random.default_rng(seed)
    t, m = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    p = rng.permutation(n)
    assert multimodal_distance(t[p], m[p]).value == pytest.approx(multimodal_distance(t, m).value)


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


# --------------------------------------------------------------------------------------------
# KeyframeFace: W-Dist and coefficient errors
# --------------------------------------------------------------------------------------------


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


def test_coefficient_errors_by_hand():
    # errors = pred − gt = [[0, 2], [3, 0]]
    # overall: MSE = (0 + 4 + 9 + 0)/4 = 3.25, MAE = 5/4, RMSE = √3.25
    # channel 0: errors (0, 3) → MSE 4.5, MAE 1.5; channel 1: (2, 0) → MSE 2, MAE 1.
    r = coefficient_errors([[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 4.0]], channels=["a", "b"])
    assert (r.mse, r.mae, r.rmse) == pytest.approx((3.25, 1.25, math.sqrt(3.25)))
    assert r.per_channel_mse == pytest.approx((4.5, 2.0))
    assert r.per_channel_mae == pytest.approx((1.5, 1.0))
    assert r.per_channel_rmse == pytest.approx((math.sqrt(4.5), math.sqrt(2.0)))
    assert (r.n_rows, r.n_channels, r.channels) == (2, 2, ("a", "b"))


@SETTINGS
@given(seed=seeds, n=st.integers(1, 30), c=st.integers(1, 6))
def test_coefficient_errors_invariant_to_joint_row_order(seed, n, c):
    rng = np.random.default_rng(seed)
    p, g = rng.standard_normal((n, c)), rng.standard_normal((n, c))
    perm = rng.permutation(n)
    a, b = coefficient_errors(p, g), coefficient_errors(p[perm], g[perm])
    assert (b.mse, b.mae) == pytest.approx((a.mse, a.mae))
    assert b.per_channel_mae == pytest.approx(a.per_channel_mae)
    assert coefficient_errors(g, g).mse == 0.0


# --------------------------------------------------------------------------------------------
# CTEG sequence metrics
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# CCC
# --------------------------------------------------------------------------------------------


def test_ccc_by_hand():
    # y = (1,2,3), ŷ = (2,3,4): var = 2/3 each, cov = 2/3, mean gap 1 → 2·(2/3)/(4/3 + 1) = 4/7.
    assert ccc([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]).value == pytest.approx(4 / 7)
    # Reversed: cov = −2/3, equal means → −1.
    assert ccc([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]).value == pytest.approx(-1.0)
    # Two columns (valence, arousal) scored separately; value is their mean.
    r = ccc([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], [[2.0, 3.0], [3.0, 2.0], [4.0, 1.0]])
    assert r.per_column == pytest.approx((4 / 7, -1.0)) and r.value == pytest.approx((4 / 7 - 1) / 2)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 50), loc=st.floats(-100, 100), scale=st.floats(0.01, 100))
def test_ccc_of_a_series_with_itself_is_one_and_ccc_is_symmetric(seed, n, loc, scale):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n) * scale + loc
    if np.ptp(y) == 0:
        y[0] += scale
    assert ccc(y, y).value == pytest.approx(1.0, abs=1e-12)
    z = rng.standard_normal(n)
    assert ccc(y, z).value == pytest.approx(ccc(z, y).value)
    assert -1.0 - 1e-12 <= ccc(y, z).value <= 1.0 + 1e-12
    p = rng.permutation(n)
    assert ccc(y[p], z[p]).value == pytest.approx(ccc(y, z).value)


# --------------------------------------------------------------------------------------------
# Bootstrap and replications
# --------------------------------------------------------------------------------------------


def test_bootstrap_se_of_a_mean_matches_the_textbook_formula():
    # The bootstrap SE of a mean tends to s/√n with s the population (ddof 0) std of the data.
    data = np.random.default_rng(0).standard_normal(400)
    r = bootstrap_se(lambda x: x.mean(), data, n=2000, seed=1)
    assert r.se == pytest.approx(data.std() / math.sqrt(400), rel=0.08)
    assert r.estimate == pytest.approx(data.mean())
    assert r.ci_low < r.estimate < r.ci_high
    assert (r.n_resamples, r.n_items, r.seed) == (2000, 400, 1)
    assert bootstrap_se(lambda x: x.mean(), data, n=50, seed=3) == bootstrap_se(
        lambda x: x.mean(), data, n=50, seed=3
    )
    assert bootstrap_se(lambda x: x.mean(), np.full(10, 2.0), n=20).se == 0.0


def test_bootstrap_se_resamples_items_of_a_sequence_and_accepts_results():
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((int(t), 3)) for t in rng.integers(3, 9, size=30)]
    r = bootstrap_se(variation, seqs, n=100)
    assert r.estimate == pytest.approx(variation(seqs).value) and r.se > 0


def test_replication_summary_by_hand():
    # values 1..4: mean 2.5, population std √1.25, half-width 1.96·√1.25/√4.
    s = replication_summary([1.0, 2.0, 3.0, 4.0])
    assert (s.mean, s.std) == pytest.approx((2.5, math.sqrt(1.25)))
    assert s.half_width == pytest.approx(1.96 * math.sqrt(1.25) / 2)
    assert (s.n, s.z, s.ddof) == (4, 1.96, 0) and str(s).startswith("2.5 ± ")
    assert replication_summary([1.0, 2.0, 3.0, 4.0], ddof=1).std == pytest.approx(math.sqrt(5 / 3))


def test_replicate_uses_consecutive_seeds_and_summarises_each_metric():
    seen = []

    def run(seed):
        seen.append(seed)
        return {"fid": float(seed), "r1": 0.5}

    out = replicate(run, n_replications=4, seed=10)
    assert seen == [10, 11, 12, 13]
    assert out["fid"].mean == pytest.approx(11.5) and out["fid"].seeds == (10, 11, 12, 13)
    assert out["r1"].half_width == 0.0
    single = replicate(lambda s: float(s), n_replications=3)
    assert single.values == (0.0, 1.0, 2.0)


# --------------------------------------------------------------------------------------------
# Validation and reporting
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: frechet_distance(np.zeros((5, 3)), np.zeros((5, 4))), "dims differ"),
        (lambda: frechet_distance(np.zeros((1, 3)), np.zeros((5, 3))), "at least 2 rows"),
        (lambda: frechet_distance(np.zeros(5), np.zeros(5)), "2-D"),
        (lambda: frechet_distance(np.array([[np.nan, 1.0], [0.0, 0.0]]), np.zeros((2, 2))), "non-finite"),
        (lambda: frechet_distance(np.zeros((3, 2)), np.zeros((3, 2)), method="x"), "method"),
        (lambda: r_precision(np.zeros((31, 4)), np.zeros((31, 4))), "at least batch_size=32"),
        (lambda: r_precision(np.zeros((40, 4)), np.zeros((40, 5))), "same shape"),
        (lambda: r_precision(np.ones((40, 4)), np.ones((40, 4)), top_k=33), "top_k"),
        (lambda: r_precision(np.ones((40, 4)), np.ones((40, 4)), metric="l1"), "metric"),
        (lambda: r_precision(np.ones((40, 4)), np.ones((40, 4)), direction="both"), "direction"),
        (lambda: r_precision(np.zeros((40, 4)), np.ones((40, 4)), metric="cosine"), "zero row"),
        (lambda: diversity(np.zeros((10, 3)), 11), "without replacement"),
        (lambda: diversity(np.zeros((10, 3)), 0), "n_pairs"),
        (lambda: multimodality(np.zeros((3, 5, 2)), 6), "at least 6 rows"),
        (lambda: multimodality([np.zeros((5, 2)), np.zeros((5, 3))], 2), "feature dims"),
        (lambda: wasserstein_distance(np.zeros((3, 2)), np.zeros((3, 3))), "channels"),
        (lambda: coefficient_errors(np.zeros((3, 2)), np.zeros((2, 3))), "same shape"),
        (lambda: coefficient_errors(np.zeros((3, 2)), np.zeros((3, 2)), channels=["a"]), "channel names"),
        (lambda: variation([np.zeros((1, 3))]), "needs ≥ 2"),
        (lambda: variation([np.zeros((4, 3)), np.zeros((4, 2))]), "channels"),
        (lambda: diversity_on_test([np.zeros((4, 3)), np.zeros((5, 3))]), "equally shaped"),
        (lambda: diversity_on_test(np.zeros((1, 4, 3))), "at least 2"),
        (lambda: continuous_perplexity(np.zeros((2, 2)), np.zeros((2, 2)), sigma=0.0), "sigma"),
        (lambda: continuous_perplexity(np.zeros((2, 2)), np.zeros((2, 3))), "pool"),
        (lambda: ccc([1.0, 1.0], [1.0, 1.0]), "undefined"),
        (lambda: ccc([1.0], [1.0]), "at least 2"),
        (lambda: bootstrap_se(lambda x: x.mean(), np.zeros(1)), "at least 2"),
        (lambda: bootstrap_se(lambda x: float("nan"), np.zeros(3), n=5), "non-finite"),
        (lambda: bootstrap_se(lambda x: "a", np.zeros(3), n=5), "must return a number"),
        (lambda: replication_summary([1.0]), "n ≥ 2"),
        (lambda: diversity(np.zeros((10, 3)), 5, seed=-1), "seed"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_results_carry_their_constants_and_serialise_to_json():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4))
    results = [
        frechet_distance(x, x + 1),
        r_precision(x, x),
        multimodal_distance(x, x),
        diversity(x, 10),
        multimodality(x.reshape(4, 10, 4), 5),
        wasserstein_distance(x, x),
        coefficient_errors(x, x),
        variation(x.reshape(4, 10, 4)),
        continuous_perplexity(x, x),
        ccc(x[:, 0], x[:, 1]),
        bootstrap_se(lambda v: v.mean(), x[:, 0], n=10),
        replication_summary(x[:, 0]),
    ]
    for r in results:
        json.dumps(r.to_dict())
    assert frechet_distance(x, x + 1).to_dict()["method"] == "eigh"
    assert float(diversity(x, 10)) == diversity(x, 10).value
    with pytest.raises(TypeError):
        float(r_precision(x, x))
