"""Motion synthesis: a timeline of action steps + a performer's style + idle life -> ARKit frames.

Arrays in, arrays out. Everything is ``(T, 61) float32`` in ARKit order at :data:`FPS`;
times are seconds; rotations are normalised ARKit units (signs as in :mod:`studio.facs`).

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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from studio import facs
from studio.corpus.actions import ACTION_INDEX, Action, action_pose
from studio.motion import ARKIT_CHANNELS, ARKIT_INDEX, N_ARKIT

FPS = 30.0
N_SHAPES = 52
_I = ARKIT_INDEX
_LEFT = np.array([n.endswith("Left") for n in ARKIT_CHANNELS], bool)
_RIGHT = np.array([n.endswith("Right") for n in ARKIT_CHANNELS], bool)
_LEFT[N_SHAPES:] = False
_RIGHT[N_SHAPES:] = False


# --------------------------------------------------------------------------------------------
# Performers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Performer:
    """A synthetic performer's style, fixed across all of their clips.

    ``gain`` scales expression amplitude; ``asymmetry`` > 0 makes the left side stronger
    (left × (1 + a), right × (1 − a)); ``speed`` divides onset/offset durations;
    ``blink_period_s`` is the mean time between blinks; ``sway`` the head sway amplitude
    (normalised units); ``fixation_s`` the mean gaze fixation; ``head_follow`` how much the
    head turns with idle gaze; ``rest`` the rest face ``(61,)``.
    """

    index: int
    gain: float
    asymmetry: float
    speed: float
    blink_period_s: float
    sway: float
    fixation_s: float
    head_follow: float
    rest: np.ndarray


# Rest-face channels and their ranges, loosely after real takes (where lids sit ~0.2 narrowed
# and inner brows ~0.1 raised at rest) but kept small so actions dominate.
_REST_RANGES = {
    "eyeSquintLeft": (0.0, 0.15), "browInnerUp": (0.0, 0.12), "jawOpen": (0.01, 0.05),
    "mouthClose": (0.0, 0.04), "mouthStretchLeft": (0.0, 0.08), "mouthRollLower": (0.0, 0.06),
    "mouthRollUpper": (0.0, 0.05), "mouthFrownLeft": (0.0, 0.06), "mouthShrugLower": (0.0, 0.06),
    "mouthDimpleLeft": (0.0, 0.05), "noseSneerLeft": (0.0, 0.04), "mouthFunnel": (0.0, 0.05),
    "cheekSquintLeft": (0.0, 0.03), "browDownLeft": (0.0, 0.05),
}  # fmt: skip


def make_performers(seed: int, count: int = 64) -> tuple[Performer, ...]:
    """``count`` performers drawn from ``seed`` (the same seed gives the same cast)."""
    rng = np.random.default_rng([seed, 7919])
    cast = []
    for index in range(count):
        rest = np.zeros(N_ARKIT, np.float32)
        for name, (lo, hi) in _REST_RANGES.items():
            value = rng.uniform(lo, hi)
            rest[_I[name]] = value
            if name.endswith("Left"):  # rest faces are near-symmetric
                rest[_I[name.replace("Left", "Right")]] = value * rng.uniform(0.8, 1.2)
        cast.append(
            Performer(
                index=index,
                gain=float(rng.uniform(0.85, 1.15)),
                asymmetry=float(rng.uniform(-0.15, 0.15)),
                speed=float(np.exp(rng.uniform(np.log(0.75), np.log(1.3)))),
                blink_period_s=float(rng.uniform(2.5, 4.5)),
                sway=float(rng.uniform(0.004, 0.014)),
                fixation_s=float(rng.uniform(0.6, 1.8)),
                head_follow=float(rng.uniform(0.15, 0.45)),
                rest=rest,
            )
        )
    return tuple(cast)


# --------------------------------------------------------------------------------------------
# Steps and envelopes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One action instance on the timeline (all times in seconds from the clip start).

    A step runs ``reps`` times: onset, apex, offset, then ``gap`` before the next. For ``osc``
    actions the apex holds ``cycles`` periods at ``freq`` Hz; for ``path`` actions it is the
    path's duration. ``hold_to_end`` keeps the apex until the clip ends (no offset).
    """

    action: str
    start: float
    onset: float
    apex: float
    offset: float
    intensity: float = 1.0
    mirrored: bool = False
    reps: int = 1
    gap: float = 0.0
    freq: float = 0.0
    cycles: int = 0
    hold_to_end: bool = False

    @property
    def span(self) -> float:
        """Seconds from the first onset to the last offset."""
        one = self.onset + self.apex + self.offset
        return self.reps * one + (self.reps - 1) * self.gap

    @property
    def end(self) -> float:
        return self.start + self.span

    def apex_times(self) -> list[float]:
        """Middle of each repetition's apex (where a keyframe annotation goes)."""
        one = self.onset + self.apex + self.offset + self.gap
        return [self.start + r * one + self.onset + 0.5 * self.apex for r in range(self.reps)]


