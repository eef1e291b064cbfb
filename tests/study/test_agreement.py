import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from studio.study.agreement import (
    BT_TOLERANCE,
    bootstrap_items,
    bradley_terry,
    fleiss_kappa,
    kendall_w,
    krippendorff_alpha,
    rankings_to_fleiss_table,
    win_rate_matrix,
)

# The common textbook table (10 subjects, 14 raters, 5 categories; kappa 0.210, as statsmodels):
# not Fleiss (1971)'s own data (30 patients, 6 psychiatrists, 5 diagnoses), which gives 0.430
TEXTBOOK_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_fleiss_kappa_on_the_classic_table():
    assert fleiss_kappa(TEXTBOOK_TABLE) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa(TEXTBOOK_TABLE) == pytest.approx(statsmodels_fleiss(TEXTBOOK_TABLE), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000))
def test_fleiss_kappa_matches_statsmodels_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    items, categories, raters = rng.integers(2, 12), rng.integers(2, 6), rng.integers(2, 9)
    table = np.stack([rng.multinomial(raters, rng.dirichlet(np.ones(categories))) for _ in range(items)])
    if np.count_nonzero(table.sum(axis=0)) < 2:
        return
    assert fleiss_kappa(table) == pytest.approx(statsmodels_fleiss(table), abs=1e-10)


