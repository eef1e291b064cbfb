"""Building the corpus: plan -> words -> motion -> labels, item by item, into a dataset folder.

Item ``i`` of the corpus with seed ``s`` depends only on ``(s, i)`` (three random streams:
plan, text, motion), so a corpus of ``n`` items is a prefix of a larger one with the same seed,
and items can be built in any order or in parallel.

Labels stored per item in ``prompts.csv`` (see :data:`LABEL_COLUMNS`):

==============  ===========================================================================
happiness..     six FACS emotion scores of the clip (Express4D order), 4 decimals, sum 1
disgust
emotion         the emotion the text intends: one of the six, or ``neutral``
actions         JSON list of action ids, in order (script: keyframe actions)
modifiers       JSON list per step: ``{"level": low|mid|high|null, "manner": ...}``
composition     single | repeat | seq | seq3 | while | simul | script
template        sentence template id (:data:`studio.corpus.language.TEMPLATES`)
combo           order-free action combination (``a+b``), empty for one action
novelty         held-out kinds this val/test item carries (combo, template, phrasing, ...)
context         the situation phrase, or empty
performer       synthetic performer id (``p00``..)
duration_s      clip length in seconds
keyframes       JSON script: ``{"background", "emotion", "keyframes": [{"time_s", "frame",
                "text", "state", "actions"}]}``
==============  ===========================================================================
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio import facs
from studio.corpus.actions import ACTION_INDEX, ACTIONS, action_pose
from studio.corpus.describe import describe_pose, join_parts
from studio.corpus.language import BACKGROUNDS, CONTEXTS, INTENSITY_WORDS, MANNER_WORDS, TEMPLATES, Split
from studio.corpus.performers import Performer, make_performers
from studio.corpus.plan import Plan, combo_split, plan_item
from studio.corpus.steps import FPS
from studio.corpus.synth import render
from studio.corpus.text import Wording, word_plan
from studio.motion import ARKIT_CHANNELS, MotionClip
from studio.threads import one_blas_thread

CORPUS_VERSION = "1"
N_PERFORMERS = 64
LABEL_COLUMNS: tuple[str, ...] = (
    *facs.EMOTIONS,
    "emotion",
    "actions",
    "modifiers",
    "composition",
    "template",
    "combo",
    "novelty",
    "context",
    "performer",
    "duration_s",
    "keyframes",
)


@dataclass(frozen=True)
class CorpusItem:
    """One generated pair: ``values (T, 61) float32`` ARKit at :data:`FPS`, the prompt, its labels."""

    id: str
    prompt: str
    values: np.ndarray
    split: Split
    labels: dict[str, str]
    keyframe_times_s: tuple[float, ...]
    scores: np.ndarray  # (6,) float64, the FACS emotion scores before rounding
    plan: Plan
    wording: Wording

    def clip(self, seed: int) -> MotionClip:
        meta = {
            "keyframe_times_s": list(self.keyframe_times_s),
            "generator": "studio.corpus",
            "corpus_version": CORPUS_VERSION,
            "seed": seed,
            "index": self.plan.index,
        }
        return MotionClip(self.values, FPS, "arkit", ARKIT_CHANNELS, meta)


def item_id(seed: int, index: int) -> str:
    return f"fc{seed}-{index:06d}"


def round_scores(scores: np.ndarray, decimals: int = 4) -> list[str]:
    """Round a distribution so the printed numbers sum to exactly 1 (largest remainder)."""
    scale = 10**decimals
    raw = np.asarray(scores, np.float64) * scale / np.sum(scores)
    units = np.floor(raw).astype(int)
    short = scale - int(units.sum())
    units[np.argsort(-(raw - units), kind="stable")[:short]] += 1
    return [f"{u / scale:.{decimals}f}" for u in units]


def intended_emotion(plan: Plan) -> str:
    """The emotion the text asks for: the script's, else the most named among actions and context."""
    if plan.script is not None:
        return plan.script.emotion
    named = [ACTION_INDEX[w.action].emotion for w in plan.words]
    if plan.context is not None:
        named += [plan.context.emotion] * 2  # "as if hearing a funny joke" sets the tone
    counts = Counter(e for e in named if e != "neutral")
    if not counts:
        return "neutral"
    top = max(counts.values())
    return next(e for e in named if counts.get(e) == top)


