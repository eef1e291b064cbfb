"""The benchmark runner: every model and the ground truth through one evaluator, one protocol.

``python -m studio benchmark --models a,b,c --data DIR --split test --replications 20 --out DIR``
writes ``results.json`` (everything, typed by :mod:`evaluations.results`), ``results.csv`` (one
line per row and metric) and ``results.md`` (the leaderboard and the constants).

Protocol (every constant is written into the results):

* **Items**: a fixed subset of the split (:data:`PROTOCOL_PROMPTS` = 512 = 16 R-precision batches
  of 32, drawn with :data:`SUBSET_SEED`, so every run scores the same prompts), or the whole split
  when it is smaller. Each prompt is generated at its ground-truth clip's length, rounded to the
  evaluator's frame step (0.1 s) so a batched family can share one length per batch, and capped
  at the evaluator's 10 s window (frames beyond it are never seen).
* **Replications** (HumanML3D): replication ``r`` generates every prompt anew (clip ``i`` gets
  seed ``SeedSequence([seed, r, i])``) and batches R-precision / draws diversity pairs with seed
  ``seed + r``; FID, R@1-3, MM-Dist, Diversity, W-Dist, MAE, emotion accuracy and V/A CCC are
  reported as mean ± 1.96·σ/√n over replications (σ with ddof 0, as the HumanML3D code).
  Ground truth is scored by the same evaluator; its motions do not change between replications,
  only the batching and the pairs do.
* **FID and W-Dist reference**: ground-truth clips of the same split that are *not* scored (or
  the val split when too few remain), so the ground-truth row's FID is a real sampling floor
  rather than zero by construction. W-Dist (per-channel Wasserstein-1 of pooled frames) and MAE
  (against each prompt's own ground-truth clip, the longer cut to the shorter) are in raw ARKit
  units at 10 fps, the scale KeyframeFace reports.
* **MultiModality**: :data:`MM_PROMPTS` prompts of the subset; their samples are the
  replications' clips (one per replication), pairs = min(10, replications); bootstrap SE over
  prompts. With 20 replications that is 20 samples per prompt (HumanML3D: 30); with ``--quick``
  only 3, and a third of the pairs are a sample with itself (``n_self_pairs`` in the results):
  quick MModality is for iteration, not for reporting.
* **CTEG sequence metrics** (Variation, FgD, DoT, Cppl) on replication 0, in the evaluator's
  z-score units at 10 fps, with standard errors from :data:`BOOTSTRAP_RESAMPLES` bootstrap
  resamples of the clips (CTEG). Cppl uses the ground-truth clip of each prompt as target.
* **Geometry** (EmoteGPT L1 vertex error, mm, head/face/lip): replication 0, the first
  :data:`GEOMETRY_CLIPS` prompts of the subset, both clips through the default rig at 10 fps;
  bootstrap SE over clips.
"""

from __future__ import annotations

import csv
import datetime
import io
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from evaluations import metrics as M  # noqa: N812 - the metric functions read as M.fid, M.ccc
from evaluations.data import (
    EVAL_FPS,
    MAX_FRAMES,
    SplitArrays,
    items_fingerprint,
    pad_batch,
    read_split,
    to_eval_rate,
)
from evaluations.results import (
    GROUND_TRUTH,
    BenchmarkResults,
    IncomparableResultsError,
    MetricValue,
    ModelResult,
    ResultsFileError,
    combine_results,
    leaderboard_markdown,
    leaderboard_table,
    load_results,
)
from studio.errors import StudioError

__all__ = [
    "BenchmarkError",
    "BenchmarkResults",
    "IncomparableResultsError",
    "Protocol",
    "ResultsFileError",
    "combine_results",
    "leaderboard_markdown",
    "leaderboard_table",
    "load_results",
    "run_benchmark",
    "write_results",
]

