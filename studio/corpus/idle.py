"""Idle life: blinks, head sway, breathing, micro-movements and gaze saccades under a performance."""

from __future__ import annotations

import numpy as np

from studio.corpus.performers import Performer
from studio.corpus.steps import FPS
from studio.motion import ARKIT_INDEX, N_ARKIT

_I = ARKIT_INDEX

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
