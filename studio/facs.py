"""FACS knowledge as data: action units (AUs) ↔ ARKit channels, EMFACS prototypes, emotion scores.

Pure data and array functions; no I/O. Used by the synthetic corpus (forward: AUs -> ARKit
poses) and by analysis (inverse: an ARKit clip -> AU activations -> six emotion scores).

Conventions
-----------
* AU activations are unitless intensities in ``[0, 1]`` (FACS grades A–E map to
  :func:`intensity_grade`). An AU at 1.0 is the strongest natural pose (FACS grade E).
* ARKit vectors are ``(..., 61)`` in :data:`studio.motion.ARKIT_CHANNELS` order.
* Rotation signs (as in real Live Link Face takes, where ``leftEyeYaw`` rises with
  ``eyeLookInLeft`` and ``leftEyePitch`` falls with ``eyeLookUpLeft``; the studio rig agrees):
  yaw > 0 turns towards the performer's right, pitch > 0 looks down, roll > 0 tilts the top of
  the head towards the performer's right. "Left"/"right" always mean the performer's.
* Eye rotations and the eyeLook* shapes move together: eye yaw ≈ 0.6 × (lookIn − lookOut) for
  the left eye (mirrored for the right) and eye pitch ≈ −0.48 × (lookUp − lookDown), the slopes
  fitted on real takes (R² > 0.99).
* :data:`EMOTIONS` is Express4D's category order: happiness, sadness, fear, surprise, anger,
  disgust. Emotion score vectors are ``(..., 6)`` and sum to 1.

What ARKit cannot show: AU11 (nasolabial deepener), AU25 (lips part, indistinguishable from a
small AU26 here), AU38/39 (nostrils) and AU57/58 (head forward/back: ARKit has no translation)
are left out. AU13 is the cheek puffer of the 1978 manual (ARKit ``cheekPuff``); AU45 (blink)
and AU46 (wink) have AU43's appearance and differ only in timing or side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from studio.motion import ARKIT_INDEX, N_ARKIT

EMOTIONS: tuple[str, ...] = ("happiness", "sadness", "fear", "surprise", "anger", "disgust")
N_EMOTIONS = len(EMOTIONS)

# Calibrated on real Live Link Face takes (see module docstring).
EYE_YAW_PER_LOOK = 0.6
EYE_PITCH_PER_LOOK = 0.48


@dataclass(frozen=True)
class ActionUnit:
    """One FACS action unit and how ARKit shows it at full intensity (grade E).

    ``arkit`` maps channel -> value at intensity 1 (rotations in normalised ARKit units).
    ``primary`` names the channels the inverse reads the AU from (a FACS coder's cue); the
    activation is their mean divided by their full-intensity value, so secondary channels of
    other AUs do not leak in. ``onset`` is the fraction of that value below which the AU reads
    zero (AU27 reads only the part of ``jawOpen`` beyond AU26's range).
    """

    code: str
    name: str
    description: str
    arkit: Mapping[str, float]
    primary: tuple[str, ...]
    onset: float = 0.0

    @property
    def bilateral(self) -> bool:
        """True when the AU has separate Left/Right channels (e.g. AU12 mouthSmileLeft/Right)."""
        return any(c.endswith("Left") for c in self.primary)


def _lr(stem: str, value: float) -> dict[str, float]:
    return {f"{stem}Left": value, f"{stem}Right": value}


def _au(
    code: str,
    name: str,
    description: str,
    arkit: dict[str, float],
    primary: Sequence[str] | None = None,
    onset: float = 0.0,
) -> ActionUnit:
    if primary is None:  # default cue: the channels carrying the AU's largest displacement
        peak = max(abs(v) for v in arkit.values())
        primary = [c for c, v in arkit.items() if abs(v) >= 0.5 * peak]
    return ActionUnit(code, name, description, MappingProxyType(dict(arkit)), tuple(primary), onset)


# Each AU mapped to the ARKit shapes that perform it, with the secondary movements FACS describes
# for it (AU6 narrows the eye from below; AU9 lifts the upper lip and lowers the inner brows...).
ACTION_UNITS: tuple[ActionUnit, ...] = (
    _au("AU1", "inner brow raiser", "inner brows raised", {"browInnerUp": 1.0}),
    _au("AU2", "outer brow raiser", "outer brows raised", {**_lr("browOuterUp", 1.0), "browInnerUp": 0.15}),
    _au("AU4", "brow lowerer", "brows drawn down and together", _lr("browDown", 1.0)),
    _au("AU5", "upper lid raiser", "upper eyelids raised, eyes wide", _lr("eyeWide", 1.0)),
    _au("AU6", "cheek raiser", "cheeks raised", {**_lr("cheekSquint", 1.0), **_lr("eyeSquint", 0.3)}),
    _au("AU7", "lid tightener", "eyelids tightened", _lr("eyeSquint", 1.0)),
    _au("AU9", "nose wrinkler", "nose wrinkled",
        {**_lr("noseSneer", 1.0), **_lr("mouthUpperUp", 0.3), **_lr("browDown", 0.2)}),
    _au("AU10", "upper lip raiser", "upper lip raised", {**_lr("mouthUpperUp", 1.0), **_lr("noseSneer",
        0.15)}),
    _au("AU12", "lip corner puller", "lip corners pulled up", _lr("mouthSmile", 1.0)),
    _au("AU13", "cheek puffer", "cheeks puffed out", {"cheekPuff": 1.0, **_lr("mouthPress", 0.2)}),
    _au("AU14", "dimpler", "dimples deepened", _lr("mouthDimple", 1.0)),
    _au("AU15", "lip corner depressor", "lip corners pulled down", _lr("mouthFrown", 1.0)),
    _au("AU16", "lower lip depressor", "lower lip pulled down", _lr("mouthLowerDown", 1.0)),
    _au("AU17", "chin raiser", "chin raised, lower lip pushed up",
        {"mouthShrugLower": 1.0, "mouthShrugUpper": 0.25}),
    _au("AU18", "lip pucker", "lips puckered", {"mouthPucker": 1.0}),
    _au("AU19", "tongue show", "tongue out", {"tongueOut": 1.0, "jawOpen": 0.15}),
    _au("AU20", "lip stretcher", "lips stretched sideways", _lr("mouthStretch", 1.0)),
    _au("AU22", "lip funneler", "lips funnelled", {"mouthFunnel": 1.0, "jawOpen": 0.1}),
    _au("AU23", "lip tightener", "lips tightened",
        {**_lr("mouthPress", 0.6), "mouthRollUpper": 0.15, "mouthRollLower": 0.15}, ["mouthPressLeft",
            "mouthPressRight"]),
    _au("AU24", "lip pressor", "lips pressed together", _lr("mouthPress", 1.0)),
    _au("AU26", "jaw drop", "jaw dropped", {"jawOpen": 0.5}),
    _au("AU27", "mouth stretch", "mouth stretched wide open", {"jawOpen": 1.0, **_lr("mouthStretch", 0.15)},
        ["jawOpen"], onset=0.5),
    _au("AU28", "lip suck", "lips sucked in", {"mouthRollLower": 1.0, "mouthRollUpper": 1.0}),
    _au("AU29", "jaw thrust", "jaw pushed forward", {"jawForward": 1.0}),
    _au("AU30L", "jaw sideways (left)", "jaw shifted to the left", {"jawLeft": 1.0, "mouthLeft": 0.3}),
    _au("AU30R", "jaw sideways (right)", "jaw shifted to the right", {"jawRight": 1.0, "mouthRight": 0.3}),
    _au("AU43", "eyes closed", "eyes closed", _lr("eyeBlink", 1.0)),
    _au("AU51", "head turn left", "head turned to the left", {"headYaw": -0.3}),
    _au("AU52", "head turn right", "head turned to the right", {"headYaw": 0.3}),
    _au("AU53", "head up", "head tilted back", {"headPitch": -0.2}),
    _au("AU54", "head down", "head lowered", {"headPitch": 0.2}),
    _au("AU55", "head tilt left", "head tilted to the left", {"headRoll": -0.15}),
    _au("AU56", "head tilt right", "head tilted to the right", {"headRoll": 0.15}),
    _au("AU61", "eyes turn left", "eyes looking to the left",
        {"leftEyeYaw": -0.35, "rightEyeYaw": -0.35,
         "eyeLookOutLeft": 0.35 / EYE_YAW_PER_LOOK, "eyeLookInRight": 0.35 / EYE_YAW_PER_LOOK},
        ["leftEyeYaw", "rightEyeYaw"]),
    _au("AU62", "eyes turn right", "eyes looking to the right",
        {"leftEyeYaw": 0.35, "rightEyeYaw": 0.35,
         "eyeLookInLeft": 0.35 / EYE_YAW_PER_LOOK, "eyeLookOutRight": 0.35 / EYE_YAW_PER_LOOK},
        ["leftEyeYaw", "rightEyeYaw"]),
    _au("AU63", "eyes up", "eyes looking up",
        {"leftEyePitch": -0.25, "rightEyePitch": -0.25, **_lr("eyeLookUp", 0.25 / EYE_PITCH_PER_LOOK)},
        ["leftEyePitch", "rightEyePitch"]),
    # Looking down lowers the upper lids with the eyes (a real-capture regularity).
    _au("AU64", "eyes down", "eyes looking down",
        {"leftEyePitch": 0.25, "rightEyePitch": 0.25, **_lr("eyeLookDown", 0.25 / EYE_PITCH_PER_LOOK),
         **_lr("eyeBlink", 0.2)},
        ["leftEyePitch", "rightEyePitch"]),
)  # fmt: skip

AU_CODES: tuple[str, ...] = tuple(au.code for au in ACTION_UNITS)
AU_INDEX: Mapping[str, int] = MappingProxyType({code: i for i, code in enumerate(AU_CODES)})
N_AUS = len(AU_CODES)
# AUs that carry emotion in EMFACS: everything but head and gaze (AU51–64) and the jaw shifts.
EXPRESSIVE_AUS: tuple[str, ...] = tuple(
    c
    for c in AU_CODES
    if c
    not in {
        "AU29",
        "AU30L",
        "AU30R",
        "AU51",
        "AU52",
        "AU53",
        "AU54",
        "AU55",
        "AU56",
        "AU61",
        "AU62",
        "AU63",
        "AU64",
    }
)


def au_code(au: int | str) -> str:
    """Normalise ``12``, ``"12"``, ``"AU12"`` or ``"au12"`` to ``"AU12"``; raises KeyError if unknown."""
    code = (
        f"AU{au}"
        if isinstance(au, int)
        else ("AU" + str(au)[2:] if str(au).upper().startswith("AU") else f"AU{au}")
    )
    if code not in AU_INDEX:
        raise KeyError(f"unknown action unit {au!r}")
    return code


def _build_basis() -> np.ndarray:
    basis = np.zeros((N_AUS, N_ARKIT), np.float32)
    for k, au in enumerate(ACTION_UNITS):
        for channel, value in au.arkit.items():
            basis[k, ARKIT_INDEX[channel]] = value
    basis.setflags(write=False)
    return basis


def _build_readout() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Readout matrices: bilateral AUs get one column per side so asymmetry survives."""
    both = np.zeros((N_ARKIT, N_AUS), np.float32)
    left = np.zeros((N_ARKIT, N_AUS), np.float32)
    right = np.zeros((N_ARKIT, N_AUS), np.float32)
    bias = np.zeros(N_AUS, np.float32)
    for k, au in enumerate(ACTION_UNITS):
        gain = 1.0 / (1.0 - au.onset)  # a = (mean(x / full) - onset) / (1 - onset)
        for channel in au.primary:
            both[ARKIT_INDEX[channel], k] = gain / (len(au.primary) * au.arkit[channel])
        for side, matrix in (("Left", left), ("Right", right)):
            sided = [c for c in au.primary if c.endswith(side)] or list(au.primary)
            for channel in sided:
                matrix[ARKIT_INDEX[channel], k] = gain / (len(sided) * au.arkit[channel])
        bias[k] = -au.onset * gain
    for m in (both, left, right, bias):
        m.setflags(write=False)
    return both, left, right, bias


AU_BASIS = _build_basis()  # (N_AUS, 61): ARKit pose of each AU at intensity 1
_READOUT, _READOUT_LEFT, _READOUT_RIGHT, _READOUT_BIAS = _build_readout()


def au_to_arkit(au: np.ndarray) -> np.ndarray:
    """AU intensities ``(..., N_AUS)`` -> ARKit values ``(..., 61) float32`` (linear, unclipped).

    Overlapping AUs add (AU9 and AU10 both lift the upper lip); callers clip blendshapes.
    """
    return (np.asarray(au, np.float32) @ AU_BASIS).astype(np.float32, copy=False)


def au_vector(spec: Mapping[int | str, float]) -> np.ndarray:
    """``{12: 0.7, "AU6": 0.4}`` -> ``(N_AUS,) float32`` intensity vector."""
    vector = np.zeros(N_AUS, np.float32)
    for au, value in spec.items():
        vector[AU_INDEX[au_code(au)]] = value
    return vector


def arkit_to_au(values: np.ndarray) -> np.ndarray:
    """ARKit values ``(..., 61)`` -> AU activations ``(..., N_AUS) float32`` in ``[0, 1]``.

    Each AU is read from its primary cue channels (see :class:`ActionUnit`), so the inverse of
    :func:`au_to_arkit` is exact for a single AU below saturation and approximate for mixtures.
    Signed rotations split into their two AUs (negative yaw -> AU51, positive -> AU52).
    """
    x = np.asarray(values, np.float32)
    return np.clip(x @ _READOUT + _READOUT_BIAS, 0.0, 1.0)


def arkit_to_au_sides(values: np.ndarray) -> np.ndarray:
    """Per-side AU activations ``(..., N_AUS, 2)`` (left, right) in ``[0, 1]``.

    Bilateral AUs (AU12 smile, AU43 eye closure...) read each side's channels; midline AUs give
    the same value on both sides. A wink is AU43 on one side only; a smirk is one-sided AU12.
    """
    x = np.asarray(values, np.float32)
    left = np.clip(x @ _READOUT_LEFT + _READOUT_BIAS, 0.0, 1.0)
    right = np.clip(x @ _READOUT_RIGHT + _READOUT_BIAS, 0.0, 1.0)
    return np.stack([left, right], axis=-1)


# --------------------------------------------------------------------------------------------
# EMFACS prototypes
# --------------------------------------------------------------------------------------------

# The canonical EMFACS prototypes of the six basic emotions (Ekman & Friesen).
EMFACS_PROTOTYPES: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "happiness": (6, 12),
    "sadness": (1, 4, 15),
    "fear": (1, 2, 4, 5, 7, 20, 26),
    "surprise": (1, 2, 5, 26),
    "anger": (4, 5, 7, 23),
    "disgust": (9, 15, 16),
})  # fmt: skip

