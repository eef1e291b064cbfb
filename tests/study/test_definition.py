"""Study definitions: validation, canonical hashing, and the per-participant assignment."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.formats import FormatError
from studio.study.definition import (
    CHOICES_2AFC5,
    CHOICES_PAIRWISE,
    AnswerError,
    CheckRule,
    ClipRef,
    DefinitionError,
    ExclusionRules,
    Trial,
    answer_outcome,
    check_passed,
    definition_from_canonical_json,
    load_definition,
    parse_definition,
    participant_trials,
    validate_answer,
)
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


# -- parsing and hashing ------------------------------------------------------------------------


def test_minimal_configs_fill_every_default():
    for trial_type in ("rank", "2afc5", "pairwise"):
        definition = parse_definition(config(trial_type=trial_type))
        assert definition.trial_type == trial_type
        assert definition.question and definition.consent and definition.instructions
        assert definition.attention_checks == () and definition.mismatch_control is None
        assert [p.id for p in definition.prompts] == ["p001", "p002", "p003", "p004"]
    rank = parse_definition(config())
    assert rank.clips_per_item == 3 and len(rank.items) == 4 and rank.items_per_participant == 4
    assert rank.participants_needed == 5  # everyone rates everything: 5 raters per item
    pairs = parse_definition(config(trial_type="pairwise", items_per_participant=5))
    assert pairs.clips_per_item == 2 and len(pairs.items) == 12  # 4 prompts x 3 pairs
    assert pairs.participants_needed == 12  # ceil(12 items x 5 raters / 5 per participant)


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


def test_load_yaml_and_json_files(tmp_path: Path):
    (tmp_path / "study.yaml").write_text(
        "name: from yaml\ntrial_type: 2afc5\nseed: 3\nprompts:\n  - smiling\n  - frowning\n"
        "models:\n  - retrieval\n  - {name: lab-x, results: ../outputs/lab-x}\n",
        encoding="utf-8",
    )
    definition = load_definition(tmp_path / "study.yaml", known_models={"retrieval"})
    assert definition.models[1].results == str((tmp_path.parent / "outputs" / "lab-x").resolve())
    (tmp_path / "study.json").write_text(definition.canonical_json(), encoding="utf-8")
    assert load_definition(tmp_path / "study.json") == definition
    (tmp_path / "bad.json").write_text('{"name": "x", "seed": NaN}', encoding="utf-8")
    with pytest.raises(DefinitionError, match="not valid JSON: NaN is not JSON"):
        load_definition(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text('{"name": "x",\n "seed" 3}', encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"bad.json \(line 2, column 9\): not valid JSON"):
        load_definition(tmp_path / "bad.json")
    (tmp_path / "bad.yaml").write_text("name: x\nprompts: [unclosed\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"bad.yaml \(line 3, column 1\): not valid YAML: expected ','"):
        load_definition(tmp_path / "bad.yaml")
    with pytest.raises(DefinitionError, match=r"\.yaml, \.yml or \.json"):
        load_definition(tmp_path / "study.toml")
    with pytest.raises(FormatError, match="cannot read"):  # DefinitionError is a FormatError
        load_definition(tmp_path / "missing.yaml")


def contradiction(**fields: str) -> dict[str, object]:
    check = {"kind": "contradiction", "prompt": "joy", "decoy_prompt": "grief", "model": "retrieval"}
    return {"attention_checks": [{**check, **fields}]}


def instruction(**fields: str) -> dict[str, object]:
    return {"attention_checks": [{"kind": "instruction", "prompt": "calm", **fields}]}


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"trial_type": "rnak"}, "trial_type", "did you mean 'rank'"),
        ({"raters": 5}, "raters", "did you mean 'raters_per_item'"),
        ({"prompts": []}, "prompts", "non-empty list"),
        ({"prompts": ["smile", "frown", "  SMILE "]}, "prompts[2]", "repeats prompts[0]"),
        ({"prompts": ["smile", "fro\u202ewn"]}, "prompts[1]", "control or invisible"),
        ({"prompts": ["smile", "x" * 1001]}, "prompts[1]", "limit 1000"),
        ({"prompts": ["smile", {"id": "bad id", "text": "frown"}]}, "prompts[1].id", "letters, digits"),
        ({"models": ["retrieval"]}, "models", "at least two"),
        ({"models": [f"m{i}" for i in range(9)]}, "models", "at most 8"),
        ({"models": ["retrieval", "Retrieval"]}, "models[1]", "lowercase"),
        ({"models": ["retrieval", "retrieval"]}, "models[1]", "already models[0]"),
        ({"models": ["retrieval", {"results": "relative/folder"}]}, "models[1].results", "absolute"),
        ({"seed": True}, "seed", "integer"),
        ({"seed": -1}, "seed", "[0, 4294967295]"),
        ({"raters_per_item": 0}, "raters_per_item", "[1, 10000]"),
        ({"items_per_participant": 5}, "items_per_participant", "[1, 4]"),
        ({"stimulus": {"duration_s": float("inf")}}, "stimulus.duration_s", "number"),
        ({"stimulus": {"fsp": 24}}, "stimulus.fsp", "did you mean 'fps'"),
        (contradiction(decoy_prompt="JOY"), "attention_checks[0].decoy_prompt", "must differ"),
        (contradiction(model="nope"), "attention_checks[0].model", "study's models"),
        (contradiction(prompt="He is furious"), "attention_checks[0].prompt", "not be one of the study"),
        (instruction(text="Pick the left one"), "attention_checks[0].text", "{side}"),
        (instruction(text="Pick {side} or {other}"), "attention_checks[0].text", "only use the placeholder"),
        (instruction(side="up"), "attention_checks[0].side", "left, right or alternate"),
        ({"attention_checks": [{"kind": "quiz"}]}, "attention_checks[0].kind", "contradiction or instr"),
        (
            {"exclusion": {"failed_attention_checks_at_least": 1}},
            "exclusion.failed_attention_checks_at_least",
            "only 0 attention checks",
        ),
        ({"prompts": ["only one"], "prompt_mismatch_control": {}}, "prompt_mismatch_control", "two prompts"),
        ({"completion_code": "has space"}, "completion_code", "Prolific"),
        ({"format": 2}, "format", "format 1"),
    ],
)
def test_bad_configs_give_located_errors(change, where, message):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(config(**change), source="study.yaml")
    found = dict(caught.value.problems)
    assert where in found, found
    assert message in found[where]
    assert str(caught.value).startswith("study.yaml")


def test_all_problems_are_reported_together_and_missing_keys_named():
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"trial_type": "pairwise", "prompts": "smile", "models": ["a"]}, source="s.yaml")
    wheres = [w for w, _ in caught.value.problems]
    assert wheres == ["name", "prompts", "models", "seed"]
    assert "4 problems" in str(caught.value) and "seed: is required" in str(caught.value)
    with pytest.raises(DefinitionError, match="mapping at the top level"):
        parse_definition(["not", "a", "mapping"])


def test_named_models_are_checked_against_the_models_config():
    with pytest.raises(DefinitionError) as caught:
        parse_definition(config(), known_models={"retrieval", "diffusion", "keyframe"})
    assert dict(caught.value.problems)["models[2]"].endswith("did you mean 'keyframe'?")
    folder = config(models=["retrieval", {"name": "diffusion", "results": "/data/d"}, "keyframes"])
    assert parse_definition(folder, known_models={"retrieval", "keyframes"}).models[1].results == "/data/d"


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


def test_trial_json_round_trip():
    for trial in participant_trials(make_definition(prompt_mismatch_control={"per_participant": 1}), 2):
        assert Trial.from_json(json.loads(json.dumps(trial.to_json()))) == trial


# -- answers ------------------------------------------------------------------------------------


def test_validate_answer_by_trial_type():
    assert validate_answer("rank", 3, {"ranking": [2, 3, 1]}) == {"ranking": [2, 3, 1]}
    for choice in CHOICES_2AFC5:
        assert validate_answer("2afc5", 2, {"choice": choice}) == {"choice": choice}
    for choice in CHOICES_PAIRWISE:
        assert validate_answer("pairwise", 2, {"choice": choice}) == {"choice": choice}
    bad = [
        ("rank", 3, {"ranking": [1, 1, 2]}, "exactly once"),
        ("rank", 3, {"ranking": [1, 2]}, "3 ranks"),
        ("rank", 3, {"ranking": [1, 2, True]}, "integers"),
        ("rank", 3, {"ranking": [1, 2, 3], "note": "x"}, "exactly the key"),
        ("2afc5", 2, {"choice": "tie"}, "strong_a"),
        ("pairwise", 2, {"choice": "equal"}, "both_bad"),
        ("pairwise", 3, {"choice": "a"}, "two clips"),
        ("pairwise", 2, ["a"], "JSON object"),
        ("arena", 2, {"choice": "a"}, "unknown trial type"),
    ]
    for trial_type, n, payload, message in bad:
        with pytest.raises(AnswerError, match=message):
            validate_answer(trial_type, n, payload)


def _trial(check: CheckRule | None, n: int = 2) -> Trial:
    clips = tuple(ClipRef(f"m{i}", "p", 0) for i in range(n))
    return Trial(0, "attention" if check else "item", "x", "p", "q", clips, check)


def test_attention_check_scoring():
    reject_left, choose_right = _trial(CheckRule("reject", 0)), _trial(CheckRule("choose", 1))
    assert check_passed("pairwise", reject_left, {"choice": "b"})
    for choice in ("a", "tie", "both_bad"):
        assert not check_passed("pairwise", reject_left, {"choice": choice})
    assert check_passed("2afc5", reject_left, {"choice": "weak_b"})
    assert not check_passed("2afc5", reject_left, {"choice": "equal"})
    assert check_passed("pairwise", choose_right, {"choice": "b"})
    assert check_passed("2afc5", choose_right, {"choice": "strong_b"})
    assert not check_passed("2afc5", choose_right, {"choice": "weak_b"})  # the text asked for "much better"
    rank_decoy = _trial(CheckRule("reject", 1), n=3)
    assert check_passed("rank", rank_decoy, {"ranking": [1, 3, 2]})
    assert not check_passed("rank", rank_decoy, {"ranking": [3, 2, 1]})
    assert check_passed("rank", _trial(CheckRule("choose", 2), n=3), {"ranking": [2, 3, 1]})
    with pytest.raises(ValueError, match="not an attention check"):
        check_passed("pairwise", _trial(None), {"choice": "a"})


def test_answer_outcome_names_models():
    trial = _trial(None)
    assert answer_outcome("pairwise", trial, {"choice": "b"})["preferred_model"] == "m1"
    assert answer_outcome("pairwise", trial, {"choice": "both_bad"}) == {
        "preferred_model": None,
        "strength": 0,
        "ranks": None,
    }
    assert answer_outcome("2afc5", trial, {"choice": "strong_a"})["strength"] == 2
    assert answer_outcome("2afc5", trial, {"choice": "weak_b"}) == {
        "preferred_model": "m1",
        "strength": 1,
        "ranks": None,
    }
    assert answer_outcome("rank", _trial(None, 3), {"ranking": [3, 1, 2]})["ranks"] == {
        "m0": 3,
        "m1": 1,
        "m2": 2,
    }


def test_exclusion_rules():
    rules = ExclusionRules(failed_attention_checks_at_least=2, median_dwell_below_s=3.0)
    assert rules.reasons(1, [4.0, 5.0, 2.0]) == ()
    assert rules.reasons(2, [4.0, 5.0]) == ("failed 2 attention checks (rule: >= 2)",)
    assert rules.reasons(0, [1.0, 2.0, 9.0]) == ("median dwell 2.00 s (rule: < 3 s)",)
    assert ExclusionRules().reasons(5, [0.1]) == ()
