"""The corpus vocabulary: facial actions and emotion phrases, each grounded in FACS action units.

An :class:`Action` is what a phrase asks the face to do. Its pose is a set of AU intensities
(:mod:`studio.facs`) plus a few direct ARKit channels for what AUs cannot say (one-sided
shapes, crossed eyes); its timing is one of four kinds:

* ``hold``  — onset, apex, offset (a smile, raised brows, a look to the left);
* ``pulse`` — the same, fast and short (a blink, a wink, a gasp);
* ``osc``   — an oscillation on top of a held pose (a nod, a laugh, talking);
* ``path``  — a scripted trajectory (an eye roll, a sneeze, dozing off).

One-sided actions are written for the performer's left; ``side="right"`` mirrors them and
``side="random"`` lets the plan pick (the text does not say which side).

Phrasings are base-form verb phrases with a ``{poss}`` slot. When an action has three or more,
its **last phrasing is held out**: only test items use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np

from studio import facs
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, ARKIT_INDEX, N_ARKIT

Kind = Literal["hold", "pulse", "osc", "path"]
Side = Literal["none", "left", "right", "random"]

# Default timing ranges in seconds at a performer speed of 1: (onset, apex, offset).
DEFAULT_TIMING: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "hold": ((0.25, 0.6), (0.9, 2.0), (0.35, 0.8)),
    "pulse": ((0.06, 0.12), (0.04, 0.15), (0.12, 0.25)),
    "osc": ((0.15, 0.35), (0.0, 0.0), (0.2, 0.45)),  # apex = cycles / frequency
    "path": ((0.2, 0.4), (0.0, 0.0), (0.25, 0.5)),  # apex = path duration
}


@dataclass(frozen=True)
class Action:
    """One facial action or emotion phrase.

    ``au`` holds typical AU intensities (an unmodified phrase, FACS grade C–D); ``extra``
    adds ARKit channels directly (normalised units for rotations). ``motion`` names the
    oscillator or path in :mod:`studio.corpus.synth`; ``freq`` (Hz), ``cycles`` and
    ``path_s`` (seconds) parameterise it. ``blinks`` scales the idle blink rate while the
    action runs (0: a stare). ``gaze`` marks actions that steer the eyes (idle saccades pause).
    ``scalable`` says intensity words may modify it ("smiles widely" already says how much).
    ``state`` describes a moving action in keyframe scripts, where a still pose cannot.
    ``timed`` is False when the phrasings already fix the timing ("blink slowly"), so manner
    words ("quickly") would contradict them.
    """

    id: str
    phrases: tuple[str, ...]
    category: str
    emotion: str = "neutral"
    au: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, float] = field(default_factory=dict)
    kind: Kind = "hold"
    motion: str | None = None
    side: Side = "none"
    scalable: bool = True
    blinks: float = 1.0
    gaze: bool = False
    freq: tuple[float, float] = (2.0, 2.0)
    cycles: tuple[int, int] = (2, 3)
    path_s: tuple[float, float] = (1.0, 1.5)
    timing: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] | None = None
    state: str = ""
    timed: bool = True

    @property
    def train_phrases(self) -> tuple[str, ...]:
        """Phrasings training items may use (all but the held-out last one of 3+)."""
        return self.phrases[:-1] if len(self.phrases) >= 3 else self.phrases

    @property
    def heldout_phrase(self) -> str | None:
        return self.phrases[-1] if len(self.phrases) >= 3 else None

    @property
    def pose_only(self) -> bool:
        """Can be a keyframe of a script: a still pose says it all."""
        return self.kind in ("hold", "pulse") and self.motion is None

    def timing_ranges(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        return self.timing or DEFAULT_TIMING[self.kind]


def _parse(spec: str) -> dict[str, float]:
    """``"6:.4 12:.7 mouthSmileLeft:.3"`` -> ``{"AU6": 0.4, "AU12": 0.7, "mouthSmileLeft": 0.3}``."""
    out: dict[str, float] = {}
    for item in spec.split():
        key, _, value = item.partition(":")
        out[facs.au_code(key) if key[0].isdigit() else key] = float(value)
    return out


def _split_spec(spec: str) -> tuple[dict[str, float], dict[str, float]]:
    parsed = _parse(spec)
    au = {k: v for k, v in parsed.items() if k in facs.AU_INDEX}
    extra = {k: v for k, v in parsed.items() if k not in facs.AU_INDEX}
    for channel in extra:
        if channel not in ARKIT_INDEX:
            raise KeyError(f"unknown ARKit channel {channel!r} in {spec!r}")
    return au, extra


def A(action_id: str, phrases: str, category: str, spec: str = "", **kw: object) -> Action:  # noqa: N802
    """Compact constructor: phrases separated by ``|``, AUs and channels in one spec string."""
    au, extra = _split_spec(spec)
    return Action(
        action_id,
        tuple(p.strip() for p in phrases.split("|")),
        category,
        au=MappingProxyType(au),
        extra=MappingProxyType(extra),
        **kw,
    )  # type: ignore[arg-type]


def E(action_id: str, emotion: str, adjectives: str, spec: str, **kw: object) -> Action:  # noqa: N802
    """An emotion phrase: "look/seem/become <adjective>"; "appear <last adjective>" is held out.

    Multi-word adjectives ("in pain", "let down") skip "become", which does not fit them.
    """
    adjs = [a.strip() for a in adjectives.split("|")]
    phrases = [
        f"{verb} {adj}"
        for adj in adjs
        for verb in ("look", "seem", "become")
        if verb != "become" or " " not in adj
    ]
    phrases.append(f"appear {adjs[-1]}")
    au, extra = _split_spec(spec)
    kw.setdefault("timing", ((0.4, 0.9), (1.4, 2.8), (0.5, 1.0)))
    return Action(
        action_id, tuple(phrases), "emotion", emotion, MappingProxyType(au), MappingProxyType(extra), **kw
    )  # type: ignore[arg-type]


_FAST = ((0.06, 0.1), (0.05, 0.2), (0.15, 0.3))
_QUICK_HOLD = ((0.12, 0.25), (0.3, 0.7), (0.3, 0.6))
_LONG_HOLD = ((0.4, 0.9), (1.4, 2.8), (0.5, 1.0))

ACTIONS: tuple[Action, ...] = (
    # -- smiles ------------------------------------------------------------------------------
    A("smile", "smile|give a smile|crack a smile|smile pleasantly", "smile", "6:.35 12:.65",
        emotion="happiness"),
    A("smile_broad",
      "smile widely|smile broadly|grin from ear to ear|give a big smile|beam|flash a wide smile",
      "smile", "6:.8 12:1 26:.35 10:.3 16:.25", emotion="happiness", scalable=False),
    A("smile_closed", "smile with closed lips|give a closed-mouth smile|smile with {poss} lips together|"
      "give a tight-lipped smile", "smile", "12:.6 24:.45 14:.3 6:.2", emotion="happiness"),
    A("smile_polite", "smile politely|give a polite smile|put on a polite smile|offer a courteous smile",
      "smile", "12:.5 14:.15", emotion="happiness", timing=_QUICK_HOLD),
    A("smile_forced", "force a smile|fake a smile|put on a forced smile|smile unconvincingly",
      "smile", "12:.55 20:.35 14:.2", emotion="happiness", timing=_QUICK_HOLD),
    A("smile_warm", "smile warmly|give a warm smile|smile genuinely|smile with {poss} eyes",
      "smile", "6:.7 12:.7 headRoll:.03", emotion="happiness"),
    A("smile_shy", "smile shyly|give a shy smile|smile bashfully", "smile", "12:.4 14:.2 54:.35 64:.5",
      emotion="happiness", gaze=True),
    A("smile_sad", "smile sadly|give a wistful smile|smile through {poss} sadness|give a bittersweet smile",
      "smile", "12:.35 1:.55 4:.15", emotion="sadness"),
    A("smile_nervous", "smile nervously|give a nervous smile|smile uneasily", "smile",
      "12:.4 20:.4 1:.35 2:.2 5:.2", emotion="fear", blinks=1.8),
    A("smile_sly", "smile slyly|give a sly smile|smile mischievously|give a knowing smile", "smile",
      "mouthSmileLeft:.55 mouthSmileRight:.25 7:.3 browOuterUpLeft:.25", side="random", emotion="happiness"),
    A("smirk", "smirk|give a smirk|crack a lopsided smile|smirk to one side", "smile",
      "mouthSmileLeft:.6 mouthDimpleLeft:.4 12:.1 headRoll:-.02", side="random"),
    A("smile_suppressed", "suppress a smile|try not to smile|hold back a smile|bite back a smile", "smile",
      "12:.35 24:.5 17:.35 14:.3", emotion="happiness"),
    A("grin", "grin|grin toothily|bare {poss} teeth in a grin|show {poss} teeth in a big grin", "smile",
      "12:.9 6:.5 10:.55 16:.45", emotion="happiness"),
    A("smile_proud", "smile proudly|give a proud smile|smile with pride", "smile", "12:.55 6:.3 53:.35",
      emotion="happiness"),
    # -- laughter -----------------------------------------------------------------------------
    A("laugh", "laugh|burst out laughing|laugh out loud|crack up laughing", "laugh", "6:.8 12:.9 53:.15",
      kind="osc", motion="laugh", freq=(4.0, 5.0), cycles=(6, 10), emotion="happiness",
      state="laughing, cheeks raised, mouth opening and closing"),
    A("laugh_hearty", "laugh heartily|roar with laughter|throw {poss} head back laughing|laugh uproariously",
      "laugh", "6:1 12:1 53:.5 26:.3", kind="osc", motion="laugh_big", freq=(3.5, 4.5), cycles=(8, 14),
      emotion="happiness", scalable=False, state="head thrown back, laughing with the mouth wide open"),
    A("chuckle", "chuckle|give a little chuckle|chuckle under {poss} breath|let out a chuckle", "laugh",
        "6:.45 12:.6",
      kind="osc", motion="chuckle", freq=(3.0, 4.0), cycles=(3, 6), emotion="happiness",
      state="chuckling with a closed smile"),
    A("giggle", "giggle|let out a giggle|titter|giggle like a child", "laugh", "6:.5 12:.75", kind="osc",
      motion="giggle", freq=(5.5, 7.0), cycles=(6, 12), emotion="happiness", state="giggling, head bobbing"),
    A("snicker", "snicker|snigger|let out a snicker", "laugh", "mouthSmileLeft:.6 mouthSmileRight:.25 "
      "noseSneerLeft:.3", kind="osc", motion="chuckle", freq=(4.0, 5.5), cycles=(3, 6), side="random",
      state="snickering out of one side of the mouth"),
    A("laugh_nervous", "laugh nervously|give a nervous laugh|let out an awkward laugh", "laugh",
      "12:.5 20:.4 1:.3", kind="osc", motion="chuckle", freq=(3.5, 4.5), cycles=(3, 5), emotion="fear",
      state="laughing awkwardly with stretched lips"),
    # -- frowns, sadness and anger pieces ----------------------------------------------------
    A("frown", "frown|give a frown|pull a frown|wear a frown", "frown", "4:.7 15:.5 17:.2",
        emotion="sadness"),
    A("frown_deep", "frown deeply|frown hard|knit {poss} brows into a deep frown", "frown",
      "4:1 15:.75 17:.45 7:.3", emotion="sadness", scalable=False),
    A("scowl", "scowl|glower|give a scowl|shoot a scowl", "frown", "4:.9 7:.6 10:.2 24:.35", emotion="anger"),
    A("furrow", "furrow {poss} brow|knit {poss} brows|draw {poss} eyebrows together|lower {poss} eyebrows|"
      "pinch {poss} brows together", "brow", "4:.8"),
    A("mouth_down", "turn down the corners of {poss} mouth|pull down the corners of {poss} lips|"
      "make a downturned mouth", "lips", "15:.8 17:.3", emotion="sadness"),
    A("pout", "pout|stick out {poss} lower lip|sulk|push out {poss} lips in a pout", "lips",
      "17:.6 15:.3 18:.4 mouthShrugUpper:.3", emotion="sadness"),
    A("fight_tears", "fight back tears|hold back tears|try not to cry|struggle not to cry", "frown",
      "1:.7 4:.4 15:.5 17:.6", kind="osc", motion="tremble", freq=(6.0, 8.0), cycles=(12, 20),
      emotion="sadness", blinks=2.5, state="inner brows raised, chin trembling, lips pressed down"),
    A("cry", "cry|sob|break down in tears|weep", "frown", "1:.8 4:.6 15:.8 17:.5 6:.4 43:.3", kind="osc",
      motion="sob", freq=(1.0, 1.5), cycles=(3, 5), emotion="sadness",
      state="crying, inner brows up, lip corners down, shoulders of the face heaving"),
    A("sigh", "sigh|let out a sigh|heave a sigh|sigh heavily", "breath", "1:.3", kind="path", motion="sigh",
      path_s=(1.6, 2.4), state="exhaling with lowered eyelids and a dropping head"),
    A("sigh_relief", "sigh with relief|breathe a sigh of relief|exhale in relief", "breath", "12:.35",
      kind="path", motion="sigh", path_s=(1.6, 2.4), emotion="happiness",
      state="exhaling with a small smile and relaxed eyelids"),
    A("grimace", "grimace|make a grimace|pull a grimace|grimace awkwardly", "frown",
      "20:.8 4:.5 7:.5 10:.4 16:.2", emotion="disgust"),
    A("wince", "wince|flinch in pain|wince sharply", "frown", "4:.6 6:.5 7:.8 9:.3 20:.4 43:.4 53:.15",
      kind="pulse", timing=_FAST, emotion="fear"),
    A("cringe", "cringe|cringe awkwardly|recoil in embarrassment", "frown",
      "4:.4 7:.5 20:.6 10:.3 55:.3 51:.15", emotion="disgust", side="random"),
    A("clench_teeth", "clench {poss} teeth|grit {poss} teeth|bare {poss} clenched teeth", "lips",
      "10:.45 16:.4 20:.35 24:.2", emotion="anger"),
    A("snarl", "snarl|give a snarl|snarl like a dog", "frown", "4:.8 9:.6 10:.9 16:.3 26:.25",
        emotion="anger"),
    A("sneer", "sneer|curl {poss} upper lip|give a sneer|sneer with contempt", "frown",
      "mouthUpperUpLeft:.7 noseSneerLeft:.4 mouthUpperUpRight:.15 53:.2", side="random", emotion="disgust"),
    A("glare", "glare|glare at someone|shoot an angry look|give a hard stare", "frown",
      "4:.8 5:.45 7:.4 24:.3 54:.15", emotion="anger", blinks=0.0),
    A("shout", "shout|yell|raise {poss} voice|shout at someone", "speech", "4:.6 10:.4 53:.15", kind="osc",
      motion="shout", freq=(2.5, 3.5), cycles=(4, 8), emotion="anger",
      state="shouting with lowered brows and the mouth opening wide"),
    A("scream", "scream|let out a scream|shriek", "speech", "1:.8 2:.7 4:.5 5:.9 20:.7 27:.9", kind="osc",
      motion="tremble", freq=(7.0, 9.0), cycles=(10, 20), emotion="fear", blinks=0.0,
      state="screaming with wide eyes and a stretched open mouth"),
    A("groan", "groan|let out a groan|moan", "breath", "4:.5 43:.5 15:.3 26:.2 53:.2", emotion="sadness"),
    # -- lips -------------------------------------------------------------------------------
    A("press_lips", "press {poss} lips together|tighten {poss} lips|clamp {poss} mouth shut|"
      "press {poss} lips into a thin line", "lips", "24:.9 23:.3"),
    A("purse_lips", "purse {poss} lips|pucker {poss} lips|pucker up", "lips", "18:.75 23:.25"),
    A("kiss", "blow a kiss|make a kissing face|send a kiss", "lips", "18:1 22:.3 12:.15", emotion="happiness",
      timing=_QUICK_HOLD),
    A("lip_bite", "bite {poss} lower lip|chew on {poss} lower lip|nibble {poss} lip", "lips",
      "mouthRollLower:.75 mouthUpperUpLeft:.15 mouthUpperUpRight:.15 12:.1"),
    A("lip_suck", "roll {poss} lips inward|suck in {poss} lips|tuck {poss} lips in", "lips", "28:.9"),
    A("lick_lips", "lick {poss} lips|run {poss} tongue over {poss} lips|lick {poss} lips hungrily", "lips",
      "19:.45 26:.2", kind="osc", motion="lick", freq=(1.0, 1.4), cycles=(1, 2),
      state="tongue sweeping over the lips"),
    A("whistle", "whistle|whistle a tune|let out a whistle", "lips", "18:.8 22:.5 13:.15", kind="osc",
      motion="hum", freq=(1.5, 2.5), cycles=(2, 4), state="lips puckered to whistle"),
    A("blow_air", "blow out a puff of air|exhale through pursed lips|blow air out of {poss} mouth", "breath",
      "", kind="path", motion="blow", path_s=(1.0, 1.6),
          state="cheeks filling with air, then lips funnelled"),
    A("mouth_o", "make an O shape with {poss} mouth|form an O with {poss} lips|round {poss} lips into an O",
      "lips", "22:.8 26:.35"),
    A("part_lips", "part {poss} lips|open {poss} mouth slightly|let {poss} lips part", "jaw", "26:.25 16:.2",
      scalable=False),
    A("open_mouth", "open {poss} mouth|let {poss} mouth fall open|open up {poss} mouth", "jaw", "26:.75"),
    A("open_mouth_wide", "open {poss} mouth wide|stretch {poss} mouth wide open|open {poss} mouth as wide "
      "as possible", "jaw", "27:.85 20:.3", scalable=False),
    A("mouth_left", "pull {poss} mouth to the left|shift {poss} lips to the left|twist {poss} mouth to the "
      "left", "lips", "mouthLeft:.7 jawLeft:.1", side="left"),
    A("mouth_right", "pull {poss} mouth to the right|shift {poss} lips to the right|"
      "twist {poss} mouth to the "
      "right", "lips", "mouthLeft:.7 jawLeft:.1", side="right"),
    A("mouth_twist", "twist {poss} mouth to one side|scrunch {poss} mouth to the side|screw up {poss} mouth",
      "lips", "mouthLeft:.55 17:.3 mouthPressLeft:.2", side="random"),
    A("lips_stretch", "stretch {poss} lips|pull {poss} lips tight sideways|stretch {poss} mouth sideways",
      "lips", "20:.85"),
    A("upper_lip_raise", "raise {poss} upper lip|lift {poss} upper lip|show {poss} upper teeth", "lips",
      "10:.8"),
    A("lower_lip_down", "pull down {poss} lower lip|show {poss} lower teeth|drop {poss} lower lip", "lips",
      "16:.8"),
    A("chin_raise", "push up {poss} lower lip|tense {poss} chin|wrinkle {poss} chin", "lips", "17:.8"),
    A("dimple", "show {poss} dimples|tighten the corners of {poss} mouth|dimple {poss} cheeks", "lips",
      "14:.8"),
    A("tongue_out",
      "stick out {poss} tongue|stick {poss} tongue out|poke out {poss} tongue|show {poss} tongue",
      "tongue", "19:.9 26:.2"),
    A("raspberry", "blow a raspberry|give a raspberry|make a raspberry sound", "tongue", "19:.5 13:.3",
      kind="osc", motion="raspberry", freq=(10.0, 14.0), cycles=(8, 16),
      state="tongue out between vibrating lips"),
    A("tongue_side", "stick {poss} tongue out of the corner of {poss} mouth|poke {poss} tongue out to the "
      "side|let {poss} tongue peek out to one side", "tongue", "19:.5 mouthLeft:.4 26:.1", side="random"),
    A("talk", "talk|speak|say something|chat", "speech", "", kind="osc", motion="speech", freq=(3.5, 5.0),
      cycles=(6, 14), state="talking, the jaw moving with the syllables"),
    A("whisper", "whisper|whisper something|murmur|speak in a whisper", "speech", "", kind="osc",
      motion="whisper", freq=(3.5, 5.0), cycles=(6, 12), state="whispering with small mouth movements"),
    A("sing", "sing|sing a song|sing along|belt out a song", "speech", "6:.2 12:.2 1:.2", kind="osc",
      motion="sing", freq=(1.8, 2.6), cycles=(4, 8), state="singing with a wide rhythmic jaw"),
    A("hum", "hum|hum a tune|hum a melody", "speech", "24:.35", kind="osc", motion="hum", freq=(0.8, 1.4),
      cycles=(2, 4), state="humming with closed lips, head swaying"),
    A("chew", "chew|chew gum|munch on something|chew with {poss} mouth closed", "jaw", "", kind="osc",
      motion="chew", freq=(1.3, 1.8), cycles=(3, 6), state="chewing with the lips closed"),
    A("yawn", "yawn|let out a big yawn|give a yawn|yawn widely", "jaw", "27:.9 43:.6 1:.4 2:.3 53:.2 20:.3",
      timing=((0.9, 1.4), (0.6, 1.2), (0.6, 1.0)), blinks=0.0),
    A("stifle_yawn", "stifle a yawn|suppress a yawn|hold back a yawn", "jaw", "26:.4 24:.3 43:.3 17:.4",
      timing=((0.6, 0.9), (0.4, 0.8), (0.4, 0.7))),
    A("gasp", "gasp|let out a gasp|draw a sharp breath|suck in a breath", "breath",
      "1:.7 2:.7 5:.8 26:.6 22:.3 53:.2", kind="pulse", timing=((0.06, 0.12), (0.3, 0.6), (0.5, 0.9)),
      emotion="surprise", blinks=0.0),
    A("jaw_drop", "drop {poss} jaw|let {poss} jaw drop|go slack-jawed|let {poss} jaw hang open", "jaw",
      "26:.95 27:.2 1:.3 2:.3", emotion="surprise"),
    A("jaw_forward", "jut {poss} jaw forward|push {poss} jaw forward|stick out {poss} jaw", "jaw",
        "29:.8 17:.2"),
    A("jaw_left", "shift {poss} jaw to the left|move {poss} jaw to the left|slide {poss} jaw left", "jaw",
      "30L:.7", side="left"),
    A("jaw_right", "shift {poss} jaw to the right|move {poss} jaw to the right|slide {poss} jaw right",
      "jaw", "30L:.7", side="right"),
    A("cheek_puff", "puff out {poss} cheeks|puff {poss} cheeks|blow up {poss} cheeks like a balloon|"
      "inflate {poss} cheeks", "cheek", "13:.95"),
    A("fish_face", "make a fish face|suck in {poss} cheeks|make fish lips", "lips", "18:.9 22:.4 26:.12"),
    A("funny_face", "make a funny face|pull a silly face|make a goofy face", "tongue",
      "19:.6 13:.35 2:.5 leftEyeYaw:.18 rightEyeYaw:-.18 eyeLookInLeft:.3 eyeLookInRight:.3",
      gaze=True),
    A("sneeze", "sneeze|let out a sneeze|give a big sneeze", "breath", "", kind="path", motion="sneeze",
      path_s=(1.4, 2.0), blinks=0.0, state="eyes squeezed shut, head jerking forward"),
    A("cough", "cough|give a cough|clear {poss} throat", "breath", "4:.2", kind="osc", motion="cough",
      freq=(2.0, 2.8), cycles=(2, 4), state="coughing, head jerking down"),
    A("hiccup", "hiccup|have the hiccups|let out a hiccup", "breath", "", kind="path", motion="hiccup",
      path_s=(0.7, 1.0), state="a small jolt of the head and jaw"),
    A("pant", "pant|breathe heavily|catch {poss} breath|gasp for air", "breath", "1:.25", kind="osc",
      motion="pant", freq=(1.5, 2.2), cycles=(4, 8), state="panting with an open mouth"),
    A("gulp", "gulp|swallow hard|swallow nervously", "breath", "1:.3 5:.2", kind="path", motion="gulp",
      path_s=(0.8, 1.2), emotion="fear", state="a hard swallow, chin tensing"),
    A("shiver", "shiver|shiver with cold|tremble", "head", "20:.3 24:.4", kind="osc", motion="shiver",
      freq=(7.0, 9.0), cycles=(14, 24), state="shivering, lips pressed and stretched"),
    # -- nose and cheeks ----------------------------------------------------------------------
    A("nose_wrinkle", "wrinkle {poss} nose|scrunch up {poss} nose|crinkle {poss} nose", "nose", "9:.85",
      emotion="disgust"),
    A("sniff", "sniff|sniff the air|take a sniff", "nose", "9:.3 53:.12", kind="pulse",
      timing=((0.1, 0.2), (0.2, 0.4), (0.3, 0.5))),
    A("cheek_raise", "raise {poss} cheeks|lift {poss} cheeks|push up {poss} cheeks", "cheek", "6:.8"),
    # -- brows -------------------------------------------------------------------------------
    A("raise_brows", "raise {poss} eyebrows|lift {poss} eyebrows|arch {poss} eyebrows|put {poss} eyebrows up",
      "brow", "1:.75 2:.75", emotion="surprise"),
    A("brow_flash", "flash {poss} eyebrows|give a quick eyebrow flash|do a quick eyebrow raise", "brow",
      "1:.8 2:.8", kind="pulse", timing=((0.08, 0.15), (0.15, 0.3), (0.2, 0.35))),
    A("raise_one_brow", "raise one eyebrow|arch an eyebrow|cock an eyebrow|lift a single eyebrow", "brow",
      "browOuterUpLeft:.9 browInnerUp:.3 browDownRight:.3 eyeSquintRight:.2", side="random"),
    A("raise_left_brow", "raise {poss} left eyebrow|lift {poss} left brow|arch {poss} left eyebrow", "brow",
      "browOuterUpLeft:.9 browInnerUp:.3 browDownRight:.3 eyeSquintRight:.2", side="left"),
    A("raise_right_brow", "raise {poss} right eyebrow|lift {poss} right brow|arch {poss} right eyebrow",
      "brow", "browOuterUpLeft:.9 browInnerUp:.3 browDownRight:.3 eyeSquintRight:.2", side="right"),
    A("inner_brows", "raise the inner corners of {poss} eyebrows|make puppy-dog eyes|tilt {poss} eyebrows "
      "upward", "brow", "1:.9 4:.25", emotion="sadness"),
    A("wiggle_brows", "wiggle {poss} eyebrows|waggle {poss} eyebrows|wiggle {poss} eyebrows up and down",
      "brow", "", kind="osc", motion="brow_wiggle", freq=(2.5, 3.5), cycles=(2, 4),
      state="eyebrows bouncing up and down"),
    # -- eyelids -----------------------------------------------------------------------------
    A("blink", "blink|blink once|give a blink", "eyes", "43:1", kind="pulse",
      timing=((0.06, 0.09), (0.02, 0.06), (0.12, 0.18)), scalable=False, blinks=0.0),
    A("blink_rapid", "blink rapidly|blink several times|flutter {poss} eyelashes|bat {poss} eyelashes",
      "eyes", "", kind="osc", motion="blink_rapid", freq=(3.0, 4.0), cycles=(3, 6), blinks=0.0,
      state="eyelids fluttering", timed=False),
    A("blink_slow", "blink slowly|give a slow blink|blink lazily", "eyes", "43:1",
      timing=((0.25, 0.4), (0.15, 0.35), (0.3, 0.5)), scalable=False, blinks=0.0, timed=False),
    A("wink", "wink|give a wink|wink at someone|tip a wink", "eyes",
      "eyeBlinkLeft:1 cheekSquintLeft:.4 mouthSmileLeft:.3 eyeSquintLeft:.3", kind="pulse",
      timing=((0.08, 0.14), (0.12, 0.3), (0.15, 0.3)), side="random", emotion="happiness", blinks=0.0),
    A("wink_left", "wink {poss} left eye|wink with {poss} left eye|close {poss} left eye in a wink", "eyes",
      "eyeBlinkLeft:1 cheekSquintLeft:.4 mouthSmileLeft:.3 eyeSquintLeft:.3", kind="pulse",
      timing=((0.08, 0.14), (0.12, 0.3), (0.15, 0.3)), side="left", blinks=0.0),
    A("wink_right", "wink {poss} right eye|wink with {poss} right eye|close {poss} right eye in a wink",
      "eyes", "eyeBlinkLeft:1 cheekSquintLeft:.4 mouthSmileLeft:.3 eyeSquintLeft:.3", kind="pulse",
      timing=((0.08, 0.14), (0.12, 0.3), (0.15, 0.3)), side="right", blinks=0.0),
    A("close_eyes", "close {poss} eyes|shut {poss} eyes|keep {poss} eyes closed|let {poss} eyes fall shut",
      "eyes", "43:1", blinks=0.0, scalable=False),
    A("squeeze_eyes", "squeeze {poss} eyes shut|scrunch {poss} eyes closed|screw {poss} eyes shut", "eyes",
      "43:1 6:.6 7:.7 4:.4 9:.2", blinks=0.0),
    A("squint", "squint|narrow {poss} eyes|squint {poss} eyes", "eyes", "7:.8 6:.2"),
    A("squint_suspicious", "squint suspiciously|narrow {poss} eyes suspiciously|give a suspicious look|"
      "eye someone suspiciously", "eyes", "7:.7 4:.35 61:.35 55:.2", side="random", emotion="anger",
          gaze=True),
    A("widen_eyes", "widen {poss} eyes|open {poss} eyes wide|go wide-eyed|make {poss} eyes big", "eyes",
      "5:.9 1:.25 2:.25", emotion="surprise", blinks=0.3),
    A("droop_eyes", "half-close {poss} eyes|lower {poss} eyelids|let {poss} eyelids droop", "eyes", "43:.55"),
    A("stare", "stare|stare blankly|stare into space|stare without blinking", "eyes", "5:.35", blinks=0.0,
      gaze=True, timing=_LONG_HOLD),
    A("cross_eyes", "cross {poss} eyes|go cross-eyed|look cross-eyed", "gaze",
      "leftEyeYaw:.25 rightEyeYaw:-.25", gaze=True, scalable=False),
    A("eye_roll", "roll {poss} eyes|do an eye roll|give an eye roll|roll {poss} eyes upward", "gaze",
      "1:.3 2:.35", kind="path", motion="eye_roll", path_s=(0.8, 1.3), side="random", gaze=True,
      emotion="anger", state="eyes rolling up and around"),
    A("eyes_dart", "dart {poss} eyes around|let {poss} eyes dart from side to side|shift {poss} eyes back "
      "and forth", "gaze", "5:.2", kind="path", motion="dart", path_s=(1.4, 2.2), gaze=True, emotion="fear",
      state="eyes darting from side to side"),
    # -- gaze --------------------------------------------------------------------------------
    A("look_left", "look to the left|glance left|shift {poss} gaze to the left|turn {poss} eyes to the left",
      "gaze", "61:.8 51:.25", side="left", gaze=True),
    A("look_right", "look to the right|glance right|shift {poss} gaze to the right|turn {poss} eyes to the "
      "right", "gaze", "61:.8 51:.25", side="right", gaze=True),
    A("look_up", "look up|glance upward|raise {poss} gaze|turn {poss} eyes upward", "gaze",
      "63:.85 53:.2 1:.15 2:.15", gaze=True),
    A("look_down", "look down|glance down|lower {poss} gaze|cast {poss} eyes down", "gaze", "64:.85 54:.25",
      gaze=True),
    A("look_up_left", "look up and to the left|glance up to the left|look toward the upper left", "gaze",
      "61:.6 63:.6 51:.15 53:.1", side="left", gaze=True),
    A("look_up_right", "look up and to the right|glance up to the right|look toward the upper right", "gaze",
      "61:.6 63:.6 51:.15 53:.1", side="right", gaze=True),
    A("look_down_left", "look down and to the left|glance down to the left|look toward the lower left",
      "gaze", "61:.6 64:.6 51:.15 54:.1", side="left", gaze=True),
    A("look_down_right", "look down and to the right|glance down to the right|look toward the lower right",
      "gaze", "61:.6 64:.6 51:.15 54:.1", side="right", gaze=True),
    A("glance_side", "glance to the side|steal a sideways glance|cast a sideways glance|dart a look to the "
      "side", "gaze", "61:.85", side="random", gaze=True, timing=_QUICK_HOLD),
    A("look_away", "look away|avert {poss} gaze|break eye contact|turn {poss} eyes away", "gaze",
      "61:.6 64:.4 51:.3 54:.1", side="random", gaze=True),
    A("look_around", "look around|scan {poss} surroundings|look around the room|glance around", "gaze", "",
      kind="path", motion="look_around", path_s=(2.2, 3.5), gaze=True, state="eyes and head scanning around"),
    A("look_ahead", "look straight ahead|look directly at the camera|make eye contact|fix {poss} eyes on "
      "the viewer", "gaze", "1:.15 2:.1", gaze=True, blinks=0.5, timing=_LONG_HOLD),
    A("side_eye", "give someone the side-eye|side-eye someone|cast a side-eye", "gaze",
      "61:1 7:.35 4:.25 52:.1", side="random", gaze=True, emotion="anger"),
    A("look_over_shoulder", "look over {poss} shoulder|glance back over {poss} shoulder|peer over {poss} "
      "shoulder", "head", "51:.9 61:1", side="random", gaze=True),
    A("follow_gaze", "follow something with {poss} eyes|track a moving object with {poss} eyes|watch "
      "something pass by", "gaze", "", kind="path", motion="pursuit", path_s=(1.8, 3.0), side="random",
      gaze=True, state="eyes following something across"),
    A("ponder", "ponder|look up thoughtfully|mull something over|gaze upward in thought", "gaze",
      "63:.6 61:.4 4:.25 mouthLeft:.3", side="random", gaze=True, timing=_LONG_HOLD),
    # -- head --------------------------------------------------------------------------------
    A("nod", "nod|nod {poss} head|nod in agreement|give a nod|nod yes", "head", "", kind="osc", motion="nod",
      freq=(1.6, 2.4), cycles=(2, 4), state="head nodding up and down"),
    A("nod_once", "give a single nod|nod once|dip {poss} head once", "head", "", kind="path",
      motion="nod_once", path_s=(0.6, 0.9), state="a single dip of the head"),
    A("shake_head", "shake {poss} head|shake {poss} head no|give a head shake|shake {poss} head from side to "
      "side", "head", "", kind="osc", motion="shake", freq=(1.8, 2.8), cycles=(2, 4),
      state="head shaking from side to side"),
    A("tilt_head",
      "tilt {poss} head|tilt {poss} head to the side|cock {poss} head|lean {poss} head to one side",
      "head", "55:.6", side="random"),
    A("tilt_left", "tilt {poss} head to the left|lean {poss} head to the left|tip {poss} head to the left",
      "head", "55:.65", side="left"),
    A("tilt_right",
      "tilt {poss} head to the right|lean {poss} head to the right|tip {poss} head to the right",
      "head", "55:.65", side="right"),
    A("head_up", "raise {poss} head|tilt {poss} head back|lift {poss} head up", "head", "53:.7 63:.2",
      gaze=True),
    A("head_down", "lower {poss} head|bow {poss} head|hang {poss} head|drop {poss} head", "head",
        "54:.75 64:.3",
      gaze=True),
    A("turn_left", "turn {poss} head to the left|turn to the left|swivel {poss} head left", "head",
      "51:.7 61:.4", side="left", gaze=True),
    A("turn_right", "turn {poss} head to the right|turn to the right|swivel {poss} head right", "head",
      "51:.7 61:.4", side="right", gaze=True),
    A("head_bob", "bob {poss} head|bob {poss} head to music|bob {poss} head to a beat", "head", "",
      kind="osc", motion="bob", freq=(1.8, 2.3), cycles=(4, 8), state="head bobbing to a beat"),
    A("head_wobble", "wobble {poss} head from side to side|sway {poss} head|rock {poss} head side to side",
      "head", "", kind="osc", motion="wobble", freq=(0.8, 1.2), cycles=(2, 3),
      state="head rocking from side to side"),
    A("jerk_back", "jerk {poss} head back|recoil|pull {poss} head back sharply", "head", "53:.6 5:.4 4:.2",
      kind="pulse", timing=((0.08, 0.14), (0.2, 0.5), (0.4, 0.8)), emotion="surprise"),
    A("head_tilt_curious", "tilt {poss} head curiously|cock {poss} head inquisitively|tilt {poss} head "
      "with interest", "head", "55:.5 1:.3 2:.4", side="random"),
    A("chin_up", "hold {poss} head high|stick {poss} chin up|lift {poss} chin proudly", "head",
      "53:.5 12:.2 24:.2"),
    A("shrug", "shrug|give a shrug|shrug it off", "head", "17:.5 15:.3 1:.4 2:.5 55:.2", side="random",
      timing=_QUICK_HOLD),
    A("doze", "doze off|fall asleep|drift off to sleep|nod off to sleep", "head", "", kind="path",
      motion="doze", path_s=(2.5, 3.5), blinks=0.0, timed=False, scalable=False,
      state="eyelids drooping, head sinking", timing=((0.2, 0.4), (0.0, 0.0), (1.0, 1.6))),
    A("wake_up", "wake up with a start|jolt awake|snap awake", "head", "", kind="path", motion="wake",
      path_s=(1.5, 2.2), blinks=0.0, emotion="surprise", state="eyes snapping open, head jerking up"),
    A("concentrate", "concentrate hard|focus intently|concentrate on something", "eyes", "4:.5 7:.45 24:.35",
      blinks=0.4, timing=_LONG_HOLD),
    A("daydream", "daydream|gaze off dreamily|stare off into the distance", "gaze",
      "63:.35 61:.3 43:.25 12:.15", side="random", gaze=True, blinks=0.5, timing=_LONG_HOLD),
    A("scoff", "scoff|let out a scoff|scoff dismissively", "breath", "mouthSmileLeft:.4 noseSneerLeft:.3",
      kind="path", motion="scoff", path_s=(0.7, 1.0), side="random", emotion="disgust",
      state="a one-sided smirk and a short head shake"),
    A("hesitate", "hesitate|pause hesitantly|falter", "head", "24:.4 64:.4 1:.3 55:.3", side="random",
      gaze=True, emotion="fear"),
    A("cheer", "cheer|celebrate|cheer with joy|whoop with joy", "laugh", "6:.8 12:1 26:.6 1:.5 2:.5",
        kind="osc",
      motion="bob", freq=(2.0, 2.6), cycles=(3, 6), emotion="happiness",
      state="cheering with a wide open smile and raised brows"),
    A("listen", "listen attentively|listen carefully|pay close attention", "head", "55:.3 1:.25 2:.2",
      side="random", timing=_LONG_HOLD),
    A("startle", "startle|jump with a start|give a startled jump", "brow", "1:.8 2:.8 5:1 26:.4 20:.3 53:.3",
      kind="pulse", timing=((0.05, 0.1), (0.3, 0.6), (0.6, 1.0)), emotion="surprise", blinks=0.0),
    A("flinch", "flinch|flinch away|shy away", "head", "43:.7 7:.5 4:.4 20:.3 51:.3 53:.2", kind="pulse",
      timing=((0.06, 0.1), (0.2, 0.4), (0.4, 0.7)), side="random", emotion="fear"),
    A("double_take", "do a double take|react with a double take|do a classic double take", "head",
      "1:.6 2:.6 5:.5", kind="path", motion="double_take", path_s=(1.6, 2.2), side="random", gaze=True,
      emotion="surprise", scalable=False, timed=False,
          state="a glance to the side, back, then a wide-eyed second look"),
    A("straight_face", "keep a straight face|hold a poker face|keep {poss} face blank", "emotion", "24:.15",
      scalable=False, timing=_LONG_HOLD),
    # -- emotion phrases: happiness ------------------------------------------------------------
    E("content", "happiness", "content|at ease", "6:.3 12:.35"),
    E("pleased", "happiness", "pleased|satisfied", "6:.4 12:.5"),
    E("happy", "happiness", "happy|glad", "6:.6 12:.7"),
    E("cheerful", "happiness", "cheerful|upbeat", "6:.55 12:.7 1:.2 2:.3"),
    E("joyful", "happiness", "joyful|gleeful", "6:.8 12:.9 26:.3 2:.3"),
    E("delighted", "happiness", "delighted|thrilled", "6:.85 12:.95 26:.35 1:.35 2:.4 5:.2"),
    E("overjoyed", "happiness", "overjoyed|ecstatic|elated", "6:1 12:1 26:.55 1:.5 2:.5 53:.3"),
    E("amused", "happiness", "amused|entertained", "mouthSmileLeft:.55 mouthSmileRight:.35 6:.3 2:.2",
      side="random"),
    E("excited", "happiness", "excited|eager", "12:.8 6:.6 1:.5 2:.6 5:.4 26:.35"),
    E("loving", "happiness", "loving|affectionate|tender", "12:.5 6:.45 55:.3 43:.15", side="random"),
    E("relieved", "happiness", "relieved", "12:.35 43:.3 1:.2 54:.15"),
    E("hopeful", "happiness", "hopeful|optimistic", "1:.45 2:.3 12:.3 63:.3", gaze=True),
    E("smug", "happiness", "smug|self-satisfied", "mouthSmileLeft:.5 mouthSmileRight:.2 53:.3 43:.25",
      side="random"),
    E("confident", "happiness", "confident|self-assured", "12:.3 53:.3 24:.2"),
    E("flirtatious", "happiness", "flirtatious|coy", "12:.5 6:.3 55:.3 64:.3", side="random", gaze=True),
    # -- sadness -------------------------------------------------------------------------------
    E("wistful", "sadness", "wistful|nostalgic", "1:.35 12:.2 15:.15 64:.3", gaze=True),
    E("melancholy", "sadness", "melancholy|downcast", "1:.45 4:.2 15:.4 64:.45 54:.2", gaze=True),
    E("sad", "sadness", "sad|unhappy", "1:.6 4:.4 15:.6"),
    E("sorrowful", "sadness", "sorrowful|grief-stricken", "1:.75 4:.5 15:.75 17:.35 64:.4", gaze=True),
    E("miserable", "sadness", "miserable|wretched", "1:.85 4:.6 15:.85 17:.5 54:.3"),
    E("heartbroken", "sadness", "heartbroken|devastated", "1:1 4:.7 15:.95 17:.6 6:.3 54:.4 43:.2"),
    E("disappointed", "sadness", "disappointed|let down", "1:.35 4:.3 15:.55 64:.3 24:.2", gaze=True),
    E("gloomy", "sadness", "gloomy|glum", "4:.3 15:.45 43:.3 54:.3"),
    E("lonely", "sadness", "lonely|forlorn", "1:.5 15:.35 64:.5", gaze=True),
    E("guilty", "sadness", "guilty|ashamed", "1:.4 4:.3 24:.35 64:.6 54:.4", gaze=True),
    E("sympathetic", "sadness", "sympathetic|compassionate", "1:.55 12:.25 55:.3", side="random"),
    E("crestfallen", "sadness", "crestfallen|dismayed", "1:.6 4:.4 26:.3 15:.35"),
    # -- fear ----------------------------------------------------------------------------------
    E("uneasy", "fear", "uneasy|apprehensive", "1:.35 4:.25 20:.25 24:.2"),
    E("nervous", "fear", "nervous|jittery", "1:.45 2:.25 4:.3 20:.35", blinks=2.0),
    E("anxious", "fear", "anxious|worried", "1:.6 4:.45 20:.3 5:.2 24:.25"),
    E("afraid", "fear", "afraid|scared", "1:.7 2:.5 4:.5 5:.6 20:.5 26:.25"),
    E("frightened", "fear", "frightened|alarmed", "1:.85 2:.7 4:.6 5:.8 20:.65 26:.35 7:.3"),
    E("terrified", "fear", "terrified|petrified", "1:1 2:.9 4:.7 5:1 20:.85 26:.5 7:.4", blinks=0.0),
    E("distressed", "fear", "distressed|anguished", "1:.8 4:.6 20:.55 15:.4"),
    E("aghast", "fear", "aghast|horror-struck", "1:.9 2:.8 5:.9 20:.6 27:.5"),
    # -- surprise -------------------------------------------------------------------------------
    E("intrigued", "surprise", "intrigued|curious", "1:.3 2:.35 5:.15 55:.25", side="random"),
    E("surprised", "surprise", "surprised|taken aback", "1:.7 2:.7 5:.6 26:.4"),
    E("astonished", "surprise", "astonished|amazed", "1:.85 2:.85 5:.8 26:.65"),
    E("stunned", "surprise", "stunned|dumbfounded|flabbergasted", "1:.8 2:.8 5:.7 26:.8", blinks=0.0),
    E("shocked", "surprise", "shocked|thunderstruck", "1:1 2:.9 5:1 27:.5 20:.2"),
    E("awed", "surprise", "awestruck|in awe", "1:.7 2:.6 5:.5 26:.45 12:.2 53:.3"),
    E("pleasantly_surprised", "surprise", "pleasantly surprised|happily surprised",
      "1:.7 2:.7 5:.4 12:.75 6:.4 26:.45"),
    E("disgustedly_surprised", "disgust", "shocked and disgusted|disgustedly surprised",
      "1:.6 2:.6 5:.6 10:.6 9:.4"),
    # -- anger ---------------------------------------------------------------------------------
    E("irritated", "anger", "irritated|bothered", "4:.4 7:.3 24:.3"),
    E("annoyed", "anger", "annoyed|exasperated", "4:.5 7:.35 24:.5 53:.1"),
    E("frustrated", "anger", "frustrated|fed up", "4:.6 7:.4 24:.45 17:.35"),
    E("angry", "anger", "angry|mad", "4:.75 5:.5 7:.55 23:.6"),
    E("furious", "anger", "furious|livid", "4:.95 5:.7 7:.7 23:.8 10:.4 26:.25"),
    E("enraged", "anger", "enraged|seething", "4:1 5:.85 7:.8 10:.6 23:.6 26:.45"),
    E("indignant", "anger", "indignant|offended", "4:.5 5:.4 24:.4 53:.3"),
    E("defiant", "anger", "defiant|stubborn", "4:.4 24:.4 53:.35 17:.3"),
    E("bitter", "anger", "bitter|resentful", "4:.6 15:.6 7:.3 24:.3"),
    E("outraged", "anger", "outraged|incensed", "4:.8 5:.6 7:.3 26:.55 23:.3"),
    E("hateful", "anger", "hateful|full of hatred", "4:.8 7:.7 10:.7 23:.3"),
    # -- disgust ---------------------------------------------------------------------------------
    E("displeased", "disgust", "displeased|put off", "9:.25 15:.3 17:.2"),
    E("disgusted", "disgust", "disgusted|grossed out", "9:.75 15:.5 16:.45 10:.3"),
    E("sickened", "disgust", "sickened|nauseated|queasy", "9:.5 15:.5 17:.4 43:.35 1:.3"),
    E("repulsed", "disgust", "repulsed|revolted", "9:.95 10:.6 15:.6 16:.5 53:.3 51:.25", side="random"),
    E("contemptuous", "disgust", "contemptuous|scornful|disdainful",
      "mouthSmileLeft:.35 mouthDimpleLeft:.6 53:.3 43:.2", side="random"),
    E("appalled", "disgust", "appalled|horrified", "4:.6 9:.6 10:.55 5:.4 26:.3"),
    # -- other states --------------------------------------------------------------------------
    E("calm", "neutral", "calm|relaxed|serene", "43:.2 12:.12", blinks=0.6),
    E("neutral", "neutral", "neutral|expressionless|blank", ""),
    E("bored", "neutral", "bored|uninterested", "43:.4 15:.15 55:.2", side="random", blinks=0.6),
    E("tired", "neutral", "tired|exhausted|weary", "43:.5 1:.25 15:.2 54:.15"),
    E("sleepy", "neutral", "sleepy|drowsy", "43:.65 54:.2", blinks=1.6),
    E("confused", "neutral", "confused|puzzled|perplexed", "4:.55 browOuterUpLeft:.5 55:.35 mouthLeft:.3",
      side="random"),
    E("skeptical", "neutral", "skeptical|doubtful|unconvinced",
      "browOuterUpLeft:.6 eyeSquintRight:.4 mouthLeft:.3 53:.15", side="random"),
    E("thoughtful", "neutral", "thoughtful|pensive", "4:.25 63:.4 61:.35 24:.2", side="random", gaze=True),
    E("embarrassed", "neutral", "embarrassed|sheepish", "12:.35 14:.3 24:.3 64:.6 54:.3 61:.3", side="random",
      gaze=True),
    E("shy", "neutral", "shy|bashful", "12:.3 64:.55 54:.35 14:.2", gaze=True),
    E("determined", "neutral", "determined|resolute", "4:.45 24:.55 17:.35 54:.15"),
    E("in_pain", "neutral", "in pain|hurt", "4:.8 6:.6 7:.8 9:.5 10:.5 43:.3"),
)  # fmt: skip

ACTION_INDEX: Mapping[str, Action] = MappingProxyType({a.id: a for a in ACTIONS})
ACTION_IDS: tuple[str, ...] = tuple(a.id for a in ACTIONS)

# --------------------------------------------------------------------------------------------
# Poses
# --------------------------------------------------------------------------------------------

N_SHAPES = len(ARKIT_BLENDSHAPES)  # 52 blendshapes come first, then the 9 rotations
_ROTATION_SLICE = slice(N_SHAPES, N_ARKIT)


def _mirror_tables() -> tuple[np.ndarray, np.ndarray]:
    """Permutation and signs that mirror an ARKit vector left <-> right (performer's sides)."""
    perm = np.arange(N_ARKIT)
    for i, name in enumerate(ARKIT_CHANNELS):
        for a, b in (("Left", "Right"), ("Right", "Left"), ("left", "right"), ("right", "left")):
            if a in name:
                perm[i] = ARKIT_INDEX[name.replace(a, b)]
                break
    # jawLeft/mouthLeft swap with their Right partners through the rule above; yaw and roll
    # change sign because they are signed angles about vertical and forward axes.
    sign = np.ones(N_ARKIT, np.float32)
    for name in ("headYaw", "headRoll", "leftEyeYaw", "rightEyeYaw", "leftEyeRoll", "rightEyeRoll"):
        sign[ARKIT_INDEX[name]] = -1.0
    return perm, sign


MIRROR_PERMUTATION, MIRROR_SIGN = _mirror_tables()


def mirror(values: np.ndarray) -> np.ndarray:
    """Mirror ``(..., 61)`` ARKit values left <-> right (a left wink becomes a right wink)."""
    v = np.asarray(values)
    return v[..., MIRROR_PERMUTATION] * MIRROR_SIGN


def _synthesis_basis() -> np.ndarray:
    """AU basis without the eyeLook* shapes and gaze-driven lids: the synthesiser derives those
    from the final eye rotations, so idle saccades and gaze actions stay consistent."""
    basis = np.array(facs.AU_BASIS, copy=True)
    for name in ARKIT_CHANNELS:
        if name.startswith("eyeLook"):
            basis[:, ARKIT_INDEX[name]] = 0.0
    for code in ("AU63", "AU64"):
        basis[facs.AU_INDEX[code], ARKIT_INDEX["eyeBlinkLeft"]] = 0.0
        basis[facs.AU_INDEX[code], ARKIT_INDEX["eyeBlinkRight"]] = 0.0
    return basis


SYNTH_BASIS = _synthesis_basis()


def _pose_table() -> tuple[np.ndarray, np.ndarray]:
    """Typical AU intensities ``(n_actions, N_AUS)`` and extra channels ``(n_actions, 61)``."""
    au = np.zeros((len(ACTIONS), facs.N_AUS), np.float32)
    extra = np.zeros((len(ACTIONS), N_ARKIT), np.float32)
    for i, action in enumerate(ACTIONS):
        for code, value in action.au.items():
            au[i, facs.AU_INDEX[code]] = value
        for channel, value in action.extra.items():
            extra[i, ARKIT_INDEX[channel]] = value
    return au, extra


ACTION_AU, ACTION_EXTRA = _pose_table()


def action_pose(action_id: str, intensity: float = 1.0, mirrored: bool | None = None) -> np.ndarray:
    """The apex pose of an action, ``(61,) float32`` ARKit, before idle life and style.

    AU intensities are scaled by ``intensity`` and clipped to [0, 1] (a "very wide" smile cannot
    exceed AU12 grade E); extra channels scale linearly. ``mirrored`` says whether the pose is
    the mirror image of the action's written (left-side) definition; ``None`` takes the side
    the action names (``side="right"`` actions come out on the right). Eye-look shapes are
    left to the synthesiser (they follow the eye rotations); blendshapes are not clipped here.
    """
    i = ACTION_IDS.index(action_id)
    if mirrored is None:
        mirrored = ACTIONS[i].side == "right"
    au = np.clip(ACTION_AU[i] * intensity, 0.0, 1.0)
    pose = au @ SYNTH_BASIS + ACTION_EXTRA[i] * intensity
    return mirror(pose) if mirrored else pose


def regions(action: Action) -> frozenset[str]:
    """Face regions an action's pose or motion touches: brow, lids, gaze, mouth, nose, head."""
    pose = action_pose(action.id)
    touched = {ARKIT_CHANNELS[i] for i in np.flatnonzero(np.abs(pose) > 0.05)}
    out = {_region(name) for name in touched}
    out |= _MOTION_REGIONS.get(action.motion or "", set())
    if action.gaze:
        out.add("gaze")
    return frozenset(out)


def _region(channel: str) -> str:
    if channel.startswith("brow"):
        return "brow"
    if channel.startswith(("eyeBlink", "eyeSquint", "eyeWide", "cheekSquint")):
        return "lids"
    if channel.startswith(("eyeLook", "leftEye", "rightEye")):
        return "gaze"
    if channel.startswith("head"):
        return "head"
    if channel.startswith("nose"):
        return "nose"
    return "mouth"


_MOTION_REGIONS: dict[str, set[str]] = {
    "laugh": {"mouth", "head"}, "laugh_big": {"mouth", "head"}, "chuckle": {"mouth"}, "giggle": {"mouth",
        "head"},
    "tremble": {"mouth"}, "sob": {"mouth", "head", "lids"}, "sigh": {"mouth", "head", "lids"},
    "shout": {"mouth", "head"}, "lick": {"mouth"}, "hum": {"mouth", "head"}, "blow": {"mouth"},
    "raspberry": {"mouth"}, "speech": {"mouth", "head"}, "whisper": {"mouth"}, "sing": {"mouth", "head"},
    "chew": {"mouth"}, "sneeze": {"mouth", "head", "lids", "nose", "brow"}, "cough": {"mouth", "head",
        "lids"},
    "hiccup": {"mouth", "head"}, "pant": {"mouth", "head"}, "gulp": {"mouth", "head"},
    "shiver": {"head", "mouth"}, "brow_wiggle": {"brow"}, "blink_rapid": {"lids"},
    "eye_roll": {"gaze", "head"}, "dart": {"gaze"}, "look_around": {"gaze", "head"}, "pursuit": {"gaze",
        "head"},
    "nod": {"head"}, "nod_once": {"head"}, "shake": {"head"}, "bob": {"head"}, "wobble": {"head"},
    "doze": {"lids", "head"}, "wake": {"lids", "head", "brow"}, "scoff": {"head", "mouth", "gaze"},
    "double_take": {"gaze", "head", "brow", "lids"},
}  # fmt: skip