def _ease(u: np.ndarray) -> np.ndarray:
    """Cosine ease on [0, 1] (same curve as keyframes_to_clip)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def envelope(t: np.ndarray, step: Step) -> np.ndarray:
    """``(T,)`` activation of a step in [0, 1]: eased rise, apex decaying ~10 %, eased fall."""
    out = np.zeros_like(t)
    period = step.onset + step.apex + step.offset + step.gap
    for r in range(step.reps):
        tau = t - (step.start + r * period)
        rise = _ease(tau / step.onset)
        # Real expressions sag a little during the apex before the offset.
        sag = 1.0 - 0.1 * np.clip((tau - step.onset) / max(step.apex, 1e-3), 0.0, 1.0)
        if step.hold_to_end and r == step.reps - 1:
            fall = np.ones_like(t)
        else:
            fall = 1.0 - _ease((tau - step.onset - step.apex) / step.offset)
        out = np.maximum(out, rise * sag * fall * (tau >= 0))
    return out


# --------------------------------------------------------------------------------------------
# Oscillations and paths: each returns {channel: (T,) addition}
# --------------------------------------------------------------------------------------------

Tracks = dict[str, np.ndarray]  # channel name -> (T,) values to add
# (t (T,) seconds, step, the step's envelope (T,), amplitude, rng) -> tracks
Motion = Callable[[np.ndarray, Step, np.ndarray, float, np.random.Generator], Tracks]


def _active(tau: np.ndarray, length: float) -> np.ndarray:
    return ((tau >= 0) & (tau <= length)).astype(np.float64)


def _osc_phase(t: np.ndarray, step: Step) -> tuple[np.ndarray, np.ndarray]:
    """Time since the apex began, and a mask over the ``cycles`` periods."""
    tau = t - step.start - step.onset
    return tau, _active(tau, step.cycles / step.freq)


def _nod(t, step, env, amp, rng):
    tau, on = _osc_phase(t, step)
    decay = 1.0 - 0.35 * np.clip(tau * step.freq / max(step.cycles, 1), 0, 1)
    return {"headPitch": 0.09 * amp * on * decay * (0.5 - 0.5 * np.cos(2 * np.pi * step.freq * tau))}


def _shake(t, step, env, amp, rng):
    tau, on = _osc_phase(t, step)
    decay = 1.0 - 0.3 * np.clip(tau * step.freq / max(step.cycles, 1), 0, 1)
    return {
        "headYaw": 0.09 * amp * on * decay * np.sin(2 * np.pi * step.freq * tau),
        "headPitch": 0.015 * amp * env,
    }


def _bob(t, step, env, amp, rng):
    tau, on = _osc_phase(t, step)
    return {"headPitch": 0.045 * amp * on * (0.5 - 0.5 * np.cos(2 * np.pi * step.freq * tau))}


def _wobble(t, step, env, amp, rng):
    tau, on = _osc_phase(t, step)
    return {
        "headRoll": 0.07 * amp * on * np.sin(2 * np.pi * step.freq * tau),
        "headYaw": 0.02 * amp * on * np.sin(2 * np.pi * step.freq * tau + 0.6),
    }


def _laugh_common(t, step, env, amp, jaw, pitch):
    tau = t - step.start
    # "ha-ha-ha": the jaw pulses at the step frequency inside a slower burst envelope.
    burst = 0.65 + 0.35 * np.cos(2 * np.pi * 0.7 * tau)
    pulse = 0.5 + 0.5 * np.sin(2 * np.pi * step.freq * tau - np.pi / 2)
    return {
        "jawOpen": jaw * amp * env * burst * pulse,
        "mouthLowerDownLeft": 0.4 * jaw * amp * env * pulse,
        "mouthLowerDownRight": 0.4 * jaw * amp * env * pulse,
        "headPitch": amp * env * (0.012 * np.sin(2 * np.pi * step.freq * tau) - pitch),
    }


def _laugh(t, step, env, amp, rng):
    return _laugh_common(t, step, env, amp, 0.4, 0.03)


def _laugh_big(t, step, env, amp, rng):
    return _laugh_common(t, step, env, amp, 0.55, 0.06)


def _chuckle(t, step, env, amp, rng):
    out = _laugh_common(t, step, env, amp, 0.08, 0.0)
    out["headPitch"] = 0.012 * amp * env * (0.5 - 0.5 * np.cos(2 * np.pi * step.freq * (t - step.start)))
    return out


def _giggle(t, step, env, amp, rng):
    out = _laugh_common(t, step, env, amp, 0.12, 0.0)
    out["headRoll"] = 0.02 * amp * env * np.sin(2 * np.pi * 1.3 * (t - step.start))
    return out


def _tremble(t, step, env, amp, rng):
    tau = t - step.start
    jitter = np.sin(2 * np.pi * step.freq * tau) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.7 * tau + 1.0))
    return {
        "mouthShrugLower": 0.09 * amp * env * jitter,
        "mouthFrownLeft": 0.04 * amp * env * jitter,
        "mouthFrownRight": 0.04 * amp * env * jitter,
    }


def _sob(t, step, env, amp, rng):
    tau = t - step.start
    heave = 0.5 - 0.5 * np.cos(2 * np.pi * step.freq * tau)
    return {
        "jawOpen": 0.18 * amp * env * heave,
        "headPitch": 0.03 * amp * env * heave + 0.03 * env,
        "eyeBlinkLeft": 0.2 * env * heave,
        "eyeBlinkRight": 0.2 * env * heave,
    }


def _speech_wave(t: np.ndarray, step: Step, rng: np.random.Generator, count: int = 3) -> np.ndarray:
    """Syllable-like jaw signal in [0, 1]: a rectified sum of sines around ``step.freq``."""
    freqs = step.freq * rng.uniform(0.7, 1.3, count)
    phases = rng.uniform(0, 2 * np.pi, count)
    wave = np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None]).sum(axis=0) / count
    return np.clip(0.3 + wave, 0.0, 1.0)


def _speech_common(t, step, env, amp, rng, jaw):
    syllables = _speech_wave(t, step, rng)
    lips = _speech_wave(t, step, rng, 2)
    return {
        "jawOpen": jaw * amp * env * syllables,
        "mouthLowerDownLeft": 0.5 * jaw * amp * env * syllables,
        "mouthLowerDownRight": 0.5 * jaw * amp * env * syllables,
        "mouthFunnel": 0.25 * amp * env * lips * (1 - syllables),
        "mouthPucker": 0.2 * amp * env * (1 - lips),
        "mouthClose": 0.05 * env * (1 - syllables),
        "headPitch": 0.012 * amp * env * np.sin(2 * np.pi * 0.9 * (t - step.start)),
    }


def _speech(t, step, env, amp, rng):
    return _speech_common(t, step, env, amp, rng, 0.25)


def _whisper(t, step, env, amp, rng):
    return _speech_common(t, step, env, amp, rng, 0.1)


def _shout(t, step, env, amp, rng):
    out = _speech_common(t, step, env, amp, rng, 0.55)
    out["headPitch"] = out["headPitch"] - 0.02 * amp * env
    return out


def _sing(t, step, env, amp, rng):
    out = _speech_common(t, step, env, amp, rng, 0.4)
    out["headRoll"] = 0.025 * amp * env * np.sin(2 * np.pi * 0.5 * (t - step.start))
    return out


def _hum(t, step, env, amp, rng):
    tau = t - step.start
    return {
        "jawOpen": 0.04 * env * (1 + np.sin(2 * np.pi * step.freq * tau)),
        "mouthClose": 0.04 * env * (1 + np.sin(2 * np.pi * step.freq * tau)),
        "cheekPuff": 0.08 * env * (1 + np.sin(2 * np.pi * 2 * step.freq * tau)),
        "headRoll": 0.02 * amp * env * np.sin(2 * np.pi * 0.5 * tau),
    }


def _chew(t, step, env, amp, rng):
    tau = t - step.start
    bite = 0.5 - 0.5 * np.cos(2 * np.pi * step.freq * tau)
    side = np.sin(2 * np.pi * step.freq * tau + 0.8)
    # Chewing with closed lips: ARKit's mouthClose keeps the lips together as the jaw opens.
    return {
        "jawOpen": 0.2 * amp * env * bite,
        "mouthClose": 0.19 * amp * env * bite,
        "jawLeft": 0.06 * amp * env * np.clip(side, 0, None),
        "jawRight": 0.06 * amp * env * np.clip(-side, 0, None),
    }


def _lick(t, step, env, amp, rng):
    sweep = np.sin(2 * np.pi * step.freq * (t - step.start))
    return {
        "mouthLeft": 0.35 * amp * env * np.clip(sweep, 0, None),
        "mouthRight": 0.35 * amp * env * np.clip(-sweep, 0, None),
    }


def _raspberry(t, step, env, amp, rng):
    buzz = np.sin(2 * np.pi * step.freq * (t - step.start))
    return {"mouthFunnel": 0.1 * env * (1 + buzz), "cheekPuff": 0.08 * env * (1 + buzz)}


def _shiver(t, step, env, amp, rng):
    tau = t - step.start
    return {
        "headRoll": 0.012 * amp * env * np.sin(2 * np.pi * step.freq * tau),
        "headYaw": 0.009 * amp * env * np.sin(2 * np.pi * 0.83 * step.freq * tau + 1.0),
        "jawOpen": 0.03 * amp * env * (1 + np.sin(2 * np.pi * 1.1 * step.freq * tau)),
    }


def _pant(t, step, env, amp, rng):
    breath = 0.5 - 0.5 * np.cos(2 * np.pi * step.freq * (t - step.start))
    return {
        "jawOpen": 0.25 * amp * env * (0.4 + 0.6 * breath),
        "mouthFunnel": 0.15 * amp * env * breath,
        "headPitch": -0.015 * amp * env * breath,
    }


def _cough(t, step, env, amp, rng):
    tau, on = _osc_phase(t, step)
    phase = (tau * step.freq) % 1.0
    jerk = on * np.exp(-(((phase - 0.2) / 0.08) ** 2))
    return {
        "jawOpen": 0.3 * amp * jerk,
        "headPitch": 0.05 * amp * jerk,
        "eyeBlinkLeft": 0.5 * jerk,
        "eyeBlinkRight": 0.5 * jerk,
        "mouthFunnel": 0.2 * jerk,
    }


def _blink_rapid(t, step, env, amp, rng):
    tau, on = _osc_phase(t, step)
    lid = on * (0.5 - 0.5 * np.cos(2 * np.pi * step.freq * tau)) ** 3
    return {"eyeBlinkLeft": 0.95 * lid, "eyeBlinkRight": 0.95 * lid}


def _brow_wiggle(t, step, env, amp, rng):
    tau, on = _osc_phase(t, step)
    lift = on * (0.5 - 0.5 * np.cos(2 * np.pi * step.freq * tau))
    return {
        "browOuterUpLeft": 0.8 * amp * lift,
        "browOuterUpRight": 0.8 * amp * lift,
        "browInnerUp": 0.6 * amp * lift,
    }


def _path_s(t: np.ndarray, step: Step) -> tuple[np.ndarray, np.ndarray]:
    """Normalised path time ``s`` in [0, 1] over the apex, and a mask of where it runs."""
    tau = t - step.start - step.onset
    return np.clip(tau / step.apex, 0.0, 1.0), _active(tau, step.apex)


def _bump(s: np.ndarray, a: float, b: float) -> np.ndarray:
    """Smooth 0 -> 1 -> 0 bump over [a, b]."""
    return np.sin(np.pi * np.clip((s - a) / (b - a), 0.0, 1.0)) ** 2


def _eyes(out: Tracks, yaw: np.ndarray, pitch: np.ndarray) -> Tracks:
    for eye in ("leftEye", "rightEye"):
        out[eye + "Yaw"] = out.get(eye + "Yaw", 0) + yaw
        out[eye + "Pitch"] = out.get(eye + "Pitch", 0) + pitch
    return out


def _side(step: Step) -> float:
    return -1.0 if step.mirrored else 1.0


def _eye_roll(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    lift = _bump(s, 0.0, 1.0) * on
    # Up, then sweep from one side over the top to the other, then back down.
    yaw = -0.22 * amp * _side(step) * np.cos(np.pi * s) * np.sqrt(lift)
    return _eyes(
        {
            "headRoll": 0.03 * amp * _side(step) * lift,
            "eyeWideLeft": 0.15 * lift,
            "eyeWideRight": 0.15 * lift,
        },
        yaw,
        -0.3 * amp * lift,
    )


def _fixations(s: np.ndarray, times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Piecewise-constant gaze over ``s`` with ~60 ms saccades between fixations."""
    index = np.searchsorted(times, s, side="right") - 1
    return targets[np.clip(index, 0, len(targets) - 1)]


