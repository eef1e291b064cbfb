"""studio.facs: the AU <-> ARKit table, EMFACS prototypes and the six-way emotion scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from studio import facs
from studio.motion import ARKIT_INDEX, N_ARKIT


def _pose(spec: dict[int | str, float]) -> np.ndarray:
    return facs.clip_pose(facs.au_to_arkit(facs.au_vector(spec)))


def test_emotion_order_is_express4d():
    assert facs.EMOTIONS == ("happiness", "sadness", "fear", "surprise", "anger", "disgust")


@pytest.mark.parametrize(
    ("au", "channels"),
    [  # the AU -> ARKit table of studio.facs, written out independently
        ("AU1", ["browInnerUp"]),
        ("AU2", ["browOuterUpLeft", "browOuterUpRight"]),
        ("AU4", ["browDownLeft", "browDownRight"]),
        ("AU5", ["eyeWideLeft", "eyeWideRight"]),
        ("AU6", ["cheekSquintLeft", "cheekSquintRight"]),
        ("AU7", ["eyeSquintLeft", "eyeSquintRight"]),
        ("AU9", ["noseSneerLeft", "noseSneerRight"]),
        ("AU10", ["mouthUpperUpLeft", "mouthUpperUpRight"]),
        ("AU12", ["mouthSmileLeft", "mouthSmileRight"]),
        ("AU13", ["cheekPuff"]),
        ("AU14", ["mouthDimpleLeft", "mouthDimpleRight"]),
        ("AU15", ["mouthFrownLeft", "mouthFrownRight"]),
        ("AU16", ["mouthLowerDownLeft", "mouthLowerDownRight"]),
        ("AU17", ["mouthShrugLower"]),
        ("AU18", ["mouthPucker"]),
        ("AU20", ["mouthStretchLeft", "mouthStretchRight"]),
        ("AU22", ["mouthFunnel"]),
        ("AU24", ["mouthPressLeft", "mouthPressRight"]),
        ("AU26", ["jawOpen"]),
        ("AU28", ["mouthRollLower", "mouthRollUpper"]),
        ("AU29", ["jawForward"]),
        ("AU43", ["eyeBlinkLeft", "eyeBlinkRight"]),
    ],
)
def test_au_table_matches_design(au, channels):
    row = facs.AU_BASIS[facs.AU_INDEX[au]]
    for channel in channels:
        assert row[ARKIT_INDEX[channel]] > 0.4, channel
    assert set(facs.ACTION_UNITS[facs.AU_INDEX[au]].primary) == set(channels)


def test_au_code_normalises_and_rejects():
    assert facs.au_code(12) == facs.au_code("12") == facs.au_code("au12") == "AU12"
    with pytest.raises(KeyError):
        facs.au_code(11)  # not observable in ARKit, deliberately absent


@pytest.mark.parametrize("code", [c for c in facs.AU_CODES if c != "AU27"])
def test_single_au_round_trip(code):
    """A lone AU below saturation reads back exactly from its own cue channels."""
    au = np.zeros(facs.N_AUS, np.float32)
    au[facs.AU_INDEX[code]] = 0.6
    read = facs.arkit_to_au(facs.au_to_arkit(au))
    assert read[facs.AU_INDEX[code]] == pytest.approx(0.6, abs=1e-5)


def test_au27_reads_only_beyond_a_jaw_drop():
    gape = facs.arkit_to_au(_pose({27: 1.0}))
    drop = facs.arkit_to_au(_pose({26: 0.8}))
    assert gape[facs.AU_INDEX["AU27"]] == pytest.approx(1.0)
    assert gape[facs.AU_INDEX["AU26"]] == pytest.approx(1.0)
    assert drop[facs.AU_INDEX["AU27"]] == 0.0


def test_rotation_signs_follow_the_rig_convention():
    """yaw > 0 towards the performer's right, pitch > 0 down, roll > 0 to the right."""
    frame = np.zeros(N_ARKIT, np.float32)
    frame[ARKIT_INDEX["headYaw"]] = -0.15
    frame[ARKIT_INDEX["headPitch"]] = 0.1
    frame[ARKIT_INDEX["headRoll"]] = 0.1
    frame[ARKIT_INDEX["leftEyePitch"]] = frame[ARKIT_INDEX["rightEyePitch"]] = -0.2
    au = dict(zip(facs.AU_CODES, facs.arkit_to_au(frame), strict=True))
    assert au["AU51"] == pytest.approx(0.5) and au["AU52"] == 0.0  # turned left
    assert au["AU54"] == pytest.approx(0.5) and au["AU53"] == 0.0  # head down
    assert au["AU56"] > 0.5 and au["AU55"] == 0.0  # tilted right
    assert au["AU63"] == pytest.approx(0.8) and au["AU64"] == 0.0  # eyes up


