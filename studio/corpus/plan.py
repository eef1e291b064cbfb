"""Planning one corpus item: its split, composition, actions, modifiers, context and timeline.

A :class:`Plan` fixes everything that shapes the *motion*; :mod:`studio.corpus.text` then
words it (template, phrasings, modifier words) from a separate random stream, so two
paraphrases of one plan have exactly the same clip.

Held-out design (what keeps memorising the training set from winning):

* **combinations** — every unordered set of two or more action ids is hashed (with the corpus
  seed) into a bucket: 10 % test-only, 10 % val-only, 80 % train. Multi-action items draw
  only combinations of their split's bucket, so a test combination never occurs in training.
* **wording** — templates, the last phrasing of each action with three or more, some
  intensity and manner words, contexts and script backgrounds are marked val- or test-only
  (:mod:`studio.corpus.language`, :mod:`studio.corpus.actions`).
* every val/test item carries at least one novelty of its split; train items carry none.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from studio import facs
from studio.corpus.actions import ACTION_INDEX, ACTIONS, Action, action_pose, regions
from studio.corpus.language import BACKGROUNDS, CONTEXTS, EMOTION_WORDS, Context, Split, allowed
from studio.corpus.performers import Performer
from studio.corpus.steps import Step

SPLIT_FRACTIONS: dict[Split, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
COMBO_FRACTIONS: dict[Split, float] = {"test": 0.1, "val": 0.1}  # the rest of combinations: train
COMPOSITIONS: dict[str, float] = {
    "single": 0.27, "repeat": 0.06, "seq": 0.22, "seq3": 0.07, "while": 0.1, "simul": 0.08, "script": 0.2,
}  # fmt: skip
# KeyframeFace: 1-5 keyframes per script, 76 % with two.
KEYFRAME_COUNTS = {1: 0.08, 2: 0.76, 3: 0.1, 4: 0.04, 5: 0.02}
MAX_DURATION_S = 10.0
MIN_DURATION_S = 2.0


@dataclass(frozen=True)
class StepWords:
    """What the text must say about a step: the action and its modifier classes."""

    action: str
    level: str | None = None  # intensity level: low | mid | high
    manner: str | None = None  # one of studio.corpus.language.MANNERS


@dataclass(frozen=True)
class ScriptPlan:
    """A KeyframeFace-style script: emotion, background and keyframe poses at times."""

    emotion: str
    emotion_word: str
    background: str
    background_split: Split
    times_s: tuple[float, ...]
    keyframes: tuple[tuple[tuple[str, float, bool], ...], ...]  # per keyframe: (action, intensity, mirrored)
    poses: np.ndarray = field(repr=False)  # (K, 61) apex poses, before the performer's style


@dataclass(frozen=True)
class Plan:
    """Everything about an item except its wording."""

    index: int
    split: Split
    composition: str
    words: tuple[StepWords, ...]
    steps: tuple[Step, ...]
    context: Context | None
    performer: int
    duration_s: float
    require: frozenset[str]  # novelties the text must supply: "template", "phrasing"
    script: ScriptPlan | None = None

    @property
    def action_ids(self) -> tuple[str, ...]:
        if self.script is not None:
            return tuple(dict.fromkeys(a for kf in self.script.keyframes for a, _, _ in kf))
        return tuple(w.action for w in self.words)

    @property
    def combo(self) -> str:
        return combo_key(self.action_ids)


def combo_key(action_ids: tuple[str, ...] | list[str]) -> str:
    """Order-free key of a set of actions: ``"nod+smile_broad"``."""
    return "+".join(sorted(set(action_ids)))


def combo_split(key: str, seed: int) -> Split:
    """The split a combination belongs to (stable hash of seed and key; not Python's hash())."""
    digest = hashlib.blake2b(f"{seed}|{key}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "little") / 2.0**64
    if u < COMBO_FRACTIONS["test"]:
        return "test"
    if u < COMBO_FRACTIONS["test"] + COMBO_FRACTIONS["val"]:
        return "val"
    return "train"


# --------------------------------------------------------------------------------------------
# Action pools (built once)
# --------------------------------------------------------------------------------------------


_HEAD_AND_GAZE = frozenset(f"AU{n}" for n in (51, 52, 53, 54, 55, 56, 61, 62, 63, 64))


@cache
def _regions() -> dict[str, frozenset[str]]:
    return {a.id: regions(a) for a in ACTIONS}


@cache
def _pools() -> dict[str, tuple[Action, ...]]:
    pools: dict[str, tuple[Action, ...]] = {
        "any": ACTIONS,
        # a background action in "X while Y" lasts: an oscillation or a held expression
        "background": tuple(a for a in ACTIONS if a.kind in ("osc", "hold") and a.motion not in ("doze",)),
        # plain head and gaze holds (no crossed eyes or mouth shapes) that can join a keyframe
        "accent": tuple(
            a
            for a in ACTIONS
            if a.pose_only
            and a.category in ("gaze", "head")
            and a.emotion == "neutral"
            and not a.extra
            and set(a.au) <= _HEAD_AND_GAZE
        ),
        "lead": tuple(
            a
            for a in ACTIONS
            if a.pose_only
            and a.category in ("gaze", "brow", "eyes", "head")
            and a.emotion in ("neutral", "surprise")
            and a.kind == "hold"
            and a.id not in ("cross_eyes", "blink_slow", "stare", "look_ahead")
        ),
    }
    for emotion in facs.EMOTIONS:
        pools[emotion] = tuple(a for a in ACTIONS if a.pose_only and a.emotion == emotion)
    return pools


def _pick(rng: np.random.Generator, pool: tuple[Action, ...]) -> Action:
    return pool[int(rng.integers(len(pool)))]


def _choice(rng: np.random.Generator, weights: dict) -> object:  # type: ignore[type-arg]
    keys = list(weights)
    p = np.array([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


# --------------------------------------------------------------------------------------------
# Modifiers and timing
# --------------------------------------------------------------------------------------------


def allowed_manners(action: Action) -> tuple[str, ...]:
    """Manner classes that make sense for an action ("blinks for a long moment" does not)."""
    if not action.timed:
        return ()
    if action.kind == "pulse":
        manners = ["slow", "fast", "sudden", "repeat2", "repeat3", "repeat"]
    elif action.kind == "osc":
        manners = ["slow", "fast", "sudden", "brief", "long", "repeat2", "repeat3", "repeat"]
    elif action.kind == "path":
        manners = ["slow", "fast", "sudden"] + (["repeat2", "repeat3"] if action.path_s[1] <= 2.2 else [])
    else:
        manners = ["slow", "gradual", "fast", "sudden", "brief", "long", "repeat2", "repeat3", "repeat"]
    if action.category == "emotion" or action.timing_ranges()[1][0] >= 1.4:
        # "looks happy twice", "listens attentively repeatedly": not how anyone talks
        manners = [m for m in manners if not m.startswith("repeat")]
    return tuple(manners)


_LEVEL_RANGES = {"low": (0.3, 0.45), "mid": (0.6, 0.75), "high": (1.3, 1.5), None: (0.85, 1.05)}


def make_step(
    action: Action,
    start: float,
    rng: np.random.Generator,
    performer: Performer,
    level: str | None = None,
    manner: str | None = None,
    *,
    stretch: float = 1.0,
) -> Step:
    """Draw a step's timing for ``action`` starting at ``start`` seconds.

    ``stretch`` scales the apex (a background action in "X while Y" lasts longer); the
    performer's speed shortens onsets and offsets; manners change timing as their words say.
    """
    (on0, on1), (ap0, ap1), (off0, off1) = action.timing_ranges()
    speed = performer.speed
    onset = rng.uniform(on0, on1) / speed
    offset = rng.uniform(off0, off1) / speed
    apex = rng.uniform(ap0, ap1) / np.sqrt(speed)
    freq = rng.uniform(*action.freq) * np.sqrt(speed) if action.kind == "osc" else 0.0
    cycles = int(rng.integers(action.cycles[0], action.cycles[1] + 1)) if action.kind == "osc" else 0
    reps, gap = 1, float(rng.uniform(0.25, 0.6))
    intensity = float(rng.uniform(*_LEVEL_RANGES[level]))
    if manner == "slow":
        onset, offset, apex, freq = onset * 2.5, offset * 2.0, apex * 1.3, freq * 0.65
    elif manner == "gradual":
        onset *= 3.5
    elif manner == "fast":
        onset, offset, apex, freq = onset * 0.5, offset * 0.6, apex * 0.7, freq * 1.3
    elif manner == "sudden":
        onset, intensity = float(rng.uniform(0.05, 0.09)), intensity * 1.05
    elif manner == "brief":
        apex, cycles = apex * 0.35, max(1, cycles // 2)
    elif manner == "long":
        apex, cycles = apex * 2.2, cycles * 2
    elif manner in ("repeat2", "repeat3", "repeat"):
        count = {"repeat2": 2, "repeat3": 3}.get(manner, int(rng.integers(3, 5)))
        if action.kind == "osc" and action.motion in (
            "nod",
            "shake",
            "bob",
            "wobble",
            "brow_wiggle",
            "blink_rapid",
            "cough",
        ):
            cycles = count  # "nods twice" is two nods
        else:
            reps = count
            apex *= 0.6  # repeated expressions are shorter each
    if action.kind == "osc":
        cycles = max(round(cycles * stretch), 1)
        apex = cycles / freq
    elif action.kind == "path":
        apex = (
            rng.uniform(*action.path_s) * {"slow": 1.6, "fast": 0.7}.get(manner or "", 1.0) / np.sqrt(speed)
        )
    else:
        apex *= stretch
    mirrored = action.side == "right" or (action.side == "random" and rng.random() < 0.5)
    return Step(
        action.id,
        float(start),
        float(onset),
        float(apex),
        float(offset),
        float(intensity),
        bool(mirrored),
        reps,
        gap,
        float(freq),
        cycles,
    )


def _retime(step: Step, start: float) -> Step:
    return Step(
        step.action,
        start,
        step.onset,
        step.apex,
        step.offset,
        step.intensity,
        step.mirrored,
        step.reps,
        step.gap,
        step.freq,
        step.cycles,
        step.hold_to_end,
    )


def _shrink(step: Step, factor: float) -> Step:
    """Shorten a step's apex (and cycles) to fit a clip into MAX_DURATION_S."""
    action = ACTION_INDEX[step.action]
    cycles = max(int(step.cycles * factor), 1) if action.kind == "osc" else step.cycles
    apex = cycles / step.freq if action.kind == "osc" else step.apex * factor
    return Step(
        step.action,
        step.start,
        step.onset,
        apex,
        step.offset,
        step.intensity,
        step.mirrored,
        step.reps,
        step.gap * factor,
        step.freq,
        cycles,
        step.hold_to_end,
    )


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def _modifiers(
    action: Action, rng: np.random.Generator, p_level: float, p_manner: float
) -> tuple[str | None, str | None]:
    level = None
    if action.scalable and rng.random() < p_level:
        level = str(_choice(rng, {"low": 0.45, "mid": 0.2, "high": 0.35}))
    manner = None
    options = [m for m in allowed_manners(action) if not m.startswith("repeat")]
    if options and rng.random() < p_manner:
        manner = options[int(rng.integers(len(options)))]
    return level, manner


def _sample_actions(
    composition: str, split: Split, seed: int, rng: np.random.Generator
) -> list[Action] | None:
    """Actions for a multi-action composition whose combination lies in ``split``'s bucket."""
    pools, region = _pools(), _regions()
    for _ in range(400):
        if composition in ("seq", "seq3"):
            count = 2 if composition == "seq" else 3
            chosen = [_pick(rng, pools["any"]) for _ in range(count)]
            if any(
                a.category == b.category and a.category != "emotion" for a, b in itertools.pairwise(chosen)
            ):
                continue
            if len({a.id for a in chosen}) < count:
                continue
        else:  # while (foreground, background) and simul: two actions on disjoint face regions
            first = _pick(rng, pools["any"] if composition == "while" else pools["background"])
            second = _pick(rng, pools["background"])
            if first.id == second.id or region[first.id] & region[second.id]:
                continue
            chosen = [first, second]
        if combo_split(combo_key([a.id for a in chosen]), seed) == split:
            return chosen
    return None


def plan_item(
    index: int,
    seed: int,
    performers: tuple[Performer, ...],
    *,
    split: Split | None = None,
    composition: str | None = None,
) -> Plan:
    """The plan of item ``index`` of the corpus with ``seed`` (``split``/``composition`` force them)."""
    rng = np.random.default_rng([seed, index, 0])
    drawn_split = str(_choice(rng, SPLIT_FRACTIONS))
    drawn_comp = str(_choice(rng, COMPOSITIONS))
    split = split or drawn_split  # type: ignore[assignment]
    composition = composition or drawn_comp
    performer = performers[int(rng.integers(len(performers)))]
    if composition == "script":
        return _plan_script(index, seed, split, performer, rng)  # type: ignore[arg-type]
    actions: list[Action] | None = None
    if composition in ("seq", "seq3", "while", "simul"):
        actions = _sample_actions(composition, split, seed, rng)  # type: ignore[arg-type]
        if actions is None:  # no combination in this bucket after many draws: fall back to one action
            composition = "single"
    if actions is None:
        actions = [_pick(rng, _pools()["any"])]
        if composition == "repeat" and not any(m.startswith("repeat") for m in allowed_manners(actions[0])):
            composition = "single"
    return _plan_actions(index, seed, split, composition, actions, performer, rng)  # type: ignore[arg-type]


def plan_for(
    action_ids: list[str] | tuple[str, ...],
    performers: tuple[Performer, ...],
    *,
    composition: str = "single",
    index: int = 0,
    seed: int = 0,
    split: Split = "train",
    performer: int | None = None,
) -> Plan:
    """A plan for chosen actions (modifiers, context and timing still drawn from the item's stream).

    ``composition`` must fit the count: one action for single/repeat, two for seq/while/simul,
    three for seq3. Used by tests and by models that play an action without a prompt.
    """
    counts = {"single": 1, "repeat": 1, "seq": 2, "while": 2, "simul": 2, "seq3": 3}
    if counts.get(composition) != len(action_ids):
        raise ValueError(f"composition {composition!r} takes {counts.get(composition)} action(s)")
    rng = np.random.default_rng([seed, index, 0])
    chosen = performers[performer if performer is not None else int(rng.integers(len(performers)))]
    actions = [ACTION_INDEX[a] for a in action_ids]
    return _plan_actions(index, seed, split, composition, actions, chosen, rng)


def _plan_actions(
    index: int,
    seed: int,
    split: Split,
    composition: str,
    actions: list[Action],
    performer: Performer,
    rng: np.random.Generator,
) -> Plan:
    single = composition in ("single", "repeat")
    words = []
    for i, action in enumerate(actions):
        level, manner = _modifiers(action, rng, 0.3 if single else 0.18, 0.2 if single else 0.1)
        if composition == "repeat":
            manner = str(rng.choice([m for m in allowed_manners(action) if m.startswith("repeat")]))
        if composition in ("while", "simul") and i == 1 and manner is not None and manner != "slow":
            manner = None  # the background action just runs
        words.append(StepWords(action.id, level, manner))
    # Context: a situation phrase for single and two-step items, matching the actions' emotions.
    context = None
    if composition in ("single", "repeat", "seq") and rng.random() < (0.25 if single else 0.12):
        emotions = {a.emotion for a in actions} - {"neutral"}
        options = [
            c
            for c in CONTEXTS
            if allowed(split, c.split) and (c.emotion == "neutral" or not emotions or emotions == {c.emotion})
        ]
        context = options[int(rng.integers(len(options)))] if options else None
    lead, tail = float(rng.uniform(0.3, 0.9)), float(rng.uniform(0.4, 1.2))
    steps = _timeline(composition, actions, words, performer, rng, lead)
    end = max(s.end for s in steps)
    for _ in range(4):  # fit into MAX_DURATION_S by shortening apexes
        if end + tail <= MAX_DURATION_S:
            break
        factor = max((MAX_DURATION_S - tail - lead) / (end - lead), 0.3)
        steps = _timeline(composition, actions, words, performer, rng, lead, shrink=factor, steps=steps)
        end = max(s.end for s in steps)
    duration = float(np.clip(end + tail, MIN_DURATION_S, MAX_DURATION_S))
    require: set[str] = set()
    if split != "train" and len({a.id for a in actions}) < 2:
        # one action: the novelty must come from the wording
        phrased = actions[0].heldout_phrase is not None
        require.add("phrasing" if split == "test" and phrased and rng.random() < 0.4 else "template")
    return Plan(
        index,
        split,
        composition,
        tuple(words),
        tuple(steps),
        context,
        performer.index,
        duration,
        frozenset(require),
    )


def _timeline(
    composition: str,
    actions: list[Action],
    words: list[StepWords],
    performer: Performer,
    rng: np.random.Generator,
    lead: float,
    *,
    shrink: float = 1.0,
    steps: list[Step] | None = None,
) -> list[Step]:
    """Place the steps: in order (seq), one inside another (while) or together (simul)."""
    if steps is not None:  # re-fit existing steps: shrink, then re-chain the start times
        drawn = [_shrink(s, shrink) for s in steps]
    else:
        drawn = []
        for i, (action, word) in enumerate(zip(actions, words, strict=True)):
            stretch = 1.0
            if composition == "while" and i == 1:
                stretch = 2.5  # the background outlasts the foreground
            drawn.append(make_step(action, 0.0, rng, performer, word.level, word.manner, stretch=stretch))
    if composition in ("seq", "seq3"):
        placed, t = [], lead
        for step in drawn:
            placed.append(_retime(step, t))
            # the next action starts during this one's offset, or after a short pause
            t = step.span + t - float(rng.uniform(0.0, 0.8)) * step.offset + float(rng.uniform(0.0, 0.3))
        return placed
    if composition == "while":
        fore, back = drawn
        back = _retime(back, lead)
        inner = back.onset + max(back.span - back.onset - back.offset - fore.span, 0.0) * float(
            rng.uniform(0.2, 0.8)
        )
        if back.span < fore.span + 0.6:  # stretch a too-short background hold to contain the foreground
            back = Step(
                back.action,
                back.start,
                back.onset,
                back.apex + fore.span + 0.6 - back.span,
                back.offset,
                back.intensity,
                back.mirrored,
                back.reps,
                back.gap,
                back.freq,
                back.cycles,
            )
            inner = back.onset + 0.3
        return [_retime(fore, lead + inner), back]
    if composition == "simul":
        return [_retime(s, lead) for s in drawn]
    return [_retime(drawn[0], lead)]


def _plan_script(index: int, seed: int, split: Split, performer: Performer, rng: np.random.Generator) -> Plan:
    pools = _pools()
    emotion = facs.EMOTIONS[int(rng.integers(len(facs.EMOTIONS)))]
    backgrounds = [(text, s) for text, s in BACKGROUNDS[emotion] if allowed(split, s)]
    count = int(_choice(rng, KEYFRAME_COUNTS))  # type: ignore[call-overload]
    keyframes: list[tuple[tuple[str, float, bool], ...]] = []
    for _ in range(200):
        keyframes = []
        for k in range(count):
            if k == 0 and count > 1 and rng.random() < 0.3:
                action = _pick(rng, pools["lead"])  # e.g. a glance up before the reaction
                intensity = float(rng.uniform(0.6, 1.0))
            else:
                action = _pick(rng, pools[emotion])
                # build-up: early keyframes weaker than the last
                ramp = (k + 1) / count
                intensity = float(rng.uniform(0.45, 0.75) + 0.45 * ramp)
            kf = [(action.id, intensity, _mirror(action, rng))]
            if rng.random() < 0.25:
                accent = _pick(rng, pools["accent"])
                if not (_regions()[accent.id] & _regions()[action.id]):
                    kf.append((accent.id, float(rng.uniform(0.6, 1.0)), _mirror(accent, rng)))
            keyframes.append(tuple(kf))
        ids = {a for kf in keyframes for a, _, _ in kf}
        if len(ids) < 2 or combo_split(combo_key(sorted(ids)), seed) == split:
            break
    ids = {a for kf in keyframes for a, _, _ in kf}
    if len(ids) >= 2 and combo_split(combo_key(sorted(ids)), seed) != split:
        # no combination of this split turned up: one action throughout, so nothing leaks
        only = ACTION_INDEX[keyframes[0][0][0]]
        keyframes = [((only.id, kf[0][1], only.side == "right"),) for kf in keyframes]
        ids = {only.id}
    require: set[str] = set()
    novel_bg = [b for b in backgrounds if b[1] == split]
    if split != "train" and len(ids) < 2:
        require.add("background" if novel_bg and rng.random() < 0.4 else "template")
    pool = novel_bg if "background" in require else backgrounds
    background, background_split = pool[int(rng.integers(len(pool)))]
    first = float(rng.uniform(0.6, 1.2))
    gaps = rng.uniform(0.8, 1.6, count - 1) / performer.speed
    times = first + np.concatenate([[0.0], np.cumsum(gaps)])
    duration = float(np.clip(times[-1] + rng.uniform(0.8, 1.8), MIN_DURATION_S, MAX_DURATION_S))
    # a keyframe's pose is the sum of its actions' apex poses (an expression plus a glance)
    poses = np.stack([sum(action_pose(a, i, m) for a, i, m in kf) for kf in keyframes]).astype(np.float32)
    words = EMOTION_WORDS[emotion]
    word = words[int(rng.integers(len(words)))]
    times_s = tuple(float(x) for x in times)
    script = ScriptPlan(emotion, word, background, background_split, times_s, tuple(keyframes), poses)
    return Plan(index, split, "script", (), (), None, performer.index, duration, frozenset(require), script)


def _mirror(action: Action, rng: np.random.Generator) -> bool:
    return action.side == "right" or (action.side == "random" and bool(rng.random() < 0.5))
