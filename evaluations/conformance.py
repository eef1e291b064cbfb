"""Conformance: every metric checked against an independent reference on shared inputs.

Each check runs a metric of :mod:`evaluations.metrics` (or a study statistic of
:mod:`studio.study.agreement`, used read-only) and a reference computed another way on the same
inputs, and records the largest absolute difference against a stated tolerance. References are:

* transcriptions of the HumanML3D / Express4D evaluation code, written from its formulas
  (``calculate_frechet_distance`` with ``scipy.linalg.sqrtm``, ``euclidean_distance_matrix`` +
  ``argsort`` + ``calculate_top_k`` for R-precision, trace of the distance matrix for MM-Dist,
  ``calculate_diversity`` / ``calculate_multimodality`` with their two index draws);
* library implementations: ``scipy.stats`` (Wasserstein-1, Friedman χ² → Kendall's W, Spearman ρ),
  ``sklearn.metrics`` (MSE/MAE, accuracy), ``statsmodels`` (Fleiss' kappa), ``krippendorff``
  (alpha), ``scipy.optimize`` (Bradley–Terry maximum likelihood);
* the CTEG equations ("When Words Smile", App. D, eqs. 13–18) as plain Python loops, with the
  Gaussian box mass in 50-digit arithmetic (``mpmath``) so large errors are checked too.

Inputs are shared and seeded: ``random`` (Gaussian, n = 70 — not a multiple of 32) and
adversarial ones: ``ties`` (duplicated rows / equal values), ``d>N`` (fewer samples than
dimensions, so covariances are singular), ``ragged`` (sequences of different lengths), ``far``
(errors of many σ, where a naive CDF difference underflows). :func:`run_checks` returns the
:class:`Check` rows; :func:`markdown_table` and :func:`to_json` format them; ``scripts/conformance.py``
is the command line.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from evaluations import metrics as M  # noqa: N812 - read as M.frechet_distance, like scoring.py


@dataclass(frozen=True)
class Check:
    """One metric against one reference on one input: max |ours − reference| vs the tolerance."""

    metric: str
    reference: str
    inputs: str
    max_abs_diff: float
    tolerance: float
    passed: bool


def _check(metric: str, reference: str, inputs: str, ours, ref, tolerance: float) -> Check:
    a = np.atleast_1d(np.asarray(ours, np.float64))
    b = np.atleast_1d(np.asarray(ref, np.float64))
    if a.shape != b.shape:
        raise ValueError(f"{metric} on {inputs}: shapes differ, ours {a.shape} vs reference {b.shape}")
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return Check(metric, reference, inputs, diff, tolerance, bool(np.isfinite(diff) and diff <= tolerance))


# ---------------------------------------------------------------------------------------------
# HumanML3D / Express4D evaluation code, transcribed from its formulas
# ---------------------------------------------------------------------------------------------


def ref_frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """``calculate_frechet_distance`` (HumanML3D / pytorch-fid): sqrtm of Σ1Σ2, eps retry, real part."""
    import scipy.linalg

    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    sigma1, sigma2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _euclidean_distance_matrix(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """HumanML3D ``euclidean_distance_matrix``: sqrt(‖a‖² + ‖b‖² − 2ab) per pair."""
    d1 = -2 * np.dot(m1, m2.T)
    d2 = np.sum(np.square(m1), axis=1, keepdims=True)
    d3 = np.sum(np.square(m2), axis=1)
    return np.sqrt(np.maximum(d1 + d2 + d3, 0.0))


def _calculate_top_k(mat: np.ndarray, top_k: int) -> np.ndarray:
    """HumanML3D ``calculate_top_k``: hit at k if the partner's index is within the first k."""
    size = mat.shape[0]
    gt_mat = np.expand_dims(np.arange(size), 1).repeat(size, 1)
    bool_mat = mat == gt_mat
    correct_vec = np.zeros(size, bool)
    top_k_list = []
    for i in range(top_k):
        correct_vec = correct_vec | bool_mat[:, i]
        top_k_list.append(correct_vec[:, None])
    return np.concatenate(top_k_list, axis=1)


