"""Six-way FACS emotion categories for prompts (text) and clips (motion), and their agreement.

Score vectors are ``(N, 6) float64`` rows summing to 1 in :data:`studio.facs.EMOTIONS` order
(Express4D's: happiness, sadness, fear, surprise, anger, disgust).

* Prompt side, offline default: :class:`ZeroShotCategoriser` — cosine similarity of the
  prompt's MiniLM embedding to a few plain-English descriptions of each category (the feeling
  and the EMFACS face), softmax at a temperature fitted on labelled prompts
  (:func:`fit_temperature`). The descriptions are general FACS knowledge, not tuned on any
  corpus. The other backend, an OpenAI-compatible LLM, lives in :mod:`studio.analysis.llm`.
* Motion side: :func:`motion_scores` — ARKit clip -> AU activations -> EMFACS evidence ->
  scores, all from :mod:`studio.facs` (:func:`studio.facs.clip_emotion_scores`).
* :func:`consistency` — how often what a clip shows matches what its prompt asks: top-1
  agreement, mean cosine, and the confusion matrix (rows asked, columns shown).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from studio import facs
from studio.motion import N_ARKIT, MotionClip

EMOTIONS = facs.EMOTIONS
N_EMOTIONS = facs.N_EMOTIONS

# Several phrasings per category: the feeling, the situation, and the EMFACS face
# (the category's prototype action units), so a prompt that only names facial actions still finds
# its category.
CATEGORY_DESCRIPTIONS: Mapping[str, tuple[str, ...]] = {
    "happiness": (
        "a person feels happy, joyful and delighted",
        "someone smiles warmly and laughs with pleasure",
        "cheeks raised and lip corners pulled up in a smile",
        "amused, cheerful, pleased, grinning",
    ),
    "sadness": (
        "a person feels sad, sorrowful and unhappy",
        "someone is heartbroken, gloomy and close to tears",
        "inner brows raised and lip corners pulled down in sorrow",
        "disappointed, lonely, miserable, melancholy",
    ),
    "fear": (
        "a person feels afraid, frightened and scared",
        "someone is terrified and anxious about danger",
        "eyes wide, brows raised and drawn together, lips stretched in fear",
        "nervous, panicked, worried, horrified",
    ),
    "surprise": (
        "a person is surprised, astonished and amazed",
        "someone is startled by something unexpected",
        "brows raised, eyes wide open and jaw dropped in surprise",
        "shocked, stunned, in awe, gasping",
    ),
    "anger": (
        "a person feels angry, furious and irritated",
        "someone is annoyed and outraged, glaring",
        "brows lowered and drawn together, eyes tightened, lips pressed in anger",
        "frustrated, hostile, scowling, indignant",
    ),
    "disgust": (
        "a person feels disgusted and repulsed",
        "someone smells or tastes something gross and revolting",
        "nose wrinkled and upper lip raised in disgust",
        "grossed out, sickened, contemptuous, sneering",
    ),
}

# Fitted on the synthetic corpus's train split (``emotion`` column, neutral prompts as uniform
# targets); analyse_dataset refits it on any folder that carries labels.
DEFAULT_TEMPERATURE = 0.069
_LETTER_SCRIPTS = ("LATIN",)


@dataclass(frozen=True)
class Categorised:
    """Category scores for N texts: ``scores (N, 6) float64`` rows sum to 1; ``notes`` per text
    (empty, or why the scores should be read with care: e.g. a prompt not in English)."""

    scores: np.ndarray
    notes: tuple[str, ...]

    @property
    def dominant(self) -> np.ndarray:
        """``(N,) int`` index of the top category (ties: the first in Express4D order)."""
        return self.scores.argmax(axis=1) if len(self.scores) else np.zeros(0, int)


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``: ``(N, K)`` -> ``(N, K) float64`` rows summing to 1."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def non_latin_share(text: str) -> float:
    """Fraction of the letters in ``text`` outside the Latin script (0 for English, ~1 for Chinese)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    foreign = sum(1 for c in letters if not unicodedata.name(c, "").startswith(_LETTER_SCRIPTS))
    return foreign / len(letters)


