"""Verb forms, templates and the held-out wording of studio.corpus.language."""

from __future__ import annotations

import re
import string

import pytest

from studio.corpus.actions import ACTIONS
from studio.corpus.language import (
    BACKGROUNDS,
    CONTEXTS,
    INTENSITY_WORDS,
    MANNER_WORDS,
    SUBJECTS,
    TEMPLATES,
    verb_form,
)


@pytest.mark.parametrize(
    ("base", "third", "gerund"),
    [
        ("smile widely", "smiles widely", "smiling widely"),
        ("nod", "nods", "nodding"),
        ("press {poss} lips", "presses {poss} lips", "pressing {poss} lips"),
        ("cry", "cries", "crying"),
        ("hum a tune", "hums a tune", "humming a tune"),
        ("be calm", "is calm", "being calm"),
        ("see", "sees", "seeing"),
        ("stay", "stays", "staying"),
        ("go cross-eyed", "goes cross-eyed", "going cross-eyed"),
        ("shrug", "shrugs", "shrugging"),
    ],
)
def test_verb_forms(base, third, gerund):
    assert verb_form(base, "3s") == third
    assert verb_form(base, "ing") == gerund
    assert verb_form(base, "base") == base


def test_every_phrase_inflects_cleanly():
    allowed = set(string.ascii_letters + " '-{}")
    for action in ACTIONS:
        for phrase in action.phrases:
            for form in ("3s", "base", "ing"):
                text = verb_form(phrase, form)
                assert set(text) <= allowed, (action.id, text)
                assert "{" not in text.replace("{poss}", ""), (action.id, text)


def _fill(pattern: str) -> str:
    slots = {
        "S": "A person",
        "s": "a person",
        "o": "her",
        "P": "she",
        "ctx": "as if x",
        "Ctx": "As if x",
        "parts": "brows raised",
        "Parts": "Brows raised",
    }
    for slot in "ABC":
        slots.update({slot: "smiles", f"{slot}_ing": "smiling", f"{slot}_base": "smile"})
    return pattern.format(**slots)


def test_templates_are_well_formed():
    ids = [t.id for t in TEMPLATES]
    assert len(ids) == len(set(ids))
    for template in TEMPLATES:
        _fill(template.pattern)  # every slot is known
        needs = {"single": "A", "seq": "B", "seq3": "C", "while": "B", "simul": "B", "script": "arts"}
        assert needs[template.composition] in template.pattern, template.id


@pytest.mark.parametrize("composition", ["single", "seq", "seq3", "while", "simul", "script"])
def test_each_composition_has_train_val_and_test_templates(composition):
    splits = {t.split for t in TEMPLATES if t.composition == composition}
    assert splits == {"train", "val", "test"}


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z' -]", " ", text.lower()) + " "


def test_heldout_wording_never_appears_in_training_text():
    """A held-out modifier word inside a training phrasing would leak it into training."""
    train_text = [p for a in ACTIONS for p in a.train_phrases]
    train_text += [t.pattern for t in TEMPLATES if t.split == "train"]
    train_text += [c.text for c in CONTEXTS if c.split == "train"]
    train_text += [b for bs in BACKGROUNDS.values() for b, s in bs if s == "train"]
    train_text += [w.word for w in (*INTENSITY_WORDS, *MANNER_WORDS) if w.split == "train"]
    blob = " | ".join(_words(t) for t in train_text)
    heldout = [w.word for w in (*INTENSITY_WORDS, *MANNER_WORDS) if w.split != "train"]
    for word in heldout:
        assert f" {word} " not in blob, word


def test_every_emotion_and_split_has_contexts_and_backgrounds():
    for emotion in BACKGROUNDS:
        assert {s for _, s in BACKGROUNDS[emotion]} == {"train", "val", "test"}
        assert {c.split for c in CONTEXTS if c.emotion == emotion} == {"train", "val", "test"}


def test_subjects_agree():
    for subject in SUBJECTS:
        assert subject.poss in ("his", "her", "their")
        assert subject.pronoun in ("he", "she", "they")
        assert subject.pronoun_plural == (subject.pronoun == "they")
    assert {s.object_form for s in SUBJECTS if s.text in ("He", "She", "They")} == {"him", "her", "them"}