def render_plan(plan: Plan, seed: int, performers: tuple[Performer, ...]) -> np.ndarray:
    """The clip of a plan: ``(T, 61) float32``. Depends on the plan and the item's motion stream only."""
    rng = np.random.default_rng([seed, plan.index, 2])
    performer = performers[plan.performer]
    tint, span = None, (0.0, 0.0)
    if plan.context is not None and plan.context.emotion != "neutral":
        # A context colours the whole performance with a faint prototype of its emotion.
        tint = facs.prototype_pose(plan.context.emotion, float(rng.uniform(0.25, 0.4)))
        span = (plan.steps[0].start, max(s.end for s in plan.steps))
    keyframes = None
    if plan.script is not None:
        keyframes = (np.asarray(plan.script.times_s), plan.script.poses)
    return render(plan.steps, plan.duration_s, performer, rng, tint=tint, tint_span=span, keyframes=keyframes)


def _keyframe_annotations(plan: Plan, wording: Wording) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    if plan.script is not None:
        for t, text, keyframe in zip(
            plan.script.times_s, wording.keyframe_text, plan.script.keyframes, strict=True
        ):
            out.append(
                {
                    "time_s": round(t, 3),
                    "frame": round(t * FPS),
                    "text": text,
                    "state": text,
                    "actions": [a for a, _, _ in keyframe],
                }
            )
        return out
    for step, text in zip(plan.steps, wording.step_text, strict=True):
        action = ACTION_INDEX[step.action]
        if action.pose_only:
            state = join_parts(describe_pose(action_pose(action.id, step.intensity, step.mirrored)))
        else:
            state = action.state
        for t in step.apex_times():
            if t < plan.duration_s:
                out.append(
                    {
                        "time_s": round(t, 3),
                        "frame": round(t * FPS),
                        "text": text,
                        "state": state,
                        "actions": [action.id],
                    }
                )
    out.sort(key=lambda k: k["time_s"])  # type: ignore[arg-type, return-value]
    return out


def make_item(index: int, seed: int, performers: tuple[Performer, ...]) -> CorpusItem:
    """Generate item ``index`` of the corpus with ``seed``."""
    plan = plan_item(index, seed, performers)
    wording = word_plan(plan, seed)
    values = render_plan(plan, seed, performers)
    scores = facs.clip_emotion_scores(values)
    keyframes = _keyframe_annotations(plan, wording)
    novelty = set(wording.novelty)
    ids = plan.action_ids
    if len(ids) >= 2 and combo_split(plan.combo, seed) != "train":
        novelty.add("combo")
    if plan.context is not None and plan.context.split != "train":
        novelty.add("wording")
    if plan.script is not None and plan.script.background_split != "train":
        novelty.add("background")
    script = wording.script
    labels = dict(zip(facs.EMOTIONS, round_scores(scores), strict=True))
    labels.update(
        emotion=intended_emotion(plan),
        actions=json.dumps(list(ids)),
        modifiers=json.dumps([{"level": w.level, "manner": w.manner} for w in plan.words]),
        composition=plan.composition,
        template=wording.template.id,
        combo=plan.combo if len(set(ids)) >= 2 else "",
        novelty="+".join(sorted(novelty)),
        context=plan.context.text if plan.context is not None else "",
        performer=f"p{plan.performer:02d}",
        duration_s=f"{values.shape[0] / FPS:.2f}",
        keyframes=json.dumps(
            {
                "background": script.background if script else (plan.context.text if plan.context else ""),
                "emotion": script.emotion if script else intended_emotion(plan),
                "keyframes": keyframes,
            }
        ),
    )
    times = tuple(float(k["time_s"]) for k in keyframes)  # type: ignore[arg-type]
    return CorpusItem(
        item_id(seed, index), wording.prompt, values, plan.split, labels, times, scores, plan, wording
    )


def iter_corpus(n: int, seed: int, start: int = 0) -> Iterator[CorpusItem]:
    """Items ``start .. n-1`` of the corpus with ``seed`` (BLAS limited to one thread meanwhile)."""
    performers = make_performers(seed, N_PERFORMERS)
    with one_blas_thread():  # many small (T, 61) products
        for index in range(start, n):
            yield make_item(index, seed, performers)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@dataclass