# Further EMFACS-7 combinations that also count as the emotion (Friesen & Ekman's table,
# restricted to AUs ARKit can show; "25/26/27" written as 26). A face matches an emotion by
# its best variant, so a plain AU12 smile is happiness and a lone AU9 nose wrinkle is disgust.
EMFACS_VARIANTS: Mapping[str, tuple[tuple[int, ...], ...]] = MappingProxyType({
    "happiness": ((6, 12), (12,)),
    "sadness": ((1, 4, 15), (1, 4, 15, 17), (6, 15)),
    "fear": ((1, 2, 4, 5, 7, 20, 26), (1, 2, 4, 5, 20, 26), (1, 2, 4, 5), (5, 20), (1, 2, 4, 5, 20)),
    "surprise": ((1, 2, 5, 26), (1, 2, 5, 27), (1, 2, 5), (1, 2, 26), (5, 26)),
    "anger": ((4, 5, 7, 23), (4, 5, 7, 24), (4, 5, 7, 10, 23, 26), (4, 5, 7, 17, 23), (4, 5, 7, 17, 24)),
    "disgust": ((9, 15, 16), (9,), (9, 17), (10,), (10, 16, 26), (10, 17)),
})  # fmt: skip

# AUs whose presence argues against an emotion (a smile is not sadness; lowered brows are not
# surprise). Without them a fear face (1+2+4+5+20+26) would match surprise (1+2+5+26) as well.
EMFACS_CONFLICTS: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "happiness": (4, 9, 15, 20),
    "sadness": (2, 5, 12),
    "fear": (9, 10, 12),
    "surprise": (4, 7, 9, 15, 20, 24),
    "anger": (1, 2, 12, 15),
    "disgust": (1, 2, 5, 12),
})  # fmt: skip

