"""Reading a dataset split for the evaluation models, and fingerprinting what was read.

The evaluator and the emotion recogniser both look at clips at one fixed rate
(:data:`EVAL_FPS`) and at most :data:`MAX_FRAMES` frames. This module is the one place that
turns dataset items into those arrays, so training and scoring can never disagree about it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    cap); ``clip_sha256[i]``: :func:`clip_sha256` of the clip as read (empty when not computed).
    """

    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    motions: tuple[np.ndarray, ...]
    durations_s: np.ndarray
    emotion_scores: np.ndarray | None
    clip_sha256: tuple[str, ...] = ()

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
    motions, durations, scores, hashes = [], [], [], []
    for item in chosen:
        clip = read_clip(item.clip_path).clip
        if clip.space != "arkit":
            raise EvaluationDataError(item.clip_path, f"is a {clip.space} clip; the evaluators read ARKit")
        motions.append(to_eval_rate(clip))
        durations.append(clip.duration_s)
        scores.append(emotion_vector(item))
        hashes.append(clip_sha256(clip))
    have_scores = all(s is not None for s in scores)
    return SplitArrays(
        ids=tuple(i.id for i in chosen),
        prompts=tuple(i.prompt for i in chosen),
        motions=tuple(motions),
        durations_s=np.array(durations, np.float64),
        emotion_scores=np.stack(scores) if have_scores else None,  # type: ignore[arg-type]
        clip_sha256=tuple(hashes),
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


# --------------------------------------------------------------------------------------------
# Which items an evaluator was trained on, and whether scored items are among them
# --------------------------------------------------------------------------------------------

TRAINING_ITEMS_FORMAT = "expression-studio-training-items-1"
# 64 bits of SHA-256: among ~20k training items the chance that an unrelated item collides with
# one is ~1e-15, and the shipped file stays small (two lists of 18k short strings).
HASH_HEX = 16
CLIP_HASH_DESCRIPTION = (
    "SHA-256 of the decoded clip (space, fps, channel names, then the float32 little-endian values "
    f"at the clip's own rate), first {HASH_HEX} hex digits"
)
PROMPT_HASH_DESCRIPTION = (
    "SHA-256 of the prompt lowercased, whitespace collapsed to single spaces and punctuation "
    f"stripped at both ends, first {HASH_HEX} hex digits"
)


def normalise_prompt(text: str) -> str:
    """Lowercase, whitespace runs -> one space, punctuation (any Unicode ``P*``) stripped at both ends:
    ``"  A person   SMILES. "`` and ``"a person smiles"`` are one prompt."""
    text = " ".join(text.lower().split())
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]).startswith("P")):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[start:end]


def prompt_sha256(text: str) -> str:
    """:data:`PROMPT_HASH_DESCRIPTION`."""
    return hashlib.sha256(normalise_prompt(text).encode()).hexdigest()[:HASH_HEX]


def clip_sha256(clip: MotionClip) -> str:
    """:data:`CLIP_HASH_DESCRIPTION`: the same motion in another container (npz, CSV with full
    precision) hashes alike; a resampled or edited clip does not."""
    digest = hashlib.sha256(f"{clip.space}\t{float(clip.fps)!r}\t{','.join(clip.channels)}\n".encode())
    digest.update(np.ascontiguousarray(clip.values, dtype="<f4").tobytes())
    return digest.hexdigest()[:HASH_HEX]


class TrainingItemsError(EvaluationDataError):
    """A training-items file that cannot be read."""