class CorpusStats:
    """What a build produced (also stored in ``dataset.json`` under ``"corpus"``)."""

    n: int = 0
    splits: Counter | None = None  # type: ignore[type-arg]
    compositions: Counter | None = None  # type: ignore[type-arg]
    actions_used: set[str] | None = None
    templates_used: set[str] | None = None
    combos: dict[str, set[str]] | None = None

    def add(self, item: CorpusItem) -> None:
        if self.splits is None:
            self.splits, self.compositions = Counter(), Counter()
            self.actions_used, self.templates_used = set(), set()
            self.combos = {"train": set(), "val": set(), "test": set()}
        assert self.compositions is not None and self.actions_used is not None
        assert self.templates_used is not None and self.combos is not None
        self.n += 1
        self.splits[item.split] += 1
        self.compositions[item.labels["composition"]] += 1
        self.actions_used.update(item.plan.action_ids)
        self.templates_used.add(item.labels["template"])
        if item.labels["combo"]:
            self.combos[item.split].add(item.labels["combo"])

    def summary(self) -> dict[str, object]:
        assert self.combos is not None and self.actions_used is not None and self.templates_used is not None
        return {
            "items": self.n,
            "splits": dict(self.splits or {}),
            "compositions": dict(self.compositions or {}),
            "distinct_actions_used": len(self.actions_used),
            "distinct_templates_used": len(self.templates_used),
            "distinct_combos": {k: len(v) for k, v in self.combos.items()},
        }


def dataset_info(seed: int, n: int, stats: CorpusStats) -> dict[str, object]:
    """``dataset.json`` content: provenance, label schema and the held-out inventory."""
    heldout = {
        split: {
            "templates": [t.id for t in TEMPLATES if t.split == split],
            "phrasings": sorted({a.heldout_phrase for a in ACTIONS if a.heldout_phrase})
            if split == "test"
            else [],
            "words": sorted({w.word for w in (*INTENSITY_WORDS, *MANNER_WORDS) if w.split == split}),
            "contexts": [c.text for c in CONTEXTS if c.split == split],
            "backgrounds": [b for bs in BACKGROUNDS.values() for b, s in bs if s == split],
            "combos": sorted((stats.combos or {}).get(split, set())),
        }
        for split in ("val", "test")
    }
    return {
        "description": "Synthetic FACS-grounded text-to-ARKit corpus (studio.corpus): prompts, 61-channel "
        f"ARKit clips at {FPS:g} fps, six-way FACS emotion scores and keyframe scripts.",
        "space": "arkit",
        "fps": FPS,
        "generator": {
            "module": "studio.corpus",
            "version": CORPUS_VERSION,
            "seed": seed,
            "n": n,
            "command": f"python -m studio corpus build --n {n} --seed {seed} --out DIR",
        },
        "emotions": list(facs.EMOTIONS),
        "label_columns": list(LABEL_COLUMNS),
        "combo_rule": "a combination of 2+ action ids (sorted, '+'-joined) belongs to test when "
        "blake2b('{seed}|{key}', 8 bytes) / 2**64 < 0.1, to val when < 0.2, else to train",
        "heldout": heldout,
        "stats": stats.summary(),
        "vocabulary": {
            "actions": len(ACTIONS),
            "phrasings": sum(len(a.phrases) for a in ACTIONS),
            "templates": len(TEMPLATES),
        },
    }


def build_corpus(out: str | Path, n: int, seed: int) -> CorpusStats:
    """Generate ``n`` items with ``seed`` and write them as a dataset folder (through studio.formats)."""
    from studio.formats import write_dataset

    stats = CorpusStats()
    info: dict[str, object] = {}

    def records() -> Iterator[tuple[str, str, MotionClip, str | None, dict[str, str]]]:
        for item in iter_corpus(n, seed):
            stats.add(item)
            yield item.id, item.prompt, item.clip(seed), item.split, item.labels
        # write_dataset reads ``info`` only after the last record, so the statistics and the
        # held-out combinations actually used land in dataset.json without a second pass
        # (tests/corpus/test_builder.py checks they do).
        info.update(dataset_info(seed, n, stats))

    root = Path(out)
    write_dataset(root, records(), name=root.name, info=info)
    return stats
