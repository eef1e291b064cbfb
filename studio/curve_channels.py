"""Which coefficient curves to plot under the heads: the prompt's channels first, and a picker.

The 3D player and the Compare tab draw a few ARKit curves per clip. The widest-range channels
are nearly always the blinks, which say nothing about the prompt; so the default here is the
channels the prompt's emotion category moves (its EMFACS action units, :mod:`studio.facs`),
ranked by how much the clips actually move them, then the widest-moving others (issue #18).

* :func:`prompt_curves` — prompt + clips -> :class:`CurveChoice` (category, channels, reason).
  It reads the prompt with the studio's prompt categoriser
  (:class:`studio.analysis.categorise.ZeroShotCategoriser`, MiniLM, offline) and hands over to
  :func:`rank_curves`, which is pure arithmetic on the clips.
* :func:`curve_picker_groups` — all 61 ARKit channels grouped by face region for a picker.

Units: blendshapes are unitless weights (nominally ``[0, 1]``); movement is a channel's range
(max - min over a clip's frames) in those units. Defaults are blendshapes only: the 9 rotation
channels are radians on another scale, so they are offered by the picker but never picked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from studio import facs
from studio.analysis.categorise import Categorised, ZeroShotCategoriser
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, ARKIT_ROTATIONS, MotionClip

N_CURVES = 4  # what the player's curve strip draws (curves.js: "at most 4")
N_SHAPES = len(ARKIT_BLENDSHAPES)
_SHAPE_INDEX = {name: k for k, name in enumerate(ARKIT_BLENDSHAPES)}
BLINKS = frozenset({"eyeBlinkLeft", "eyeBlinkRight"})  # always the widest range; they say little

# The categoriser's top score below which a prompt counts as naming no category. On the 600
# prompts of the synthetic corpus (seed 0, default temperature) a top score >= 0.5 keeps 51% of
# prompts, 76% of them with the labelled category, and lets through 25% of the neutral prompts;
# at 0.4 precision drops to 67% and half the neutral prompts pass. A wrong category shows the
# wrong curves with a confident reason, so this errs towards "no category".
MIN_CATEGORY_SCORE = 0.5
# A channel whose range stays under a thousandth of full scale in every clip is a flat line on
# the strip (float noise, an idle face's rounding): it counts as never moving.
MIN_MOVEMENT = 1e-3
# A left/right pair is asymmetric (both sides worth a curve) when the sides differ somewhere by
# more than this fraction of the pair's range: a smirk or a wink, not idle jitter between sides.
ASYMMETRY_FRACTION = 0.25

# jawLeft/jawRight and mouthLeft/mouthRight shift the whole jaw or mouth one way or the other:
# opposite actions (AU30L/AU30R), not mirror halves of one action, so they are never folded.
_SIDEWAYS_STEMS = frozenset({"jaw", "mouth"})


@dataclass(frozen=True)
class CurveChoice:
    """The default curves for one prompt and its clips.

    ``category`` is the emotion category the prompt is read as (one of
    :data:`studio.facs.EMOTIONS`), or None when it names none; ``channels`` holds at most ``n``
    ARKit blendshape names in plotting order (fewer when fewer channels move; the two sides of a
    pair are adjacent); ``reason`` is one short sentence for the UI saying why these.
    """

    category: str | None
    channels: tuple[str, ...]
    reason: str


class PromptCategoriser(Protocol):
    """Anything that scores texts on the six categories (the zero-shot or the LLM categoriser)."""

    def categorise(self, texts: Sequence[str]) -> Categorised: ...


# --------------------------------------------------------------------------------------------
# Channels and pairs
# --------------------------------------------------------------------------------------------


def mirror(channel: str) -> str | None:
    """The other side of a mirror pair (``mouthSmileLeft`` -> ``mouthSmileRight``), else None."""
    for side, other in (("Left", "Right"), ("Right", "Left")):
        stem = channel.removesuffix(side)
        if stem != channel and stem not in _SIDEWAYS_STEMS and stem + other in ARKIT_CHANNELS:
            return stem + other
    return None


def _arkit_shapes(clips: Sequence[MotionClip]) -> list[np.ndarray]:
    """The blendshape columns ``(T, 52) float64`` of the ARKit clips (FLAME clips skipped)."""
    return [clip.values[:, :N_SHAPES].astype(np.float64) for clip in clips if clip.space == "arkit"]


def channel_movement(clips: Sequence[MotionClip]) -> tuple[np.ndarray, np.ndarray]:
    """How much each blendshape moves: ``(mean, peak)``, each ``(52,) float64`` in weight units.

    ``mean`` is the per-clip range averaged over the ARKit clips (a channel every model moves
    outranks one a single model moves); ``peak`` is the largest per-clip range (whether it moves
    at all). FLAME clips are skipped (the player draws ARKit only); no ARKit clip gives zeros.
    """
    ranges = [np.ptp(values, axis=0) for values in _arkit_shapes(clips)]
    if not ranges:
        return np.zeros(N_SHAPES), np.zeros(N_SHAPES)
    stacked = np.stack(ranges)
    return stacked.mean(axis=0), stacked.max(axis=0)


def asymmetric_pairs(clips: Sequence[MotionClip]) -> frozenset[str]:
    """Channels (both sides listed) of the mirror pairs whose sides move differently.

    Per ARKit clip: how far the sides move apart, the range of ``L - R`` over the frames (a
    constant offset between sides is a flat pair of curves, not worth two), and the pair's range
    ``max(range L, range R)``; the pair is asymmetric when the summed gaps exceed
    :data:`ASYMMETRY_FRACTION` of the summed ranges (so one lopsided clip among several can tip it).
    """
    arkit = _arkit_shapes(clips)
    found: set[str] = set()
    for k, left in enumerate(ARKIT_BLENDSHAPES):
        right = mirror(left)
        if right is None or not left.endswith("Left"):
            continue
        r = _SHAPE_INDEX[right]
        gap = sum(float(np.ptp(v[:, k] - v[:, r])) for v in arkit)
        span = sum(max(float(np.ptp(v[:, k])), float(np.ptp(v[:, r]))) for v in arkit)
        if span > 0 and gap > ASYMMETRY_FRACTION * span:
            found.update((left, right))
    return frozenset(found)


def category_action_units(category: str) -> list[facs.ActionUnit]:
    """The AUs of ``category``: its EMFACS prototype in table order, then the AUs only its other
    EMFACS variants use (disgust's AU10 and AU17 after 9, 15, 16). KeyError if unknown."""
    if category not in facs.EMFACS_PROTOTYPES:
        raise KeyError(f"unknown category {category!r}; expected one of {facs.EMOTIONS}")
    codes = list(facs.EMFACS_PROTOTYPES[category])
    for variant in facs.EMFACS_VARIANTS[category]:
        codes += [au for au in variant if au not in codes]
    return [facs.ACTION_UNITS[facs.AU_INDEX[facs.au_code(au)]] for au in codes]


# --------------------------------------------------------------------------------------------
# Ranking
# --------------------------------------------------------------------------------------------


def _units(channels: Sequence[str], mean: np.ndarray) -> list[str]:
    """One representative per pair (the side that moves more; Left on a tie), ranked by movement,
    widest first (ties keep the given order)."""
    firsts: dict[str, float] = {}
    for name in channels:
        side = (mirror(name) or name) if name.endswith("Right") else name  # start from Left
        other = mirror(side)
        if other is not None and mean[_SHAPE_INDEX[other]] > mean[_SHAPE_INDEX[side]]:
            side = other
        firsts.setdefault(side, float(mean[_SHAPE_INDEX[side]]))
    return sorted(firsts, key=lambda c: -firsts[c])


def rank_curves(
    category: str | None,
    clips: Sequence[MotionClip],
    n: int = N_CURVES,
    *,
    why_none: str = "no emotion category given",
) -> CurveChoice:
    """The ``n`` curves to plot for clips of a prompt read as ``category`` (None: no category).

    Priority: the category's channels (its prototype AUs' primary cue channels, ranked by mean
    range over the clips, then those of its other EMFACS variants); the other blendshapes by the
    same measure; the blinks; last, the second sides of symmetric pairs. A mirror pair gives one
    curve (the side that moves more) unless its sides move differently (a smirk, a wink): then
    both, side by side. Channels that move less than :data:`MIN_MOVEMENT` in every clip are never
    picked, so still clips give fewer than ``n`` (none at all for a still face). ``why_none``
    opens the reason when ``category`` is None (why the prompt gave none).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    mean, peak = channel_movement(clips)
    moves = {c for k, c in enumerate(ARKIT_BLENDSHAPES) if peak[k] >= MIN_MOVEMENT}
    lopsided = asymmetric_pairs(clips)

    owner: dict[str, facs.ActionUnit] = {}  # channel -> the category AU that puts it first
    prototype: list[str] = []
    variants: list[str] = []
    if category is not None:
        n_prototype = len(facs.EMFACS_PROTOTYPES[category])
        for i, au in enumerate(category_action_units(category)):
            for channel in au.primary:
                if channel in ARKIT_BLENDSHAPES and channel not in owner:
                    owner[channel] = au
                    (prototype if i < n_prototype else variants).append(channel)

    tiers = [
        _units(prototype, mean),
        _units(variants, mean),
        _units([c for c in ARKIT_BLENDSHAPES if c not in owner and c not in BLINKS], mean),
        _units(sorted(BLINKS, key=ARKIT_BLENDSHAPES.index), mean),
    ]
    order: list[str] = []
    for tier in tiers:
        for channel in tier:
            order.append(channel)
            if channel in lopsided:  # an asymmetric pair shows both sides, next to each other
                order.append(mirror(channel) or channel)
    order += [mirror(c) or c for c in list(order) if mirror(c) is not None and c not in lopsided]
    picked: list[str] = []
    for channel in order:
        if channel in moves and channel not in picked and len(picked) < n:
            picked.append(channel)

    plotted: list[str] = []  # plotting order: a second side right after its first side
    for channel in picked:
        if channel not in plotted:
            plotted.append(channel)
            other = mirror(channel)
            if other in picked and other not in plotted:
                plotted.append(other)
    return CurveChoice(category, tuple(plotted), _reason(category, plotted, owner, why_none))


def _reason(
    category: str | None, channels: Sequence[str], owner: dict[str, facs.ActionUnit], why_none: str
) -> str:
    if not channels:
        return "no blendshape moves in these clips"
    widest = "the widest-moving channels (mean range over the clips, blinks last)"
    if category is None:
        return f"{why_none}: {widest}"
    units: list[facs.ActionUnit] = []
    for channel in channels:
        if channel in owner and owner[channel] not in units:
            units.append(owner[channel])
    if not units:
        return f"the channels '{category}' moves do not move in these clips: {widest}"
    listed = ", ".join(f"{au.code} {au.name}" for au in units)
    tail = "" if all(c in owner for c in channels) else ", then the widest-moving others"
    return f"the channels '{category}' moves ({listed}){tail}"


# --------------------------------------------------------------------------------------------
# The prompt
# --------------------------------------------------------------------------------------------


def _embed(texts: Sequence[str]) -> np.ndarray:
    """MiniLM unit vectors ``(N, 384) float32``; one prompt goes through the memoised encoder
    because the player and Compare ask again for the same prompt on every page load."""
    from studio.text import embed_text, embed_texts  # heavy (sentence-transformers): load on use

    if len(texts) == 1:
        return embed_text(texts[0])[None, :]
    return embed_texts(texts)


@lru_cache(maxsize=1)
def default_categoriser() -> ZeroShotCategoriser:
    """The offline zero-shot MiniLM categoriser at its default temperature (one per process)."""
    return ZeroShotCategoriser(_embed)


def prompt_category(
    prompt: str,
    categoriser: PromptCategoriser | None = None,
    min_score: float = MIN_CATEGORY_SCORE,
) -> tuple[str | None, str]:
    """The category ``prompt`` is read as and a note: ``(category, "")``, or ``(None, why)``.

    None when the prompt is blank, when the categoriser flags it (not English: MiniLM cannot
    read it) or when its top score is below ``min_score`` (:data:`MIN_CATEGORY_SCORE`).
    """
    text = prompt.strip()
    if not text:
        return None, "the prompt is empty"
    result = (categoriser or default_categoriser()).categorise([text])
    scores = np.asarray(result.scores, np.float64)[0]
    note = result.notes[0] if result.notes else ""
    if note:
        return None, f"the prompt's category cannot be read ({note.split(':')[0]})"
    k = int(np.argmax(scores))
    if scores[k] < min_score:
        return None, f"the prompt names no emotion category (best '{facs.EMOTIONS[k]}' at {scores[k]:.2f})"
    return facs.EMOTIONS[k], ""


def prompt_curves(
    prompt: str,
    clips: Sequence[MotionClip],
    n: int = N_CURVES,
    *,
    categoriser: PromptCategoriser | None = None,
    min_score: float = MIN_CATEGORY_SCORE,
) -> CurveChoice:
    """The default curves for ``clips`` (ARKit, ``(T, 61)``, any fps) generated from ``prompt``.

    The prompt's category (:func:`prompt_category`; ``categoriser`` defaults to the offline
    zero-shot MiniLM one) picks the channels it moves, ranked by how much the clips move them
    and filled up to ``n`` with the widest-moving others (:func:`rank_curves`). A prompt with
    no readable category falls back to the widest-moving channels, blinks last, and the reason
    says why. Still clips (nothing moves) never load the encoder.
    """
    _, peak = channel_movement(clips)
    if n == 0 or not (peak >= MIN_MOVEMENT).any():
        return rank_curves(None, clips, n)
    category, why = prompt_category(prompt, categoriser, min_score)
    return rank_curves(category, clips, n, why_none=why)


# --------------------------------------------------------------------------------------------
# The picker
# --------------------------------------------------------------------------------------------

# Face regions, top to bottom, by the name prefix ARKit gives each blendshape.
_REGIONS: tuple[tuple[str, str], ...] = (
    ("Brows", "brow"),
    ("Eyes", "eye"),
    ("Cheeks", "cheek"),
    ("Nose", "nose"),
    ("Mouth", "mouth"),
    ("Jaw", "jaw"),
    ("Tongue", "tongue"),
)
ROTATION_GROUP = "Head & eye rotation (rad)"


def curve_picker_groups() -> list[tuple[str, list[str]]]:
    """All 61 ARKit channels as ``[(group label, [channel, ...]), ...]`` for a channel picker.

    Blendshape groups by face region, top to bottom (brows, eyes, cheeks, nose, mouth, jaw,
    tongue), then the 9 rotations (head and eyes, radians); within a group, ARKit order. Every
    channel appears exactly once. A fresh list each call: callers may mutate it.
    """
    groups = [(label, [c for c in ARKIT_BLENDSHAPES if c.startswith(prefix)]) for label, prefix in _REGIONS]
    groups.append((ROTATION_GROUP, list(ARKIT_ROTATIONS)))
    return groups


# A renamed or added ARKit channel must fail here, at import, rather than vanish from the picker.
if sorted(c for _, group in curve_picker_groups() for c in group) != sorted(ARKIT_CHANNELS):
    raise ImportError("curve_picker_groups() must list every ARKit channel exactly once")
