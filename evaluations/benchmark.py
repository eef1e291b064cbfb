"""The benchmark runner: every model and the ground truth through one evaluator, one protocol.

``python -m studio benchmark --models a,b,c --data DIR --split test --replications 20 --out DIR``
writes ``results.json`` (everything, typed by :mod:`evaluations.results`), ``results.csv`` (one
line per row and metric) and ``results.md`` (the leaderboard and the constants), through
:mod:`evaluations.results_files`; each row is scored by :func:`evaluations.scoring.score_row`.

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
* **CTEG sequence metrics** (Variation eq. 13, temporal variation, FgD eq. 14, DoT eq. 15) on
  replication 0, in the evaluator's z-score units at 10 fps, with standard errors from
  :data:`BOOTSTRAP_RESAMPLES` bootstrap resamples of the clips. **Cppl (free-running)**: eqs.
  16-18 of each prompt's ground-truth clip around the model's free-running sample, not the
  paper's one-step-ahead predictions, so it has a table of its own.
* **Geometry** (EmoteGPT L1 vertex error, mm, head/face/lip): replication 0, the first
  :data:`GEOMETRY_CLIPS` prompts of the subset, both clips through the default rig at 10 fps;
  bootstrap SE over clips.
* **Guards**: the train and val splits are refused unless ``Protocol.allow_non_test``
  (``--allow-non-test``); scored items the evaluator was trained on (same clip content hash or
  same normalised prompt as one of its train + val items, from the ``training_items.json`` beside
  its checkpoint) are refused unless ``Protocol.allow_overlap`` (``--allow-overlap``). Either way
  the results record it (``protocol``, ``dataset["overlap"]``) and carry a warning that every
  output prints; an evaluator without training items is scored with a warning that the overlap
  could not be checked.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluations import metrics as M  # noqa: N812 - the metric functions read as M.fid, M.ccc
from evaluations.data import (
    EVAL_FPS,
    MAX_FRAMES,
    find_overlap,
    items_fingerprint,
    read_split,
    to_eval_rate,
)
from evaluations.protocol import (
    REFERENCE_MAX,
    REFERENCE_MIN,
    SUBSET_SEED,
    BenchmarkError,
    Protocol,
)
from evaluations.results import (
    GROUND_TRUTH,
    BenchmarkResults,
    IncomparableResultsError,
    ModelResult,
    ResultsFileError,
    combine_results,
    leaderboard_markdown,
    leaderboard_table,
    load_results,
    run_warnings,
)
from evaluations.results_files import results_csv, results_markdown, write_results
from evaluations.scoring import Context, score_row
from studio.config import StudioConfig
from studio.errors import StudioError
from studio.models import ExpressionModel
from studio.threads import all_threads

if TYPE_CHECKING:
    from evaluations.evaluator import Evaluator

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
    "results_csv",
    "results_markdown",
    "run_benchmark",
    "score_row",
    "write_results",
]


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def clip_seed(seed: int, replication: int, index: int) -> int:
    """The seed of clip ``index`` in ``replication``: independent streams, within the models' range."""
    return int(np.random.SeedSequence([seed, replication, index]).generate_state(1, np.uint32)[0])


def generation_durations(durations_s: np.ndarray) -> np.ndarray:
    """Ground-truth lengths ``(N,)`` s -> generation lengths ``(N,)`` s: rounded to the eval frame step,
    within ``MIN_DURATION_S`` and the evaluator's window (``MAX_FRAMES / EVAL_FPS`` = 10 s)."""
    from studio.models import MAX_DURATION_S, MIN_DURATION_S

    rounded = np.round(np.asarray(durations_s, np.float64) * EVAL_FPS) / EVAL_FPS
    return np.clip(rounded, MIN_DURATION_S, min(MAX_DURATION_S, MAX_FRAMES / EVAL_FPS))


class ModelRunError(StudioError, RuntimeError):
    """A model failed on a benchmark prompt; the row is reported as failed with this message."""


