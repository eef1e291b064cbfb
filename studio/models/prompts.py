"""Prompt hygiene: whatever a user or a file types, a model gets clean, bounded text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from studio.errors import StudioError

MAX_PROMPT_CHARS = 1000  # longer than any prompt in Express4D or KeyframeFace scripts
# Unicode categories that carry no text: controls, format marks (incl. bidi overrides), unassigned,
# private use, surrogates. Tabs and newlines are whitespace, not controls, to a prompt.
NON_TEXT_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs"})
WHITESPACE_CONTROLS = "\t\n\r"


def is_non_text(ch: str) -> bool:
    """True for a character a prompt never keeps (a control or invisible formatting character)."""
    return ch not in WHITESPACE_CONTROLS and unicodedata.category(ch) in NON_TEXT_CATEGORIES


class PromptError(StudioError, ValueError):
    """A prompt with nothing a model could use."""


@dataclass(frozen=True)
class CleanPrompt:
    text: str
    notices: tuple[str, ...] = ()


def clean_prompt(raw: str, max_chars: int = MAX_PROMPT_CHARS) -> CleanPrompt:
    """NFC-normalise, drop control and bidi-override characters, collapse whitespace, and cut to
    ``max_chars`` at a word boundary. Emoji and right-to-left scripts are kept as text.
    Raises :class:`PromptError` when nothing is left."""
    if not isinstance(raw, str):
        raise PromptError("the prompt must be text")
    notices = []
    # slice before normalising so a 100,000-character paste costs no more than a long prompt
    if len(raw) > 20 * max_chars:
        raw = raw[: 20 * max_chars]
    text = unicodedata.normalize("NFC", raw)
    kept = "".join(" " if ch in WHITESPACE_CONTROLS else ch for ch in text if not is_non_text(ch))
    if len(kept) != len(text):
        notices.append(f"removed {len(text) - len(kept)} control or formatting characters")
    text = re.sub(r"\s+", " ", kept).strip()
    if not text:
        raise PromptError("the prompt is empty")
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut[: cut.rfind(" ")] if " " in cut[max_chars // 2 :] else cut
        notices.append(f"the prompt was cut to {len(text)} characters (limit {max_chars})")
    return CleanPrompt(text, tuple(notices))