# Compound facial expressions (Du, Tao & Martinez 2014), AU25 written as a small AU26.
COMPOUND_EXPRESSIONS: Mapping[str, tuple[tuple[str, str], tuple[int, ...]]] = MappingProxyType({
    "happily surprised": (("happiness", "surprise"), (1, 2, 12, 26)),
    "happily disgusted": (("happiness", "disgust"), (10, 12)),
    "sadly fearful": (("sadness", "fear"), (1, 4, 20)),
    "sadly angry": (("sadness", "anger"), (4, 15)),
    "sadly surprised": (("sadness", "surprise"), (1, 4, 26)),
    "sadly disgusted": (("sadness", "disgust"), (4, 10)),
    "fearfully angry": (("fear", "anger"), (4, 20, 26)),
    "fearfully surprised": (("fear", "surprise"), (1, 2, 5, 20, 26)),
    "fearfully disgusted": (("fear", "disgust"), (1, 4, 10, 20)),
    "angrily surprised": (("anger", "surprise"), (4, 26)),
    "angrily disgusted": (("anger", "disgust"), (4, 10, 17)),
    "disgustedly surprised": (("disgust", "surprise"), (1, 2, 5, 10)),
    "appalled": (("disgust", "anger"), (4, 9, 10)),
    "hatred": (("anger", "disgust"), (4, 7, 10)),
    "awed": (("surprise", "happiness"), (1, 2, 5, 26)),
})  # fmt: skip