def _look_around(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    n = int(rng.integers(3, 6))
    times = np.concatenate([[0.0], np.sort(rng.uniform(0.1, 0.9, n - 1))])
    sides = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * (1 if rng.random() < 0.5 else -1)
    yaw_t = sides * rng.uniform(0.12, 0.3, n)
    pitch_t = rng.uniform(-0.08, 0.06, n)
    fade = _bump(s, 0.0, 1.0) ** 0.3 * on
    yaw, pitch = _fixations(s, times, yaw_t) * fade, _fixations(s, times, pitch_t) * fade
    head = np.convolve(yaw, np.ones(9) / 9, mode="same")  # the head follows slower than the eyes
    return _eyes(
        {"headYaw": 0.6 * amp * head, "headPitch": 0.3 * np.convolve(pitch, np.ones(9) / 9, "same")},
        yaw * amp,
        pitch,
    )


def _dart(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    n = int(rng.integers(5, 9))
    times = np.concatenate([[0.0], np.sort(rng.uniform(0.05, 0.95, n - 1))])
    yaw_t = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * rng.uniform(0.12, 0.28, n)
    fade = _bump(s, 0.0, 1.0) ** 0.2 * on
    return _eyes(
        {}, _fixations(s, times, yaw_t) * fade * amp, _fixations(s, times, rng.uniform(-0.05, 0.05, n)) * fade
    )


def _pursuit(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    fade = _bump(s, 0.0, 1.0) ** 0.25 * on
    yaw = _side(step) * 0.3 * amp * (2 * _ease(s) - 1) * fade
    return _eyes({"headYaw": 0.4 * yaw}, yaw, np.zeros_like(s))


def _sigh(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    inhale, exhale = _bump(s, 0.0, 0.4) * on, _bump(s, 0.3, 1.0) * on
    return {
        "headPitch": -0.03 * amp * inhale + 0.05 * amp * exhale,
        "jawOpen": 0.08 * inhale + 0.06 * exhale,
        "mouthFunnel": 0.3 * amp * exhale,
        "eyeBlinkLeft": 0.35 * exhale,
        "eyeBlinkRight": 0.35 * exhale,
        "cheekPuff": 0.12 * _bump(s, 0.3, 0.6) * on,
    }


def _blow(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    fill, release = _bump(s, 0.0, 0.65) * on, _bump(s, 0.45, 1.0) * on
    return {
        "cheekPuff": 0.8 * amp * fill,
        "mouthPressLeft": 0.3 * fill,
        "mouthPressRight": 0.3 * fill,
        "mouthFunnel": 0.6 * amp * release,
        "mouthPucker": 0.4 * release,
    }


def _sneeze(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    build, burst = _bump(s, 0.0, 0.62) * on, _bump(s, 0.5, 0.8) * on
    shut = np.maximum(0.5 * build, burst)
    return {
        "eyeBlinkLeft": shut,
        "eyeBlinkRight": shut,
        "noseSneerLeft": 0.45 * build,
        "noseSneerRight": 0.45 * build,
        "browInnerUp": 0.35 * build,
        "jawOpen": 0.3 * build + 0.15 * burst,
        "headPitch": -0.06 * amp * build + 0.12 * amp * burst,
    }


def _hiccup(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    jolt = _bump(s, 0.2, 0.5) * on
    return {
        "headPitch": -0.035 * amp * jolt,
        "jawOpen": 0.1 * jolt,
        "eyeWideLeft": 0.3 * jolt,
        "eyeWideRight": 0.3 * jolt,
    }


def _gulp(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    swallow = _bump(s, 0.2, 0.8) * on
    return {
        "mouthShrugLower": 0.45 * amp * swallow,
        "mouthPressLeft": 0.3 * swallow,
        "mouthPressRight": 0.3 * swallow,
        "headPitch": 0.03 * amp * _bump(s, 0.2, 0.6) * on,
    }


def _nod_once(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    return {"headPitch": 0.1 * amp * _bump(s, 0.1, 0.9) * on}


def _doze(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    # Lids droop and the head sinks, with a small catch on the way (fighting sleep); after the
    # path the pose holds and fades with the step's (slow) offset.
    sink = (_ease(s / 0.7) - 0.15 * _bump(s, 0.3, 0.5)) * np.maximum(on, (s >= 1.0)) * env
    return {
        "eyeBlinkLeft": 0.95 * sink,
        "eyeBlinkRight": 0.95 * sink,
        "headPitch": 0.16 * amp * sink,
        "headRoll": 0.04 * amp * sink,
        "jawOpen": 0.06 * sink,
    }


def _wake(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    closed = (1 - _ease((s - 0.25) / 0.08)) * on
    alert = _bump(s, 0.28, 1.0) * on
    return {
        "eyeBlinkLeft": closed,
        "eyeBlinkRight": closed,
        "headPitch": 0.1 * amp * closed - 0.05 * amp * alert,
        "eyeWideLeft": 0.7 * alert,
        "eyeWideRight": 0.7 * alert,
        "browInnerUp": 0.6 * alert,
        "browOuterUpLeft": 0.6 * alert,
        "browOuterUpRight": 0.6 * alert,
    }


def _scoff(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    shake = np.sin(2 * np.pi * s) * _bump(s, 0.0, 1.0) * on
    return _eyes({"headYaw": 0.03 * amp * shake}, np.zeros_like(s), -0.08 * _bump(s, 0.2, 0.8) * on)


def _double_take(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    first, second = _bump(s, 0.0, 0.3) * on, _ease((s - 0.5) / 0.12) * on * (1 - _ease((s - 0.92) / 0.08))
    look = _side(step) * (0.25 * first + 0.3 * second) * amp
    return _eyes(
        {"headYaw": 0.6 * look, "eyeWideLeft": 0.5 * second, "eyeWideRight": 0.5 * second},
        look,
        np.zeros_like(s),
    )


MOTIONS: dict[str, Motion] = {
    "nod": _nod, "shake": _shake, "bob": _bob, "wobble": _wobble, "laugh": _laugh, "laugh_big": _laugh_big,
    "chuckle": _chuckle, "giggle": _giggle, "tremble": _tremble, "sob": _sob, "speech": _speech,
    "whisper": _whisper, "shout": _shout, "sing": _sing, "hum": _hum, "chew": _chew, "lick": _lick,
    "raspberry": _raspberry, "shiver": _shiver, "pant": _pant, "cough": _cough, "blink_rapid": _blink_rapid,
    "brow_wiggle": _brow_wiggle, "eye_roll": _eye_roll, "look_around": _look_around, "dart": _dart,
    "pursuit": _pursuit, "sigh": _sigh, "blow": _blow, "sneeze": _sneeze, "hiccup": _hiccup, "gulp": _gulp,
    "nod_once": _nod_once, "doze": _doze, "wake": _wake, "scoff": _scoff, "double_take": _double_take,
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Idle life
# --------------------------------------------------------------------------------------------

# A blink at 30 fps as real takes show it: ~2 frames to close, ~4 to reopen, peak 0.75-1.
_BLINK_SHAPE = np.array([0.25, 0.8, 1.0, 0.75, 0.4, 0.15, 0.04])


def _blink_track(n_frames: int, times_s: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    track = np.zeros(n_frames)
    width = len(_BLINK_SHAPE)
    for start, peak in zip(np.round(times_s * FPS).astype(int), peaks, strict=True):
        lo, hi = max(start, 0), min(start + width, n_frames)
        if lo < hi:
            track[lo:hi] = np.maximum(track[lo:hi], peak * _BLINK_SHAPE[lo - start : hi - start])
    return track


def _renewal_times(
    rng: np.random.Generator,
    mean_s: float,
    length_s: float,
    min_s: float,
    shape: float = 3.0,
    longest: float = np.inf,
) -> np.ndarray:
    """Event times of a renewal process with gamma(k=shape) gaps in [min_s, longest]."""
    count = int(length_s / max(mean_s, 0.1) * 2) + 4
    gaps = np.clip(rng.gamma(shape, mean_s / shape, count), min_s, longest)
    times = np.cumsum(gaps) - rng.uniform(0, gaps[0])
    return times[(times >= 0) & (times < length_s)]


def _min_spacing(times: np.ndarray, gap: float) -> np.ndarray:
    """Drop events closer than ``gap`` seconds to the previous kept one."""
    kept: list[float] = []
    for t in times:
        if not kept or t - kept[-1] >= gap:
            kept.append(float(t))
    return np.array(kept)


def idle_life(
    n_frames: int,
    performer: Performer,
    rng: np.random.Generator,
    *,
    blink_factor: np.ndarray,
    gaze_hold: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Idle motion ``(T, 61)`` (without the rest face) and idle eye rotations ``(T, 2)`` (yaw, pitch).

    ``blink_factor (T,)`` scales the blink rate (0 suppresses blinks, 2 doubles them);
    ``gaze_hold (T,)`` in [0, 1] pauses saccades where an action steers the gaze.
    """
    t = np.arange(n_frames) / FPS
    length = n_frames / FPS
    out = np.zeros((n_frames, N_ARKIT))
    # Head sway: three slow sinusoids per axis (0.05-0.5 Hz), yaw and roll a little wider.
    freqs = rng.uniform(0.05, 0.5, (3, 3))
    phases = rng.uniform(0, 2 * np.pi, (3, 3))
    weights = rng.uniform(0.5, 1.0, (3, 3)) * np.array([[1.0], [0.7], [0.8]])
    sway = (weights[:, :, None] * np.sin(2 * np.pi * freqs[:, :, None] * t + phases[:, :, None])).sum(axis=1)
    sway *= performer.sway / 1.5
    # Breathing (~0.25 Hz): a faint jaw and pitch rhythm.
    breath = np.sin(2 * np.pi * rng.uniform(0.2, 0.3) * t + rng.uniform(0, 2 * np.pi))
    out[:, _I["headYaw"]] = sway[0]
    out[:, _I["headPitch"]] = sway[1] + 0.003 * breath
    out[:, _I["headRoll"]] = sway[2]
    out[:, _I["jawOpen"]] = 0.008 * (1 + breath)
    # Micro-movements of brows, lids and mouth corners so no channel is perfectly flat.
    micro = (
        "browInnerUp",
        "browDownLeft",
        "browDownRight",
        "eyeSquintLeft",
        "eyeSquintRight",
        "mouthSmileLeft",
        "mouthSmileRight",
        "mouthPressLeft",
        "mouthPressRight",
        "mouthRollLower",
    )
    cols = [_I[n] for n in micro]
    mf = rng.uniform(0.1, 0.6, (len(cols), 2))
    mp = rng.uniform(0, 2 * np.pi, (len(cols), 2))
    out[:, cols] = (0.006 * (1 + np.sin(2 * np.pi * mf[:, :, None] * t + mp[:, :, None])).sum(axis=1)).T
    # Gaze: fixations around the camera, saccades between them, head following a little.
    fix = _renewal_times(rng, performer.fixation_s, length, 0.3)
    fix = np.concatenate([[0.0], fix])
    yaw_t = rng.normal(0.0, 0.06, len(fix))
    pitch_t = rng.normal(0.01, 0.035, len(fix))
    index = np.searchsorted(fix, t, side="right") - 1
    yaw, pitch = yaw_t[index], pitch_t[index]
    yaw = np.convolve(np.pad(yaw, 1, mode="edge"), [0.25, 0.5, 0.25], "valid")  # 2-frame saccades
    pitch = np.convolve(np.pad(pitch, 1, mode="edge"), [0.25, 0.5, 0.25], "valid")
    free = 1.0 - gaze_hold
    yaw, pitch = yaw * free, pitch * free
    k = 12
    head_yaw = np.convolve(np.pad(yaw, (k, 0), mode="edge"), np.ones(k) / k, "valid")[:n_frames]
    out[:, _I["headYaw"]] += performer.head_follow * 0.5 * head_yaw
    # The eyes counter-rotate against head sway to keep fixating (vestibulo-ocular reflex).
    eyes = np.stack([yaw - 0.7 * sway[0], pitch - 0.7 * sway[1]], axis=1)
    # Blinks: renewal process at the performer's rate, thinned or thickened per frame; large
    # saccades trigger a blink now and then (gaze-evoked blinks).
    rate = np.clip(blink_factor, 0.0, 3.0)
    base = _renewal_times(rng, performer.blink_period_s, length, 0.8, shape=5.0, longest=6.0)
    keep = rng.random(len(base)) < np.clip(rate[np.minimum((base * FPS).astype(int), n_frames - 1)], 0, 1)
    times = [base[keep]]
    extra = np.clip(rate - 1.0, 0.0, None)
    if extra.any():
        more = _renewal_times(rng, performer.blink_period_s, length, 0.5)
        times.append(more[rng.random(len(more)) < extra[np.minimum((more * FPS).astype(int), n_frames - 1)]])
    jumps = fix[1:][np.abs(np.diff(yaw_t)) > 0.1]
    evoked = jumps[rng.random(len(jumps)) < 0.3]
    times.append(evoked[rate[np.minimum((evoked * FPS).astype(int), n_frames - 1)] > 0.5])
    blink_times = _min_spacing(np.sort(np.concatenate(times)), 0.8)  # no stray double blinks
    peaks = rng.uniform(0.75, 1.0, len(blink_times))
    lid = _blink_track(n_frames, blink_times, peaks)
    out[:, _I["eyeBlinkLeft"]] = lid
    out[:, _I["eyeBlinkRight"]] = lid * rng.uniform(0.93, 1.0)
    return out, eyes


# --------------------------------------------------------------------------------------------
# Rendering a timeline
# --------------------------------------------------------------------------------------------


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
        fade = _ease((t - a) / 0.6) * (1 - _ease((t - b) / 0.6))
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
    w = _ease(u)[:, None]
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
