"""Study configs: defaults, YAML and JSON files, located errors, model names."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.formats import FormatError
from studio.study.definition import (
    DefinitionError,
)
from studio.study.parsing import load_definition, parse_definition
from tests.study.test_definition import config


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
