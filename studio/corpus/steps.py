"""Timeline steps: one action instance (:class:`Step`) and its activation envelope over time.

Times are seconds from the clip start; the corpus renders at :data:`FPS`, the studio's output rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.motion import OUTPUT_FPS

#: Frames per second of every corpus clip: the studio's output rate.
FPS = OUTPUT_FPS


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


def ease(u: np.ndarray) -> np.ndarray:
    """Cosine ease on [0, 1] (same curve as keyframes_to_clip)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def envelope(t: np.ndarray, step: Step) -> np.ndarray:
    """``(T,)`` activation of a step in [0, 1]: eased rise, apex decaying ~10 %, eased fall."""
    out = np.zeros_like(t)
    period = step.onset + step.apex + step.offset + step.gap
    for r in range(step.reps):
        tau = t - (step.start + r * period)
        rise = ease(tau / step.onset)
        # Real expressions sag a little during the apex before the offset.
        sag = 1.0 - 0.1 * np.clip((tau - step.onset) / max(step.apex, 1e-3), 0.0, 1.0)
        if step.hold_to_end and r == step.reps - 1:
            fall = np.ones_like(t)
        else:
            fall = 1.0 - ease((tau - step.onset - step.apex) / step.offset)
        out = np.maximum(out, rise * sag * fall * (tau >= 0))
    return out
