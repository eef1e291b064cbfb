"""Tests of coefficient errors and CCC.

Hand-computed cases, invariants, controls and scipy cross-checks.

Every hand-computed expectation is worked out in a comment next to it, independently of the code
under test. Hypothesis runs derandomised so the suite is deterministic.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluations.metrics import (
    ccc,
    coefficient_errors,
)

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None, database=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


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