_ENGLISH_HINTS = re.compile(r"\b(the|a|an|and|with|their|his|her|they|then|is|as|of|to|in|at|while)\b", re.I)


def language_note(text: str) -> str:
    """A one-line warning when a prompt is probably not English (MiniLM is an English encoder)."""
    if non_latin_share(text) > 0.5:
        return "not in Latin script: the offline encoder is English-only, scores are unreliable"
    words = re.findall(r"[^\W\d_]+", text)
    if len(words) >= 4 and not _ENGLISH_HINTS.search(text) and any(ord(c) > 127 for c in text):
        return "probably not English: the offline encoder is English-only, scores are unreliable"
    return ""


class ZeroShotCategoriser:
    """Prompts -> six category scores from MiniLM similarity to :data:`CATEGORY_DESCRIPTIONS`.

    ``embed`` maps texts to ``(N, D)`` unit vectors (pass ``EmbeddingCache(...).embed`` to cache
    on disk); the category anchors are the normalised means of each category's description
    embeddings. ``temperature`` is the softmax temperature on cosine similarities.
    """

    name = "zero-shot-minilm"

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray],
        temperature: float = DEFAULT_TEMPERATURE,
        descriptions: Mapping[str, Sequence[str]] = CATEGORY_DESCRIPTIONS,
    ) -> None:
        self.embed = embed
        self.temperature = float(temperature)
        self.descriptions = {e: tuple(descriptions[e]) for e in EMOTIONS}
        self._anchors: np.ndarray | None = None

    @property
    def anchors(self) -> np.ndarray:
        """``(6, D) float64`` unit vectors, one per category."""
        if self._anchors is None:
            flat = [d for e in EMOTIONS for d in self.descriptions[e]]
            vectors = np.asarray(self.embed(flat), np.float64)
            owner = np.repeat(np.arange(N_EMOTIONS), [len(self.descriptions[e]) for e in EMOTIONS])
            means = np.stack([vectors[owner == k].mean(axis=0) for k in range(N_EMOTIONS)])
            self._anchors = means / np.linalg.norm(means, axis=1, keepdims=True)
        return self._anchors

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """Prompt embeddings ``(N, D)`` -> cosine similarity to each category ``(N, 6) float64``."""
        e = np.asarray(embeddings, np.float64).reshape(-1, self.anchors.shape[1])
        return e @ self.anchors.T

    def scores_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """``(N, D)`` unit vectors -> ``(N, 6)`` scores summing to 1."""
        return softmax(self.similarities(embeddings), self.temperature)

    def categorise(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> Categorised:
        """Score ``texts``; pass their ``embeddings`` when already computed (t-SNE needs them too)."""
        if embeddings is None:
            embeddings = np.asarray(self.embed(list(texts)), np.float32)
        scores = self.scores_from_embeddings(embeddings) if len(texts) else np.zeros((0, N_EMOTIONS))
        return Categorised(scores, tuple(language_note(t) for t in texts))


def fit_temperature(
    similarities: np.ndarray,
    labels: np.ndarray,
    *,
    soft: bool = False,
    bounds: tuple[float, float] = (1e-3, 10.0),
) -> float:
    """The softmax temperature that minimises the negative log-likelihood of ``labels``.

    ``similarities (N, 6)``; ``labels`` is ``(N,) int`` category indices, or with ``soft``
    ``(N, 6)`` target distributions (cross-entropy). A temperature only rescales confidence:
    the top category, and so accuracy, does not change. Raises ValueError without labels.
    """
    from scipy.optimize import minimize_scalar

    s = np.asarray(similarities, np.float64)
    if len(s) == 0:
        raise ValueError("no labelled prompts to fit a temperature on")
    targets = np.asarray(labels, np.float64) if soft else np.eye(N_EMOTIONS)[np.asarray(labels, int)]

    def loss(log_t: float) -> float:
        z = s / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-(targets * log_p).sum(axis=1).mean())

    result = minimize_scalar(loss, bounds=np.log(bounds), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


# --------------------------------------------------------------------------------------------
# Motion side
# --------------------------------------------------------------------------------------------


def motion_scores(clip: MotionClip) -> np.ndarray:
    """An ARKit clip's six EMFACS category scores ``(6,) float64``.

    ARKit -> AU activations -> EMFACS evidence -> softmax (:func:`studio.facs.clip_emotion_scores`).

    FLAME clips have no AU mapping here: ValueError.
    """
    if clip.space != "arkit":
        raise ValueError(f"motion categories need an ARKit clip, got a {clip.space} clip")
    return facs.clip_emotion_scores(clip.values)


def clip_au_peaks(values: np.ndarray, quantile: float = 0.95) -> np.ndarray:
    """ARKit ``(T, 61)`` -> each AU's near-peak activation ``(N_AUS,) float32`` (``quantile`` over frames).

    The 95th percentile rather than the maximum, so one noisy frame does not count as an action.
    """
    au = facs.arkit_to_au(np.asarray(values, np.float32).reshape(-1, N_ARKIT))
    return np.quantile(au, quantile, axis=0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Agreement
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consistency:
    """How well shown categories match asked ones over N pairs.

    ``top1`` fraction of pairs whose top categories agree, with a 95% bootstrap interval
    ``top1_ci`` (1,000 resamples of the pairs, fixed seed); ``mean_cosine`` mean cosine of the
    two score vectors; ``confusion (6, 6) int`` counts, rows = asked (prompt), columns = shown
    (motion); ``n`` pairs. With no pairs, the numbers are NaN.
    """

    n: int
    top1: float
    mean_cosine: float
    confusion: np.ndarray
    top1_ci: tuple[float, float] = (float("nan"), float("nan"))

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "top1": _finite_or_none(self.top1),
            "top1_ci95": [_finite_or_none(x) for x in self.top1_ci],
            "mean_cosine": _finite_or_none(self.mean_cosine),
            "confusion": self.confusion.tolist(),
        }


def _finite_or_none(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None


def bootstrap_ci(values: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``values (N,)``; NaNs when empty."""
    v = np.asarray(values, np.float64).ravel()
    if len(v) == 0:
        return float("nan"), float("nan")
    means = v[np.random.default_rng(seed).integers(0, len(v), (resamples, len(v)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def consistency(asked: np.ndarray, shown: np.ndarray) -> Consistency:
    """Agreement of two ``(N, 6)`` score arrays (rows paired: prompt i and the clip made for it)."""
    a = np.asarray(asked, np.float64).reshape(-1, N_EMOTIONS)
    b = np.asarray(shown, np.float64).reshape(-1, N_EMOTIONS)
    if a.shape != b.shape:
        raise ValueError(f"asked {a.shape} and shown {b.shape} must pair up")
    confusion = np.zeros((N_EMOTIONS, N_EMOTIONS), int)
    if len(a) == 0:
        return Consistency(0, float("nan"), float("nan"), confusion)
    top_a, top_b = a.argmax(axis=1), b.argmax(axis=1)
    np.add.at(confusion, (top_a, top_b), 1)
    agree = (top_a == top_b).astype(np.float64)
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return Consistency(len(a), float(agree.mean()), float(np.mean(cosine)), confusion, bootstrap_ci(agree))


def label_indices(labels: Sequence[str]) -> np.ndarray:
    """Category names -> ``(N,) int`` indices; anything not one of the six (``neutral``, blank) -> -1."""
    index = {e: k for k, e in enumerate(EMOTIONS)}
    return np.array([index.get(str(label).strip().lower(), -1) for label in labels], int)
