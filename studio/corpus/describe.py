"""FACS-state descriptions of a pose, for KeyframeFace-style keyframe text.

``describe_pose(pose)`` reads the action units a still ARKit pose shows (through
:func:`studio.facs.arkit_to_au_sides`), drops those merely implied by a stronger AU (AU6
narrows the lids, so a cheek raise does not also report AU7), grades each by FACS intensity
and words it: ``"eyebrows strongly raised, eyes wide open and jaw slightly dropped"``.
"""

from __future__ import annotations

import numpy as np

from studio import facs
from studio.motion import ARKIT_INDEX

# (subject, participle) per AU: the grade adverb goes between them ("lip corners strongly pulled up").
_WORDS: dict[str, tuple[str, str]] = {
    "AU1": ("inner brows", "raised"), "AU2": ("outer brows", "raised"), "AU4": ("brows", "drawn together"),
    "AU5": ("eyes", "opened wide"), "AU6": ("cheeks", "raised"), "AU7": ("eyelids", "tightened"),
    "AU9": ("nose", "wrinkled"), "AU10": ("upper lip", "raised"), "AU12": ("lip corners", "pulled up"),
    "AU13": ("cheeks", "puffed out"), "AU14": ("dimples", "deepened"), "AU15": ("lip corners", "pulled down"),
    "AU16": ("lower lip", "pulled down"), "AU17": ("chin", "raised"), "AU18": ("lips", "puckered"),
    "AU19": ("tongue", "stuck out"), "AU20": ("lips", "stretched sideways"), "AU22": ("lips", "funnelled"),
    "AU24": ("lips", "pressed together"), "AU26": ("jaw", "dropped"), "AU27": ("mouth",
        "stretched wide open"),
    "AU28": ("lips", "sucked in"), "AU29": ("jaw", "pushed forward"), "AU30L": ("jaw", "shifted left"),
    "AU30R": ("jaw", "shifted right"), "AU43": ("eyes", "closed"), "AU51": ("head", "turned left"),
    "AU52": ("head", "turned right"), "AU53": ("head", "tilted back"), "AU54": ("head", "lowered"),
    "AU55": ("head", "tilted to the left"), "AU56": ("head", "tilted to the right"),
    "AU61": ("gaze", "shifted left"), "AU62": ("gaze", "shifted right"), "AU63": ("gaze", "raised"),
    "AU64": ("gaze", "lowered"),
}  # fmt: skip
# One-sided wording for bilateral AUs shown on one side only (a wink, a smirk, one raised brow).
_ONE_SIDED: dict[str, tuple[str, str]] = {
    "AU43": ("{side} eye", "closed"), "AU12": ("{side} lip corner", "pulled up"),
    "AU2": ("{side} eyebrow", "raised"), "AU10": ("{side} upper lip", "raised"),
    "AU9": ("{side} side of the nose", "wrinkled"), "AU14": ("{side} dimple", "deepened"),
    "AU7": ("{side} eyelid", "tightened"), "AU6": ("{side} cheek", "raised"),
    "AU4": ("{side} brow", "lowered"), "AU15": ("{side} lip corner", "pulled down"),
    "AU20": ("{side} lip corner", "stretched"), "AU5": ("{side} eye", "opened wide"),
}  # fmt: skip
_GRADE_WORD = {"": "barely", "A": "barely", "B": "slightly", "C": "", "D": "strongly", "E": "fully"}
# Reading order: upper face, lower face, head, gaze.
_ORDER = (
    "AU1",
    "AU2",
    "AU4",
    "AU5",
    "AU7",
    "AU43",
    "AU6",
    "AU9",
    "AU10",
    "AU12",
    "AU14",
    "AU15",
    "AU16",
    "AU17",
    "AU18",
    "AU20",
    "AU22",
    "AU24",
    "AU28",
    "AU13",
    "AU19",
    "AU26",
    "AU27",
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
)
_SKIP = {"AU23"}  # reads from the same ARKit press as AU24; AU24 speaks for both
PRESENT = 0.1  # FACS grade A starts here