def test_fleiss_kappa_perfect_agreement_and_bad_tables():
    assert fleiss_kappa(np.array([[5, 0], [0, 5], [5, 0]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa(np.array([[3, 1], [2, 1]]))
    with pytest.raises(ValueError, match="one category"):
        fleiss_kappa(np.array([[4, 0], [4, 0]]))


def test_kendall_w_hand_computed_and_friedman():
    # 3 raters rank 4 items identically: perfect concordance
    ranks = np.array([[1, 2, 3, 4]] * 3)
    assert kendall_w(ranks).w == pytest.approx(1.0)
    # no ties: W = 12 S / (m^2 (n^3 - n)) with m = 3 raters, n = 4 items
    ranks = np.array([[1, 2, 3, 4], [2, 1, 3, 4], [1, 4, 2, 3]])
    totals = ranks.sum(axis=0)
    s = np.sum((totals - totals.mean()) ** 2)
    result = kendall_w(ranks)
    assert result.w == pytest.approx(12 * s / (9 * 60))
    friedman = stats.friedmanchisquare(*ranks.T)
    assert result.chi2 == pytest.approx(friedman.statistic) and result.p_value == pytest.approx(
        friedman.pvalue
    )


def test_kendall_w_with_ties_matches_friedman():
    rng = np.random.default_rng(3)
    scores = rng.integers(1, 4, size=(6, 5)).astype(float)  # ties on purpose
    result = kendall_w(scores)
    friedman = stats.friedmanchisquare(*scores.T)
    assert result.chi2 == pytest.approx(friedman.statistic)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(5))
def test_krippendorff_alpha_matches_reference_package(level, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, 30)
    data = np.array([np.clip(truth + rng.integers(-1, 2, 30), 1, 5) for _ in range(4)]).astype(float)
    data[rng.random(data.shape) < 0.15] = np.nan
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-9)


def test_rank_reductions():
    # 1 prompt, 3 raters, 3 models; raters 1 and 2 agree, rater 3 swaps the top two
    rankings = np.array([[[1, 2, 3], [1, 2, 3], [2, 1, 3]]])
    by_rank = rankings_to_fleiss_table(rankings, "rank_as_category")
    np.testing.assert_array_equal(by_rank, [[2, 1, 0], [1, 2, 0], [0, 0, 3]])
    top = rankings_to_fleiss_table(rankings, "top_choice")
    np.testing.assert_array_equal(top, [[2, 1, 0]])
    with pytest.raises(ValueError, match="permutation"):
        rankings_to_fleiss_table(np.array([[[1, 1, 3]]]), "top_choice")


def test_reductions_give_different_kappas():
    rng = np.random.default_rng(0)
    rankings = np.array([[rng.permutation(3) + 1 for _ in range(5)] for _ in range(20)])
    a = fleiss_kappa(rankings_to_fleiss_table(rankings, "rank_as_category"))
    b = fleiss_kappa(rankings_to_fleiss_table(rankings, "top_choice"))
    assert abs(a) < 0.2 and abs(b) < 0.2 and a != b  # random raters: near zero either way


def simulate(strengths, games, seed=0):
    rng = np.random.default_rng(seed)
    names = list(strengths)
    out = []
    for _ in range(games):
        a, b = rng.choice(len(names), 2, replace=False)
        p = 1 / (1 + np.exp(-(strengths[names[a]] - strengths[names[b]])))
        out.append((names[a], names[b], float(rng.random() < p)))
    return out


def test_bradley_terry_recovers_known_strengths():
    truth = {"gt": 1.0, "mdm": 0.3, "keyframe": 0.0, "label": -1.3}
    fit = bradley_terry(simulate(truth, 3000), n_bootstrap=200, seed=1)
    order = [fit.models[i] for i in np.argsort(-fit.strength)]
    assert order == ["gt", "mdm", "keyframe", "label"]
    centred = {m: v - np.mean(list(truth.values())) for m, v in truth.items()}
    for i, model in enumerate(fit.models):
        assert fit.ci_low[i] - 0.1 <= centred[model] <= fit.ci_high[i] + 0.1
        assert fit.rank_low[i] <= fit.rank[i] <= fit.rank_high[i]


def test_bradley_terry_undefeated_model_stays_finite_and_ties_are_symmetric():
    fit = bradley_terry([("a", "b", 1.0)] * 10, n_bootstrap=50)
    assert np.all(np.isfinite(fit.strength)) and fit.strength[0] > fit.strength[1]
    tied = bradley_terry([("a", "b", 0.5)] * 10, n_bootstrap=20)
    assert tied.strength[0] == pytest.approx(tied.strength[1], abs=1e-9)
    with pytest.raises(ValueError, match="score"):
        bradley_terry([("a", "b", 0.7)])


def test_win_rate_matrix():
    models, rates = win_rate_matrix([("a", "b", 1.0), ("b", "a", 0.5), ("a", "c", 0.0)])
    assert models == ["a", "b", "c"]
    assert rates[0, 1] == pytest.approx(0.75) and rates[1, 0] == pytest.approx(0.25)
    assert rates[2, 0] == 1.0 and np.isnan(rates[1, 2])


def test_bootstrap_items_ci_brackets_the_estimate():
    interval = bootstrap_items(fleiss_kappa, TEXTBOOK_TABLE, n_bootstrap=300, seed=0)
    assert interval.low <= interval.estimate <= interval.high
    assert interval.estimate == pytest.approx(0.210, abs=5e-4) and interval.high - interval.low > 0.05


def test_bradley_terry_grouped_bootstrap_widens_intervals_for_copied_comparisons():
    """Ten copies of each ranking are not ten times the evidence: resampling whole groups must give
    wider intervals than resampling the copies one by one, and the point fit must not change."""
    rng = np.random.default_rng(3)
    comparisons, groups = [], []
    for item in range(12):
        order = rng.permutation(["a", "b", "c"])  # one noisy ranking per item, copied ten times
        pairs = [(order[i], order[j], 1.0) for i in range(3) for j in range(i + 1, 3)]
        for _ in range(10):
            comparisons += pairs
            groups += [item] * len(pairs)
    loose = bradley_terry(comparisons, n_bootstrap=300, seed=0)
    grouped = bradley_terry(comparisons, n_bootstrap=300, seed=0, groups=groups)
    np.testing.assert_allclose(loose.strength, grouped.strength)
    assert np.all(grouped.ci_high - grouped.ci_low > 1.5 * (loose.ci_high - loose.ci_low))
    with pytest.raises(ValueError, match="labels"):
        bradley_terry(comparisons, groups=groups[:-1])


def bt_mle(comparisons, prior: float) -> np.ndarray:
    """Bradley-Terry by direct maximisation (scipy BFGS) of the log-likelihood with ``prior``
    virtual ties per pair; mean-zero log-strengths in sorted model order (an independent check)."""
    models = sorted({c[0] for c in comparisons} | {c[1] for c in comparisons})
    k, index = len(models), {m: i for i, m in enumerate(models)}
    wins = np.zeros((k, k))
    for a, b, score in comparisons:
        wins[index[a], index[b]] += score
        wins[index[b], index[a]] += 1 - score
    wins += prior / 2 * (1 - np.eye(k))

    def negative(free):
        s = np.r_[0.0, free]
        d = s[:, None] - s[None, :]
        p = 1 / (1 + np.exp(-d))
        return np.sum(wins * np.logaddexp(0, -d)), -np.r_[0.0, (wins - (wins + wins.T) * p).sum(1)[1:]][1:]

    fit = optimize.minimize(negative, np.zeros(k - 1), jac=True, method="BFGS", options={"gtol": 1e-12})
    s = np.r_[0.0, fit.x]
    return s - s.mean()


def old_fixed_500_mm(comparisons, prior: float) -> np.ndarray:
    """What bradley_terry fitted before: 500 MM steps (Hunter 2004), stopping there, converged or not."""
    models = sorted({c[0] for c in comparisons} | {c[1] for c in comparisons})
    k, index = len(models), {m: i for i, m in enumerate(models)}
    wins, games = np.zeros((k, k)), np.zeros((k, k))
    for a, b, score in comparisons:
        i, j = index[a], index[b]
        wins[i, j] += score
        wins[j, i] += 1 - score
        games[i, j] += 1
        games[j, i] += 1
    wins, games = wins + prior / 2 * (1 - np.eye(k)), games + prior * (1 - np.eye(k))
    strength = np.ones(k)
    for _ in range(500):
        updated = wins.sum(1) / (games / (strength[:, None] + strength[None, :])).sum(1)
        strength = updated / np.exp(np.mean(np.log(updated)))
    return np.log(strength)


def test_bradley_terry_converges_on_a_sparse_chain_where_500_steps_fell_short():
    """A > B > C > D, only neighbours compared, 199 wins to 1 each: the MLE (no prior) puts
    log(199) between neighbours. 500 MM steps stopped 0.1 short; the fit now reaches it, and
    agrees with a direct maximisation with the default prior too."""
    chain = [(a, b, 1.0) for a, b in ("AB", "BC", "CD") for _ in range(199)]
    chain += [(a, b, 0.0) for a, b in ("AB", "BC", "CD")]
    exact = -np.log(199) * np.arange(4)
    exact -= exact.mean()
    assert np.max(np.abs(old_fixed_500_mm(chain, 0.0) - exact)) > 0.05
    fit = bradley_terry(chain, n_bootstrap=20, prior=0.0)
    assert fit.converged and 1 <= fit.iterations < 100 and fit.tolerance == BT_TOLERANCE
    np.testing.assert_allclose(fit.strength, exact, atol=1e-9)
    np.testing.assert_allclose(fit.strength, bt_mle(chain, 0.0), atol=1e-5)
    default = bradley_terry(chain, n_bootstrap=20)
    assert default.converged and default.warnings == ()
    np.testing.assert_allclose(default.strength, bt_mle(chain, 1.0), atol=1e-5)


def test_bradley_terry_says_when_it_did_not_converge():
    """Without a prior, a model that never lost has no finite MLE: the fit says so (it used to
    come back NaN), as do bootstrap resamples in which a link loses its one upset."""
    fit = bradley_terry([("a", "b", 1.0)] * 5 + [("b", "c", 1.0), ("b", "c", 0.0)], n_bootstrap=50, prior=0.0)
    assert not fit.converged and fit.bootstrap_unconverged == 50
    assert fit.warnings[0].startswith("Bradley-Terry did not converge")
    assert fit.warnings[1].startswith("50 of 50 Bradley-Terry bootstrap fits did not converge")
    assert fit.strength[0] > 20 and fit.strength[1] == pytest.approx(fit.strength[2])  # a runs off; b, c tie
    chain = [(a, b, 1.0) for a, b in ("AB", "BC", "CD") for _ in range(9)]
    chain += [(a, b, 0.0) for a, b in ("AB", "BC", "CD")]
    sparse = bradley_terry(chain, n_bootstrap=200, prior=0.0, seed=0)
    assert sparse.converged and 0 < sparse.bootstrap_unconverged < 200 and len(sparse.warnings) == 1
