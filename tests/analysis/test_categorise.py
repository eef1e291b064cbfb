from __future__ import annotations

import numpy as np
import pytest

from studio import facs
from studio.analysis.categorise import (
    EMOTIONS,
    ZeroShotCategoriser,
    bootstrap_ci,
    clip_au_peaks,
    consistency,
    fit_temperature,
    label_indices,
    language_note,
    motion_scores,
    softmax,
)
from studio.motion import MotionClip
from tests.analysis.conftest import emotion_clip, keyword_embed


def test_zero_shot_scores_are_distributions_and_follow_the_words():
    categoriser = ZeroShotCategoriser(keyword_embed, temperature=0.1)
    texts = ["a happy smile", "she is afraid", "a furious glare", "disgusted by gross food"]
    result = categoriser.categorise(texts)
    assert result.scores.shape == (4, 6)
    np.testing.assert_allclose(result.scores.sum(axis=1), 1.0)
    assert [EMOTIONS[k] for k in result.dominant] == ["happiness", "fear", "anger", "disgust"]


def test_temperature_sharpens_without_changing_the_top_category():
    texts = ["a sad story", "amazed and surprised"]
    cold = ZeroShotCategoriser(keyword_embed, temperature=0.02).categorise(texts).scores
    warm = ZeroShotCategoriser(keyword_embed, temperature=1.0).categorise(texts).scores
    assert (cold.argmax(axis=1) == warm.argmax(axis=1)).all()
    assert (cold.max(axis=1) > warm.max(axis=1)).all()
    assert warm.max() < 0.5  # a warm softmax over cosines stays close to uniform


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    similarities = rng.uniform(-0.2, 0.6, (4000, 6))
    probabilities = softmax(similarities, 0.08)
    labels = np.array([rng.choice(6, p=p) for p in probabilities])
    assert fit_temperature(similarities, labels) == pytest.approx(0.08, rel=0.1)
    soft = fit_temperature(similarities, probabilities, soft=True)
    assert soft == pytest.approx(0.08, rel=0.02)


def test_fit_temperature_needs_labels():
    with pytest.raises(ValueError, match="no labelled"):
        fit_temperature(np.zeros((0, 6)), np.zeros(0, int))


def test_label_indices_maps_unknown_and_neutral_to_minus_one():
    assert label_indices(["Happiness", "neutral", "", "disgust", "joy"]).tolist() == [0, -1, -1, 5, -1]


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("A person smiles widely", False),
        ("Un homme sourit largement", False),  # Latin script, no accents: not flagged (and scored as is)
        ("Ein Mann lächelt glücklich und lacht laut", True),
        ("一个人开心地笑了", True),
        ("Человек широко улыбается", True),
        ("", False),
    ],
)
def test_language_note_flags_prompts_the_english_encoder_cannot_read(text, flagged):
    assert bool(language_note(text)) is flagged


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_motion_scores_find_each_emfacs_prototype(emotion):
    scores = motion_scores(emotion_clip(emotion))
    assert scores.shape == (6,)
    assert scores.sum() == pytest.approx(1.0)
    assert EMOTIONS[int(scores.argmax())] == emotion


def test_motion_scores_of_a_still_face_are_nearly_uniform():
    scores = motion_scores(emotion_clip(None))
    assert scores.max() - scores.min() < 0.05


def test_motion_scores_refuse_flame_clips():
    channels = tuple(f"expr_{i:03d}" for i in range(50))
    clip = MotionClip(np.zeros((10, len(channels)), np.float32), 30.0, "flame", channels)
    with pytest.raises(ValueError, match="ARKit"):
        motion_scores(clip)


def test_clip_au_peaks_reads_the_prototype_aus():
    peaks = clip_au_peaks(emotion_clip("happiness").values)
    assert peaks[facs.AU_INDEX["AU12"]] > 0.6
    assert peaks[facs.AU_INDEX["AU4"]] < 0.05


def test_consistency_counts_agreement_and_builds_the_confusion_matrix():
    eye = np.eye(6)
    asked = eye[[0, 0, 1, 2, 3]]
    shown = eye[[0, 1, 1, 2, 5]] * 0.9 + 0.1 / 6
    result = consistency(asked, shown)
    assert result.n == 5
    assert result.top1 == pytest.approx(3 / 5)
    assert result.confusion[0, 0] == 1 and result.confusion[0, 1] == 1 and result.confusion[3, 5] == 1
    assert result.confusion.sum() == 5
    low, high = result.top1_ci
    assert 0.0 <= low <= result.top1 <= high <= 1.0
    assert 0 < result.mean_cosine < 1
    assert result.as_dict()["top1"] == 0.6


def test_consistency_of_nothing_is_nan_and_json_safe():
    result = consistency(np.zeros((0, 6)), np.zeros((0, 6)))
    assert result.n == 0 and np.isnan(result.top1)
    assert result.as_dict()["top1"] is None


def test_consistency_refuses_unpaired_rows():
    with pytest.raises(ValueError, match="pair"):
        consistency(np.eye(6), np.eye(6)[:3])


def test_bootstrap_ci_narrows_with_more_data():
    rng = np.random.default_rng(1)
    small = bootstrap_ci(rng.random(20) < 0.5)
    large = bootstrap_ci(rng.random(2000) < 0.5)
    assert small[1] - small[0] > 2 * (large[1] - large[0])


@pytest.mark.slow
def test_real_minilm_zero_shot_reads_plain_emotion_prompts():
    """The offline encoder with the shipped descriptions (no calibration) on unambiguous prompts."""
    from studio.text import embed_texts

    prompts = {
        "She bursts out laughing at a funny joke": "happiness",
        "He wrinkles his nose at the rotten smell": "disgust",
        "She trembles, terrified of the dark": "fear",
        "He slams his fist on the table in rage": "anger",
        "She weeps quietly after hearing the sad news": "sadness",
        "His jaw drops in astonishment": "surprise",
    }
    result = ZeroShotCategoriser(embed_texts).categorise(list(prompts))
    assert [EMOTIONS[k] for k in result.dominant] == list(prompts.values())
