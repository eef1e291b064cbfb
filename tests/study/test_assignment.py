"""The per-participant assignment: deterministic, pinned, balanced, every check and control."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.study.assignment import participant_trials
from studio.study.definition import (
    ClipRef,
)
from studio.study.parsing import parse_definition
from tests.study.conftest import make_definition
from tests.study.test_definition import config
from tests.study.test_parsing import contradiction, instruction

# -- assignment ---------------------------------------------------------------------------------


def test_assignment_is_deterministic_and_differs_between_participants_and_seeds():
    definition = make_definition()
    assert participant_trials(definition, 3) == participant_trials(make_definition(), 3)
    orders = {tuple(t.item_id for t in participant_trials(definition, p)) for p in range(9)}
    assert len(orders) == 9
    reseeded = make_definition(seed=8)
    assert [participant_trials(reseeded, p) for p in range(4)] != [
        participant_trials(definition, p) for p in range(4)
    ]
    with pytest.raises(ValueError, match="non-negative"):
        participant_trials(definition, -1)


def test_assignment_is_pinned():
    """Platform- and version-independent (SHA-256 streams): the same seed gives this forever."""
    trials = participant_trials(make_definition(), 0)
    assert [(t.kind, t.item_id, [c.model for c in t.clips]) for t in trials] == PINNED_TRIALS


PINNED_TRIALS = [
    ("item", "p002:alpha~beta", ["beta", "alpha"]),
    ("item", "p002:beta~gamma", ["beta", "gamma"]),
    ("item", "p002:alpha~gamma", ["alpha", "gamma"]),
    ("attention", "check:0", ["beta", "beta"]),
    ("attention", "check:1", ["beta", "alpha"]),
]


def test_every_participant_sees_every_check_never_first_and_positions_are_dense():
    definition = make_definition()
    for p in range(40):
        trials = participant_trials(definition, p)
        assert [t.position for t in trials] == list(range(5))
        assert sorted(t.item_id for t in trials if t.kind == "attention") == ["check:0", "check:1"]
        assert trials[0].kind == "item"
        assert len({t.item_id for t in trials}) == len(trials)


design = st.tuples(
    st.sampled_from(["rank", "2afc5", "pairwise"]),
    st.integers(1, 5),  # prompts
    st.integers(2, 5),  # models
    st.integers(1, 7),  # raters per item
    st.integers(0, 2**32 - 1),  # seed
    st.data(),
)


@settings(max_examples=60, deadline=None)
@given(design)
def test_coverage_and_latin_square_position_balance(params):
    trial_type, n_prompts, n_models, raters, seed, data = params
    n_items = n_prompts * (1 if trial_type == "rank" else n_models * (n_models - 1) // 2)
    per = data.draw(st.integers(1, n_items))
    definition = parse_definition(
        {
            "name": "property",
            "trial_type": trial_type,
            "seed": seed,
            "raters_per_item": raters,
            "items_per_participant": per,
            "prompts": [f"prompt number {i}" for i in range(n_prompts)],
            "models": [f"m{i}" for i in range(n_models)],
        }
    )
    needed = definition.participants_needed
    ratings: Counter[str] = Counter()
    positions: dict[tuple[str, str], Counter[int]] = {}
    for p in range(needed):
        trials = participant_trials(definition, p)
        assert len(trials) == per and len({t.item_id for t in trials}) == per  # no item twice
        for trial in trials:
            ratings[trial.item_id] += 1
            assert len(trial.clips) == definition.clips_per_item
            for position, clip in enumerate(trial.clips):
                assert clip.prompt == trial.prompt
                positions.setdefault((trial.item_id, clip.model), Counter())[position] += 1
    assert set(ratings) == {item.id for item in definition.items}
    assert min(ratings.values()) >= raters  # every item reaches its raters
    assert max(ratings.values()) - min(ratings.values()) <= 1  # and no item is favoured
    k = definition.clips_per_item
    for (item_id, _model), counts in positions.items():
        per_position = [counts.get(pos, 0) for pos in range(k)]
        assert max(per_position) - min(per_position) <= 1, (item_id, per_position)  # cyclic Latin square
        assert sum(per_position) == ratings[item_id]


def test_attention_checks_alternate_sides_and_decoy_positions():
    definition = make_definition()
    sides, decoys = Counter(), Counter()
    for p in range(20):
        for trial in participant_trials(definition, p):
            if trial.item_id == "check:0":  # contradiction: beta's clip for "weeping" is the decoy
                assert trial.check is not None and trial.check.rule == "reject"
                decoy = trial.clips[trial.check.position]
                assert decoy == ClipRef("beta", "weeping", 0)
                assert trial.prompt == "laughing with joy" and trial.question == definition.question
                decoys[trial.check.position] += 1
            elif trial.item_id == "check:1":  # instruction: the text names the side to choose
                assert trial.check is not None and trial.check.rule == "choose"
                side = "left" if trial.check.position == 0 else "right"
                assert f"choose the {side} clip" in trial.question
                sides[side] += 1
    assert decoys == {0: 10, 1: 10} and sides == {"left": 10, "right": 10}
    rank = parse_definition(
        config(
            attention_checks=[
                {
                    "kind": "contradiction",
                    "prompt": "pure joy",
                    "decoy_prompt": "deep grief",
                    "model": "diffusion",
                },
            ]
        )
    )
    check = next(t for t in participant_trials(rank, 0) if t.kind == "attention")
    assert sorted(c.model for c in check.clips) == ["diffusion", "keyframes", "retrieval"]
    assert check.clips[check.check.position] == ClipRef("diffusion", "deep grief", 0)


def test_prompt_mismatch_controls_pair_a_model_with_itself_on_a_wrong_prompt():
    definition = parse_definition(
        config(trial_type="pairwise", items_per_participant=3, prompt_mismatch_control={"per_participant": 2})
    )
    study_prompts = {p.text for p in definition.prompts}
    matched_positions = Counter()
    for p in range(12):
        controls = [t for t in participant_trials(definition, p) if t.kind == "control"]
        assert len(controls) == 2
        for trial in controls:
            right, wrong = trial.clips[trial.matched], trial.clips[1 - trial.matched]
            assert right.model == wrong.model and right.prompt == trial.prompt
            assert wrong.prompt != trial.prompt and wrong.prompt in study_prompts
            matched_positions[trial.matched] += 1
    assert matched_positions == {0: 12, 1: 12}
    assert definition.trials_per_participant == 5


def test_stimuli_cover_every_clip_shown_and_nothing_twice():
    checks = [*contradiction(model="diffusion")["attention_checks"], *instruction()["attention_checks"]]
    control = {"per_participant": 2}
    definition = parse_definition(
        config(
            trial_type="pairwise",
            items_per_participant=4,
            prompt_mismatch_control=control,
            attention_checks=checks,
        )
    )
    stimuli = definition.stimuli()
    assert len(stimuli) == len(set(stimuli))
    shown = {clip for p in range(30) for t in participant_trials(definition, p) for clip in t.clips}
    assert shown == set(stimuli)
