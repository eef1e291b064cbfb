"""Reading a dataset split for the evaluation models, and fingerprinting what was read.

The evaluator and the emotion recogniser both look at clips at one fixed rate
(:data:`EVAL_FPS`) and at most :data:`MAX_FRAMES` frames. This module is the one place that
turns dataset items into those arrays, so training and scoring can never disagree about it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from studio.config import ASSETS_DIR
from studio.facs import EMOTIONS
from studio.formats import FormatError, read_clip
from studio.formats.dataset import Dataset, DatasetItem
from studio.motion import ARKIT_BLENDSHAPES, N_ARKIT, MotionClip

# 10 fps: the corpus's expressions, head moves and (100 ms+) blinks live below 5 Hz, and the
# evaluator has to tell motions apart, not reproduce them; it also matches MDM's internal rate.
EVAL_FPS = 10.0
# 10 s at 10 fps: Express4D's sequences are 1.75-10 s (its code caps at 196 frames at 20 fps).
MAX_FRAMES = 100
# Std floors for z-scoring (ARKit units): a rarely used shape (jawLeft, std ~0.02) would
# otherwise reach z ~ 40 and dominate; rotations are radians with a smaller natural scale.
STD_FLOOR_BLENDSHAPE = 0.05
STD_FLOOR_ROTATION = 0.02
# The shipped evaluator and emotion recogniser checkpoints, with their SHA256SUMS.
EVALUATION_ASSETS_DIR = ASSETS_DIR / "evaluator"


class EvaluationDataError(FormatError):
    """A dataset cannot be used for evaluation (wrong space, missing labels, too few items)."""


@dataclass(frozen=True)
class SplitArrays:
    """One split at the evaluation rate.

    ``motions[i]``: ``(T_i, 61) float32`` ARKit at :data:`EVAL_FPS`, ``2 <= T_i <= MAX_FRAMES``;
    ``prompts[i]`` its text; ``emotion_scores``: ``(N, 6) float32`` (Express4D order) or None
    when the dataset has no score columns; ``durations_s``: the clips' full lengths (before the
    cap).
    """

    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    motions: tuple[np.ndarray, ...]
    durations_s: np.ndarray
    emotion_scores: np.ndarray | None

    def __len__(self) -> int:
        return len(self.ids)


def to_eval_rate(clip: MotionClip) -> np.ndarray:
    """An ARKit clip -> ``(min(T, MAX_FRAMES), 61) float32`` at :data:`EVAL_FPS`.

    A single-frame (static) clip is held for two frames so it still has a duration.
    """
    if clip.space != "arkit":
        raise ValueError(f"the evaluation models read ARKit clips; this clip is in {clip.space!r} space")
    values = clip.resample(EVAL_FPS).values[:MAX_FRAMES]
    if len(values) < 2:
        values = np.repeat(values[:1], 2, axis=0)
    return np.asarray(values, np.float32)


def emotion_vector(item: DatasetItem) -> np.ndarray | None:
    """The item's six emotion scores ``(6,) float32`` (renormalised to sum 1), or None."""
    try:
        scores = np.array([float(item.labels[e]) for e in EMOTIONS], np.float64)
    except (KeyError, ValueError, TypeError):
        return None
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.sum() <= 0:
        return None
    return (scores / scores.sum()).astype(np.float32)


def read_split(dataset: Dataset, split: str, items: Sequence[DatasetItem] | None = None) -> SplitArrays:
    """Read ``items`` (default: every item of ``split``; without splits, every item) at the eval rate.

    Raises :class:`EvaluationDataError` for non-ARKit clips; emotion scores are None unless
    every item has them.
    """
    chosen = list(items if items is not None else (dataset.split(split) or dataset.items))
    if not chosen:
        raise EvaluationDataError(dataset.root, f"the {split!r} split is empty")
    motions, durations, scores = [], [], []
    for item in chosen:
        clip = read_clip(item.clip_path).clip
        if clip.space != "arkit":
            raise EvaluationDataError(item.clip_path, f"is a {clip.space} clip; the evaluators read ARKit")
        motions.append(to_eval_rate(clip))
        durations.append(clip.duration_s)
        scores.append(emotion_vector(item))
    have_scores = all(s is not None for s in scores)
    return SplitArrays(
        ids=tuple(i.id for i in chosen),
        prompts=tuple(i.prompt for i in chosen),
        motions=tuple(motions),
        durations_s=np.array(durations, np.float64),
        emotion_scores=np.stack(scores) if have_scores else None,  # type: ignore[arg-type]
    )


def subsample(items: Sequence[DatasetItem], limit: int | None, rng: np.random.Generator) -> list[DatasetItem]:
    """At most ``limit`` of ``items`` drawn without replacement by ``rng``, kept in their order
    (all of them when ``limit`` is None or not smaller) — the quick training runs' small splits."""
    if limit is None or len(items) <= limit:
        return list(items)
    return [items[i] for i in sorted(rng.choice(len(items), limit, replace=False))]


def items_fingerprint(items: Sequence[DatasetItem]) -> str:
    """SHA-256 over ``(id, split, prompt, SHA-256 of the clip file)`` of every item, in id order.

    Two datasets with the same fingerprint trained (or were scored on) byte-identical data.
    """
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda i: i.id):
        clip_hash = hashlib.sha256(item.clip_path.read_bytes()).hexdigest()
        digest.update(f"{item.id}\t{item.split}\t{item.prompt}\t{clip_hash}\n".encode())
    return digest.hexdigest()


def fit_normalisation(motions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and floored std over every frame: two ``(61,) float32`` (ARKit units)."""
    frames = np.concatenate(motions, 0).astype(np.float64)
    floor = np.array(
        [STD_FLOOR_BLENDSHAPE] * len(ARKIT_BLENDSHAPES)
        + [STD_FLOOR_ROTATION] * (N_ARKIT - len(ARKIT_BLENDSHAPES))
    )
    return frames.mean(0).astype(np.float32), np.maximum(frames.std(0), floor).astype(np.float32)


def pad_batch(
    motions: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Z-score and zero-pad to ``(N, MAX_FRAMES, 61) float32`` plus ``lengths (N,) int64``.

    Zero in z-space is the training mean pose, so the padding reads as "at rest" to the conv
    layers; the encoder's pooling ignores it through ``lengths``.
    """
    out = np.zeros((len(motions), MAX_FRAMES, N_ARKIT), np.float32)
    lengths = np.zeros(len(motions), np.int64)
    for i, m in enumerate(motions):
        n = min(len(m), MAX_FRAMES)
        out[i, :n] = (m[:n] - mean) / std
        lengths[i] = n
    return out, lengths
