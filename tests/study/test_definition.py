"""Study definitions: canonical hashing, frozen dataclasses, trial JSON and exclusion rules."""

from __future__ import annotations

import dataclasses
import json

import pytest

from studio.study.assignment import participant_trials
from studio.study.definition import (
    ExclusionRules,
    Trial,
)
from studio.study.parsing import definition_from_canonical_json, parse_definition
from tests.study.conftest import make_definition

BASE = {
    "name": "EmoAva-style ranking",
    "trial_type": "rank",
    "seed": 11,
    "prompts": ["She laughs at a joke", "He is furious", "They look afraid", "A quiet sad moment"],
    "models": ["retrieval", "diffusion", "keyframes"],
    "raters_per_item": 5,
}


def config(**overrides: object) -> dict[str, object]:
    data = json.loads(json.dumps(BASE))
    data.update(overrides)
    return data


def test_canonical_form_ignores_spelling_and_keeps_meaning():
    explicit = config(
        question="Rank the clips by how well the facial expression matches the text (1 = best).",
        prompts=[{"id": f"p{i + 1:03d}", "text": t} for i, t in enumerate(BASE["prompts"])],
        models=[{"name": m} for m in BASE["models"]],
        stimulus={"seed": 0, "duration_s": 4, "fps": 24},
        exclusion={},
        items_per_participant=4,
    )
    spaced = config(
        prompts=["  She laughs at a joke", "He is  furious", "They look afraid\n", "A quiet sad moment"]
    )
    reordered = dict(reversed(list(config().items())))
    hashes = {parse_definition(c).sha256 for c in (config(), explicit, spaced, reordered)}
    assert len(hashes) == 1
    definition = parse_definition(config())
    assert definition_from_canonical_json(definition.canonical_json()) == definition
    assert json.loads(definition.canonical_json())["format"] == 1
    # Pinned: a change here changes every study's identity (create_study would make a new one).
    # Change it only together with FORMAT_VERSION.
    assert definition.sha256 == PINNED_HASH


PINNED_HASH = "bb63e775159c18082e4f343c0860f10f4f62a96e17e8db840c053ee753888a85"


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 12},
        {"raters_per_item": 6},
        {"trial_type": "pairwise"},
        {"question": "Which face fits the text?"},
        {"prompts": [*BASE["prompts"][:3], "A quiet sad moment!"]},
        {"models": ["retrieval", "keyframes", "diffusion"]},  # model order fixes the base order
        {"stimulus": {"fps": 30}},
        {"exclusion": {"median_dwell_below_s": 2}},
        {"completion_code": "ABC123"},
        {"prompt_mismatch_control": {"per_participant": 1}},
    ],
)
def test_every_meaningful_change_changes_the_hash(change):
    assert parse_definition(config(**change)).sha256 != parse_definition(config()).sha256


def test_definitions_are_frozen():
    definition = parse_definition(config())
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.seed = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.prompts[0].text = "changed"  # type: ignore[misc]


def test_trial_json_round_trip():
    for trial in participant_trials(make_definition(prompt_mismatch_control={"per_participant": 1}), 2):
        assert Trial.from_json(json.loads(json.dumps(trial.to_json()))) == trial


def test_exclusion_rules():
    rules = ExclusionRules(failed_attention_checks_at_least=2, median_dwell_below_s=3.0)
    assert rules.reasons(1, [4.0, 5.0, 2.0]) == ()
    assert rules.reasons(2, [4.0, 5.0]) == ("failed 2 attention checks (rule: >= 2)",)
    assert rules.reasons(0, [1.0, 2.0, 9.0]) == ("median dwell 2.00 s (rule: < 3 s)",)
    assert ExclusionRules().reasons(5, [0.1]) == ()
