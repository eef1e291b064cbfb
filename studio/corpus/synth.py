"""Motion synthesis: a timeline of action steps + a performer's style + idle life -> ARKit frames.

Arrays in, arrays out. Everything is ``(T, 61) float32`` in ARKit order at :data:`FPS` (the
studio's output rate); times are seconds; rotations are normalised ARKit units (signs as in
:mod:`studio.facs`).

The clip is built in layers, each vectorised over frames:

1. the performer's rest face (real faces are never all zeros: lids slightly narrowed, inner
   brows a little up, lips not quite closed);
2. each step: an envelope ``(T,)`` (eased onset, apex with slight decay, eased offset) times
   its apex pose ``(61,)``, plus the step's oscillation or path when it has one;
3. an optional context tint (a faint emotion prototype under the whole performance);
4. idle life: blinks every 2–6 s (fast close, slower open), small head sway and breathing,
   gaze saccades with fixations of ~0.3–2.5 s (paused while an action steers the gaze) and
   the vestibulo-ocular counter-roll of the eyes;
5. eye-look shapes derived from the final eye rotations (slopes fitted on real takes), lids
   following downward gaze, and a soft saturation of blendshapes into [0, 1].

The pieces: :mod:`~studio.corpus.performers` (1), :mod:`~studio.corpus.steps` (2),
:mod:`~studio.corpus.oscillations` (2), :mod:`~studio.corpus.idle` (4); this module layers them
(:func:`render`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from studio import facs
from studio.corpus.actions import ACTION_INDEX, N_SHAPES, Action, action_pose
from studio.corpus.idle import idle_life
from studio.corpus.oscillations import MOTIONS
from studio.corpus.performers import Performer
from studio.corpus.steps import FPS, Step, ease, envelope
from studio.motion import ARKIT_CHANNELS, ARKIT_INDEX, N_ARKIT

__all__ = ["render"]

_I = ARKIT_INDEX
_LEFT = np.array([n.endswith("Left") for n in ARKIT_CHANNELS], bool)
_RIGHT = np.array([n.endswith("Right") for n in ARKIT_CHANNELS], bool)
_LEFT[N_SHAPES:] = False
_RIGHT[N_SHAPES:] = False


def _soft_saturate(x: np.ndarray, knee: float = 0.8) -> np.ndarray:
    """Identity below ``knee``, then a tanh roll-off that never exceeds 1; negatives -> 0."""
    x = np.maximum(x, 0.0)
    over = x > knee
    room = 1.0 - knee
    return np.where(over, knee + room * np.tanh((x - knee) / room), x)


def _style(pose: np.ndarray, performer: Performer) -> np.ndarray:
    """Apply the performer's gain and left/right asymmetry to a pose ``(..., 61)``."""
    styled = pose * performer.gain
    styled[..., _LEFT] *= 1.0 + performer.asymmetry
    styled[..., _RIGHT] *= 1.0 - performer.asymmetry
    return styled


