"""Motion synthesis: envelopes, idle life, performer style, ranges."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from studio import facs
from studio.corpus.actions import ACTION_INDEX
from studio.corpus.performers import make_performers
from studio.corpus.plan import make_step, plan_for
from studio.corpus.steps import FPS, Step
from studio.corpus.synth import render
from studio.motion import ARKIT_INDEX

I = ARKIT_INDEX  # noqa: E741


def _blink_onsets(lid: np.ndarray) -> np.ndarray:
    """Frames where the lid crosses 0.5 upwards, in seconds."""
    up = np.flatnonzero((lid[1:] >= 0.5) & (lid[:-1] < 0.5)) + 1
    return up / FPS


def test_idle_clip_is_alive_and_in_range():
    performers = make_performers(0, 16)
    for performer in performers:
        values = render([], 10.0, performer, np.random.default_rng(performer.index))
        assert values.shape == (300, 61) and values.dtype == np.float32
        assert values[:, :52].min() >= 0 and values[:, :52].max() <= 1
        sway = values[:, I["headYaw"]]
        assert 0.002 < np.ptp(sway) < 0.1  # small but present
        gaze = values[:, I["leftEyeYaw"]]
        jumps = np.abs(np.diff(gaze)) > 0.01
        assert 2 <= jumps.sum() <= 60  # saccades between fixations, not noise


def test_blinks_every_two_to_six_seconds():
    performers = make_performers(1, 24)
    gaps = []
    for performer in performers:
        values = render([], 10.0, performer, np.random.default_rng(performer.index + 100))
        onsets = _blink_onsets(values[:, I["eyeBlinkLeft"]])
        assert 1 <= len(onsets) <= 8
        gaps.extend(np.diff(onsets))
        # blinks close fast and reopen slower: peaks last only a few frames
        assert (values[:, I["eyeBlinkLeft"]] > 0.5).sum() <= len(onsets) * 5
    gaps = np.array(gaps)
    assert gaps.min() >= 0.75 and gaps.max() <= 6.5
    assert 2.0 <= np.median(gaps) <= 5.0


def test_eye_shapes_follow_eye_rotations():
    values = render([], 6.0, make_performers(2)[3], np.random.default_rng(0))
    yaw = values[:, I["leftEyeYaw"]]
    np.testing.assert_allclose(
        yaw,
        facs.EYE_YAW_PER_LOOK * (values[:, I["eyeLookInLeft"]] - values[:, I["eyeLookOutLeft"]]),
        atol=1e-5,
    )
    pitch = values[:, I["rightEyePitch"]]
    np.testing.assert_allclose(
        pitch,
        -facs.EYE_PITCH_PER_LOOK * (values[:, I["eyeLookUpRight"]] - values[:, I["eyeLookDownRight"]]),
        atol=1e-5,
    )


def test_a_stare_suppresses_blinks():
    performers = make_performers(0)
    plan = plan_for(["stare"], performers, seed=3)
    step = plan.steps[0]
    values = render(plan.steps, plan.duration_s, performers[plan.performer], np.random.default_rng(0))
    onsets = _blink_onsets(values[:, I["eyeBlinkLeft"]])
    assert not np.any((onsets > step.start) & (onsets < step.end))


def _peak(action: str, performer_index: int, channel: str, **changes: float) -> tuple[float, float]:
    performers = make_performers(4)
    performer = dataclasses.replace(performers[performer_index], **changes)
    step = Step(action, start=0.5, onset=0.4, apex=1.0, offset=0.5)
    values = render([step], 3.0, performer, np.random.default_rng(0))
    track = values[:, I[channel]]
    return float(track.max()), float(np.argmax(track > 0.5 * track.max()) / FPS)


def test_performer_style():
    quiet, _ = _peak("smile", 0, "mouthSmileLeft", gain=0.8, asymmetry=0.0)
    loud, _ = _peak("smile", 0, "mouthSmileLeft", gain=1.15, asymmetry=0.0)
    assert loud > quiet * 1.2
    left, _ = _peak("smile", 0, "mouthSmileLeft", gain=1.0, asymmetry=0.15)
    right, _ = _peak("smile", 0, "mouthSmileRight", gain=1.0, asymmetry=0.15)
    assert left > right * 1.2


def test_faster_performers_reach_the_apex_sooner():
    performers = make_performers(5)
    slow, fast = (dataclasses.replace(performers[0], speed=s) for s in (0.75, 1.3))
    onsets = []
    for performer in (slow, fast):
        plan = plan_for(["raise_brows"], (performer,), seed=9, index=1)
        step = plan.steps[0]
        onsets.append(step.onset)
    assert onsets[1] < onsets[0]


@pytest.mark.parametrize(
    ("action", "channel", "low", "high"),
    [
        ("nod", "headPitch", 0.04, 0.2),
        ("shake_head", "headYaw", 0.04, 0.2),
        ("tilt_head", "headRoll", 0.05, 0.2),
    ],
)
def test_head_motion_amplitudes(action, channel, low, high):
    """Head gestures stay in the normalised range a nod should have (about ±0.05–0.15)."""
    performers = make_performers(0)
    for index in range(6):
        rng = np.random.default_rng(index)
        performer = performers[index]
        step = make_step(ACTION_INDEX[action], 0.5, rng, performer)  # no intensity word
        values = render([step], step.end + 0.5, performer, rng)
        amplitude = np.abs(values[:, I[channel]] - values[0, I[channel]]).max()  # from the rest pose
        assert low < amplitude < high, (index, amplitude)
    if action == "shake_head":  # a shake crosses the centre line both ways
        assert values[:, I["headYaw"]].max() > 0.03 and values[:, I["headYaw"]].min() < -0.03
