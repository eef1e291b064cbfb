"""Tests of R-precision and MM-Dist.

Hand-computed cases, invariants, controls and scipy cross-checks.

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
    multimodal_distance,
    r_precision,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


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


def test_each_convention_has_one_description():
    from evaluations.metrics import describe_convention

    described = {describe_convention(*pair) for pair in R_PRECISION_CONVENTIONS.values()}
    assert described == {"euclidean distance, text→motion", "cosine distance, motion→text"}