# Softmax temperature and conflict weight, tuned so that a prototype at grade D scores about
# 0.8–0.9 for its emotion (Express4D's example vector peaks at 0.812) and a still face is
# close to uniform.
EMOTION_TEMPERATURE = 0.2
CONFLICT_WEIGHT = 0.6


def _build_emotion_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    variants, members, owner = [], [], []
    width = max(len(c) for combos in EMFACS_VARIANTS.values() for c in combos)
    for e, emotion in enumerate(EMOTIONS):
        for combo in EMFACS_VARIANTS[emotion]:
            row = np.zeros(N_AUS, np.float32)
            index = [AU_INDEX[au_code(au)] for au in combo]
            row[index] = 1.0 / len(combo)
            variants.append(row)
            members.append(index + [index[0]] * (width - len(index)))  # pad: min is unchanged
            owner.append(e)
    conflicts = np.zeros((N_AUS, N_EMOTIONS), np.float32)
    for e, emotion in enumerate(EMOTIONS):
        for au in EMFACS_CONFLICTS[emotion]:
            conflicts[AU_INDEX[au_code(au)], e] = 1.0
    return np.stack(variants, axis=1), np.array(members), np.array(owner), conflicts


_VARIANT_MEANS, _VARIANT_MEMBERS, _VARIANT_OWNER, _CONFLICTS = _build_emotion_tables()
_EXPRESSIVE_MASK = np.array([c in EXPRESSIVE_AUS for c in AU_CODES], np.float32)


