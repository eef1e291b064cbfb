"""Synthetic performers: a style (gain, asymmetry, speed, blink rate, sway, gaze) and a rest face."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.motion import ARKIT_INDEX, N_ARKIT

_I = ARKIT_INDEX


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