def generate_all(
    model: ExpressionModel, prompts: Sequence[str], durations: np.ndarray, seeds: Sequence[int]
) -> list[np.ndarray]:
    """Every prompt through ``model.generate_batch`` -> eval-rate ``(T_i, 61)`` arrays.

    One call for all prompts when the family takes one duration per prompt
    (``mixed_length_batches``), else one call per distinct length; a family that does not batch
    generates one clip at a time inside :meth:`~studio.models.ExpressionModel.generate_batch`.
    Each clip passes the output contract (:func:`studio.models.check_output`).
    """
    from studio.models import check_output, clean_prompt

    out: list[np.ndarray | None] = [None] * len(prompts)
    if model.mixed_length_batches:
        groups = [(np.arange(len(prompts)), [float(d) for d in durations])]
    else:
        groups = [(np.nonzero(durations == d)[0], float(d)) for d in np.unique(durations)]
    for idx, duration in groups:
        texts = [clean_prompt(prompts[i]).text for i in idx]
        try:
            clips = model.generate_batch(texts, [seeds[i] for i in idx], duration)
            for i, clip in zip(idx, clips, strict=True):
                out[i] = to_eval_rate(check_output(model, clip))
        except Exception as exc:  # any failure is this model's row, reported with its reason
            raise ModelRunError(f"{model.name}: {type(exc).__name__}: {exc}") from None
    return out  # type: ignore[return-value]


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


@all_threads()  # a Gradio worker may have been started with one (studio.threads)
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
    on_step: Callable[[int, int, str], None] | None = None,
) -> BenchmarkResults:
    """Score ``model_names`` (from the models config) and the ground truth on ``split`` of ``data``.

    ``progress`` draws a tqdm bar on stderr; ``log`` gets the run's notes and one line per row
    when it is done (clips, seconds); ``on_step(done, total, what)`` is called before each step
    (ground truth, then every model's loading, replications and scoring) with the clips done out
    of all of them, for a progress display such as the Benchmark tab's.
    """
    from studio.formats import read_dataset
    from studio.models import ModelError, load_model, read_models_config

    protocol = protocol or Protocol()
    started = time.perf_counter()
    timing: dict[str, float] = {}
    config_path = Path(models_config) if models_config else StudioConfig.from_env().models_config
    specs = {s.name: s for s in read_models_config(config_path)}
    unknown = [n for n in model_names if n not in specs]
    if unknown:
        raise BenchmarkError(
            f"unknown model(s) {', '.join(unknown)} in {config_path}; known: {', '.join(specs)}"
        )
    if len(set(model_names)) != len(model_names) or GROUND_TRUTH in model_names:
        raise BenchmarkError(f"model names must be distinct and not {GROUND_TRUTH!r}")
    if split != "test" and not protocol.allow_non_test:
        raise BenchmarkError(
            f"refusing to score the {split!r} split: benchmark numbers are test-split numbers, and the "
            f"models and the evaluator may have trained on {split}; pass --allow-non-test "
            "(Protocol.allow_non_test) to score it anyway, flagged in every output"
        )
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
        from renderers import load_default_rig

        rig = load_default_rig()
    metric, direction = M.R_PRECISION_CONVENTIONS[protocol.r_precision_convention]
    log(
        f"R-precision: {protocol.r_precision_convention} ({M.describe_convention(metric, direction)}), "
        f"batches of {protocol.r_precision_batch_size}"
    )
    log(
        f"scoring {len(subset)} {split} prompts of {dataset.name} x {protocol.replications} replications; "
        f"FID reference: {reference_text}"
    )

    t0 = time.perf_counter()
    gt = read_split(dataset, split, subset)
    overlap = _check_overlap(evaluator, gt, protocol, log)
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

    steps = _Steps(len(model_names) * protocol.replications * len(gt) + len(gt), progress, on_step, log)
    t0 = time.perf_counter()
    steps.begin(GROUND_TRUTH, f"scoring the ground truth ({len(gt)} clips)")
    rows = [ModelResult(GROUND_TRUTH, "dataset", score_row(ctx, [gt.motions] * protocol.replications, True))]
    steps.done(len(gt))
    timing["ground_truth_score_s"] = time.perf_counter() - t0
    steps.say(f"{GROUND_TRUTH}: scored in {timing['ground_truth_score_s']:.1f} s")
    for number, name in enumerate(model_names, 1):
        spec = specs[name]
        which = f"{name} ({number}/{len(model_names)})"
        t_gen = 0.0
        try:
            steps.begin(name, f"{which}: loading")
            model = load_model(spec)
            replications = []
            for r in range(protocol.replications):
                steps.begin(name, f"{which}: generating replication {r + 1}/{protocol.replications}")
                seeds = [clip_seed(protocol.seed, r, i) for i in range(len(gt))]
                t1 = time.perf_counter()
                replications.append(generate_all(model, gt.prompts, durations, seeds))
                t_gen += time.perf_counter() - t1
                steps.done(len(gt))
            steps.begin(name, f"{which}: scoring")
            t1 = time.perf_counter()
            scored = score_row(ctx, replications)
            timing[f"{name}_score_s"] = time.perf_counter() - t1
            digest = model.checkpoint_sha256 or spec.sha256
            rows.append(ModelResult(name, spec.family, scored, digest, t_gen))
            steps.say(
                f"{name}: {protocol.replications} x {len(gt)} clips generated in {t_gen:.1f} s, "
                f"scored in {timing[f'{name}_score_s']:.1f} s"
            )
        except (ModelError, ModelRunError) as exc:
            steps.say(f"error: {exc}")
            rows.append(ModelResult(name, spec.family, {}, spec.sha256, t_gen, str(exc)))
        timing[f"{name}_generate_s"] = t_gen
    steps.close()
    timing["total_s"] = time.perf_counter() - started
    protocol_record = _protocol_record(protocol, len(gt), reference_text, rig)
    dataset_record = {
        "name": dataset.name,
        "root": str(dataset.root),
        "split": split,
        "n_items": len(gt),
        "split_items": len(items),
        "items_sha256": items_fingerprint(subset),
        "ids": list(gt.ids),
        "reference_items": len(reference_items),
        "overlap": overlap,
    }
    return BenchmarkResults(
        evaluator=evaluator.provenance,
        emotion_recogniser=recogniser.provenance if ctx.recogniser is not None else None,
        protocol=protocol_record,
        dataset=dataset_record,
        warnings=run_warnings(protocol_record, dataset_record),
        rows=tuple(rows),
        timing={k: round(v, 2) for k, v in timing.items()},
        machine=_machine(),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        command=" ".join(["python -m studio", *sys.argv[1:]]) if sys.argv and "studio" in sys.argv[0] else "",
    )