def render(
    steps: Sequence[Step],
    duration_s: float,
    performer: Performer,
    rng: np.random.Generator,
    *,
    tint: np.ndarray | None = None,
    tint_span: tuple[float, float] = (0.0, 0.0),
    keyframes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Synthesize a clip: ``(T, 61) float32`` ARKit at :data:`FPS`, ``T = round(duration_s * FPS)``.

    ``steps`` are action instances; ``tint (61,)`` is a pose faded in over ``tint_span``
    (seconds) under everything (a context's emotion); ``keyframes = (times_s (K,), poses
    (K, 61))`` adds a cosine-eased keyframe track starting and ending at rest (script items).
    ``rng`` drives idle life and the randomness inside oscillations; the timeline is fixed by
    the caller, so the same steps and seed give the same clip.
    """
    n = max(round(duration_s * FPS), 2)
    t = np.arange(n) / FPS
    values = np.zeros((n, N_ARKIT))
    blink_factor = np.ones(n)
    gaze_hold = np.zeros(n)
    for step in steps:
        action: Action = ACTION_INDEX[step.action]
        env = envelope(t, step)
        amp = step.intensity * performer.gain
        pose = _style(action_pose(action.id, step.intensity, step.mirrored), performer)
        values += env[:, None] * pose[None, :]
        if action.motion is not None:
            for channel, track in MOTIONS[action.motion](t, step, env, amp, rng).items():
                if np.ndim(track):
                    values[:, _I[channel]] += track
        # a blink lasts ~0.25 s, so one starting just before the step would overlap it
        active = (t >= step.start - 0.3) & (t <= step.end + 0.1)
        if action.blinks != 1.0:
            blink_factor = np.where(active, blink_factor * action.blinks, blink_factor)
        if action.gaze:
            gaze_hold = np.maximum(gaze_hold, np.clip(env * 1.5, 0, 1))
    if keyframes is not None:
        times, poses = keyframes
        values += _keyframe_track(t, times, _style(poses, performer), duration_s)
    if tint is not None:
        a, b = tint_span
        fade = ease((t - a) / 0.6) * (1 - ease((t - b) / 0.6))
        values += fade[:, None] * tint[None, :]
    idle, eyes = idle_life(n, performer, rng, blink_factor=blink_factor, gaze_hold=gaze_hold)
    values += idle + performer.rest
    values[:, _I["leftEyeYaw"]] += eyes[:, 0]
    values[:, _I["rightEyeYaw"]] += eyes[:, 0]
    values[:, _I["leftEyePitch"]] += eyes[:, 1]
    values[:, _I["rightEyePitch"]] += eyes[:, 1]
    _derive_eye_shapes(values)
    values[:, :N_SHAPES] = _soft_saturate(values[:, :N_SHAPES])
    return values.astype(np.float32)


def _keyframe_track(t: np.ndarray, times: np.ndarray, poses: np.ndarray, duration_s: float) -> np.ndarray:
    """Cosine-eased interpolation rest -> keyframe poses -> rest.

    The last pose holds; when more than ~1.2 s remain after it, the face relaxes back to rest
    over the final ~0.6 s (KeyframeFace clips end on the last keyframe; relaxing keeps the
    end of a clip from being a frozen expression).
    """
    anchor_t = np.concatenate([[0.0], times])
    anchor_v = np.vstack([np.zeros((1, poses.shape[1])), poses])
    if duration_s - times[-1] > 1.2:
        anchor_t = np.concatenate([anchor_t, [duration_s - 0.7, duration_s - 0.1]])
        anchor_v = np.vstack([anchor_v, poses[-1:], np.zeros((1, poses.shape[1]))])
    seg = np.clip(np.searchsorted(anchor_t, t, side="right") - 1, 0, len(anchor_t) - 2)
    u = np.clip((t - anchor_t[seg]) / (anchor_t[seg + 1] - anchor_t[seg]), 0.0, 1.0)
    w = ease(u)[:, None]
    return anchor_v[seg] * (1 - w) + anchor_v[seg + 1] * w


def _derive_eye_shapes(values: np.ndarray) -> None:
    """Set eyeLook* shapes from the eye rotations (in place) and let lids follow downward gaze.

    Real takes: left-eye yaw ≈ 0.6 (lookIn − lookOut), right-eye yaw ≈ 0.6 (lookOut − lookIn),
    pitch ≈ −0.48 (lookUp − lookDown).
    """
    for side, yaw_name, pitch_name, toward_right, toward_left in (
        ("Left", "leftEyeYaw", "leftEyePitch", "eyeLookInLeft", "eyeLookOutLeft"),
        ("Right", "rightEyeYaw", "rightEyePitch", "eyeLookOutRight", "eyeLookInRight"),
    ):
        yaw, pitch = values[:, _I[yaw_name]], values[:, _I[pitch_name]]
        values[:, _I[toward_right]] = np.clip(yaw, 0, None) / facs.EYE_YAW_PER_LOOK
        values[:, _I[toward_left]] = np.clip(-yaw, 0, None) / facs.EYE_YAW_PER_LOOK
        values[:, _I["eyeLookUp" + side]] = np.clip(-pitch, 0, None) / facs.EYE_PITCH_PER_LOOK
        values[:, _I["eyeLookDown" + side]] = np.clip(pitch, 0, None) / facs.EYE_PITCH_PER_LOOK
        values[:, _I["eyeBlink" + side]] += 0.8 * np.clip(pitch, 0, None)
