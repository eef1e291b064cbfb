"""Tests of input validation and result serialisation, across all metrics.

Hand-computed cases, invariants, controls and scipy cross-checks.

Every hand-computed expectation is worked out in a comment next to it, independently of the code
under test. Hypothesis runs derandomised so the suite is deterministic.
"""

import json

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from evaluations.metrics import (
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
    replication_summary,
    temporal_variation,
    variation,
    wasserstein_distance,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


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
        (lambda: temporal_variation([np.zeros((1, 3))]), "needs ≥ 2"),
        (lambda: fine_grained_diversity([np.zeros((1, 3))]), "needs ≥ 2"),
        (lambda: variation([np.zeros((4, 3)), np.zeros((4, 2))]), "channels"),
        (lambda: diversity_on_test([np.zeros((4, 3)), np.zeros((5, 3))]), "equally shaped"),
        (lambda: diversity_on_test(np.zeros((1, 4, 3))), "at least 2"),
        (lambda: continuous_perplexity(np.zeros((2, 2)), np.zeros((2, 2)), sigma=0.0), "sigma"),
        (lambda: continuous_perplexity(np.zeros((2, 2)), np.zeros((2, 3))), "shape"),
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
