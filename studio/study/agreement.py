"""Agreement and preference statistics for user studies. Pure functions on arrays.

Public names are fixed (outside scripts rely on them): :func:`fleiss_kappa`, :func:`kendall_w`,
:func:`krippendorff_alpha`, :func:`bradley_terry`; plus :func:`win_rate_matrix`,
:func:`rankings_to_fleiss_table` (the declared reduction a ranking study needs before Fleiss'
kappa means anything) and :func:`bootstrap_items` (percentile CIs, resampling items).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Reduction = Literal["rank_as_category", "top_choice"]
REDUCTIONS: dict[str, str] = {
    "rank_as_category": "each (prompt, model) is an item; the rank a rater gave it is the category",
    "top_choice": "each prompt is an item; the model a rater ranked first is the category",
}
DEFAULT_REDUCTION = "rank_as_category"


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa for ``table (items, categories)`` of rater counts.

    Every item must have the same number of ratings ``n >= 2``. ``P_i`` is the share of agreeing
    rater pairs on item ``i``, ``p_j`` the share of all ratings in category ``j``;
    ``kappa = (mean(P_i) - sum(p_j^2)) / (1 - sum(p_j^2))``.
    """
    counts = np.asarray(table, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] < 1 or counts.shape[1] < 2:
        raise ValueError(f"table must be (items, categories>=2), got shape {counts.shape}")
    if np.any(counts < 0) or not np.allclose(counts, np.round(counts)):
        raise ValueError("table must hold non-negative integer counts")
    raters = counts.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("every item needs the same number of ratings, at least 2")
    n = raters[0]
    p_item = (np.sum(counts**2, axis=1) - n) / (n * (n - 1))
    p_category = counts.sum(axis=0) / counts.sum()
    expected = float(np.sum(p_category**2))
    if np.isclose(expected, 1.0):
        raise ValueError("all ratings fall in one category: kappa is undefined")
    return float((p_item.mean() - expected) / (1 - expected))


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance with its Friedman test."""

    w: float
    chi2: float
    df: int
    p_value: float
    n_raters: int
    n_items: int


def kendall_w(ranks: np.ndarray) -> KendallW:
    """Kendall's W for ``ranks (raters, items)``; each row ranks the items (1 = best).

    Rows are re-ranked (ties get average ranks) and the tie correction is applied:
    ``W = 12 S / (m^2 (n^3 - n) - m sum T)``; Friedman ``chi2 = m (n - 1) W`` on ``n - 1`` df.
    """
    data = np.asarray(ranks, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 2:
        raise ValueError(f"ranks must be (raters>=2, items>=2), got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("ranks must be finite (every rater ranks every item)")
    m, n = data.shape
    ranked = np.apply_along_axis(stats.rankdata, 1, data)
    totals = ranked.sum(axis=0)
    spread = float(np.sum((totals - totals.mean()) ** 2))
    ties = 0.0
    for row in ranked:
        _, sizes = np.unique(row, return_counts=True)
        ties += float(np.sum(sizes**3 - sizes))
    denominator = m**2 * (n**3 - n) - m * ties
    if denominator <= 0:
        raise ValueError("every rater tied every item: W is undefined")
    w = 12 * spread / denominator
    chi2 = m * (n - 1) * w
    return KendallW(float(w), float(chi2), n - 1, float(stats.chi2.sf(chi2, n - 1)), m, n)


def krippendorff_alpha(data: np.ndarray, level: str = "ordinal") -> float:
    """Krippendorff's alpha for ``data (raters, units)``, NaN where a rater gave no value.

    ``level`` is ``nominal``, ``ordinal``, ``interval`` or ``ratio``. Built on the coincidence
    matrix of pairable values; ``alpha = 1 - D_o / D_e``. Units with fewer than two values
    are not pairable and drop out.
    """
    values = np.asarray(data, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"data must be (raters, units), got shape {values.shape}")
    categories = np.unique(values[np.isfinite(values)])
    if len(categories) < 2:
        raise ValueError("alpha needs at least two distinct values")
    index = {v: i for i, v in enumerate(categories)}
    k = len(categories)
    coincidence = np.zeros((k, k))
    for unit in values.T:
        present = unit[np.isfinite(unit)]
        m_u = len(present)
        if m_u < 2:
            continue
        counts = np.bincount([index[v] for v in present], minlength=k).astype(np.float64)
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (m_u - 1)
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    if total == 0:
        raise ValueError("no unit has two or more values: nothing to compare")
    delta = _distance_matrix(categories, marginals, level)
    observed = float(np.sum(coincidence * delta))
    expected = float(np.sum(np.outer(marginals, marginals) * delta)) / (total - 1)
    if expected == 0:
        raise ValueError("no expected disagreement: alpha is undefined")
    return 1.0 - observed / expected


def _distance_matrix(categories: np.ndarray, marginals: np.ndarray, level: str) -> np.ndarray:
    c = categories[:, None]
    k = categories[None, :]
    if level == "nominal":
        return (c != k).astype(np.float64)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        total = c + k
        return np.where(total == 0, 0.0, ((c - k) / np.where(total == 0, 1, total)) ** 2)
    if level == "ordinal":
        cumulative = np.cumsum(marginals)
        i = np.arange(len(categories))
        lo, hi = np.minimum.outer(i, i), np.maximum.outer(i, i)
        between = cumulative[hi] - np.where(lo > 0, cumulative[lo - 1], 0.0)
        return (between - (marginals[lo] + marginals[hi]) / 2) ** 2
    raise ValueError(f"level must be nominal, ordinal, interval or ratio, got {level!r}")


def rankings_to_fleiss_table(rankings: np.ndarray, reduction: Reduction) -> np.ndarray:
    """Reduce ``rankings (prompts, raters, models)`` of ranks (1 = best) to a Fleiss table.

    ``rank_as_category``: rows are (prompt, model) pairs, columns ranks 1..K.
    ``top_choice``: rows are prompts, columns models; counts of raters ranking it first.
    """
    ranks = np.asarray(rankings)
    if ranks.ndim != 3:
        raise ValueError(f"rankings must be (prompts, raters, models), got shape {ranks.shape}")
    n_prompts, _, n_models = ranks.shape
    valid = np.sort(ranks, axis=2) == np.arange(1, n_models + 1)
    if not np.all(valid):
        raise ValueError("each rater must give each prompt a permutation of ranks 1..K")
    if reduction == "rank_as_category":
        per_item = ranks.transpose(0, 2, 1).reshape(n_prompts * n_models, -1)  # (prompt*model, raters)
        return np.stack([(per_item == r).sum(axis=1) for r in range(1, n_models + 1)], axis=1)
    if reduction == "top_choice":
        top = np.argmin(ranks, axis=2)  # (prompts, raters)
        return np.stack([(top == j).sum(axis=1) for j in range(n_models)], axis=1)
    raise ValueError(f"reduction must be one of {sorted(REDUCTIONS)}, got {reduction!r}")


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    n_bootstrap: int


def bootstrap_items(
    statistic: Callable[[np.ndarray], float],
    items: np.ndarray,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    axis: int = 0,
) -> Interval:
    """Percentile CI of ``statistic(items)`` resampling along ``axis`` (the items) with
    replacement. Resamples where the statistic is undefined (ValueError) are skipped."""
    data = np.asarray(items)
    rng = np.random.default_rng(seed)
    estimate = float(statistic(data))
    n = data.shape[axis]
    draws = []
    for _ in range(n_bootstrap):
        sample = np.take(data, rng.integers(0, n, n), axis=axis)
        try:
            draws.append(float(statistic(sample)))
        except ValueError:
            continue
    if not draws:
        raise ValueError("the statistic is undefined on every bootstrap resample")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), level, len(draws))


Comparison = tuple[str, str, float]  # (model_a, model_b, score of a: 1 win, 0.5 tie, 0 loss)


def _check_comparisons(comparisons: Sequence[Comparison]) -> tuple[list[str], np.ndarray]:
    if len(comparisons) == 0:
        raise ValueError("no comparisons")
    models = sorted({c[0] for c in comparisons} | {c[1] for c in comparisons})
    index = {m: i for i, m in enumerate(models)}
    rows = []
    for a, b, score in comparisons:
        if a == b:
            raise ValueError(f"a model cannot be compared with itself ({a!r})")
        if score not in (0, 0.5, 1):
            raise ValueError(f"score must be 1 (a wins), 0.5 (tie) or 0 (b wins), got {score!r}")
        rows.append((index[a], index[b], float(score)))
    return models, np.array(rows)


def win_rate_matrix(comparisons: Sequence[Comparison]) -> tuple[list[str], np.ndarray]:
    """``(models, rates)``: ``rates[i, j]`` = share of i-vs-j games i won (ties count half);
    NaN where the pair never met."""
    models, rows = _check_comparisons(comparisons)
    wins, games = _tallies(rows, len(models))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(games > 0, wins / games, np.nan)
    return models, rates


def _tallies(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    a, b, score = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2]
    wins = np.zeros((k, k))
    games = np.zeros((k, k))
    np.add.at(wins, (a, b), score)
    np.add.at(wins, (b, a), 1 - score)
    np.add.at(games, (a, b), 1)
    np.add.at(games, (b, a), 1)
    return wins, games


BT_TOLERANCE = 1e-10  # max change of any log-strength (= relative change of a strength) in one step
BT_MAX_ITERATIONS = 10_000
BT_DIVERGED = 50.0  # |log-strength| beyond this: odds of e^50, the MLE is at infinity (no prior)


def _bt_loglik(wins: np.ndarray, s: np.ndarray) -> float:
    """Bradley-Terry log-likelihood: sum of ``wins[i, j] * log sigmoid(s_i - s_j)``."""
    return float(-np.sum(wins * np.logaddexp(0.0, s[None, :] - s[:, None])))


def _fit_bt(
    wins: np.ndarray,
    games: np.ndarray,
    prior: float,
    max_iterations: int = BT_MAX_ITERATIONS,
    tolerance: float = BT_TOLERANCE,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, int, bool]:
    """Maximum-likelihood Bradley-Terry log-strengths ``(K,)``, mean zero, by Newton's method.

    ``wins (K, K)`` and ``games (K, K)`` are the tallies; ``prior`` adds that many virtual tied
    games between every pair, which keeps a model that won (or lost) everything at a finite
    strength. Each step solves the Newton system (the sum-zero constraint added to the Hessian)
    and halves it until the likelihood does not fall; it stops when no log-strength moves by
    more than ``tolerance``, at most ``max_iterations`` steps, from ``start`` (default all
    equal). Returns ``(log_strengths, iterations, converged)``. Newton rather than the MM
    algorithm (Hunter 2004): MM converges linearly and crawls where comparisons are sparse (a
    chain A-B, B-C, C-D needs thousands of MM steps), which 1,000 bootstrap fits cannot afford.
    A finite MLE exists only when every model beat, directly or through others, every other one
    (the "beat" graph is strongly connected; Ford 1957). Without a prior, a model that never won
    or never lost breaks that: its strength runs off to infinity while the steps shrink (the
    likelihood flattens), which a step-size test alone would take for convergence. Such a fit is
    never reported converged; it stops once a log-strength passes :data:`BT_DIVERGED`.
    """
    from scipy.sparse.csgraph import connected_components

    k = len(wins)
    off = 1 - np.eye(k)
    wins = wins + prior / 2 * off
    games = games + prior * off
    finite = connected_components(wins > 0, directed=True, connection="strong")[0] == 1
    s = np.zeros(k) if start is None else np.asarray(start, np.float64) - np.mean(start)
    total_wins = wins.sum(axis=1)
    constraint = np.ones((k, k)) / k  # pins the mean, the one direction the likelihood ignores
    likelihood = _bt_loglik(wins, s)
    for iteration in range(1, max_iterations + 1):
        p = 1.0 / (1.0 + np.exp(s[None, :] - s[:, None]))  # p[i, j] = P(i beats j)
        gradient = total_wins - (games * p).sum(axis=1)
        v = games * p * (1 - p)
        try:
            step = np.linalg.solve(np.diag(v.sum(axis=1)) - v + constraint, gradient)
        except np.linalg.LinAlgError:  # disconnected comparisons: no unique MLE
            return s, iteration, False
        t = 1.0
        while True:
            trial = s + t * step
            trial -= trial.mean()
            trial_likelihood = _bt_loglik(wins, trial)
            if trial_likelihood >= likelihood - 1e-12 * abs(likelihood) or t < 1e-6:
                break
            t /= 2
        change = float(np.max(np.abs(trial - s)))
        s, likelihood = trial, trial_likelihood
        if change < tolerance:
            return s, iteration, finite
        if np.max(np.abs(s)) > BT_DIVERGED:
            return s, iteration, False
    return s, max_iterations, False


@dataclass(frozen=True)
class BradleyTerry:
    """Bradley-Terry strengths (log scale, mean 0) with bootstrap CIs and rank intervals.

    ``p(i beats j) = 1 / (1 + exp(-(s_i - s_j)))``. Ranks are 1 = strongest.
    """

    models: tuple[str, ...]
    strength: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank: np.ndarray
    rank_low: np.ndarray
    rank_high: np.ndarray
    n_comparisons: int
    n_bootstrap: int
    prior: float
    iterations: int = 0  # MM steps of the point estimate
    converged: bool = True
    bootstrap_unconverged: int = 0  # bootstrap fits that hit the iteration cap
    tolerance: float = BT_TOLERANCE
    warnings: tuple[str, ...] = ()  # non-empty when a fit did not converge: say it beside the numbers


def bradley_terry(
    comparisons: Sequence[Comparison],
    n_bootstrap: int = 1000,
    seed: int = 0,
    prior: float = 1.0,
    level: float = 0.95,
    groups: Sequence[Hashable] | None = None,
) -> BradleyTerry:
    """Fit Bradley-Terry to ``(a, b, score)`` comparisons, with percentile bootstrap CIs.

    The bootstrap resamples comparisons, or, with ``groups`` (one label per comparison), whole
    groups: the K(K-1)/2 comparisons of one ranking, or every answer on one item, are not
    independent, and resampling them one by one gives intervals that are too narrow.
    Ties count as half a win each way (an arena's "both bad" is the caller's choice: drop it or
    count it as a tie, and say which).

    The point estimate and every bootstrap fit iterate to :data:`BT_TOLERANCE` (at most
    :data:`BT_MAX_ITERATIONS` Newton steps; resamples start from the point estimate). ``iterations``,
    ``converged`` and ``bootstrap_unconverged`` say how that went; ``warnings`` says it in words
    when a fit stopped short.
    """
    models, rows = _check_comparisons(comparisons)
    k = len(models)
    strength, iterations, converged = _fit_bt(*_tallies(rows, k), prior)
    if groups is None:
        members = [np.array([i]) for i in range(len(rows))]
    else:
        if len(groups) != len(rows):
            raise ValueError(f"groups has {len(groups)} labels for {len(rows)} comparisons")
        by_group: dict[Hashable, list[int]] = {}
        for i, label in enumerate(groups):
            by_group.setdefault(label, []).append(i)
        members = [np.array(v) for v in by_group.values()]
    rng = np.random.default_rng(seed)
    samples = np.empty((n_bootstrap, k))
    unconverged = 0
    for b in range(n_bootstrap):
        chosen = rng.integers(0, len(members), len(members))
        pick = rows[np.concatenate([members[g] for g in chosen])]
        samples[b], _, ok = _fit_bt(*_tallies(pick, k), prior, start=strength)
        unconverged += not ok
    warnings = []
    if not converged:
        warnings.append(
            f"Bradley-Terry did not converge in {iterations} iterations (tolerance {BT_TOLERANCE:g}): "
            "the comparisons do not pin the strengths down (a model that never won or never lost "
            "without a prior, or models never compared), so they are approximate"
        )
    if unconverged:
        warnings.append(
            f"{unconverged} of {n_bootstrap} Bradley-Terry bootstrap fits did not converge "
            "(resamples in which a model never won or never lost): the intervals are approximate"
        )
    tail = (1 - level) / 2 * 100
    ranks = (-samples).argsort(axis=1).argsort(axis=1) + 1
    point_rank = (-strength).argsort().argsort() + 1
    return BradleyTerry(
        tuple(models),
        strength,
        np.percentile(samples, tail, axis=0),
        np.percentile(samples, 100 - tail, axis=0),
        point_rank,
        np.percentile(ranks, tail, axis=0, method="lower").astype(int),
        np.percentile(ranks, 100 - tail, axis=0, method="higher").astype(int),
        len(rows),
        n_bootstrap,
        prior,
        iterations,
        converged,
        unconverged,
        BT_TOLERANCE,
        tuple(warnings),
    )


Z95 = 1.959963984540054  # two-sided 95% normal quantile


def pooled_w(rankings: np.ndarray) -> float:
    """Kendall's W of ``rankings (prompts, raters, K)`` pooled into (prompts * raters) rows of
    tie-free ranks: ``12 S / (m^2 (K^3 - K))``. Equals :func:`kendall_w` on such rows (the tests
    check it) without re-ranking every row, which keeps 1000 bootstrap resamples fast."""
    rows = rankings.reshape(-1, rankings.shape[-1]).astype(np.float64)
    m, k = rows.shape
    totals = rows.sum(axis=0)
    return float(12 * np.sum((totals - totals.mean()) ** 2) / (m * m * (k**3 - k)))


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n`` (``(nan, nan)`` when n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
