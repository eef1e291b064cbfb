import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.models import MAX_PROMPT_CHARS, PromptError, clean_prompt


def test_whitespace_and_controls_are_cleaned_with_a_notice():
    cleaned = clean_prompt("  A person\x00 smiles\u202e\n\twidely  ")
    assert cleaned.text == "A person smiles widely"
    assert "removed 2 control" in cleaned.notices[0]


def test_long_prompts_are_cut_at_a_word_with_a_notice():
    cleaned = clean_prompt("smile " * 20_000)
    assert len(cleaned.text) <= MAX_PROMPT_CHARS and cleaned.text.endswith("smile")
    assert "cut to" in cleaned.notices[-1]


def test_emoji_and_right_to_left_text_are_kept():
    assert clean_prompt("😀 laughs").text == "😀 laughs"
    assert clean_prompt("שלום עולם").text == "שלום עולם"


@pytest.mark.parametrize("raw", ["", "   ", "\x00\x01", "\u200b\u200e"])
def test_empty_prompts_are_errors(raw):
    with pytest.raises(PromptError, match="empty"):
        clean_prompt(raw)


@given(st.text(max_size=3000))
def test_any_text_gives_bounded_clean_output_or_a_clear_error(raw):
    try:
        cleaned = clean_prompt(raw)
    except PromptError:
        return
    assert 0 < len(cleaned.text) <= MAX_PROMPT_CHARS
    assert cleaned.text == cleaned.text.strip() and "  " not in cleaned.text
