"""Tiny datasets and a keyword encoder for the analysis tests (no MiniLM unless a test asks for it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from studio import facs
from studio.formats import write_dataset
from studio.motion import ARKIT_CHANNELS, MotionClip

# Words that put a text on one of six axes of the keyword encoder (the category descriptions in
# studio.analysis.categorise contain the first word of each list).
KEYWORDS = {
    "happiness": ("happy", "smile", "laugh", "joy"),
    "sadness": ("sad", "sorrow", "cry", "tears"),
    "fear": ("afraid", "scared", "terrified", "fear"),
    "surprise": ("surprised", "astonished", "startled", "amazed"),
    "anger": ("angry", "furious", "glare", "irritated"),
    "disgust": ("disgusted", "gross", "repulsed", "revolting"),
}
DIM = 384


def keyword_embed(texts: Sequence[str]) -> np.ndarray:
    """Texts -> ``(N, 384)`` unit vectors: one axis per category keyword hit, plus a per-text
    hash direction so that different texts differ and identical texts coincide."""
    out = np.zeros((len(texts), DIM), np.float32)
    for i, text in enumerate(texts):
        lowered = text.lower()
        for k, emotion in enumerate(facs.EMOTIONS):
            out[i, k] = sum(lowered.count(word) for word in KEYWORDS[emotion])
        seed = int.from_bytes(text.encode()[:16].ljust(16, b"\0"), "little") % (2**32) + len(text)
        out[i, 6:] = 0.01 * np.random.default_rng(seed).standard_normal(DIM - 6)
        out[i] /= np.linalg.norm(out[i])
    return out


class CountingEncoder:
    """``keyword_embed`` that records how many texts it was asked to encode."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return keyword_embed(texts)


def emotion_clip(emotion: str | None, seconds: float = 2.0, intensity: float = 0.8) -> MotionClip:
    """A 30 fps ARKit clip rising to ``emotion``'s EMFACS prototype and back (None: a still face)."""
    frames = max(2, round(seconds * 30))
    envelope = np.sin(np.linspace(0, np.pi, frames))[:, None]
    pose = facs.prototype_pose(emotion, intensity) if emotion else np.zeros(61, np.float32)
    return MotionClip((envelope * pose).astype(np.float32), 30.0, "arkit", ARKIT_CHANNELS)


# (prompt, intended emotion, clip emotion, keyframe texts, split, composition)
ROWS = [
    ("A happy person smiles", "happiness", "happiness", ["smiles"], "train", "single"),
    ("She laughs with joy", "happiness", "happiness", ["laughs"], "train", "single"),
    ("A sad man starts to cry", "sadness", "sadness", ["looks down", "cries"], "train", "seq"),
    ("He is afraid and scared", "fear", "fear", ["freezes", "gasps"], "train", "seq"),
    ("She looks surprised, then amazed", "surprise", "surprise", ["gasps", "stares"], "test", "seq"),
    ("An angry glare, then a furious shout", "anger", "anger", ["glares", "shouts", "sighs"], "test", "seq3"),
    ("Disgusted by the gross smell", "disgust", "disgust", ["sniffs"], "test", "single"),
    ("A sad smile, then tears", "sadness", "happiness", ["smiles", "cries"], "test", "seq"),
    ("Looks to the left", "neutral", None, ["looks left"], "val", "single"),
    ("A happy person smiles", "happiness", "happiness", ["smiles"], "val", "repeat"),  # duplicate prompt
]


def write_tiny_dataset(root: Path, rows=ROWS, *, keyframes: bool = True) -> Path:
    records = []
    for i, (prompt, intended, clip_emotion, frames, split, composition) in enumerate(rows):
        clip = emotion_clip(clip_emotion, seconds=1.5 + 0.5 * (i % 4))
        scores = facs.clip_emotion_scores(clip.values)
        labels: dict[str, object] = {e: f"{s:.4f}" for e, s in zip(facs.EMOTIONS, scores, strict=True)}
        labels.update(emotion=intended, composition=composition)
        if keyframes:
            labels["keyframes"] = json.dumps({"keyframes": [{"text": t} for t in frames]})
        records.append((f"item-{i:02d}", prompt, clip, split, labels))
    return write_dataset(root, records, name="tiny")


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_tiny_dataset(tmp_path / "tiny")
