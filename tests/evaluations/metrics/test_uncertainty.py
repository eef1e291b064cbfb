"""Tests of bootstrap standard errors and replication summaries.

Hand-computed cases, invariants, controls and scipy cross-checks.

Every hand-computed expectation is worked out in a comment next to it, independently of the code
under test. Hypothesis runs derandomised so the suite is deterministic.
"""

import math

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from evaluations.metrics import (
    bootstrap_se,
    replicate,
    replication_summary,
    variation,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


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
