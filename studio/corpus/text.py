"""Wording a plan: subject, template, phrasings and modifier words -> the prompt.

Uses its own random stream, so the same :class:`~studio.corpus.plan.Plan` worded twice with
different seeds gives two paraphrases of one motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.corpus.actions import ACTION_INDEX
from studio.corpus.describe import describe_pose, join_parts
from studio.corpus.language import (
    INTENSITY_WORDS,
    MANNER_WORDS,
    SUBJECTS,
    TEMPLATES,
    Modifier,
    Subject,
    Template,
    allowed,
    capitalise,
    lower_subject,
    verb_form,
)
from studio.corpus.plan import Plan, StepWords
from studio.formats.keyframeface import KeyframeScript

_SLOTS = "ABC"


@dataclass(frozen=True)
class Wording:
    """The words of an item.

    ``step_text`` is each step's verb phrase as the prompt says it (third person, modifiers
    included) — the free-text keyframe description of that step. ``phrasings`` are
    ``(action, index into Action.phrases)``; ``words`` the modifier words used.
    """

    prompt: str
    template: Template
    step_text: tuple[str, ...]
    phrasings: tuple[tuple[str, int], ...]
    words: tuple[Modifier, ...]
    keyframe_text: tuple[str, ...] = ()
    script: KeyframeScript | None = None

    @property
    def novelty(self) -> frozenset[str]:
        """Held-out wording this item uses: template, phrasing, wording (modifier words)."""
        out = set()
        if self.template.split != "train":
            out.add("template")
        if any(
            ACTION_INDEX[a].heldout_phrase is not None and i == len(ACTION_INDEX[a].phrases) - 1
            for a, i in self.phrasings
        ):
            out.add("phrasing")
        if any(w.split != "train" for w in self.words):
            out.add("wording")
        return frozenset(out)


def _pick(rng: np.random.Generator, items: list) -> object:  # type: ignore[type-arg]
    return items[int(rng.integers(len(items)))]


def _template_pool(plan: Plan, rng: np.random.Generator) -> Template:
    composition = {"repeat": "single"}.get(plan.composition, plan.composition)
    with_context = plan.context is not None
    # "Seem let down." is no instruction anyone gives: emotion states take no imperative.
    states = any(ACTION_INDEX[w.action].category == "emotion" for w in plan.words)
    pool = [
        t
        for t in TEMPLATES
        if t.composition == composition
        and t.has_context == with_context
        and allowed(plan.split, t.split)
        and not (states and t.imperative)
    ]
    novel = [t for t in pool if t.split == plan.split and plan.split != "train"]
    if novel and ("template" in plan.require or rng.random() < 0.4):
        return _pick(rng, novel)  # type: ignore[return-value]
    plain = [t for t in pool if t.split == "train"]
    return _pick(rng, plain)  # type: ignore[return-value]


def _word(rng: np.random.Generator, options: tuple[Modifier, ...], level: str, split: str) -> Modifier:
    pool = [m for m in options if m.level == level and allowed(split, m.split)]  # type: ignore[arg-type]
    novel = [m for m in pool if m.split == split and split != "train"]
    if novel and rng.random() < 0.5:
        return _pick(rng, novel)  # type: ignore[return-value]
    return _pick(rng, [m for m in pool if m.split == "train"])  # type: ignore[return-value]


def _phrase(step: StepWords, rng: np.random.Generator, split: str, force_heldout: bool) -> tuple[str, int]:
    action = ACTION_INDEX[step.action]
    held = action.heldout_phrase is not None and split == "test"
    if held and (force_heldout or rng.random() < 0.3):
        return action.phrases[-1], len(action.phrases) - 1
    index = int(rng.integers(len(action.train_phrases)))
    return action.train_phrases[index], index


def _forms(phrase: str, words: list[Modifier], poss: str) -> dict[str, str]:
    """The phrase in 3s/base/ing forms with modifier words placed, ``{poss}`` filled."""
    pre = " ".join(w.word for w in words if w.position == "pre")
    post = " ".join(w.word for w in words if w.position == "post")
    out = {}
    for form in ("3s", "base", "ing"):
        text = " ".join(p for p in (pre, verb_form(phrase, form), post) if p)  # type: ignore[arg-type]
        out[form] = text.replace("{poss}", poss)
    return out


def word_plan(plan: Plan, seed: int) -> Wording:
    """Word ``plan`` with the text stream of its item (``seed`` is the corpus seed)."""
    rng = np.random.default_rng([seed, plan.index, 1])
    subject: Subject = _pick(rng, list(SUBJECTS))  # type: ignore[assignment]
    template = _template_pool(plan, rng)
    if plan.script is not None:
        return _word_script(plan, template, subject)
    pattern = template.pattern
    has_subject = any(slot in pattern for slot in ("{S}", "{s}", "{o}"))
    # Imperatives address the reader ("Raise your eyebrows."); subjectless gerunds stay generic.
    if has_subject:
        poss = subject.poss
    elif "_base}" in pattern:
        poss = "your"
    else:
        poss = "their"
    slots: dict[str, str] = {}
    step_text, phrasings, used = [], [], []
    force = "phrasing" in plan.require
    for i, step in enumerate(plan.words):
        phrase, index = _phrase(step, rng, plan.split, force and i == 0)
        words = []
        if step.level is not None:
            words.append(_word(rng, INTENSITY_WORDS, step.level, plan.split))
        if step.manner is not None:
            words.append(_word(rng, MANNER_WORDS, step.manner, plan.split))
        forms = _forms(phrase, words, poss)
        slot = _SLOTS[i]
        # A verb right after the pronoun agrees with it ("then they smile" after "The character").
        plural = subject.pronoun_plural if "{P} {" + slot + "}" in pattern else subject.plural
        slots[slot] = forms["base" if plural else "3s"]
        slots[f"{slot}_ing"] = forms["ing"]
        slots[f"{slot}_base"] = forms["base"]
        step_text.append(_forms(phrase, words, "their")["3s"])
        phrasings.append((step.action, index))
        used.extend(words)
    if plan.context is not None:
        ctx = plan.context.text.replace("{poss}", poss)
        slots["ctx"], slots["Ctx"] = ctx, capitalise(ctx)
    slots.update(S=subject.text, s=lower_subject(subject), o=subject.object_form, P=subject.pronoun)
    prompt = capitalise(" ".join(pattern.format(**slots).split()))
    return Wording(prompt, template, tuple(step_text), tuple(phrasings), tuple(used))


def _word_script(plan: Plan, template: Template, subject: Subject) -> Wording:
    """KeyframeFace-style: one FACS-state description per keyframe, in the template's frame."""
    assert plan.script is not None
    texts = []
    for pose, keyframe in zip(plan.script.poses, plan.script.keyframes, strict=True):
        parts = describe_pose(pose)
        moving = [ACTION_INDEX[a].state for a, _, _ in keyframe if ACTION_INDEX[a].state]
        body = join_parts(parts + moving)
        text = template.pattern.format(parts=body, Parts=capitalise(body), S=subject.text)
        texts.append(text)
    script = KeyframeScript(tuple(texts), plan.script.background, plan.script.emotion_word)
    return Wording(script.prompt, template, tuple(texts), (), (), tuple(texts), script)
