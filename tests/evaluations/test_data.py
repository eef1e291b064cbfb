"""Reading splits at the evaluation rate, padding, normalisation and the data fingerprint."""

import numpy as np
import pytest

from evaluations.data import (
    EVAL_FPS,
    MAX_FRAMES,
    STD_FLOOR_BLENDSHAPE,
    fit_normalisation,
    items_fingerprint,
    pad_batch,
    read_split,
    to_eval_rate,
)
from studio.formats import read_dataset
from studio.motion import ARKIT_CHANNELS, FlameLayout, MotionClip
from tests.evaluations.conftest import smile_clip


def test_eval_rate_length_cap_and_static_clips():
    assert to_eval_rate(smile_clip(4.0)).shape == (4 * EVAL_FPS, 61)  # 120 frames at 30 fps -> 40
    assert to_eval_rate(smile_clip(15.0)).shape == (MAX_FRAMES, 61)  # 15 s is cut at 10 s
    static = MotionClip(np.full((1, 61), 0.1, np.float32), 30.0, "arkit", ARKIT_CHANNELS)
    assert to_eval_rate(static).shape == (2, 61)  # a static expression still has a duration


def test_flame_clips_are_refused():
    channels = FlameLayout(50, "6d").channels
    clip = MotionClip(np.zeros((10, len(channels)), np.float32), 24.0, "flame", channels)
    with pytest.raises(ValueError, match="ARKit"):
        to_eval_rate(clip)


def test_pad_batch_zscores_and_pads_with_zeros():
    mean, std = np.full(61, 0.5, np.float32), np.full(61, 0.25, np.float32)
    a, b = np.ones((3, 61), np.float32), np.zeros((120, 61), np.float32)
    x, lengths = pad_batch([a, b], mean, std)
    assert x.shape == (2, MAX_FRAMES, 61) and lengths.tolist() == [3, MAX_FRAMES]
    assert np.allclose(x[0, :3], 2.0) and np.all(x[0, 3:] == 0.0)  # (1 - 0.5) / 0.25 = 2
    assert np.allclose(x[1], -2.0)


def test_normalisation_floors_quiet_channels():
    rng = np.random.default_rng(0)
    motions = [rng.normal(0.3, 0.2, (50, 61)).astype(np.float32) for _ in range(4)]
    for m in motions:
        m[:, 0] = 0.1  # a channel that never moves
    mean, std = fit_normalisation(motions)
    assert std[0] == pytest.approx(STD_FLOOR_BLENDSHAPE) and mean[0] == pytest.approx(0.1)
    assert std[1] == pytest.approx(0.2, rel=0.15)


def test_read_split_and_fingerprint(tiny_corpus, tmp_path):
    dataset = read_dataset(tiny_corpus)
    val = read_split(dataset, "val")
    assert len(val) == len(dataset.split("val"))
    assert val.emotion_scores is not None and np.allclose(val.emotion_scores.sum(1), 1.0, atol=1e-5)
    assert all(m.shape[1] == 61 and 2 <= len(m) <= MAX_FRAMES for m in val.motions)
    items = dataset.split("val")
    first = items_fingerprint(items)
    assert first == items_fingerprint(list(reversed(items)))  # order-free
    assert first != items_fingerprint(items[1:])


def test_subsample_keeps_order_and_respects_the_limit():
    import numpy as np

    from evaluations.data import subsample

    items = list(range(20))
    picked = subsample(items, 5, np.random.default_rng(0))
    assert len(picked) == 5 and picked == sorted(picked) and set(picked) < set(items)
    assert subsample(items, None, np.random.default_rng(0)) == items
    assert subsample(items, 50, np.random.default_rng(0)) == items