PROTOCOL_PROMPTS = 512
SUBSET_SEED = 0
QUICK_REPLICATIONS = 3
MM_PROMPTS = M.HUMANML3D_MM_PROMPTS
GEOMETRY_CLIPS = 64  # posing two clips per frame through a 17k-vertex rig is the costly part
BOOTSTRAP_RESAMPLES = M.BOOTSTRAP_RESAMPLES
REFERENCE_MIN, REFERENCE_MAX = 256, 2048  # FID on 128-D features wants n well above 128


class BenchmarkError(StudioError, ValueError):
    """The benchmark cannot run as asked (unknown model, too few items, bad options)."""


@dataclass(frozen=True)
class Protocol:
    """The constants of one benchmark run (all of them land in ``results.json``)."""

    replications: int = M.HUMANML3D_REPLICATIONS
    seed: int = 0
    n_prompts: int = PROTOCOL_PROMPTS
    r_precision_convention: str = "humanml3d-code"
    r_precision_batch_size: int = M.R_PRECISION_BATCH_SIZE
    diversity_pairs: int = M.HUMANML3D_DIVERSITY_PAIRS
    mm_prompts: int = MM_PROMPTS
    mm_pairs: int = M.HUMANML3D_MM_PAIRS
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES
    geometry_clips: int = GEOMETRY_CLIPS
    quick: bool = False

    def __post_init__(self) -> None:
        if self.r_precision_convention not in M.R_PRECISION_CONVENTIONS:
            raise BenchmarkError(
                f"unknown R-precision convention {self.r_precision_convention!r}; "
                f"choose {', '.join(M.R_PRECISION_CONVENTIONS)}"
            )
        if self.replications < 2:
            raise BenchmarkError("at least 2 replications are needed for a confidence interval")
        if self.n_prompts < self.r_precision_batch_size:
            raise BenchmarkError(
                f"n_prompts must be at least the R-precision batch size {self.r_precision_batch_size}"
            )


def quick_protocol(**overrides: Any) -> Protocol:
    """``--quick``: 3 replications, everything else as the full protocol."""
    return Protocol(replications=QUICK_REPLICATIONS, quick=True, **overrides)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def clip_seed(seed: int, replication: int, index: int) -> int:
    """The seed of clip ``index`` in ``replication``: independent streams, within the models' range."""
    return int(np.random.SeedSequence([seed, replication, index]).generate_state(1, np.uint32)[0])


def generation_durations(durations_s: np.ndarray) -> np.ndarray:
    """Ground-truth lengths -> generation lengths (s): rounded to the eval frame step, within 0.5..10 s."""
    from studio.models import MAX_DURATION_S, MIN_DURATION_S

    rounded = np.round(np.asarray(durations_s, np.float64) * EVAL_FPS) / EVAL_FPS
    return np.clip(rounded, MIN_DURATION_S, min(MAX_DURATION_S, MAX_FRAMES / EVAL_FPS))


class ModelRunError(StudioError, RuntimeError):
    """A model failed on a benchmark prompt; the row is reported as failed with this message."""


