"""The action vocabulary: coverage, unique phrasings, FACS-grounded poses, mirroring."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from studio import facs
from studio.corpus.actions import ACTION_INDEX, ACTIONS, action_pose, mirror, regions
from studio.corpus.language import verb_form
from studio.motion import ARKIT_INDEX

I = ARKIT_INDEX  # noqa: E741


def test_at_least_150_distinct_actions_and_emotion_phrases():
    assert len({a.id for a in ACTIONS}) == len(ACTIONS) >= 150
    assert sum(len(a.phrases) for a in ACTIONS) >= 600


@pytest.mark.parametrize(
    "action_id",
    [
        "smile",
        "smile_broad",
        "smile_closed",
        "smirk",
        "grin",
        "laugh",
        "chuckle",
        "frown",
        "pout",
        "press_lips",
        "jaw_drop",
        "yawn",
        "gasp",
        "wink",
        "wink_left",
        "squint",
        "eye_roll",
        "look_left",
        "look_up",
        "raise_brows",
        "raise_one_brow",
        "nose_wrinkle",
        "cheek_puff",
        "tongue_out",
        "nod",
        "shake_head",
        "tilt_head",
        "blink",
        "happy",
        "sad",
        "afraid",
        "surprised",
        "angry",
        "disgusted",
        "pleasantly_surprised",
        "appalled",
    ],
)
def test_the_brief_vocabulary_is_there(action_id):
    assert action_id in ACTION_INDEX


def test_a_phrase_names_one_action():
    """Paraphrases of different actions must not collide, in any inflected form."""
    owner: dict[str, str] = {}
    for action in ACTIONS:
        for phrase in action.phrases:
            for form in ("3s", "ing"):
                key = verb_form(phrase, form)
                assert owner.setdefault(key, action.id) == action.id, (key, owner[key], action.id)


def test_heldout_phrase_is_the_last_of_three_or_more():
    for action in ACTIONS:
        if len(action.phrases) >= 3:
            assert action.heldout_phrase == action.phrases[-1]
            assert action.heldout_phrase not in action.train_phrases
        else:
            assert action.heldout_phrase is None


def _au(pose: np.ndarray, code: str) -> float:
    return float(facs.arkit_to_au(pose)[facs.AU_INDEX[code]])


def test_poses_say_what_the_words_say():
    broad = action_pose("smile_broad")
    assert min(broad[I["mouthSmileLeft"]], broad[I["mouthSmileRight"]]) > 0.8
    assert broad[I["cheekSquintLeft"]] > 0.5 and broad[I["jawOpen"]] > 0.1
    frown = action_pose("frown")
    assert frown[I["mouthFrownLeft"]] > 0.4 and frown[I["browDownLeft"]] > 0.5
    assert frown[I["mouthSmileLeft"]] == 0
    assert action_pose("jaw_drop")[I["jawOpen"]] > 0.4
    assert action_pose("tongue_out")[I["tongueOut"]] > 0.7
    assert action_pose("cheek_puff")[I["cheekPuff"]] > 0.8
    assert action_pose("nose_wrinkle")[I["noseSneerLeft"]] > 0.7
    assert action_pose("raise_brows")[I["browOuterUpRight"]] > 0.6
    assert action_pose("press_lips")[I["mouthPressLeft"]] > 0.8
    assert action_pose("look_left")[I["leftEyeYaw"]] < -0.2 and action_pose("look_left")[I["headYaw"]] < 0
    assert action_pose("look_up")[I["rightEyePitch"]] < -0.15
    assert action_pose("head_down")[I["headPitch"]] > 0.1


def test_one_sided_actions_and_mirroring():
    left, right = action_pose("wink_left"), action_pose("wink_right", mirrored=True)
    assert left[I["eyeBlinkLeft"]] == 1.0 and left[I["eyeBlinkRight"]] == 0.0
    assert right[I["eyeBlinkRight"]] == 1.0 and right[I["eyeBlinkLeft"]] == 0.0
    looked = action_pose("look_left", mirrored=True)
    assert looked[I["leftEyeYaw"]] > 0.2 and looked[I["headYaw"]] > 0  # now to the right
    for action in ACTIONS[:40]:
        pose = action_pose(action.id)
        np.testing.assert_allclose(mirror(mirror(pose)), pose)


def test_intensity_scales_and_saturates():
    weak, strong = action_pose("smile", 0.4), action_pose("smile", 1.5)
    assert weak[I["mouthSmileLeft"]] < action_pose("smile")[I["mouthSmileLeft"]] < strong[I["mouthSmileLeft"]]
    assert strong[I["mouthSmileLeft"]] <= 1.0  # AU12 cannot exceed grade E


def test_still_actions_are_distinct():
    """Different hold/pulse actions must differ in pose, or else in timing or side.

    ("blink" and "close eyes" share a pose but not a duration; "wink" and "wink left" share a
    pose but one names its side.) Same-looking, same-timed actions would be label noise.
    """
    still = [a for a in ACTIONS if a.pose_only]
    for a, b in itertools.combinations(still, 2):
        pose_gap = np.abs(action_pose(a.id) - action_pose(b.id)).max()
        same_timing = a.timing_ranges() == b.timing_ranges() and a.kind == b.kind
        assert pose_gap > 0.05 or not same_timing or a.side != b.side, (a.id, b.id)


def test_emotion_phrases_score_their_emotion():
    """An EMFACS-grounded "looks <adjective>" pose reads as its emotion in FACS terms."""
    hits, total = 0, 0
    for action in ACTIONS:
        if action.category != "emotion" or action.emotion not in facs.EMOTIONS:
            continue
        scores = facs.emotion_scores(facs.arkit_to_au(facs.clip_pose(action_pose(action.id))))
        hits += facs.EMOTIONS[int(np.argmax(scores))] == action.emotion
        total += 1
    assert total >= 50
    assert hits / total >= 0.8, f"{hits}/{total}"


def test_regions():
    assert regions(ACTION_INDEX["nod"]) == {"head"}
    assert "mouth" in regions(ACTION_INDEX["smile"]) and "brow" in regions(ACTION_INDEX["raise_brows"])
    assert "gaze" in regions(ACTION_INDEX["look_left"])
