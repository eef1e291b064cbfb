"""The ``emotion-label`` family: prompt -> one of six emotions -> canned prototype with an envelope.

Checkpoint tensors (float32):

* ``classifier.weight (6, 384)``, ``classifier.bias (6,)`` — logistic regression on unit MiniLM
  vectors, rows in :data:`studio.facs.EMOTIONS` order;
* ``prototypes (6, 61)`` — each emotion's apex pose as an offset from the rest face, ARKit order
  (blendshape weights and radians).

Config: ``family``, ``format_version``, ``emotions``, ``text_encoder``, ``fps`` and a ``training``
record (data, seed, item counts, validation accuracy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from studio import facs
from studio.formats.checkpoints import write_checkpoint
from studio.models.base import ExpressionModel, ModelError, ModelSpec
from studio.models.common import family_checkpoint, performers, prompt_rng
from studio.models.registry import register_model
from studio.motion import ARKIT_CHANNELS, N_ARKIT, MotionClip

FAMILY = "emotion-label"
FORMAT_VERSION = 1
FPS = 30.0
N_SHAPES = 52
TEXT_ENCODER = "all-MiniLM-L6-v2"
# Channels that say nothing about the expression (blinks and gaze come and go on their own);
# they are left out when finding a clip's apex frame.
_NOT_EXPRESSIVE = np.array([c.startswith(("eyeBlink", "eyeLook")) for c in ARKIT_CHANNELS[:N_SHAPES]])


def idle_face(duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Rest face + idle life of a seeded synthetic performer: ``(round(duration_s * 30), 61) float32``."""
    from studio.corpus.synth import render

    cast = performers()
    return render((), duration_s, cast[int(rng.integers(len(cast)))], rng)[: max(round(duration_s * FPS), 1)]