def _check_overlap(evaluator: Evaluator, gt: Any, protocol: Protocol, log: Callable[[str], None]) -> dict:
    """The scored items against the evaluator's training items: refused when they overlap (unless
    ``protocol.allow_overlap``); the record for ``results.dataset["overlap"]``."""
    training, note = evaluator.training_items()
    overlap = find_overlap(training, gt, note)
    if overlap.overlapping and not protocol.allow_overlap:
        raise BenchmarkError(
            f"refusing to score items the evaluator was trained on: {overlap.describe()}; score a held-out "
            "split, or pass --allow-overlap (Protocol.allow_overlap) to score them anyway, flagged in "
            "every output"
        )
    log(overlap.describe() + (f" ({note})" if overlap.checked else ""))
    return overlap.to_dict()


def _protocol_record(protocol: Protocol, n: int, reference_text: str, rig: Any) -> dict[str, Any]:
    from evaluations.evaluator import FEATURE_BATCH_SIZE
    from studio.models import MIN_DURATION_S

    metric, direction = M.R_PRECISION_CONVENTIONS[protocol.r_precision_convention]
    return {
        **asdict(protocol),
        "r_precision_description": M.describe_convention(metric, direction),
        "r_precision_top_k": M.R_PRECISION_TOP_K,
        "diversity_pairs": min(protocol.diversity_pairs, n),
        "mm_prompts": min(protocol.mm_prompts, n),
        "mm_samples_per_prompt": protocol.replications,
        "mm_pairs": min(protocol.mm_pairs, protocol.replications),
        "subset_seed": SUBSET_SEED,
        "clip_seed": "SeedSequence([seed, replication, index]) -> uint32",
        "fps": EVAL_FPS,
        "clip_length": f"ground-truth length rounded to 1/{EVAL_FPS:g} s, "
        f"within {MIN_DURATION_S:g}..{MAX_FRAMES / EVAL_FPS:g} s",
        "max_frames": MAX_FRAMES,
        "evaluator_batch_size": FEATURE_BATCH_SIZE,
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


class _Steps:
    """The run's progress: a tqdm bar on stderr (``bar``), an ``on_step`` callback, or both; the
    log's lines are written around the bar so it is not torn."""

    def __init__(
        self,
        total: int,
        bar: bool,
        on_step: Callable[[int, int, str], None] | None,
        log: Callable[[str], None],
    ) -> None:
        self.total, self.count, self.on_step, self.log = total, 0, on_step, log
        self.bar: Any = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="clip", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

    def begin(self, name: str, what: str) -> None:
        if self.bar is not None:
            self.bar.set_description(name)
        if self.on_step is not None:
            self.on_step(self.count, self.total, what)

    def done(self, clips: int) -> None:
        self.count += clips
        if self.bar is not None:
            self.bar.update(clips)

    def say(self, message: str) -> None:
        if self.bar is None:
            self.log(message)
            return
        from tqdm import tqdm

        with tqdm.external_write_mode(file=sys.stderr):
            self.log(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.on_step is not None:
            self.on_step(self.count, self.total, "done")
