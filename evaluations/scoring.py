"""Scoring one benchmark row: every metric from a row's per-replication motions.

Motions are eval-rate ``(T, 61)`` ARKit arrays (:data:`~evaluations.data.EVAL_FPS`); numbers are keyed
by :mod:`evaluations.metric_table`. :func:`score_row` is the entry point; the protocol and the
run around it live in :mod:`evaluations.benchmark`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluations import metrics as M  # noqa: N812 - the metric functions read as M.fid, M.ccc
from evaluations.data import (
    EVAL_FPS,
    MAX_FRAMES,
    SplitArrays,
    pad_batch,
)
from evaluations.metric_table import (
    A_CCC,
    CPPL_FREE_RUNNING,
    DIVERSITY,
    DOT,
    EMOTION_ACCURACY,
    FGD,
    FID,
    MAE,
    MM_DIST,
    MULTIMODALITY,
    TEMPORAL_VARIATION,
    V_CCC,
    VARIATION,
    W_DIST,
    r_precision_key,
    vertex_l1_key,
)
from evaluations.metrics.sequence import pow2
from evaluations.results import (
    MetricValue,
)

if TYPE_CHECKING:
    from evaluations.protocol import Protocol


@dataclass
class Context:
    """What every row is scored against (built once per run)."""

    protocol: Protocol
    gt: SplitArrays
    text_feats: np.ndarray  # (N, D)
    reference_feats: np.ndarray  # (R, D): FID reference
    reference_frames: np.ndarray  # (frames, 61) ARKit units at the eval rate: W-Dist reference
    gt_z: list[np.ndarray]  # z-scored GT motions at the eval rate
    mm_index: np.ndarray  # prompts used for MultiModality
    geometry_index: np.ndarray
    evaluator: Any
    recogniser: Any | None
    rig: Any | None


def _replicated(values: Sequence[float], seeds: Sequence[int], **detail: Any) -> MetricValue:
    summary = M.replication_summary(np.asarray(values, np.float64))
    return MetricValue(
        summary.mean,
        summary.half_width,
        "replications",
        {
            "std": summary.std,
            "n": summary.n,
            "z": summary.z,
            "ddof": summary.ddof,
            "values": list(summary.values),
            "seeds": list(seeds),
            **detail,
        },
    )


def _bootstrapped(fn: Callable[[Any], float], data: Any, protocol: Protocol, **detail: Any) -> MetricValue:
    result = M.bootstrap_se(fn, data, n=protocol.bootstrap_resamples, seed=protocol.seed)
    return MetricValue(
        result.estimate,
        result.se,
        "bootstrap",
        {
            "ci_low": result.ci_low,
            "ci_high": result.ci_high,
            "n_resamples": result.n_resamples,
            "n_items": result.n_items,
            "seed": result.seed,
            **detail,
        },
    )


def _replication_metrics(
    ctx: Context, motions: Sequence[np.ndarray], feats: np.ndarray, replication: int, ground_truth: bool
) -> dict[str, float]:
    """The per-replication numbers of one row."""
    p = ctx.protocol
    metric, direction = M.R_PRECISION_CONVENTIONS[p.r_precision_convention]
    seed = p.seed + replication
    rp = M.r_precision(
        ctx.text_feats,
        feats,
        batch_size=p.r_precision_batch_size,
        metric=metric,
        direction=direction,
        seed=seed,
    )
    values = {r_precision_key(k): rate for k, rate in enumerate(rp.rates, start=1)}
    values[FID] = M.frechet_distance(feats, ctx.reference_feats).value
    values[MM_DIST] = M.multimodal_distance(ctx.text_feats, feats).value
    values[DIVERSITY] = M.diversity(feats, min(p.diversity_pairs, len(feats)), seed=seed).value
    # KeyframeFace's W-Dist and MAE are in raw coefficient units (blendshape weights, radians)
    values[W_DIST] = M.wasserstein_distance(np.concatenate(motions), ctx.reference_frames).value
    if not ground_truth:
        pairs = [
            (g[: min(len(g), len(t))], t[: min(len(g), len(t))])
            for g, t in zip(motions, ctx.gt.motions, strict=True)
        ]
        values[MAE] = M.coefficient_errors(
            np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
        ).mae
    if ctx.recogniser is not None and ctx.gt.emotion_scores is not None:
        from evaluations.emotion import emotion_scores_against_prompts

        scores = emotion_scores_against_prompts(ctx.recogniser, motions, ctx.gt.emotion_scores)
        values[EMOTION_ACCURACY] = scores.accuracy
        # EmoteGPT reports valence and arousal CCC separately; columns are (valence, arousal)
        values[V_CCC], values[A_CCC] = M.ccc(scores.va_target, scores.va_pred).per_column
    return values


def _sequence_metrics(
    ctx: Context, motions: Sequence[np.ndarray], ground_truth: bool
) -> dict[str, MetricValue]:
    """CTEG metrics with bootstrap SEs, on one replication's clips."""
    p = ctx.protocol
    z = [ctx.evaluator.normalise(m) for m in motions]
    out: dict[str, MetricValue] = {}
    # eq. 13 is a plain mean over sequences of per-sequence values: bootstrap that mean
    for key, fn in ((VARIATION, M.variation), (TEMPORAL_VARIATION, M.temporal_variation)):
        per_seq = np.array([fn([s]).value for s in z])
        out[key] = _bootstrapped(lambda x: float(np.mean(x)), per_seq, p, definition=fn(z).definition)
    # eq. 14 pools the steps of all clips: a resample's FgD is its summed step length / its steps
    step_sums = np.array([np.linalg.norm(np.diff(s, axis=0), axis=1).sum() for s in z])
    step_counts = np.array([len(s) - 1 for s in z], np.float64)
    fgd = M.fine_grained_diversity(z)
    out[FGD] = replace(
        _bootstrapped(
            lambda idx: float(step_sums[idx].sum() / step_counts[idx].sum()),
            np.arange(len(z)),
            p,
            definition=fgd.definition,
            fps=EVAL_FPS,
        ),
        value=fgd.value,
    )
    padded, _ = pad_batch(motions, ctx.evaluator.mean, ctx.evaluator.std)
    flat = padded.reshape(len(padded), -1).astype(np.float64)
    gram = flat @ flat.T
    sq = np.diag(gram)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0))
    dot_value = M.diversity_on_test(padded).value

    def dot_of(idx: np.ndarray) -> float:
        sub = dist[np.ix_(idx, idx)]
        n = len(idx)
        return float(sub.sum() / (n * (n - 1)))

    dot = _bootstrapped(
        dot_of,
        np.arange(len(z)),
        p,
        definition=f"mean pairwise L2 over the z-scored clips zero-padded to {MAX_FRAMES} frames",
        frames=MAX_FRAMES,
    )
    out[DOT] = replace(dot, value=dot_value)
    if not ground_truth:
        out[CPPL_FREE_RUNNING] = _free_running_cppl(ctx, z)
    return out


