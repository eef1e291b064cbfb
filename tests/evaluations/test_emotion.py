"""The emotion recogniser: the circumplex mapping, features, the trained MLP and its scores."""

import numpy as np
import pytest

from evaluations.data import read_split
from evaluations.emotion import (
    EMOTION_VA,
    N_FEATURES,
    EmotionRecogniser,
    clip_statistics,
    emotion_scores_against_prompts,
    load_default_recogniser,
    va_from_scores,
)
from studio.facs import EMOTIONS
from studio.formats import read_dataset
from tests.evaluations.conftest import smile_clip


def test_circumplex_mapping():
    assert np.allclose(va_from_scores(np.eye(6)), EMOTION_VA)
    # happiness is pleasant, sadness unpleasant and calm, fear/anger/surprise aroused
    va = dict(zip(EMOTIONS, EMOTION_VA, strict=True))
    assert va["happiness"][0] > 0.5 > -0.5 > va["sadness"][0] and va["sadness"][1] < 0
    assert min(va["fear"][1], va["anger"][1], va["surprise"][1]) > 0.5
    # a 50/50 mixture sits halfway; unnormalised weights are normalised first
    mix = va_from_scores(np.array([[2.0, 2.0, 0, 0, 0, 0]]))[0]
    assert np.allclose(mix, (EMOTION_VA[0] + EMOTION_VA[1]) / 2)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        va_from_scores(np.ones((3, 5)))


def test_clip_statistics():
    motion = np.zeros((4, 61), np.float32)
    motion[:, 3] = [0.0, 1.0, 2.0, 3.0]
    stats = clip_statistics(motion)
    assert stats.shape == (N_FEATURES,)
    # channel 3: mean 1.5, std sqrt(1.25), min 0, max 3 at offsets 0, 61, 122, 183
    assert stats[[3, 64, 125, 186]] == pytest.approx([1.5, np.sqrt(1.25), 0.0, 3.0])


def test_quick_recogniser_predicts_probabilities(tiny_recogniser_path):
    recogniser = EmotionRecogniser.load(tiny_recogniser_path)
    probs, va = recogniser.predict([smile_clip(2.0), smile_clip(5.0, peak=0.3)])
    assert probs.shape == (2, 6) and va.shape == (2, 2)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    single, _ = recogniser.predict([smile_clip(2.0)])  # batch norm in eval mode: no batch coupling
    assert np.allclose(single[0], probs[0], atol=1e-6)
    assert recogniser.provenance["training_data_sha256"] and "circumplex" in recogniser.provenance


def test_shipped_recogniser_reads_unseen_clips(tiny_corpus):
    """The shipped recogniser on a corpus it never saw (another seed): well above chance (1/6)."""
    dataset = read_dataset(tiny_corpus)
    split = read_split(dataset, "all", dataset.items)
    scores = emotion_scores_against_prompts(load_default_recogniser(), split.motions, split.emotion_scores)
    assert scores.accuracy > 0.6
    assert scores.va_ccc > 0.5
    smile_probs, _ = load_default_recogniser().predict([smile_clip(3.0)])
    assert EMOTIONS[int(smile_probs.argmax())] == "happiness"
