"""The example study config documents every field a config can have, and its commented-out
snippets are valid: uncommented, they parse into the study they describe."""

from __future__ import annotations

import re
from pathlib import Path

from studio.study.definition import DEFAULT_CONSENT, DEFAULT_INSTRUCTIONS
from studio.study.parsing import load_definition, parse_config_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "study_rank3.yaml"
# the keys a commented-out snippet sets (prose comments such as "# contradiction: ..." stay comments)
SNIPPET_KEYS = (
    "kind",
    "prompt",
    "side",
    "items_per_participant",
    "prompt_mismatch_control",
    "per_participant",
    "completion_code",
)


def documented(text: str, key: str) -> bool:
    """``key:`` starts a line, set or commented out."""
    return re.search(rf"^\s*(?:#\s*)?(?:- )?{re.escape(key)}:", text, re.MULTILINE) is not None


def test_every_field_is_in_the_example():
    text = EXAMPLE.read_text(encoding="utf-8")
    study = load_definition(EXAMPLE)
    canonical = study.canonical()
    for key, value in canonical.items():
        assert documented(text, key), key
        if isinstance(value, dict):
            for inner in value:
                assert documented(text, inner), f"{key}.{inner}"
    for key in ("prompt_mismatch_control", "per_participant", "kind", "decoy_prompt", "model", "side"):
        assert documented(text, key), key
    # the defaults the comments quote are the real ones
    flat = " ".join(line.strip().lstrip("#").strip() for line in text.splitlines() if line.strip())
    for default in (DEFAULT_CONSENT, DEFAULT_INSTRUCTIONS):
        assert default in " ".join(flat.split()), default[:40]
    # its own consent and instructions are what participants read, as one paragraph of Markdown
    assert study.consent.startswith("This study is run by") and "\n" not in study.consent
    assert "**1 = matches the sentence best**" in study.instructions


def test_the_commented_out_snippets_are_valid():
    lines = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\s*)# ( *(?:- )?([a-z_ -]+?)): (.*)$", line)
        if match and match.group(3).strip() in SNIPPET_KEYS:
            line = match.group(1) + match.group(2) + ": " + match.group(4)
        lines.append(line)
    study = parse_config_text("\n".join(lines), "uncommented example")
    assert study.items_per_participant == 3
    assert study.mismatch_control is not None and study.mismatch_control.per_participant == 1
    assert study.completion_code == "C1A2B3C4"
    kinds = [c.kind for c in study.attention_checks]
    assert kinds == ["contradiction", "instruction"] and study.attention_checks[1].side == "alternate"
    assert study.trials_per_participant == 3 + 2 + 1
