"""Oscillations and paths of actions: each returns ``{channel: (T,) addition}`` over times ``t (T,)`` s.

An action with a ``motion`` name adds its oscillation (nods, laughs, speech) or path (eye rolls,
looking around) on top of its enveloped apex pose; :data:`MOTIONS` maps the names to functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from studio.corpus.steps import Step, ease
from studio.motion import ARKIT_INDEX

_I = ARKIT_INDEX

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
    yaw = _side(step) * 0.3 * amp * (2 * ease(s) - 1) * fade
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
    sink = (ease(s / 0.7) - 0.15 * _bump(s, 0.3, 0.5)) * np.maximum(on, (s >= 1.0)) * env
    return {
        "eyeBlinkLeft": 0.95 * sink,
        "eyeBlinkRight": 0.95 * sink,
        "headPitch": 0.16 * amp * sink,
        "headRoll": 0.04 * amp * sink,
        "jawOpen": 0.06 * sink,
    }


def _wake(t, step, env, amp, rng):
    s, on = _path_s(t, step)
    closed = (1 - ease((s - 0.25) / 0.08)) * on
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
    first, second = _bump(s, 0.0, 0.3) * on, ease((s - 0.5) / 0.12) * on * (1 - ease((s - 0.92) / 0.08))
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