def generate_all(
    model: Any, prompts: Sequence[str], durations: np.ndarray, seeds: Sequence[int]
) -> list[np.ndarray]:
    """Every prompt through ``model`` -> eval-rate ``(T_i, 61)`` arrays; batched when the family can.

    Batched families (``generate_batch(prompts, seeds, duration_s)``) get one call for all
    prompts when they take one duration per prompt (``mixed_length_batches``), else one call per
    distinct length; others one checked :func:`studio.models.run_model` call per prompt.
    """
    from studio.models import check_output, clean_prompt, run_model

    out: list[np.ndarray | None] = [None] * len(prompts)
    if callable(getattr(model, "generate_batch", None)):
        if getattr(model, "mixed_length_batches", False):
            groups = [(np.arange(len(prompts)), [float(d) for d in durations])]
        else:
            groups = [(np.nonzero(durations == d)[0], float(d)) for d in np.unique(durations)]
        for idx, duration in groups:
            texts = [clean_prompt(prompts[i]).text for i in idx]
            try:
                clips = model.generate_batch(texts, [seeds[i] for i in idx], duration)
                for i, clip in zip(idx, clips, strict=True):
                    out[i] = to_eval_rate(check_output(model, clip))
            except Exception as exc:
                raise ModelRunError(f"{model.name}: {type(exc).__name__}: {exc}") from None
    else:
        for i, prompt in enumerate(prompts):
            generation = run_model(model, prompt, seed=int(seeds[i]), duration_s=float(durations[i]))
            if generation.clip is None:
                raise ModelRunError(f"{model.name} on {prompt!r}: {generation.error}")
            out[i] = to_eval_rate(generation.clip)
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


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
    values = {f"r_precision_top{k}": rate for k, rate in enumerate(rp.rates, start=1)}
    values["fid"] = M.frechet_distance(feats, ctx.reference_feats).value
    values["mm_dist"] = M.multimodal_distance(ctx.text_feats, feats).value
    values["diversity"] = M.diversity(feats, min(p.diversity_pairs, len(feats)), seed=seed).value
    # KeyframeFace's W-Dist and MAE are in raw coefficient units (blendshape weights, radians)
    values["w_dist"] = M.wasserstein_distance(np.concatenate(motions), ctx.reference_frames).value
    if not ground_truth:
        pairs = [
            (g[: min(len(g), len(t))], t[: min(len(g), len(t))])
            for g, t in zip(motions, ctx.gt.motions, strict=True)
        ]
        values["mae"] = M.coefficient_errors(
            np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
        ).mae
    if ctx.recogniser is not None and ctx.gt.emotion_scores is not None:
        from evaluations.emotion import emotion_scores_against_prompts

        scores = emotion_scores_against_prompts(ctx.recogniser, motions, ctx.gt.emotion_scores)
        values["emotion_accuracy"] = scores.accuracy
        values["va_ccc"] = scores.va_ccc
    return values