def envelope(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Onset / apex / offset activation ``(n_frames,)`` in [0, 1] at 30 fps.

    The expression starts 5–15 % into the clip, rises over ~0.5 s (cosine ease), sags ~10 %
    during the apex and relaxes over ~0.6 s to end 5–12 % before the clip does; on short clips
    every phase shrinks in proportion.
    """
    duration = n_frames / FPS
    t = np.arange(n_frames) / FPS
    start = duration * rng.uniform(0.05, 0.15)
    end = duration * (1.0 - rng.uniform(0.05, 0.12))
    span = max(end - start, 1e-3)
    onset = min(0.5 * rng.uniform(0.8, 1.2), 0.35 * span)
    offset = min(0.6 * rng.uniform(0.8, 1.2), 0.35 * span)

    def ease(u: np.ndarray) -> np.ndarray:
        return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))

    rise = ease((t - start) / onset)
    fall = 1.0 - ease((t - (end - offset)) / offset)
    sag = 1.0 - 0.1 * np.clip((t - start - onset) / max(span - onset - offset, 1e-3), 0.0, 1.0)
    return rise * fall * sag


def apex_pose(values: np.ndarray, fps: float) -> np.ndarray:
    """A clip's apex as an offset from its rest face: ``(T, 61)`` -> ``(61,) float32``.

    Rest = per-channel minimum of the blendshapes and median of the rotations over the first
    0.3 s (robust to a blink there); apex = the frame with the most expressive blendshape
    activation above rest.
    """
    head = values[: max(int(0.3 * fps), 1)]
    rest = np.concatenate([head[:, :N_SHAPES].min(axis=0), np.median(head[:, N_SHAPES:], axis=0)])
    delta = values - rest
    energy = np.clip(delta[:, :N_SHAPES][:, ~_NOT_EXPRESSIVE], 0.0, None).sum(axis=1)
    return delta[int(np.argmax(energy))].astype(np.float32)


@register_model(FAMILY)
class EmotionLabelModel(ExpressionModel):
    """Prompt -> argmax emotion -> its prototype pose under an envelope, plus idle life.

    ``generate`` returns ``(round(duration_s * 30), 61) float32`` ARKit at 30 fps;
    ``meta["emotion"]`` names the chosen emotion and ``meta["emotion_probs"]`` the six
    classifier probabilities (Express4D order).
    """

    trainable = True

    space = "arkit"

    def __init__(
        self,
        name: str,
        weight: np.ndarray,
        bias: np.ndarray,
        prototypes: np.ndarray,
        config: dict[str, Any],
        sha256: str | None = None,
    ) -> None:
        shapes = (weight.shape, bias.shape, prototypes.shape)
        if shapes != ((facs.N_EMOTIONS, 384), (facs.N_EMOTIONS,), (facs.N_EMOTIONS, N_ARKIT)):
            raise ModelError(
                f"{name}: checkpoint tensors have shapes {shapes}, expected (6, 384), (6,), (6, 61)"
            )
        self.name = name
        self.weight, self.bias, self.prototypes = weight, bias, prototypes
        self.config = config
        self.checkpoint_sha256 = sha256

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> EmotionLabelModel:
        ckpt = family_checkpoint(spec, FAMILY)
        try:
            tensors = [
                ckpt.tensors[k].astype(np.float32)
                for k in ("classifier.weight", "classifier.bias", "prototypes")
            ]
        except KeyError as exc:
            raise ModelError(f"{spec.name}: checkpoint lacks tensor {exc}") from None
        return cls(spec.name, *tensors, config=ckpt.config, sha256=ckpt.sha256)

    def probabilities(self, prompt: str) -> np.ndarray:
        """The six emotion probabilities of a prompt, ``(6,) float64`` summing to 1."""
        from studio.text import embed_text

        logits = self.weight.astype(np.float64) @ embed_text(prompt) + self.bias
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        probs = self.probabilities(prompt)
        k = int(np.argmax(probs))
        rng = prompt_rng(prompt, seed)
        values = idle_face(duration_s, rng).astype(np.float64)
        gain = rng.uniform(0.9, 1.1)  # the same canned pose, played a little stronger or weaker
        values += envelope(len(values), rng)[:, None] * (gain * self.prototypes[k])[None, :]
        values[:, :N_SHAPES] = np.clip(values[:, :N_SHAPES], 0.0, 1.0)
        meta = {
            "model": self.name,
            "seed": seed,
            "emotion": facs.EMOTIONS[k],
            "emotion_probs": [round(float(p), 4) for p in probs],
        }
        return MotionClip(values.astype(np.float32), FPS, "arkit", ARKIT_CHANNELS, meta)

    @classmethod
    def train(cls, data: Path, out: Path, *, seed: int = 0, quick: bool = False) -> str:
        """Fit the classifier and the prototypes on a dataset folder; write ``out``; return its SHA-256.

        Needs the six emotion score columns (``happiness`` .. ``disgust``) in ``prompts.csv``.
        Each training prompt's target is its clip's top emotion, weighted by that score (a
        near-uniform clip teaches little). Prototypes: the median apex pose of the (up to 300,
        or 20 with ``quick``) clips scoring highest on each emotion; an emotion with no clip
        falls back to its EMFACS prototype (:func:`studio.facs.prototype_pose`).
        """
        from sklearn.linear_model import LogisticRegression

        from studio.formats import read_clip, read_dataset
        from studio.text import embed_texts

        dataset = read_dataset(data)
        train = dataset.split("train") or dataset.items  # a folder without splits trains on all
        val = dataset.split("val")
        missing = [e for e in facs.EMOTIONS if e not in train[0].labels]
        if missing:
            raise ValueError(f"{data}: prompts.csv needs the six emotion score columns; missing {missing}")

        def scores(items) -> np.ndarray:
            return np.array([[float(it.labels[e]) for e in facs.EMOTIONS] for it in items], np.float64)

        y_scores = scores(train)
        targets = y_scores.argmax(axis=1)
        features = embed_texts([it.prompt for it in train])
        weight = np.zeros((facs.N_EMOTIONS, features.shape[1]), np.float32)
        bias = np.full(facs.N_EMOTIONS, -30.0, np.float32)  # an emotion never seen is never chosen
        present = np.unique(targets)
        if len(present) == 1:
            bias[present[0]] = 0.0
        else:
            classifier = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
            classifier.fit(features, targets, sample_weight=y_scores.max(axis=1))
            coef, intercept = classifier.coef_, classifier.intercept_
            if len(present) == 2:  # sklearn folds a binary problem into one row
                coef, intercept = (
                    np.vstack([-coef / 2, coef / 2]),
                    np.array([-intercept[0] / 2, intercept[0] / 2]),
                )
            weight[present], bias[present] = coef, intercept

        per_emotion = 20 if quick else 300
        prototypes = np.zeros((facs.N_EMOTIONS, N_ARKIT), np.float32)
        counts = []
        for k, emotion in enumerate(facs.EMOTIONS):
            mine = np.flatnonzero(targets == k)
            chosen = mine[np.argsort(-y_scores[mine, k], kind="stable")][:per_emotion]
            poses = []
            for i in chosen:
                clip = read_clip(train[i].clip_path).clip
                if clip.space != "arkit":
                    raise ValueError(f"{train[i].clip_path}: the {FAMILY} family needs ARKit clips")
                poses.append(apex_pose(clip.values, clip.fps))
            counts.append(len(poses))
            # the median keeps each emotion's common core (a smile for happiness) and drops
            # what only some clips do (a laugh's open jaw, a blink caught at the apex)
            prototypes[k] = np.median(poses, axis=0) if poses else facs.prototype_pose(emotion)

        accuracy = None
        if val:
            logits = embed_texts([it.prompt for it in val]) @ weight.T + bias
            accuracy = float(np.mean(logits.argmax(axis=1) == scores(val).argmax(axis=1)))
        config = {
            "family": FAMILY,
            "format_version": FORMAT_VERSION,
            "emotions": list(facs.EMOTIONS),
            "text_encoder": TEXT_ENCODER,
            "fps": FPS,
            "training": {
                "data": dataset.name,
                "seed": seed,
                "quick": quick,
                "train_items": len(train),
                "prototype_clips": dict(zip(facs.EMOTIONS, counts, strict=True)),
                "val_items": len(val),
                "val_top1_accuracy": accuracy,
            },
        }
        tensors = {"classifier.weight": weight, "classifier.bias": bias, "prototypes": prototypes}
        return write_checkpoint(out, tensors, config)