def _free_running_cppl(ctx: Context, z: Sequence[np.ndarray]) -> MetricValue:
    """CTEG's Cppl (eqs. 16–18) of each GT clip around the row's free-running sample of its prompt.

    Not the paper's number: there μ_j is a one-step prediction given the ground-truth prefix; here
    it is frame j of a sample generated without seeing the ground truth. Clips are cut to the
    shorter of (sample, GT). The bootstrap resamples clips and works on H (bits per frame), so a
    perplexity too large for a float still has an uncertainty in ``detail["entropy_bits_se"]``.
    """
    n = [min(len(g), len(t)) for g, t in zip(z, ctx.gt_z, strict=True)]
    result = M.continuous_perplexity(
        [t[:k] for t, k in zip(ctx.gt_z, n, strict=True)], [g[:k] for g, k in zip(z, n, strict=True)]
    )
    bits = np.array(result.per_sequence_bits)
    detail = {
        "reading": result.reading,
        "delta": result.delta,
        "sigma": result.sigma,
        "best_possible": result.best_possible,
        "mean_entropy_bits": result.mean_entropy_bits,
        "n_channels": result.n_channels,
        "note": "predictive means are free-running samples, not one-step predictions given the GT prefix",
    }
    in_bits = _bootstrapped(lambda idx: float(bits[idx].mean()), np.arange(len(z)), ctx.protocol, **detail)
    if bits.max() < 1000.0:  # every resample's 2**H is a finite float: bootstrap Cppl itself
        cppl = _bootstrapped(
            lambda idx: pow2(float(bits[idx].mean())), np.arange(len(z)), ctx.protocol, **detail
        )
        return replace(
            cppl, value=result.value, detail={**cppl.detail, "entropy_bits_se": in_bits.uncertainty}
        )
    return MetricValue(
        result.value, None, "bootstrap", {**in_bits.detail, "entropy_bits_se": in_bits.uncertainty}
    )