def _leak_matrix() -> np.ndarray:
    """``L[j, k]``: how much AU k reads when only AU j is at intensity 1 (off-diagonal)."""
    leak = facs.arkit_to_au(facs.AU_BASIS).astype(np.float64)
    np.fill_diagonal(leak, 0.0)
    return leak


_LEAK = _leak_matrix()


def pose_aus(pose: np.ndarray) -> dict[str, tuple[float, float]]:
    """AUs a still pose ``(61,)`` shows on their own: ``{code: (left, right)}`` net of leakage."""
    sides = facs.arkit_to_au_sides(np.asarray(pose, np.float32)).astype(np.float64)  # (K, 2)
    mean = sides.mean(axis=1)
    implied = np.minimum(mean @ _LEAK, mean)  # what stronger AUs already explain
    if mean[facs.AU_INDEX["AU27"]] > PRESENT:  # a gape is also a jaw drop; say it once
        implied[facs.AU_INDEX["AU26"]] = mean[facs.AU_INDEX["AU26"]]
    net = np.clip(sides - implied[:, None], 0.0, 1.0)
    return {
        code: (float(net[k, 0]), float(net[k, 1]))
        for k, code in enumerate(facs.AU_CODES)
        if code not in _SKIP and net[k].max() >= PRESENT
    }


def _phrase(subject: str, participle: str, activation: float) -> str:
    adverb = _GRADE_WORD[facs.intensity_grade(activation)]
    return " ".join(w for w in (subject, adverb, participle) if w)


def describe_pose(pose: np.ndarray) -> list[str]:
    """Words for what a pose ``(61,)`` shows, upper face first; ``[]`` for a neutral face."""
    aus = pose_aus(pose)
    parts: list[str] = []
    if "AU1" in aus and "AU2" in aus:  # both brow raisers read as "eyebrows raised"
        left, right = aus.pop("AU2")
        inner = aus.pop("AU1")
        level = (max(left, right) + max(inner)) / 2
        if abs(left - right) < 0.25:
            parts.append(_phrase("eyebrows", "raised", level))
        else:
            side = "left" if left > right else "right"
            parts.append(_phrase(f"{side} eyebrow", "raised", max(left, right)))
    gaze = None
    horizontal = [c for c in ("AU61", "AU62") if c in aus]
    vertical = [c for c in ("AU63", "AU64") if c in aus]
    if horizontal and vertical:  # one diagonal gaze part reads better than two
        h, v = horizontal[0], vertical[0]
        level = (max(aus.pop(h)) + max(aus.pop(v))) / 2
        where = ("up" if v == "AU63" else "down") + " and to the " + ("left" if h == "AU61" else "right")
        gaze = _phrase("gaze", "shifted " + where, level)
    for code in _ORDER:
        if code not in aus:
            continue
        left, right = aus[code]
        if code in _ONE_SIDED and abs(left - right) > 0.25:
            side = "left" if left > right else "right"
            subject, participle = _ONE_SIDED[code]
            parts.append(_phrase(subject.format(side=side), participle, max(left, right)))
        else:
            parts.append(_phrase(*_WORDS[code], (left + right) / 2))
    if gaze:
        parts.append(gaze)
    p = np.asarray(pose, np.float64)
    side_pull = p[ARKIT_INDEX["mouthLeft"]] - p[ARKIT_INDEX["mouthRight"]]
    if abs(side_pull) >= 0.2:
        parts.append(f"mouth pulled to the {'left' if side_pull > 0 else 'right'}")
    if p[ARKIT_INDEX["leftEyeYaw"]] - p[ARKIT_INDEX["rightEyeYaw"]] > 0.3:
        parts.append("eyes crossed")
    return parts


def join_parts(parts: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``; empty -> a neutral-face phrase."""
    if not parts:
        return "a relaxed, neutral face"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]