def _sequence_metrics(
    ctx: Context, motions: Sequence[np.ndarray], ground_truth: bool
) -> dict[str, MetricValue]:
    """CTEG metrics with bootstrap SEs, on one replication's clips."""
    p = ctx.protocol
    z = [ctx.evaluator.normalise(m) for m in motions]
    out: dict[str, MetricValue] = {}
    per_variation = np.array([M.variation([s]).value for s in z])
    out["variation"] = _bootstrapped(
        lambda x: float(np.mean(x)), per_variation, p, definition=M.variation(z).definition
    )
    per_fgd = np.array([M.fine_grained_diversity([s]).value for s in z])
    out["fgd"] = _bootstrapped(
        lambda x: float(np.mean(x)),
        per_fgd,
        p,
        definition=M.fine_grained_diversity(z).definition,
        fps=EVAL_FPS,
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
    out["dot"] = replace(dot, value=dot_value)
    if not ground_truth:
        entropy, counts = [], []
        for g, t in zip(z, ctx.gt_z, strict=True):
            n = min(len(g), len(t))
            result = M.continuous_perplexity(t[:n], g[:n])
            entropy.append(result.mean_entropy_bits * result.n_elements)
            counts.append(result.n_elements)
        bits, count = np.array(entropy), np.array(counts, np.float64)
        pooled = M.continuous_perplexity(
            np.concatenate([t[: min(len(g), len(t))] for g, t in zip(z, ctx.gt_z, strict=True)]),
            np.concatenate([g[: min(len(g), len(t))] for g, t in zip(z, ctx.gt_z, strict=True)]),
        )
        cppl = _bootstrapped(
            lambda idx: float(2.0 ** (bits[idx].sum() / count[idx].sum())),
            np.arange(len(z)),
            p,
            reading=pooled.reading,
            delta=pooled.delta,
            sigma=pooled.sigma,
            best_possible=pooled.best_possible,
        )
        out["cppl"] = replace(cppl, value=pooled.value)
    return out


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

        out[f"vertex_l1_{region}_mm"] = _bootstrapped(
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
        out[f"r_precision_top{k}"] = replace(
            out[f"r_precision_top{k}"],
            detail={
                **out[f"r_precision_top{k}"].detail,
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
        out["multimodality"] = replace(
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
        out["mae"] = zero
        best = M.continuous_perplexity(ctx.gt_z[0], ctx.gt_z[0])  # an exact prediction's Cppl
        out["cppl"] = MetricValue(
            best.value,
            None,
            "exact",
            {"note": "ground truth against itself: the best possible Cppl", "reading": best.reading},
        )
        if ctx.rig is not None:
            for region in ("head", "face", "lip"):
                out[f"vertex_l1_{region}_mm"] = zero
    elif ctx.rig is not None:
        out |= _geometry_metrics(ctx, replications[0])
    return out


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def select_items(items: Sequence[Any], n_prompts: int) -> tuple[list[Any], list[Any]]:
    """The scored subset (fixed by :data:`SUBSET_SEED`, in id order) and the rest of the split."""
    items = sorted(items, key=lambda i: i.id)
    if len(items) <= n_prompts:
        return list(items), []
    chosen = set(np.random.default_rng(SUBSET_SEED).choice(len(items), n_prompts, replace=False).tolist())
    return [it for i, it in enumerate(items) if i in chosen], [
        it for i, it in enumerate(items) if i not in chosen
    ]


def _reference_items(dataset: Any, split: str, rest: list[Any], subset: list[Any]) -> tuple[list[Any], str]:
    rng = np.random.default_rng(SUBSET_SEED)

    def capped(items: list[Any]) -> list[Any]:
        if len(items) <= REFERENCE_MAX:
            return items
        return [items[i] for i in sorted(rng.choice(len(items), REFERENCE_MAX, replace=False))]

    if len(rest) >= REFERENCE_MIN:
        chosen = capped(rest)
        return chosen, f"{len(chosen)} unscored ground-truth clips of the {split} split"
    val = sorted(dataset.split("val"), key=lambda i: i.id) if split != "val" else []
    if len(val) >= REFERENCE_MIN:
        chosen = capped(val)
        return chosen, f"{len(chosen)} ground-truth clips of the val split"
    return subset, (
        "the scored ground-truth clips themselves (too few other clips): the ground-truth row's "
        "FID and W-Dist are 0 by construction"
    )


def run_benchmark(
    model_names: Sequence[str],
    data: str | Path,
    split: str = "test",
    protocol: Protocol | None = None,
    *,
    models_config: str | Path | None = None,
    evaluator: Any = None,
    recogniser: Any = None,
    rig: Any = None,
    geometry: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> BenchmarkResults:
    """Score ``model_names`` (from the models config) and the ground truth on ``split`` of ``data``."""
    from studio.formats import read_dataset
    from studio.models import ModelError, load_model, read_models_config

    protocol = protocol or Protocol()
    started = time.perf_counter()
    timing: dict[str, float] = {}
    config_path = Path(
        models_config
        or os.environ.get("STUDIO_MODELS_CONFIG")
        or Path(__file__).resolve().parent.parent / "assets" / "models.yaml"
    )
    specs = {s.name: s for s in read_models_config(config_path)}
    unknown = [n for n in model_names if n not in specs]
    if unknown:
        raise BenchmarkError(
            f"unknown model(s) {', '.join(unknown)} in {config_path}; known: {', '.join(specs)}"
        )
    if len(set(model_names)) != len(model_names) or GROUND_TRUTH in model_names:
        raise BenchmarkError(f"model names must be distinct and not {GROUND_TRUTH!r}")
    dataset = read_dataset(data)
    items = dataset.split(split)
    if not items:
        raise BenchmarkError(f"{dataset.root}: the {split!r} split is empty or missing (splits/{split}.txt)")
    subset, rest = select_items(items, protocol.n_prompts)
    if len(subset) < protocol.r_precision_batch_size:
        raise BenchmarkError(
            f"the {split} split has {len(subset)} items; R-precision needs at least "
            f"{protocol.r_precision_batch_size}"
        )
    reference_items, reference_text = _reference_items(dataset, split, rest, subset)
    if evaluator is None:
        from evaluations.evaluator import load_default_evaluator

        evaluator = load_default_evaluator()
    if recogniser is None:
        from evaluations.emotion import load_default_recogniser

        recogniser = load_default_recogniser()
    if rig is None and geometry:
        from renderers.rig import load_default_rig

        rig = load_default_rig()
    metric, direction = M.R_PRECISION_CONVENTIONS[protocol.r_precision_convention]
    log(
        f"R-precision: {protocol.r_precision_convention} ({metric} distance, "
        f"{direction.replace('_to_', '→')}), batches of {protocol.r_precision_batch_size}"
    )
    log(
        f"scoring {len(subset)} {split} prompts of {dataset.name} x {protocol.replications} replications; "
        f"FID reference: {reference_text}"
    )

    t0 = time.perf_counter()
    gt = read_split(dataset, split, subset)
    reference = read_split(dataset, split, reference_items)
    text_feats = evaluator.text_features(gt.prompts)
    reference_feats = evaluator.motion_features(reference.motions)
    rng = np.random.default_rng(SUBSET_SEED)
    mm_index = np.sort(rng.choice(len(gt), min(protocol.mm_prompts, len(gt)), replace=False))
    geometry_index = np.arange(min(protocol.geometry_clips, len(gt)))
    ctx = Context(
        protocol,
        gt,
        text_feats,
        reference_feats,
        np.concatenate(reference.motions),
        [evaluator.normalise(m) for m in gt.motions],
        mm_index,
        geometry_index,
        evaluator,
        recogniser if gt.emotion_scores is not None else None,
        rig,
    )
    if gt.emotion_scores is None:
        log("no emotion score columns in prompts.csv: emotion accuracy and V/A CCC are skipped")
    timing["ground_truth_read_s"] = time.perf_counter() - t0
    durations = generation_durations(gt.durations_s)

    bar = _progress(len(model_names) * protocol.replications * len(gt) + len(gt), progress)
    t0 = time.perf_counter()
    rows = [ModelResult(GROUND_TRUTH, "dataset", score_row(ctx, [gt.motions] * protocol.replications, True))]
    bar.update(len(gt))
    timing["ground_truth_score_s"] = time.perf_counter() - t0
    for name in model_names:
        spec = specs[name]
        bar.set_description(name)
        t_gen = 0.0
        try:
            model = load_model(spec)
            replications = []
            for r in range(protocol.replications):
                seeds = [clip_seed(protocol.seed, r, i) for i in range(len(gt))]
                t1 = time.perf_counter()
                replications.append(generate_all(model, gt.prompts, durations, seeds))
                t_gen += time.perf_counter() - t1
                bar.update(len(gt))
            t1 = time.perf_counter()
            scored = score_row(ctx, replications)
            timing[f"{name}_score_s"] = time.perf_counter() - t1
            rows.append(ModelResult(name, spec.family, scored, getattr(model, "sha256", spec.sha256), t_gen))
        except (ModelError, ModelRunError) as exc:
            log(f"error: {exc}")
            rows.append(ModelResult(name, spec.family, {}, spec.sha256, t_gen, str(exc)))
        timing[f"{name}_generate_s"] = t_gen
    bar.close()
    timing["total_s"] = time.perf_counter() - started
    return BenchmarkResults(
        evaluator=evaluator.provenance,
        emotion_recogniser=recogniser.provenance if ctx.recogniser is not None else None,
        protocol=_protocol_record(protocol, len(gt), reference_text, rig),
        dataset={
            "name": dataset.name,
            "root": str(dataset.root),
            "split": split,
            "n_items": len(gt),
            "split_items": len(items),
            "items_sha256": items_fingerprint(subset),
            "ids": list(gt.ids),
            "reference_items": len(reference_items),
        },
        rows=tuple(rows),
        timing={k: round(v, 2) for k, v in timing.items()},
        machine=_machine(),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        command=" ".join(["python -m studio", *sys.argv[1:]]) if sys.argv and "studio" in sys.argv[0] else "",
    )


def _protocol_record(protocol: Protocol, n: int, reference_text: str, rig: Any) -> dict[str, Any]:
    metric, direction = M.R_PRECISION_CONVENTIONS[protocol.r_precision_convention]
    return {
        **asdict(protocol),
        "r_precision_description": f"{metric} distance, {direction.replace('_to_', '→')}",
        "r_precision_top_k": M.R_PRECISION_TOP_K,
        "diversity_pairs": min(protocol.diversity_pairs, n),
        "mm_prompts": min(protocol.mm_prompts, n),
        "mm_samples_per_prompt": protocol.replications,
        "mm_pairs": min(protocol.mm_pairs, protocol.replications),
        "subset_seed": SUBSET_SEED,
        "clip_seed": "SeedSequence([seed, replication, index]) -> uint32",
        "fps": EVAL_FPS,
        "clip_length": f"ground-truth length rounded to 1/{EVAL_FPS:g} s, "
        f"within 0.5..{MAX_FRAMES / EVAL_FPS:g} s",
        "max_frames": MAX_FRAMES,
        "evaluator_batch_size": 256,
        "confidence_z": M.CONFIDENCE_Z,
        "replication_std_ddof": 0,
        "fid_reference": reference_text,
        "cppl_delta": M.CPPL_DELTA,
        "cppl_sigma": M.CPPL_SIGMA,
        "cteg_units": f"evaluator z-scores at {EVAL_FPS:g} fps",
        "keyframeface_units": f"ARKit units (blendshape weights, radians) at {EVAL_FPS:g} fps",
        "geometry_rig": None if rig is None else {"name": rig.name, "unit": rig.unit},
        "geometry_clips": min(protocol.geometry_clips, n) if rig is not None else 0,
    }


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_description(self, text: str) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="clip", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def results_csv(results: BenchmarkResults) -> str:
    """One line per row and metric: model, family, metric, value, uncertainty, kind, n."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "family", "metric", "value", "uncertainty", "kind", "n"])
    for row in results.rows:
        if row.error:
            writer.writerow([row.model, row.family, "error", "", "", row.error, ""])
        for key, value in row.metrics.items():
            n = value.detail.get("n", value.detail.get("n_items", ""))
            writer.writerow(
                [
                    row.model,
                    row.family,
                    key,
                    repr(value.value),
                    "" if value.uncertainty is None else repr(value.uncertainty),
                    value.kind,
                    n,
                ]
            )
    return buffer.getvalue()


def results_markdown(results: BenchmarkResults) -> str:
    """The leaderboard plus the provenance and the constants, for people."""
    p, e = results.protocol, results.evaluator
    lines = [
        f"# Benchmark: {results.dataset['name']} / {results.dataset['split']}",
        "",
        leaderboard_markdown(results),
        "## Provenance",
        "",
        f"- evaluator: `{e.checkpoint_sha256}`, trained on {e.training_data} "
        f"(data `{e.training_data_sha256}`); "
        f"{e.fps:g} fps, {e.max_frames} frames; {e.normalisation}; loss: {e.loss}; text: {e.text_encoder}",
    ]
    if results.emotion_recogniser:
        r = results.emotion_recogniser
        lines.append(f"- emotion recogniser: `{r['checkpoint_sha256']}`; {r['circumplex']}")
    lines += ["", "## Constants", ""] + [f"- {k}: {v}" for k, v in p.items()]
    lines += ["", "## Timing (s)", ""] + [f"- {k}: {v}" for k, v in results.timing.items()]
    lines += ["", f"machine: {results.machine}", f"created: {results.created}"]
    if results.command:
        lines.append(f"command: `{results.command}`")
    return "\n".join(lines) + "\n"


def write_results(results: BenchmarkResults, out: str | Path) -> list[Path]:
    """Write ``results.json``, ``results.csv`` and ``results.md`` into ``out``; returns the paths."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.csv", out / "results.md"]
    texts = [
        json.dumps(_finite(results.to_dict()), indent=2, allow_nan=False, default=_json_default) + "\n",
        results_csv(results),
        results_markdown(results),
    ]
    for path, text in zip(paths, texts, strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")  # never leave a half-written file behind
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths


def _finite(value: Any) -> Any:
    """NaN and inf become null: JSON has no spelling for them (an undefined CCC, say)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in results.json")