def _geometry_metrics(ctx: Context, motions: Sequence[np.ndarray]) -> dict[str, MetricValue]:
    from evaluations.geometry import batch_vertex_l1, region_masks

    idx = ctx.geometry_index
    errors = batch_vertex_l1(ctx.rig, [motions[i] for i in idx], [ctx.gt.motions[i] for i in idx])
    frames = errors.pop("frames")
    masks = region_masks(ctx.rig)
    out = {}
    for region, per_clip in errors.items():

        def frame_weighted(ix: np.ndarray, per_clip: np.ndarray = per_clip) -> float:
            return float((per_clip[ix] * frames[ix]).sum() / frames[ix].sum())

        out[vertex_l1_key(region)] = _bootstrapped(
            frame_weighted,
            np.arange(len(idx)),
            ctx.protocol,
            rig=ctx.rig.name,
            rig_unit=ctx.rig.unit,
            region_vertices=int(masks[region].sum()),
            n_clips=len(idx),
            fps=EVAL_FPS,
            definition="mean |P_gen - P_gt| over frames, region vertices and x/y/z, in mm",
        )
    return out


def score_row(
    ctx: Context,
    replications: Sequence[Sequence[np.ndarray]],
    ground_truth: bool = False,
    progress: Callable[[], None] | None = None,
) -> dict[str, MetricValue]:
    """All metrics of one row from its per-replication eval-rate motions (``[r][i]`` -> (T, 61))."""
    p = ctx.protocol
    seeds = [p.seed + r for r in range(len(replications))]
    per_rep: list[dict[str, float]] = []
    mm_feats = []
    for r, motions in enumerate(replications):
        feats = ctx.evaluator.motion_features(motions)
        per_rep.append(_replication_metrics(ctx, motions, feats, r, ground_truth))
        mm_feats.append(feats[ctx.mm_index])
    metric, direction = M.R_PRECISION_CONVENTIONS[p.r_precision_convention]
    out = {key: _replicated([v[key] for v in per_rep], seeds) for key in per_rep[0]}
    for k in range(1, M.R_PRECISION_TOP_K + 1):
        out[r_precision_key(k)] = replace(
            out[r_precision_key(k)],
            detail={
                **out[r_precision_key(k)].detail,
                "metric": metric,
                "direction": direction,
                "batch_size": p.r_precision_batch_size,
                "chance": k / p.r_precision_batch_size,
            },
        )
    if not ground_truth:
        groups = list(np.stack(mm_feats, axis=1))  # MM prompts x replications x D
        pairs = min(p.mm_pairs, len(replications))
        mm = M.multimodality(groups, pairs, seed=p.seed)
        out[MULTIMODALITY] = replace(
            # every prompt has the same number of pairs, so MM is the mean of per-prompt values;
            # bootstrapping that mean over prompts is the SE (and 1000 metric calls are not needed)
            _bootstrapped(
                lambda x: float(np.mean(x)),
                np.array([M.multimodality([g], pairs, seed=p.seed + i).value for i, g in enumerate(groups)]),
                p,
                n_prompts=mm.n_prompts,
                samples_per_prompt=len(replications),
                n_pairs=pairs,
                n_self_pairs=mm.n_self_pairs,
                sampling=mm.sampling,
            ),
            value=mm.value,
        )
    out |= _sequence_metrics(ctx, replications[0], ground_truth)
    if ground_truth:
        zero = MetricValue(0.0, None, "exact", {"note": "ground truth against itself"})
        out[MAE] = zero
        best = M.continuous_perplexity(ctx.gt_z[0], ctx.gt_z[0])  # an exact prediction's Cppl
        out[CPPL_FREE_RUNNING] = MetricValue(
            best.value,
            None,
            "exact",
            {"note": "ground truth against itself: the best possible Cppl", "reading": best.reading},
        )
        if ctx.rig is not None:
            from evaluations.geometry import REGIONS

            for region in REGIONS:
                out[vertex_l1_key(region)] = zero
    elif ctx.rig is not None:
        out |= _geometry_metrics(ctx, replications[0])
    return out
