"""Prompt -> keyframe descriptions: a KeyframeFace script when the prompt is one, else split free text.

``split_keyframes("A man smiles widely and then raises his eyebrows")`` gives the pieces
``("A man smiles widely", "raises his eyebrows")`` and the whole prompt as context (the regression
head sees both: a piece says what this keyframe does, the context what the clip is about).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.formats.keyframeface import SECTIONS, KeyframeScript, parse_user_message

MAX_KEYFRAMES = 5  # KeyframeFace scripts have 1-5 keyframes

# Connectives that start a new keyframe. "next", "finally", "later" only count after a clause
# break, so "a snake next to their foot" stays whole; "while" makes an overlapping action its
# own keyframe (the corpus annotates each action's apex separately too).
_SPLIT = re.compile(
    r"\s*;\s*"
    r"|[,.]?\s*\b(?:and\s+then|then|after\s+that|afterwards|followed\s+by|while)\b[,:]?\s*"
    r"|(?:[,.;]|\band)\s*\b(?:next|finally|later|at\s+the\s+end|in\s+the\s+end|eventually)\b[,:]?\s*",
    re.IGNORECASE,
)
# Connectives left at the start of a piece ("First ...", "; next, ...") say nothing about the face.
_LEAD = re.compile(
    r"^\s*(?:first(?:ly)?|at\s+first|to\s+begin(?:\s+with)?|next|then|finally|later|afterwards|after\s+that"
    r"|(?:and\s+)?(?:at|in)\s+the\s+end|eventually)\b[,:]?\s*",
    re.IGNORECASE,
)
_SECTION = re.compile(rf"\s*\b({'|'.join(re.escape(s) for s in SECTIONS)})\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class KeyframePlan:
    """Keyframe descriptions in order (1..5) and the context every keyframe is read with."""

    pieces: tuple[str, ...]
    context: str
    script: bool = False


def split_keyframes(prompt: str) -> KeyframePlan:
    """Parse a KeyframeFace user message (even flattened onto one line), else split free text."""
    text = " ".join(prompt.split())
    if re.search(re.escape(SECTIONS[0]), text, re.IGNORECASE):
        plan = _script(text)
        if plan is not None:
            return plan
    pieces = []
    for piece in _SPLIT.split(text):
        piece = _LEAD.sub("", piece).strip(" ,.;:-")
        if len(piece) >= 3 and re.search(r"\w", piece):
            pieces.append(piece)
    if not pieces:
        pieces = [text]
    return KeyframePlan(tuple(pieces[:MAX_KEYFRAMES]), text)


def _script(text: str) -> KeyframePlan | None:
    script = parse_script_prompt(text)
    if script is None:
        return None
    return KeyframePlan(script.keyframes[:MAX_KEYFRAMES], script.prompt, script=True)


def parse_script_prompt(prompt: str) -> KeyframeScript | None:
    """A KeyframeFace user message as a script, even flattened onto one line (prompts are
    whitespace-collapsed): split back into its lines, one numbered keyframe per line, then read by
    the format's own parser. ``None`` when the prompt is not such a message."""
    text = " ".join(prompt.split())
    if not re.search(re.escape(SECTIONS[0]), text, re.IGNORECASE):
        return None
    lines = _SECTION.sub(lambda m: f"\n{m.group(1)}: ", text).splitlines()
    for i, line in enumerate(lines):
        if line.lower().startswith(SECTIONS[0].lower()):
            lines[i] = re.sub(r"\s+(\d+[.)]|Keyframe_\d+:?)\s+", r"\n\1 ", line)
    try:
        return parse_user_message("\n".join(lines))
    except ValueError:
        return None
