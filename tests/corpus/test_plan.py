"""Planning and wording: determinism, held-out splits, paraphrases, compositions, scripts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from studio.corpus import make_performers, plan_for, plan_item, render_plan, word_plan
from studio.corpus.actions import ACTION_INDEX
from studio.corpus.language import verb_form
from studio.corpus.plan import MAX_DURATION_S, MIN_DURATION_S, combo_key, combo_split

from .conftest import SEED


def test_combo_key_is_order_free():
    assert combo_key(["smile", "nod"]) == combo_key(("nod", "smile", "nod")) == "nod+smile"


def test_combo_buckets_are_stable_and_proportioned():
    keys = [f"a{i}+b{i}" for i in range(4000)]
    buckets = Counter(combo_split(k, 0) for k in keys)
    assert 0.08 < buckets["test"] / 4000 < 0.12 and 0.08 < buckets["val"] / 4000 < 0.12
    assert [combo_split(k, 0) for k in keys[:50]] == [combo_split(k, 0) for k in keys[:50]]
    assert [combo_split(k, 0) for k in keys[:200]] != [combo_split(k, 1) for k in keys[:200]]


def test_items_are_deterministic(performers):
    for index in (0, 7, 42):
        a, b = plan_item(index, SEED, performers), plan_item(index, SEED, performers)
        assert a.words == b.words and a.steps == b.steps and a.split == b.split
        assert word_plan(a, SEED).prompt == word_plan(b, SEED).prompt
        np.testing.assert_array_equal(render_plan(a, SEED, performers), render_plan(b, SEED, performers))
    other = make_performers(SEED + 1)
    prompts = [word_plan(plan_item(i, SEED + 1, other), SEED + 1).prompt for i in range(20)]
    assert prompts != [word_plan(plan_item(i, SEED, performers), SEED).prompt for i in range(20)]


def test_the_held_out_combinations_and_templates_are_absent_from_train(sample):
    train = [item for item in sample if item.split == "train"]
    test = [item for item in sample if item.split == "test"]
    train_combos = {item.labels["combo"] for item in train} - {""}
    test_combos = {item.labels["combo"] for item in test} - {""}
    assert len(test_combos) > 50
    assert not train_combos & test_combos
    assert all(combo_split(c, SEED) == "train" for c in train_combos)
    train_templates = {item.labels["template"] for item in train}
    test_templates = {item.labels["template"] for item in test}
    assert test_templates - train_templates  # some test templates exist...
    from studio.corpus.language import TEMPLATE_INDEX

    assert all(TEMPLATE_INDEX[t].split == "train" for t in train_templates)  # ...and never reach train
    heldout = {ACTION_INDEX[a].heldout_phrase for item in train for a in item.plan.action_ids}
    for item in train:
        for action, index in item.wording.phrasings:
            assert ACTION_INDEX[action].phrases[index] != ACTION_INDEX[action].heldout_phrase
    assert heldout  # the check above looked at actions that do have held-out phrasings


def test_every_val_and_test_item_is_novel(sample):
    for item in sample:
        novelty = item.labels["novelty"]
        if item.split == "train":
            assert novelty == "", item.prompt
        else:
            assert novelty, (item.split, item.prompt)
    kinds = Counter(k for item in sample if item.split == "test" for k in item.labels["novelty"].split("+"))
    assert {"combo", "template", "phrasing"} <= set(kinds)


def test_split_and_composition_mix(sample):
    splits = Counter(item.split for item in sample)
    assert 0.75 < splits["train"] / len(sample) < 0.85
    compositions = Counter(item.labels["composition"] for item in sample)
    assert set(compositions) == {"single", "repeat", "seq", "seq3", "while", "simul", "script"}


def test_script_keyframe_counts_follow_keyframeface(performers):
    counts = Counter(
        len(plan_item(i, SEED, performers, composition="script").script.times_s) for i in range(600)
    )
    assert set(counts) <= {1, 2, 3, 4, 5}
    assert 0.7 < counts[2] / 600 < 0.82  # KeyframeFace: 76 % of scripts have two keyframes
    assert counts[5] >= 1


def test_durations_are_bounded(sample):
    durations = np.array([item.values.shape[0] / 30 for item in sample])
    assert durations.min() >= MIN_DURATION_S - 1 / 30 and durations.max() <= MAX_DURATION_S + 1 / 30
    assert np.median(durations) > 3.0


def test_paraphrases_keep_the_motion(performers):
    """Rewording a plan changes the text, never the clip, and the text still names the action."""
    for index in range(30):
        plan = plan_item(index, SEED, performers)
        if plan.script is not None:
            continue
        texts = {word_plan(plan, seed).prompt for seed in range(6)}
        assert len(texts) >= 3
        for seed in range(6):
            wording = word_plan(plan, seed)
            for (action, phrase_index), step in zip(wording.phrasings, plan.words, strict=True):
                assert action == step.action
                phrase = ACTION_INDEX[action].phrases[phrase_index]
                said = {
                    verb_form(phrase, form).replace("{poss}", poss)
                    for form in ("3s", "base", "ing")
                    for poss in ("his", "her", "their", "your")
                }
                assert any(s.lower() in wording.prompt.lower() for s in said), (phrase, wording.prompt)
        clip = render_plan(plan, SEED, performers)
        np.testing.assert_array_equal(clip, render_plan(plan, SEED, performers))


def _peak(action: str, channel: str, performers, count: int = 8) -> float:
    from studio.motion import ARKIT_INDEX

    peaks = []
    for index in range(count):
        plan = plan_for([action], performers, seed=SEED, index=index)
        if plan.words[0].level == "low":
            continue
        peaks.append(render_plan(plan, SEED, performers)[:, ARKIT_INDEX[channel]].max())
    return float(np.median(peaks))


def test_clips_show_their_actions(performers):
    assert _peak("smile_broad", "mouthSmileLeft", performers) > 0.7
    assert _peak("frown", "mouthFrownRight", performers) > 0.3
    assert _peak("frown", "browDownLeft", performers) > 0.45
    assert _peak("jaw_drop", "jawOpen", performers) > 0.4
    assert _peak("cheek_puff", "cheekPuff", performers) > 0.6
    assert _peak("tongue_out", "tongueOut", performers) > 0.6
    assert _peak("yawn", "jawOpen", performers) > 0.6
    assert _peak("laugh", "jawOpen", performers) > 0.2
    assert _peak("smile_broad", "mouthFrownLeft", performers) < 0.15  # and not their opposites
    assert _peak("frown", "mouthSmileLeft", performers) < 0.15


@pytest.mark.parametrize("composition", ["seq", "while", "simul"])
def test_two_action_timing(performers, composition):
    plan = plan_for(["raise_brows", "nod"], performers, composition=composition, seed=SEED, index=3)
    first, second = plan.steps
    if composition == "seq":
        assert second.start > first.start + first.onset  # Y starts after X is under way
    elif composition == "while":
        assert second.start <= first.start and second.end >= first.end - 1e-6  # X inside Y
    else:
        assert first.start == second.start


def test_plan_for_checks_its_arguments(performers):
    with pytest.raises(ValueError, match="takes 2"):
        plan_for(["smile"], performers, composition="seq")


def test_possessives_agree_with_the_subject(sample):
    """Possessives agree: "an old man winks with his right eye", never "with their right eye"."""
    male = (" a man ", " the man ", " he ", " a boy ", " an old man ", " him ")
    checked = 0
    for item in sample:
        if item.plan.script is not None:
            continue
        words = " " + " ".join(item.prompt.lower().replace(",", " ").replace(".", " ").split()) + " "
        if any(marker in words for marker in male):
            assert " their " not in words and " her " not in words, item.prompt
            checked += 1
    assert checked > 100