def emotion_evidence(au: np.ndarray) -> np.ndarray:
    """AU activations ``(..., N_AUS)`` -> evidence ``(..., 6)`` per emotion, about ``[-0.6, 1]``.

    A variant matches by the average of its AUs' mean and minimum activation, so a face must
    show the whole configuration (a surprise face lacks fear's AU4 and scores low on fear's
    1+2+4+5); the emotion takes its best variant, minus :data:`CONFLICT_WEIGHT` × the
    strongest conflicting AU.
    """
    a = np.asarray(au, np.float32)
    match = 0.5 * (a @ _VARIANT_MEANS) + 0.5 * a[..., _VARIANT_MEMBERS].min(axis=-1)  # (..., V)
    best = np.stack([match[..., e == _VARIANT_OWNER].max(axis=-1) for e in range(N_EMOTIONS)], axis=-1)
    conflict = (a[..., :, None] * _CONFLICTS).max(axis=-2)
    return best - CONFLICT_WEIGHT * conflict


def softmax_scores(evidence: np.ndarray, temperature: float = EMOTION_TEMPERATURE) -> np.ndarray:
    """Evidence ``(..., 6)`` -> scores ``(..., 6) float64`` summing to 1."""
    z = np.asarray(evidence, np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def emotion_scores(au: np.ndarray, temperature: float = EMOTION_TEMPERATURE) -> np.ndarray:
    """AU activations ``(..., N_AUS)`` -> six emotion scores ``(..., 6)`` summing to 1."""
    return softmax_scores(emotion_evidence(au), temperature)


def clip_emotion_scores(values: np.ndarray, temperature: float = EMOTION_TEMPERATURE) -> np.ndarray:
    """A clip's six FACS emotion scores: ARKit ``(T, 61)`` -> ``(6,) float64`` summing to 1.

    Per-frame evidence is averaged with weights that grow with how expressive the frame is
    (squared sum of expressive AUs), so the apex dominates and a still face stays near uniform.
    """
    au = arkit_to_au(np.asarray(values, np.float32).reshape(-1, N_ARKIT))
    evidence = emotion_evidence(au)
    weight = (au @ _EXPRESSIVE_MASK) ** 2 + 1e-3
    pooled = (weight @ evidence) / weight.sum()
    return softmax_scores(pooled, temperature)


def prototype_pose(emotion: str, intensity: float = 0.8) -> np.ndarray:
    """The canonical EMFACS prototype of ``emotion`` as an ARKit pose ``(61,) float32``.

    Every prototype AU at ``intensity`` (AU26 at half, a mouth-open rather than a gape);
    blendshapes clipped to [0, 1].
    """
    if emotion not in EMFACS_PROTOTYPES:
        raise KeyError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    spec = {au: intensity * (0.5 if au == 26 else 1.0) for au in EMFACS_PROTOTYPES[emotion]}
    return clip_pose(au_to_arkit(au_vector(spec)))


def clip_pose(values: np.ndarray) -> np.ndarray:
    """Clip the blendshape part of ``(..., 61)`` to [0, 1]; rotations pass through."""
    out = np.array(values, np.float32, copy=True)
    out[..., :52] = np.clip(out[..., :52], 0.0, 1.0)
    return out


def intensity_grade(activation: float) -> str:
    """FACS intensity letter for an activation in [0, 1]: A trace .. E maximum ("" below 0.1)."""
    for bound, letter in ((0.1, ""), (0.25, "A"), (0.4, "B"), (0.6, "C"), (0.8, "D")):
        if activation < bound:
            return letter
    return "E"