def ref_r_precision(
    text: np.ndarray, motion: np.ndarray, batch_size: int, top_k: int, seed: int
) -> np.ndarray:
    """HumanML3D R-precision: per full batch, argsort of text→motion distances, top-k hits / pairs.

    The evaluation loader's shuffle is the seeded permutation :func:`~evaluations.metrics.r_precision`
    documents (``default_rng(seed).permutation(n)``, remainder dropped), so both see one batching.
    """
    n_batches = len(text) // batch_size
    order = np.random.default_rng(seed).permutation(len(text))[: n_batches * batch_size]
    hits = np.zeros(top_k)
    for b in range(n_batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        argsmax = np.argsort(_euclidean_distance_matrix(text[idx], motion[idx]), axis=1)
        hits += _calculate_top_k(argsmax, top_k).sum(axis=0)
    return hits / (n_batches * batch_size)


def ref_r_precision_random_ties(
    text: np.ndarray, motion: np.ndarray, batch_size: int, top_k: int, seed: int, draws: int
) -> tuple[np.ndarray, float]:
    """R-precision with ties broken uniformly at random, averaged over ``draws`` candidate orders.

    The reference code breaks ties by ``argsort``'s memory order; shuffling the candidates before a
    stable argsort makes that order random, and the average over many shuffles estimates the
    expected hit rate that the studio computes exactly. Returns (rates, Monte Carlo standard error
    of the largest rate).
    """
    n_batches = len(text) // batch_size
    order = np.random.default_rng(seed).permutation(len(text))[: n_batches * batch_size]
    rng = np.random.default_rng(seed + 1)
    per_draw = np.zeros((draws, top_k))
    for b in range(n_batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        dist = _euclidean_distance_matrix(text[idx], motion[idx])
        dist = np.round(dist, 9)  # duplicates differ by ulps after the matrix product
        for d in range(draws):
            perm = rng.permutation(batch_size)
            ranks = np.argsort(dist[:, perm], axis=1, kind="stable")
            hit_pos = np.argmax(perm[ranks] == np.arange(batch_size)[:, None], axis=1)
            per_draw[d] += [(hit_pos < k).sum() for k in range(1, top_k + 1)]
    per_draw /= n_batches * batch_size
    return per_draw.mean(axis=0), float(per_draw.std(ddof=1, axis=0).max() / math.sqrt(draws))


def ref_mm_dist(text: np.ndarray, motion: np.ndarray) -> float:
    """HumanML3D MM-Dist: trace of the text×motion distance matrix / pairs (one batch of all n)."""
    return float(_euclidean_distance_matrix(text, motion).trace() / len(text))


def ref_diversity(x: np.ndarray, times: int, seed: int) -> float:
    """HumanML3D ``calculate_diversity``: two independent index draws without replacement."""
    rng = np.random.default_rng(seed)
    first = rng.choice(len(x), times, replace=False)
    second = rng.choice(len(x), times, replace=False)
    return float(sum(math.dist(x[i], x[j]) for i, j in zip(first, second, strict=True)) / times)


def ref_multimodality(groups: list[np.ndarray], times: int, seed: int) -> float:
    """HumanML3D ``calculate_multimodality`` with the two index draws made per prompt.

    (The reference draws one index set for all prompts; the studio draws per prompt so prompts may
    have different sample counts — same distribution, and its docstring says so.)
    """
    rng = np.random.default_rng(seed)
    total, count = 0.0, 0
    for g in groups:
        first = rng.choice(len(g), times, replace=False)
        second = rng.choice(len(g), times, replace=False)
        for i, j in zip(first, second, strict=True):
            total += math.dist(g[i], g[j])
            count += 1
    return total / count


# ---------------------------------------------------------------------------------------------
# CTEG ("When Words Smile", App. D) equations as plain loops
# ---------------------------------------------------------------------------------------------


def _pvar(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def ref_variation(seqs: list[np.ndarray]) -> float:
    """Eq. 13: (1/N) Σ_i (1/n_i) Σ_j var(E_ij), var over the frame's coefficients (ddof 0)."""
    return sum(sum(_pvar(list(frame)) for frame in s) / len(s) for s in seqs) / len(seqs)


def ref_temporal_variation(seqs: list[np.ndarray]) -> float:
    """Per sequence, mean over channels of the variance over frames; mean over sequences."""
    return sum(sum(_pvar(list(s[:, c])) for c in range(s.shape[1])) / s.shape[1] for s in seqs) / len(seqs)


def ref_fgd(seqs: list[np.ndarray]) -> float:
    """Eq. 14, pooled: Σ_i Σ_j ‖E_i,j+1 − E_i,j‖ / Σ_i (n_i − 1)."""
    total, steps = 0.0, 0
    for s in seqs:
        for j in range(len(s) - 1):
            total += math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(s[j + 1], s[j], strict=True)))
            steps += 1
    return total / steps


def ref_dot(seqs: list[np.ndarray]) -> float:
    """Eq. 15: 2/(N(N−1)) Σ_{i<j} ‖E_i − E_j‖ over the flattened sequences."""
    n = len(seqs)
    total = sum(math.dist(seqs[i].ravel(), seqs[j].ravel()) for i in range(n) for j in range(i + 1, n))
    return 2 * total / (n * (n - 1))


def ref_cppl_bits(targets: list[np.ndarray], means: list[np.ndarray], delta: float, sigma: float) -> float:
    """Eqs. 16–18 (box reading) in 400-digit arithmetic: mean over sequences of H_i, bits per frame.

    p_j = Π_c [Φ((δ − e_c)/σ) − Φ((−δ − e_c)/σ)], e = ψ − μ, with Φ from ``mpmath.ncdf``: the plain
    difference of the two CDFs, no log-space or symmetry tricks; 400 digits resolve it even where
    both terms are 1 − 1e-300 (errors of 40σ).
    """
    import mpmath

    with mpmath.workdps(400):
        bits = []
        for psi, mu in zip(targets, means, strict=True):
            h = mpmath.mpf(0)
            for frame_psi, frame_mu in zip(psi, mu, strict=True):
                p = mpmath.mpf(1)
                for y, m in zip(frame_psi, frame_mu, strict=True):
                    e = mpmath.mpf(float(y)) - mpmath.mpf(float(m))
                    p *= mpmath.ncdf((delta - e) / sigma) - mpmath.ncdf((-delta - e) / sigma)
                h -= mpmath.log(p, 2)
            bits.append(h / len(psi))
        return float(sum(bits) / len(bits))


# ---------------------------------------------------------------------------------------------
# Agreement and study statistics
# ---------------------------------------------------------------------------------------------


def ref_ccc(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Lin's CCC from its definition, loops over the samples: 2 s_xy / (s_x² + s_y² + (x̄ − ȳ)²)."""
    n = len(y)
    mx, my = sum(y) / n, sum(y_hat) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(y, y_hat, strict=True)) / n
    sxx = sum((a - mx) ** 2 for a in y) / n
    syy = sum((b - my) ** 2 for b in y_hat) / n
    return float(2 * sxy / (sxx + syy + (mx - my) ** 2))


def ref_bradley_terry(comparisons: list[tuple[str, str, float]], prior: float) -> np.ndarray:
    """Bradley–Terry log-strengths by direct maximum likelihood (``scipy.optimize``), mean zero.

    Log-likelihood Σ_games [score·log σ(s_a − s_b) + (1 − score)·log σ(s_b − s_a)], plus
    ``prior`` virtual tied games between every pair (the studio's regulariser), maximised with
    BFGS from zero.
    """
    import scipy.optimize
    import scipy.special

    models = sorted({c[0] for c in comparisons} | {c[1] for c in comparisons})
    index = {m: i for i, m in enumerate(models)}
    games = [(index[a], index[b], s, 1.0) for a, b, s in comparisons]
    games += [(i, j, 0.5, prior) for i, j in itertools.combinations(range(len(models)), 2)]

    i, j, score, weight = (np.array(col) for col in zip(*games, strict=True))
    i, j = i.astype(int), j.astype(int)

    def nll(s: np.ndarray) -> float:
        d = s[i] - s[j]
        return -float(
            np.sum(weight * (score * scipy.special.log_expit(d) + (1 - score) * scipy.special.log_expit(-d)))
        )

    fit = scipy.optimize.minimize(nll, np.zeros(len(models)), method="BFGS", options={"gtol": 1e-10})
    return fit.x - fit.x.mean()


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------

RANDOM, TIES, SINGULAR, RAGGED, FAR = "random", "ties", "d>N", "ragged", "far"


def _distribution_checks(rng: np.random.Generator) -> list[Check]:
    import scipy.stats

    out = []
    a, b = rng.standard_normal((70, 8)), rng.standard_normal((90, 8)) * 1.3 + 0.4
    out.append(
        _check(
            "FID",
            "calculate_frechet_distance (scipy sqrtm)",
            f"{RANDOM} n=70/90, d=8",
            M.frechet_distance(a, b).value,
            ref_frechet_distance(a, b),
            1e-8,
        )
    )
    sa, sb = rng.standard_normal((10, 16)), rng.standard_normal((12, 16)) + 0.5
    out.append(
        _check(
            "FID (method=sqrtm)",
            "calculate_frechet_distance (scipy sqrtm)",
            f"{SINGULAR} n=10/12, d=16",
            M.frechet_distance(sa, sb, method="sqrtm").value,
            ref_frechet_distance(sa, sb),
            1e-9,
        )
    )
    # eigh vs sqrtm on singular covariances: sqrtm of a rank-deficient product is ill-conditioned
    # (error ~ √ε·‖Σ‖), so the tolerance is looser; the trace term is still checked to 5 digits.
    out.append(
        _check(
            "FID",
            "calculate_frechet_distance (scipy sqrtm)",
            f"{SINGULAR} n=10/12, d=16",
            M.frechet_distance(sa, sb).value,
            ref_frechet_distance(sa, sb),
            1e-4,
        )
    )
    tie = np.repeat(rng.standard_normal((7, 3)), 10, axis=0)
    out.append(
        _check(
            "Diversity",
            "calculate_diversity",
            f"{RANDOM} n=70, pairs=48",
            M.diversity(a, 48, seed=3).value,
            ref_diversity(a, 48, 3),
            1e-12,
        )
    )
    out.append(
        _check(
            "Diversity",
            "calculate_diversity",
            f"{TIES} 7 distinct rows ×10, pairs=70",
            M.diversity(tie, 70, seed=4).value,
            ref_diversity(tie, 70, 4),
            1e-12,
        )
    )
    groups = [rng.standard_normal((s, 5)) for s in (30, 30, 12, 30)]
    out.append(
        _check(
            "MultiModality",
            "calculate_multimodality (per-prompt draws)",
            f"{RAGGED} 4 prompts, 12–30 samples",
            M.multimodality(groups, 10, seed=5).value,
            ref_multimodality(groups, 10, 5),
            1e-12,
        )
    )
    gen, ref = np.round(rng.standard_normal((53, 4)), 1), np.round(rng.standard_normal((71, 4)), 1)
    per = [scipy.stats.wasserstein_distance(gen[:, c], ref[:, c]) for c in range(4)]
    out.append(
        _check(
            "W-Dist (per channel)",
            "scipy.stats.wasserstein_distance",
            f"{TIES} rounded values, 53 vs 71 rows",
            M.wasserstein_distance(gen, ref).per_channel,
            per,
            1e-12,
        )
    )
    return out


def _retrieval_checks(rng: np.random.Generator) -> list[Check]:
    text = rng.standard_normal((70, 6))
    motion = text + 0.8 * rng.standard_normal((70, 6))
    out = [
        _check(
            "R-precision R@1..3",
            "euclidean_distance_matrix + argsort + calculate_top_k",
            f"{RANDOM} n=70 (6 dropped), batch 32",
            M.r_precision(text, motion, seed=2).rates,
            ref_r_precision(text, motion, 32, 3, 2),
            1e-12,
        ),
        _check(
            "MM-Dist",
            "trace(euclidean_distance_matrix) / n",
            f"{RANDOM} n=70",
            M.multimodal_distance(text, motion).value,
            ref_mm_dist(text, motion),
            1e-9,
        ),
    ]
    # A model emitting one motion for four prompts at a time: ties in every ranking.
    dup_motion = np.repeat(motion[:16], 4, axis=0)
    dup_text = text[:64]
    rates, se = ref_r_precision_random_ties(dup_text, dup_motion, 32, 3, seed=6, draws=4000)
    out.append(
        _check(
            "R-precision R@1..3 (expected tie credit)",
            "argsort over 4,000 random tie orders (Monte Carlo)",
            f"{TIES} 16 motions ×4, n=64",
            M.r_precision(dup_text, dup_motion, seed=6).rates,
            rates,
            max(5 * se, 1e-3),
        )
    )
    return out


def _agreement_checks(rng: np.random.Generator) -> list[Check]:
    import sklearn.metrics

    pred, gt = rng.standard_normal((37, 5)), rng.standard_normal((37, 5))
    errs = M.coefficient_errors(pred, gt)
    out = [
        _check(
            "MSE / MAE / RMSE",
            "sklearn.metrics mean_squared_error / mean_absolute_error",
            f"{RANDOM} 37×5",
            [errs.mse, errs.mae, errs.rmse],
            [
                sklearn.metrics.mean_squared_error(gt.ravel(), pred.ravel()),
                sklearn.metrics.mean_absolute_error(gt.ravel(), pred.ravel()),
                math.sqrt(sklearn.metrics.mean_squared_error(gt.ravel(), pred.ravel())),
            ],
            1e-12,
        ),
    ]
    va = rng.uniform(-1, 1, (41, 2))
    va_hat = np.column_stack([0.7 * va[:, 0] + 0.1 * rng.standard_normal(41), -va[:, 1] + 0.2])
    per = M.ccc(va, va_hat).per_column
    out.append(
        _check(
            "V-CCC",
            "Lin's CCC from its definition (loops)",
            f"{RANDOM} n=41",
            per[0],
            ref_ccc(list(va[:, 0]), list(va_hat[:, 0])),
            1e-12,
        )
    )
    out.append(
        _check(
            "A-CCC",
            "Lin's CCC from its definition (loops)",
            f"{RANDOM} n=41, reversed (CCC<0)",
            per[1],
            ref_ccc(list(va[:, 1]), list(va_hat[:, 1])),
            1e-12,
        )
    )
    const = np.column_stack([va[:, 0], np.full(41, 0.3)])
    out.append(
        _check(
            "CCC",
            "Lin's CCC from its definition (loops)",
            f"{TIES} constant prediction",
            M.ccc(va[:, :1].repeat(2, 1), const).per_column,
            [ref_ccc(list(va[:, 0]), list(const[:, c])) for c in range(2)],
            1e-12,
        )
    )
    out.append(_accuracy_check(rng))
    return out


def _accuracy_check(rng: np.random.Generator) -> Check:
    """Emotion accuracy as :class:`evaluations.emotion.EmotionScores` forms it vs sklearn."""
    import sklearn.metrics

    from evaluations.emotion import EmotionScores

    prompt = rng.dirichlet(np.ones(6), 45)
    recognised = prompt + 0.3 * rng.dirichlet(np.ones(6), 45)
    recognised[:5] = recognised[5:10]  # ties in category between clips
    scores = EmotionScores(recognised.argmax(1) == prompt.argmax(1), np.zeros((45, 2)), np.zeros((45, 2)))
    return _check(
        "Emotion accuracy",
        "sklearn.metrics.accuracy_score",
        f"{TIES} 45 clips, 6 classes",
        scores.accuracy,
        sklearn.metrics.accuracy_score(prompt.argmax(1), recognised.argmax(1)),
        0.0,
    )


def _sequence_checks(rng: np.random.Generator) -> list[Check]:
    ragged = [rng.standard_normal((t, 7)) * rng.uniform(0.2, 2.0) for t in (2, 9, 30, 5)]
    equal = list(rng.standard_normal((6, 11, 7)))
    frozen = [np.repeat(rng.standard_normal((1, 7)), 12, axis=0)]
    out = []
    for name, fn, ref in (
        ("Variation (eq. 13)", M.variation, ref_variation),
        ("Temporal variation (not CTEG's)", M.temporal_variation, ref_temporal_variation),
        ("FgD (eq. 14)", M.fine_grained_diversity, ref_fgd),
    ):
        out.append(
            _check(
                name,
                "CTEG equation, plain loops",
                f"{RAGGED} T=2,9,30,5, C=7",
                fn(ragged).value,
                ref(ragged),
                1e-12,
            )
        )
    out.append(
        _check(
            "Variation (eq. 13)",
            "CTEG eq. 13, plain loops",
            "frozen non-constant face",
            M.variation(frozen).value,
            ref_variation(frozen),
            1e-12,
        )
    )
    out.append(
        _check(
            "DoT (eq. 15)",
            "CTEG eq. 15, plain loops",
            f"{RANDOM} 6×11×7",
            M.diversity_on_test(equal).value,
            ref_dot(equal),
            1e-9,
        )
    )
    dup = [equal[0], equal[0], equal[1]]
    out.append(
        _check(
            "DoT (eq. 15)",
            "CTEG eq. 15, plain loops",
            f"{TIES} duplicated sequence",
            M.diversity_on_test(dup).value,
            ref_dot(dup),
            1e-7,
        )
    )
    means = [s + 0.15 * rng.standard_normal(s.shape) for s in ragged]
    ours = M.continuous_perplexity(ragged, means)
    ref_bits = ref_cppl_bits(ragged, means, M.CPPL_DELTA, M.CPPL_SIGMA)
    out.append(
        _check(
            "Cppl (eqs. 16–18), H bits/frame",
            "CTEG eqs. 16–18, mpmath 400 digits",
            f"{RAGGED} T=2,9,30,5, C=7, error σ≈0.15",
            ours.mean_entropy_bits,
            ref_bits,
            1e-9,
        )
    )
    out.append(
        _check(
            "Cppl (eqs. 16–18)",
            "CTEG eqs. 16–18, mpmath 400 digits",
            f"{RAGGED} T=2,9,30,5, C=7, error σ≈0.15",
            ours.value,
            2.0**ref_bits,
            1e-9 * 2.0**ref_bits,
        )
    )
    far_t = [rng.standard_normal((4, 3)), rng.standard_normal((3, 3))]
    far_m = [t + rng.choice([-1, 1], t.shape) * rng.uniform(0, 8, t.shape) for t in far_t]  # up to 40σ
    far_bits = ref_cppl_bits(far_t, far_m, M.CPPL_DELTA, M.CPPL_SIGMA)
    out.append(
        _check(
            "Cppl (eqs. 16–18), H bits/frame",
            "CTEG eqs. 16–18, mpmath 400 digits",
            f"{FAR} errors up to 40σ, ragged",
            M.continuous_perplexity(far_t, far_m).mean_entropy_bits,
            far_bits,
            1e-9 * max(1.0, far_bits),
        )
    )
    exact = M.continuous_perplexity(ragged, ragged)
    out.append(
        _check(
            "Cppl best possible",
            "erf(δ/(σ√2))^−C, mpmath",
            "exact prediction, C=7",
            [exact.value, exact.best_possible],
            [2.0 ** ref_cppl_bits(ragged, ragged, M.CPPL_DELTA, M.CPPL_SIGMA)] * 2,
            1e-12,
        )
    )
    return out


def _uncertainty_checks(rng: np.random.Generator) -> list[Check]:
    values = rng.standard_normal(20)
    s = M.replication_summary(values)
    ref_half = 1.96 * math.sqrt(sum((v - values.mean()) ** 2 for v in values) / 20) / math.sqrt(20)
    out = [
        _check(
            "Replication mean ± 1.96σ/√n",
            "numpy, σ with ddof 0 (HumanML3D)",
            f"{RANDOM} n=20",
            [s.mean, s.half_width],
            [values.mean(), ref_half],
            1e-12,
        ),
    ]
    data = rng.standard_normal(15)
    b = M.bootstrap_se(lambda x: float(np.mean(x)), data, n=200, seed=9)
    idx = np.random.default_rng(9).integers(0, 15, size=(200, 15))
    stats = [float(np.mean(data[i])) for i in idx]
    out.append(
        _check(
            "Bootstrap SE",
            "resample loop, SD ddof 1",
            f"{RANDOM} n=15, 200 resamples",
            [b.se, b.ci_low, b.ci_high],
            [float(np.std(stats, ddof=1)), *np.percentile(stats, [2.5, 97.5])],
            1e-12,
        )
    )
    return out


def _study_checks(rng: np.random.Generator) -> list[Check]:
    import krippendorff
    import scipy.stats
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    from studio.study import agreement as A  # noqa: N812 - read-only use

    out = []
    table = rng.multinomial(6, [0.5, 0.3, 0.2], size=23)
    out.append(
        _check(
            "Fleiss' kappa",
            "statsmodels fleiss_kappa",
            f"{RANDOM} 23 items × 6 raters × 3 cats",
            A.fleiss_kappa(table),
            sm_fleiss(table, method="fleiss"),
            1e-12,
        )
    )
    rankings = np.array(
        [[rng.permutation(4) + 1 for _ in range(5)] for _ in range(9)]
    )  # (prompts, raters, K)
    reduced = A.rankings_to_fleiss_table(rankings, "rank_as_category")
    out.append(
        _check(
            "Fleiss' kappa (rank as category)",
            "statsmodels fleiss_kappa",
            "9 prompts × 5 raters × 4",
            A.fleiss_kappa(reduced),
            sm_fleiss(reduced, method="fleiss"),
            1e-12,
        )
    )
    ranks = np.array([rng.integers(1, 5, 6) for _ in range(5)], np.float64)  # (raters, items), with ties
    chi2 = scipy.stats.friedmanchisquare(*ranks.T).statistic
    kw = A.kendall_w(ranks)
    out.append(
        _check(
            "Kendall's W (tie-corrected)",
            "scipy.stats.friedmanchisquare: χ²/(m(n−1))",
            f"{TIES} 5 raters × 6 items",
            [kw.w, kw.chi2],
            [chi2 / (5 * 5), chi2],
            1e-9,
        )
    )
    strict = np.array([rng.permutation(6) + 1 for _ in range(5)], np.float64)
    rho = [
        scipy.stats.spearmanr(strict[i], strict[j]).statistic for i, j in itertools.combinations(range(5), 2)
    ]
    out.append(
        _check(
            "Kendall's W",
            "scipy.stats.spearmanr: W = ((m−1)·mean ρ + 1)/m",
            f"{RANDOM} 5 raters × 6 items, no ties",
            A.kendall_w(strict).w,
            (4 * float(np.mean(rho)) + 1) / 5,
            1e-12,
        )
    )
    data = rng.integers(1, 6, (4, 15)).astype(np.float64)
    data[rng.random(data.shape) < 0.2] = np.nan
    for level in ("nominal", "ordinal", "interval"):
        out.append(
            _check(
                f"Krippendorff's alpha ({level})",
                "krippendorff.alpha",
                f"{TIES} 4 raters × 15 units, 20 % missing",
                A.krippendorff_alpha(data, level),
                krippendorff.alpha(reliability_data=data, level_of_measurement=level),
                1e-9,
            )
        )
    models = ["a", "b", "c", "d"]
    strength = {"a": 1.0, "b": 0.3, "c": 0.0, "d": -0.8}
    comparisons = []
    for _ in range(120):
        x, y = rng.choice(models, 2, replace=False)
        p = 1 / (1 + math.exp(strength[y] - strength[x]))
        u = rng.random()
        comparisons.append((str(x), str(y), 0.5 if abs(u - p) < 0.05 else float(u < p)))
    bt = A.bradley_terry(comparisons, n_bootstrap=2, seed=0, prior=1.0)
    out.append(
        _check(
            "Bradley–Terry strengths",
            "scipy.optimize ML (BFGS), same prior",
            f"{TIES} 4 models, 120 games incl. ties",
            bt.strength,
            ref_bradley_terry(comparisons, 1.0),
            1e-6,
        )
    )
    return out


CHECK_GROUPS: tuple[Callable[[np.random.Generator], list[Check]], ...] = (
    _distribution_checks,
    _retrieval_checks,
    _agreement_checks,
    _sequence_checks,
    _uncertainty_checks,
    _study_checks,
)


def run_checks(seed: int = 0) -> list[Check]:
    """Every conformance check, on inputs drawn from ``seed`` (each group from its own stream)."""
    out: list[Check] = []
    for k, group in enumerate(CHECK_GROUPS):
        out += group(np.random.default_rng([seed, k]))
    return out


def markdown_table(checks: list[Check]) -> str:
    """The checks as a Markdown table: metric, reference, inputs, max |diff|, tolerance, pass."""
    lines = [
        "| Metric | Reference | Inputs | Max abs diff | Tolerance | Pass |",
        "|---|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c.metric} | {c.reference} | {c.inputs} | {c.max_abs_diff:.2e} | {c.tolerance:.0e} | "
            f"{'yes' if c.passed else '**NO**'} |"
        )
    return "\n".join(lines) + "\n"


def to_json(checks: list[Check]) -> str:
    """The checks as a JSON list of objects (the :class:`Check` fields)."""
    return json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False)