@dataclass(frozen=True)
class TrainingItems:
    """The items an evaluator was trained on (train + val), as two sets of short hashes.

    ``evaluator_sha256`` binds the file to one checkpoint; ``training_data_sha256`` is the
    fingerprint that checkpoint recorded; ``provenance`` says how the hashes were made and how
    exact they are (``exact``: whether the items hashed have that very fingerprint).
    """

    evaluator_sha256: str
    training_data_sha256: str
    clip_sha256: frozenset[str]
    prompt_sha256: frozenset[str]
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_splits(cls, splits: Iterable[SplitArrays], **kw: Any) -> TrainingItems:
        """The hashes of every item of ``splits`` (their clip hashes must have been computed)."""
        splits = list(splits)
        if any(len(s.clip_sha256) != len(s) for s in splits):
            raise ValueError("every split needs its clip hashes (read_split computes them)")
        return cls(
            clip_sha256=frozenset(h for s in splits for h in s.clip_sha256),
            prompt_sha256=frozenset(prompt_sha256(p) for s in splits for p in s.prompts),
            **kw,
        )

    def to_json(self) -> str:
        """Small and diffable: one key a line, each hash list sorted on one line."""
        head = {
            "format": TRAINING_ITEMS_FORMAT,
            "evaluator_sha256": self.evaluator_sha256,
            "training_data_sha256": self.training_data_sha256,
            "clip_hash": CLIP_HASH_DESCRIPTION,
            "prompt_hash": PROMPT_HASH_DESCRIPTION,
            "provenance": dict(self.provenance),
        }
        lines = [f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}," for k, v in head.items()]
        lines.append(f'  "clip_sha256": {json.dumps(sorted(self.clip_sha256))},')
        lines.append(f'  "prompt_sha256": {json.dumps(sorted(self.prompt_sha256))}')
        return "{\n" + "\n".join(lines) + "\n}\n"

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> TrainingItems:
        """Read a file :meth:`write` wrote; raises :class:`TrainingItemsError`."""
        from studio.formats.text import TextError, loads_json, read_text

        path = Path(path)
        try:
            data = loads_json(read_text(path, max_bytes=32 * 2**20))
        except (FormatError, TextError, OSError) as exc:
            raise TrainingItemsError(path, f"cannot read training items: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != TRAINING_ITEMS_FORMAT:
            raise TrainingItemsError(path, f"is not a {TRAINING_ITEMS_FORMAT} file")
        try:
            clips, prompts = data["clip_sha256"], data["prompt_sha256"]
            if not all(isinstance(h, str) and len(h) == HASH_HEX for h in [*clips, *prompts]):
                raise ValueError(f"hashes must be {HASH_HEX} hex digits")
            return cls(
                evaluator_sha256=str(data["evaluator_sha256"]),
                training_data_sha256=str(data["training_data_sha256"]),
                clip_sha256=frozenset(clips),
                prompt_sha256=frozenset(prompts),
                provenance=dict(data.get("provenance") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainingItemsError(path, f"malformed training items: {exc}") from None


@dataclass(frozen=True)
class Overlap:
    """How many scored items an evaluator saw in training, by clip hash and by normalised prompt.

    ``checked`` False means it could not be told (``note`` says why); the counts are then 0.
    ``examples``: up to two overlapping items as ``"id: prompt"``.
    """

    checked: bool
    n_items: int
    by_clip: int = 0
    by_prompt: int = 0
    overlapping: int = 0  # items overlapping by either
    examples: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "n_items": self.n_items,
            "by_clip_hash": self.by_clip,
            "by_prompt": self.by_prompt,
            "overlapping_items": self.overlapping,
            "examples": list(self.examples),
            "note": self.note,
        }

    def describe(self) -> str:
        """One line: ``"12 of 40 scored items ... (10 by clip hash, 12 by prompt), e.g. ..."``."""
        if not self.checked:
            return f"overlap with the evaluator's training items could not be checked: {self.note}"
        if not self.overlapping:
            return f"none of the {self.n_items} scored items is among the evaluator's training items"
        return (
            f"{self.overlapping} of {self.n_items} scored items are among the evaluator's training items "
            f"({self.by_clip} by clip hash, {self.by_prompt} by normalised prompt), e.g. "
            + "; ".join(repr(e) for e in self.examples)
        )


def find_overlap(training: TrainingItems | None, split: SplitArrays, note: str = "") -> Overlap:
    """Which items of ``split`` (read by :func:`read_split`) are among ``training``'s items.

    ``training`` None: not checked, with ``note`` as the reason.
    """
    if training is None:
        return Overlap(False, len(split), note=note or "the evaluator's training items are unknown")
    by_clip = [h in training.clip_sha256 for h in split.clip_sha256]
    if len(by_clip) != len(split):
        raise ValueError("the split was read without clip hashes")
    by_prompt = [prompt_sha256(p) in training.prompt_sha256 for p in split.prompts]
    either = [i for i in range(len(split)) if by_clip[i] or by_prompt[i]]
    return Overlap(
        True,
        len(split),
        sum(by_clip),
        sum(by_prompt),
        len(either),
        tuple(f"{split.ids[i]}: {split.prompts[i]}" for i in either[:2]),
        note,
    )