def test_eye_look_shapes_agree_with_rotations():
    """AU61 (eyes left): left eye looks out, right eye looks in, yaw = 0.6 (in - out)."""
    pose = facs.au_to_arkit(facs.au_vector({61: 1.0}))
    left = 0.6 * (pose[ARKIT_INDEX["eyeLookInLeft"]] - pose[ARKIT_INDEX["eyeLookOutLeft"]])
    right = 0.6 * (pose[ARKIT_INDEX["eyeLookOutRight"]] - pose[ARKIT_INDEX["eyeLookInRight"]])
    assert left == pytest.approx(pose[ARKIT_INDEX["leftEyeYaw"]], abs=1e-5)
    assert right == pytest.approx(pose[ARKIT_INDEX["rightEyeYaw"]], abs=1e-5)
    assert pose[ARKIT_INDEX["leftEyeYaw"]] < 0


@pytest.mark.parametrize("emotion", facs.EMOTIONS)
@pytest.mark.parametrize("intensity", [0.5, 0.8])
def test_each_prototype_scores_its_own_emotion(emotion, intensity):
    scores = facs.emotion_scores(facs.arkit_to_au(facs.prototype_pose(emotion, intensity)))
    assert facs.EMOTIONS[int(np.argmax(scores))] == emotion
    assert scores.max() > 0.55


def test_fear_and_surprise_are_told_apart():
    """They share 1+2+5+26; AU4 and AU20 make the difference."""
    surprise = facs.emotion_scores(facs.arkit_to_au(_pose({1: 0.8, 2: 0.8, 5: 0.8, 26: 0.6})))
    fear = facs.emotion_scores(facs.arkit_to_au(_pose({1: 0.8, 2: 0.8, 4: 0.7, 5: 0.8, 20: 0.7, 26: 0.6})))
    assert np.argmax(surprise) == facs.EMOTIONS.index("surprise")
    assert np.argmax(fear) == facs.EMOTIONS.index("fear")


def test_a_still_face_is_uniform():
    np.testing.assert_allclose(facs.emotion_scores(np.zeros(facs.N_AUS)), np.full(6, 1 / 6))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (5, facs.N_AUS), elements=st.floats(0, 1, width=32)))
def test_scores_are_distributions(au):
    scores = facs.emotion_scores(au)
    assert scores.shape == (5, 6)
    assert np.all(scores >= 0)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (7, N_ARKIT), elements=st.floats(-2, 2, width=32)))
def test_readout_stays_in_unit_range(values):
    au = facs.arkit_to_au(values)
    sides = facs.arkit_to_au_sides(values)
    assert au.shape == (7, facs.N_AUS) and sides.shape == (7, facs.N_AUS, 2)
    assert au.min() >= 0 and au.max() <= 1 and sides.min() >= 0 and sides.max() <= 1


def test_sides_show_a_wink_and_a_smirk():
    frame = np.zeros(N_ARKIT, np.float32)
    frame[ARKIT_INDEX["eyeBlinkLeft"]] = 1.0
    frame[ARKIT_INDEX["mouthSmileRight"]] = 0.7
    sides = facs.arkit_to_au_sides(frame)
    np.testing.assert_allclose(sides[facs.AU_INDEX["AU43"]], [1.0, 0.0])
    np.testing.assert_allclose(sides[facs.AU_INDEX["AU12"]], [0.0, 0.7], atol=1e-6)
    assert facs.arkit_to_au(frame)[facs.AU_INDEX["AU43"]] == pytest.approx(0.5)


def test_clip_scores_follow_the_apex_not_the_rest_frames():
    smile = _pose({6: 0.7, 12: 0.9})
    clip = np.zeros((120, N_ARKIT), np.float32)
    clip[50:70] = smile  # 20 expressive frames among 100 still ones
    scores = facs.clip_emotion_scores(clip)
    assert scores.sum() == pytest.approx(1.0)
    assert scores[0] > 0.8
    still = facs.clip_emotion_scores(np.zeros((60, N_ARKIT), np.float32))
    np.testing.assert_allclose(still, np.full(6, 1 / 6), atol=1e-6)


def test_compound_expressions_name_their_two_emotions():
    for name, (pair, aus) in facs.COMPOUND_EXPRESSIONS.items():
        assert set(pair) <= set(facs.EMOTIONS), name
        for au in aus:
            facs.au_code(au)  # every AU is in the table


def test_intensity_grades():
    grades = [facs.intensity_grade(x) for x in (0.05, 0.2, 0.3, 0.5, 0.7, 0.95)]
    assert grades == ["", "A", "B", "C", "D", "E"]


def test_scores_on_a_real_take(livelink_dir):
    """Real captures (values slightly above 1, rest-face offsets) give a valid distribution."""
    from studio.formats import read_clip

    clip = read_clip(livelink_dir / "facial.csv").clip
    au = facs.arkit_to_au(clip.values)
    assert au.shape == (clip.n_frames, facs.N_AUS) and au.min() >= 0 and au.max() <= 1
    scores = facs.clip_emotion_scores(clip.values)
    assert np.all(np.isfinite(scores)) and scores.sum() == pytest.approx(1.0)
