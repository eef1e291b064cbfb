"""A seeded, FACS-grounded synthetic corpus of (text, ARKit clip, emotion scores, keyframe script).

``python -m studio corpus build --n 20000 --seed 0 --out DIR`` writes it in the studio's
dataset-folder layout (:mod:`studio.formats.dataset`). The pieces:

* :mod:`~studio.corpus.actions`  — 200+ facial actions and emotion phrases as FACS AUs;
* :mod:`~studio.corpus.language` — verb forms, subjects, templates, modifier words, contexts;
* :mod:`~studio.corpus.plan`     — one item's split, composition, modifiers and timeline;
* :mod:`~studio.corpus.text`     — wording a plan (paraphrases share the plan's motion);
* :mod:`~studio.corpus.synth`    — a timeline + a performer -> frames, layered from
  :mod:`~studio.corpus.performers`, :mod:`~studio.corpus.steps` (steps, envelopes),
  :mod:`~studio.corpus.oscillations` and :mod:`~studio.corpus.idle` (blinks, sway, gaze);
* :mod:`~studio.corpus.describe` — FACS-state text for keyframe scripts;
* :mod:`~studio.corpus.builder`  — items, labels and the dataset folder.
"""

from studio.corpus.actions import ACTION_IDS, ACTION_INDEX, ACTIONS, Action, action_pose
from studio.corpus.builder import LABEL_COLUMNS, CorpusItem, build_corpus, iter_corpus, make_item, render_plan
from studio.corpus.performers import Performer, make_performers
from studio.corpus.plan import Plan, combo_key, combo_split, plan_for, plan_item
from studio.corpus.steps import FPS, Step
from studio.corpus.synth import render
from studio.corpus.text import Wording, word_plan

__all__ = [
    "ACTIONS",
    "ACTION_IDS",
    "ACTION_INDEX",
    "FPS",
    "LABEL_COLUMNS",
    "Action",
    "CorpusItem",
    "Performer",
    "Plan",
    "Step",
    "Wording",
    "action_pose",
    "build_corpus",
    "combo_key",
    "combo_split",
    "iter_corpus",
    "make_item",
    "make_performers",
    "plan_for",
    "plan_item",
    "render",
    "render_plan",
    "word_plan",
]
