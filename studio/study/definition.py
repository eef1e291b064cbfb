"""Study definitions: a YAML/JSON config validated into frozen dataclasses, canonicalised, hashed.

A study is frozen when it is created: :func:`parse_definition` turns a config mapping into a
:class:`StudyDefinition` (every default filled in, text normalised), ``definition.canonical_json()``
is the one byte-exact form (sorted keys, no whitespace, UTF-8) and ``definition.sha256`` its hash.
Parsing the canonical JSON again gives an equal definition with the same hash, which is how
storage reloads a study.

:func:`participant_trials` is the pure assignment: (definition, participant index) -> that
participant's trials, deterministic in the study seed. Items are dealt round-robin from one seeded
permutation, so the first ``definition.participants_needed`` participants give every item at least
``raters_per_item`` ratings and no participant sees an item twice; clip positions rotate like the
rows of a cyclic Latin square across the successive raters of an item, so every clip sits in every
position equally often (within one) across participants. Randomness comes from SHA-256 counter
streams, not :mod:`random`, so the same seed gives the same assignment on every Python version.

Answers are JSON objects, by trial type (clip positions count from the left, 0-based):
``rank``: ``{"ranking": [r_0, ..., r_{K-1}]}``, the rank (1 = best) given to the clip at each
position, a permutation of 1..K; ``2afc5``: ``{"choice": one of CHOICES_2AFC5}`` (A = left clip);
``pairwise``: ``{"choice": one of CHOICES_PAIRWISE}``. :func:`validate_answer` checks them.

This module touches no files except :func:`load_definition`, which reads the one config file.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import os
import re
import statistics
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from studio.errors import StudioError
from studio.formats.errors import FormatError

__all__ = [
    "CHOICES_2AFC5",
    "CHOICES_PAIRWISE",
    "CHOICE_LABELS",
    "FORMAT_VERSION",
    "TRIAL_TYPES",
    "AnswerError",
    "AttentionCheck",
    "CheckRule",
    "ClipRef",
    "DefinitionError",
    "ExclusionRules",
    "Item",
    "MismatchControl",
    "ModelRef",
    "Prompt",
    "StimulusSettings",
    "StudyDefinition",
    "Trial",
    "TrialType",
    "answer_outcome",
    "check_passed",
    "definition_from_canonical_json",
    "load_definition",
    "parse_definition",
    "participant_trials",
    "validate_answer",
]

FORMAT_VERSION = 1  # bump when the canonical form changes; stored studies keep their own JSON
TrialType = Literal["rank", "2afc5", "pairwise"]
TRIAL_TYPES: tuple[str, ...] = ("rank", "2afc5", "pairwise")
CHOICES_2AFC5: tuple[str, ...] = ("strong_a", "weak_a", "equal", "weak_b", "strong_b")
CHOICES_PAIRWISE: tuple[str, ...] = ("a", "b", "tie", "both_bad")
# What the participant page shows for each choice; part of the method, so it lives here.
CHOICE_LABELS: Mapping[str, str] = {
    "strong_a": "Left is much better",
    "weak_a": "Left is slightly better",
    "equal": "About the same",
    "weak_b": "Right is slightly better",
    "strong_b": "Right is much better",
    "a": "Left",
    "b": "Right",
    "tie": "Tie (both good)",
    "both_bad": "Both bad",
}

DEFAULT_QUESTIONS: Mapping[str, str] = {
    "rank": "Rank the clips by how well the facial expression matches the text (1 = best).",
    "2afc5": "Which clip's facial expression matches the text better?",
    "pairwise": "Which clip's facial expression matches the text better?",
}
DEFAULT_CONSENT = (
    "You will watch short animated faces and answer questions about them. Your answers are stored "
    "under a pseudonymous code, never under your Prolific ID. You may stop at any time."
)
DEFAULT_INSTRUCTIONS = (
    "Each screen shows a text and animated faces. Play every clip to the end; the answer buttons "
    "unlock after that. Some screens check attention."
)
INSTRUCTION_TEXTS: Mapping[str, str] = {
    "rank": "Attention check: please rank the {side}most clip first, whatever it shows.",
    "2afc5": "Attention check: please say the {side} clip is much better, whatever it shows.",
    "pairwise": "Attention check: please choose the {side} clip, whatever it shows.",
}

# Limits keep a study something a participant can finish and a server can assign quickly.
MAX_PROMPTS = 1000
MAX_PROMPT_CHARS = 1000
MAX_RANK_MODELS = 8  # more clips than this do not fit one screen
MAX_PAIR_MODELS = 12  # 66 pairs per prompt
MAX_TRIALS_PER_PARTICIPANT = 500
MAX_ATTENTION_CHECKS = 20
MAX_TEXT_CHARS = 5000
MAX_SEED = 2**32 - 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")  # the models config's rule for model names
_PROMPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DROP = {"Cc", "Cf", "Cn", "Co", "Cs"}  # control, format (bidi overrides), unassigned, private, surrogate


class DefinitionError(FormatError):
    """A study config is invalid. ``problems`` lists every ``(where, problem)`` found.

    ``where`` is a path into the config (``"prompts[2]"``, ``"attention_checks[0].model"``);
    the message names the source and every problem, so a researcher can fix them in one pass.
    """

    def __init__(self, source: str | Path, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        where, problem = self.problems[0]
        super().__init__(source, problem, where or None)
        if len(self.problems) > 1:
            lines = "\n".join(f"  {w or '(top level)'}: {p}" for w, p in self.problems)
            self.args = (f"{self.path}: {len(self.problems)} problems\n{lines}",)


class AnswerError(StudioError, ValueError):
    """An answer payload does not fit its trial. ``str(error)`` says what is wrong."""


@dataclass(frozen=True)
class Prompt:
    """One study prompt: a stable short ``id`` (used in item ids and exports) and its ``text``."""

    id: str
    text: str


@dataclass(frozen=True)
class ModelRef:
    """A model in the study: ``name`` from the models config, or a results folder.

    ``results`` is an absolute, normalised path of a results folder (precomputed outputs), or None
    when ``name`` refers to an entry of the models config. Names are never shown to participants.
    """

    name: str
    results: str | None = None


@dataclass(frozen=True)
class StimulusSettings:
    """How every clip is made: generation ``seed``, ``duration_s`` (seconds) and ``fps`` of the video."""

    seed: int = 0
    duration_s: float = 4.0
    fps: int = 24  # EmoAva showed 24 fps videos

    @property
    def clip_duration_s(self) -> float:
        """How long each rendered clip plays: a whole number of frames (what the renderer writes)."""
        return max(1, round(self.duration_s * self.fps)) / self.fps


@dataclass(frozen=True)
class AttentionCheck:
    """An attention check every participant sees once.

    ``kind="contradiction"``: ``model``'s clip for ``decoy_prompt`` (which plainly contradicts
    ``prompt``) is shown with the text ``prompt``; passing means rejecting it (pairwise: choose the
    other clip; 2afc5: prefer the other clip; rank: rank the decoy last).
    ``kind="instruction"``: the screen tells the participant which clip to choose (``text``, with
    ``{side}`` replaced); ``side`` is ``left``, ``right`` or ``alternate`` (by participant and
    check index, so always-left clicking fails half of them).
    """

    kind: Literal["contradiction", "instruction"]
    prompt: str
    model: str | None = None
    decoy_prompt: str | None = None
    side: Literal["left", "right", "alternate"] | None = None
    text: str | None = None


@dataclass(frozen=True)
class ExclusionRules:
    """Exclusion rules fixed before data collection. ``None`` disables a rule.

    A participant is excluded when they failed at least ``failed_attention_checks_at_least``
    checks, or when the median of their per-trial dwell times is below ``median_dwell_below_s``.
    """

    failed_attention_checks_at_least: int | None = None
    median_dwell_below_s: float | None = None

    def reasons(self, failed_checks: int, dwell_s: Sequence[float]) -> tuple[str, ...]:
        """Why a participant is excluded (empty: kept). ``dwell_s`` are seconds per answered trial."""
        out = []
        limit = self.failed_attention_checks_at_least
        if limit is not None and failed_checks >= limit:
            out.append(f"failed {failed_checks} attention checks (rule: >= {limit})")
        if self.median_dwell_below_s is not None and dwell_s:
            median = statistics.median(dwell_s)
            if median < self.median_dwell_below_s:
                out.append(f"median dwell {median:.2f} s (rule: < {self.median_dwell_below_s:g} s)")
        return tuple(out)


@dataclass(frozen=True)
class MismatchControl:
    """Prompt-mismatch control: ``per_participant`` extra two-clip trials showing the same model's
    clip for the shown prompt and for a different study prompt. Preferring the matched clip means
    the model follows the text, not merely that it looks natural."""

    per_participant: int


@dataclass(frozen=True)
class ClipRef:
    """One stimulus: ``model``'s output for ``prompt`` (the generating text) with ``seed``.

    The stimuli stage renders each distinct ClipRef once and serves it under a content-hash name.
    """

    model: str
    prompt: str
    seed: int


@dataclass(frozen=True)
class Item:
    """A unit that collects ``raters_per_item`` ratings: a prompt and the models compared on it
    (all models for ``rank``, a pair in definition order for ``2afc5``/``pairwise``)."""

    id: str
    prompt: Prompt
    models: tuple[str, ...]


@dataclass(frozen=True)
class CheckRule:
    """How an attention check is scored. ``rule="choose"``: the clip at ``position`` must be chosen
    (ranked first / preferred); ``rule="reject"``: the clip at ``position`` (the decoy) must lose
    (ranked last / the other clip preferred)."""

    rule: Literal["choose", "reject"]
    position: int


@dataclass(frozen=True)
class Trial:
    """One screen of a participant's sequence.

    ``position``: 0-based place in the sequence; ``kind``: ``item`` (counts toward the study),
    ``attention`` or ``control``; ``item_id``: the item, ``check:<i>`` or ``control:<model>:<prompt
    id>``; ``prompt``: the text shown; ``clips``: left to right; ``check``: the scoring rule of an
    attention check; ``matched``: for a control, the position of the clip made from the shown text.
    """

    position: int
    kind: Literal["item", "attention", "control"]
    item_id: str
    prompt: str
    question: str
    clips: tuple[ClipRef, ...]
    check: CheckRule | None = None
    matched: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_json` inverts it exactly."""
        return {
            "position": self.position,
            "kind": self.kind,
            "item_id": self.item_id,
            "prompt": self.prompt,
            "question": self.question,
            "clips": [{"model": c.model, "prompt": c.prompt, "seed": c.seed} for c in self.clips],
            "check": None
            if self.check is None
            else {"rule": self.check.rule, "position": self.check.position},
            "matched": self.matched,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trial:
        check = data.get("check")
        return cls(
            position=int(data["position"]),
            kind=data["kind"],
            item_id=str(data["item_id"]),
            prompt=str(data["prompt"]),
            question=str(data["question"]),
            clips=tuple(ClipRef(str(c["model"]), str(c["prompt"]), int(c["seed"])) for c in data["clips"]),
            check=None if check is None else CheckRule(check["rule"], int(check["position"])),
            matched=data.get("matched"),
        )


@dataclass(frozen=True)
class StudyDefinition:
    """A validated, frozen study. Build it with :func:`parse_definition` or :func:`load_definition`.

    ``items_per_participant`` counts ``item`` trials only; each participant additionally sees
    every attention check and ``mismatch_control.per_participant`` control trials.
    """

    name: str
    trial_type: TrialType
    question: str
    prompts: tuple[Prompt, ...]
    models: tuple[ModelRef, ...]
    raters_per_item: int
    items_per_participant: int
    seed: int
    description: str = ""
    consent: str = DEFAULT_CONSENT
    instructions: str = DEFAULT_INSTRUCTIONS
    stimulus: StimulusSettings = StimulusSettings()
    attention_checks: tuple[AttentionCheck, ...] = ()
    exclusion: ExclusionRules = ExclusionRules()
    mismatch_control: MismatchControl | None = None
    completion_code: str | None = None

    # -- canonical form ------------------------------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """Every field, defaults included, as plain JSON values (the input of the hash)."""
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "trial_type": self.trial_type,
            "question": self.question,
            "consent": self.consent,
            "instructions": self.instructions,
            "prompts": [{"id": p.id, "text": p.text} for p in self.prompts],
            "models": [{"name": m.name, "results": m.results} for m in self.models],
            "raters_per_item": self.raters_per_item,
            "items_per_participant": self.items_per_participant,
            "seed": self.seed,
            "stimulus": {
                "seed": self.stimulus.seed,
                "duration_s": float(self.stimulus.duration_s),
                "fps": self.stimulus.fps,
            },
            "attention_checks": [_check_canonical(c) for c in self.attention_checks],
            "exclusion": {
                "failed_attention_checks_at_least": self.exclusion.failed_attention_checks_at_least,
                "median_dwell_below_s": None
                if self.exclusion.median_dwell_below_s is None
                else float(self.exclusion.median_dwell_below_s),
            },
            "prompt_mismatch_control": None
            if self.mismatch_control is None
            else {"per_participant": self.mismatch_control.per_participant},
            "completion_code": self.completion_code,
        }

    def canonical_json(self) -> str:
        """Sorted keys, no whitespace, non-ASCII kept as UTF-8: one string per definition."""
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @functools.cached_property
    def sha256(self) -> str:
        """SHA-256 (64 hex digits) of the UTF-8 canonical JSON: the study's identity."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    # -- design --------------------------------------------------------------------------------
    @property
    def clips_per_item(self) -> int:
        """K: clips on an item screen (all models for rank, 2 otherwise)."""
        return len(self.models) if self.trial_type == "rank" else 2

    @functools.cached_property
    def items(self) -> tuple[Item, ...]:
        """Every item, prompt-major, pairs in definition order."""
        names = [m.name for m in self.models]
        if self.trial_type == "rank":
            return tuple(Item(p.id, p, tuple(names)) for p in self.prompts)
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
        return tuple(Item(f"{p.id}:{a}~{b}", p, (a, b)) for p in self.prompts for a, b in pairs)

    @property
    def participants_needed(self) -> int:
        """Participants who, completing their trials, give every item >= ``raters_per_item`` ratings."""
        return math.ceil(len(self.items) * self.raters_per_item / self.items_per_participant)

    @property
    def trials_per_participant(self) -> int:
        """Screens per participant: items, attention checks and controls."""
        controls = 0 if self.mismatch_control is None else self.mismatch_control.per_participant
        return self.items_per_participant + len(self.attention_checks) + controls

    def stimuli(self) -> tuple[ClipRef, ...]:
        """Every distinct clip any participant can be shown, in a stable order (render these)."""
        seed = self.stimulus.seed
        refs = [ClipRef(m.name, p.text, seed) for p in self.prompts for m in self.models]
        for check in self.attention_checks:
            if check.kind == "contradiction":
                shown = [str(check.model)] if self.clips_per_item == 2 else [m.name for m in self.models]
                refs += [
                    ClipRef(m, check.prompt, seed)
                    for m in shown
                    if m != check.model or self.clips_per_item == 2
                ]
                refs.append(ClipRef(str(check.model), str(check.decoy_prompt), seed))
            else:
                refs += [ClipRef(m.name, check.prompt, seed) for m in self.models[: self.clips_per_item]]
        return tuple(dict.fromkeys(refs))

    @functools.cached_property
    def _item_order(self) -> tuple[int, ...]:
        return tuple(_Stream(self.seed, "items").permutation(len(self.items)))

    @functools.cached_property
    def _model_rank(self) -> dict[str, int]:
        # one seeded base order of the models; positions rotate from it (see participant_trials)
        order = _Stream(self.seed, "base-order").permutation(len(self.models))
        return {self.models[i].name: rank for rank, i in enumerate(order)}


def _check_canonical(check: AttentionCheck) -> dict[str, Any]:
    if check.kind == "contradiction":
        return {
            "kind": check.kind,
            "prompt": check.prompt,
            "model": check.model,
            "decoy_prompt": check.decoy_prompt,
        }
    return {"kind": check.kind, "prompt": check.prompt, "side": check.side, "text": check.text}


# ----------------------------------------------------------------------------------------------
# parsing and validation
# ----------------------------------------------------------------------------------------------

_TOP_KEYS = (
    "format",
    "name",
    "description",
    "trial_type",
    "question",
    "consent",
    "instructions",
    "prompts",
    "models",
    "raters_per_item",
    "items_per_participant",
    "seed",
    "stimulus",
    "attention_checks",
    "exclusion",
    "prompt_mismatch_control",
    "completion_code",
)


class _Problems:
    """Collects located problems so one error reports all of them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, problem: str) -> None:
        self.items.append((where, problem))

    def keys(self, data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                hint = _suggest(str(key), allowed)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(allowed)}"
                self.add(_join(where, str(key)), f"unknown key{suggestion}")


def _suggest(word: str, options: Sequence[str]) -> list[str]:
    """The likely intended option: a close spelling, else one that starts with the word."""
    close = difflib.get_close_matches(word, options, n=1)
    return close or [o for o in options if len(word) >= 3 and o.startswith(word.lower())][:1]


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _text(
    value: Any, where: str, problems: _Problems, *, max_chars: int = MAX_TEXT_CHARS, allow_empty: bool = False
) -> str | None:
    """NFC, whitespace collapsed; control/bidi characters and overlong text are errors, not cut."""
    if not isinstance(value, str):
        problems.add(where, f"must be text, got {type(value).__name__}")
        return None
    text = unicodedata.normalize("NFC", value)
    if any(ch not in "\t\n\r" and unicodedata.category(ch) in _DROP for ch in text):
        problems.add(where, "contains control or invisible formatting characters")
        return None
    text = " ".join(text.split())
    if not text and not allow_empty:
        problems.add(where, "must not be empty")
        return None
    if len(text) > max_chars:
        problems.add(where, f"is {len(text)} characters long (limit {max_chars})")
        return None
    return text


def _int(value: Any, where: str, problems: _Problems, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, f"must be an integer, got {value!r}")
        return None
    if not low <= value <= high:
        problems.add(where, f"must be in [{low}, {high}], got {value}")
        return None
    return value


def _float(value: Any, where: str, problems: _Problems, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.add(where, f"must be a number, got {value!r}")
        return None
    if not low <= value <= high:
        problems.add(where, f"must be in [{low:g}, {high:g}], got {value!r}")
        return None
    return float(value)


def _mapping(value: Any, where: str, problems: _Problems) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        problems.add(where, f"must be a mapping, got {type(value).__name__}")
        return None
    return value


def _prompt_key(text: str) -> str:
    return text.casefold()


def parse_definition(
    data: Any,
    *,
    source: str | Path = "<study config>",
    base_dir: str | Path | None = None,
    known_models: Collection[str] | None = None,
) -> StudyDefinition:
    """Validate a config mapping into a :class:`StudyDefinition`; raises :class:`DefinitionError`.

    ``base_dir`` resolves relative ``results`` folders (None: they must be absolute);
    ``known_models`` is the models config's names (None: named models are not checked).
    """
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise DefinitionError(
            source, [("", f"must hold a mapping at the top level, got {type(data).__name__}")]
        )
    problems.keys(data, _TOP_KEYS, "")
    fmt = data.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        problems.add("format", f"this studio reads format {FORMAT_VERSION}, got {fmt!r}")

    name = _text(data.get("name"), "name", problems, max_chars=200) if "name" in data else None
    if "name" not in data:
        problems.add("name", "is required")
    description = _text(data.get("description", ""), "description", problems, allow_empty=True)
    trial_type = data.get("trial_type")
    if trial_type not in TRIAL_TYPES:
        hint = _suggest(str(trial_type), TRIAL_TYPES)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.add("trial_type", f"must be one of {', '.join(TRIAL_TYPES)}, got {trial_type!r}{extra}")
        trial_type = None
    question = None
    if "question" in data or trial_type is not None:
        question = _text(data.get("question", DEFAULT_QUESTIONS.get(str(trial_type))), "question", problems)
    consent = _text(data.get("consent", DEFAULT_CONSENT), "consent", problems)
    instructions = _text(data.get("instructions", DEFAULT_INSTRUCTIONS), "instructions", problems)

    prompts = _parse_prompts(data.get("prompts"), problems)
    models = _parse_models(data.get("models"), trial_type, problems, base_dir, known_models)
    prompt_texts = {_prompt_key(p.text) for p in prompts}
    model_names = [m.name for m in models]

    n_items = None
    if prompts and models and trial_type is not None:
        n_items = len(prompts) * (1 if trial_type == "rank" else len(models) * (len(models) - 1) // 2)
    raters = _int(data.get("raters_per_item", 1), "raters_per_item", problems, 1, 10_000)
    per = data.get("items_per_participant")
    if per is None:
        per = n_items  # everyone rates every item (EmoAva's design)
        if per is not None and per > MAX_TRIALS_PER_PARTICIPANT:
            problems.add(
                "items_per_participant", f"is required: the study has {per} items, too many for one person"
            )
    else:
        high = min(n_items, MAX_TRIALS_PER_PARTICIPANT) if n_items else MAX_TRIALS_PER_PARTICIPANT
        per = _int(per, "items_per_participant", problems, 1, high)
    seed = _int(data.get("seed"), "seed", problems, 0, MAX_SEED) if "seed" in data else None
    if "seed" not in data:
        problems.add("seed", "is required (it fixes the assignment of trials to participants)")

    stimulus = _parse_stimulus(data.get("stimulus", {}), problems)
    checks = _parse_checks(data.get("attention_checks", []), trial_type, model_names, prompt_texts, problems)
    exclusion = _parse_exclusion(data.get("exclusion", {}), len(checks), problems)
    control = _parse_control(data.get("prompt_mismatch_control"), len(prompts), len(models), problems)
    code = data.get("completion_code")
    if code is not None and not (isinstance(code, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code)):
        problems.add(
            "completion_code", "must be 1-64 letters, digits, '-' or '_' (the code Prolific gave you)"
        )
    if per is not None and checks is not None and control is not None:
        total = per + len(checks) + control.per_participant
        if total > MAX_TRIALS_PER_PARTICIPANT:
            problems.add("", f"{total} trials per participant (limit {MAX_TRIALS_PER_PARTICIPANT})")

    if problems.items:
        raise DefinitionError(source, problems.items)
    return StudyDefinition(
        name=name,
        trial_type=trial_type,
        question=question,
        prompts=tuple(prompts),
        models=tuple(models),
        raters_per_item=raters,
        items_per_participant=per,
        seed=seed,
        description=description or "",
        consent=consent,
        instructions=instructions,
        stimulus=stimulus,
        attention_checks=tuple(checks),
        exclusion=exclusion,
        mismatch_control=None if control is None or control.per_participant == 0 else control,
        completion_code=code,
    )


def _parse_prompts(raw: Any, problems: _Problems) -> list[Prompt]:
    if not isinstance(raw, list) or not raw:
        problems.add("prompts", "must be a non-empty list of texts or {id, text} mappings")
        return []
    if len(raw) > MAX_PROMPTS:
        problems.add("prompts", f"has {len(raw)} entries (limit {MAX_PROMPTS})")
        return []
    prompts: list[Prompt] = []
    seen_text: dict[str, int] = {}
    seen_id: dict[str, int] = {}
    for index, entry in enumerate(raw):
        where = _join("prompts", index)
        if isinstance(entry, Mapping):
            problems.keys(entry, ("id", "text"), where)
            pid, text = entry.get("id"), entry.get("text")
            if not (isinstance(pid, str) and _PROMPT_ID.match(pid)):
                problems.add(_join(where, "id"), "must be 1-64 letters, digits, '_', '.' or '-'")
                pid = None
        else:
            pid, text = f"p{index + 1:03d}", entry
        text_where = _join(where, "text") if isinstance(entry, Mapping) else where
        text = _text(text, text_where, problems, max_chars=MAX_PROMPT_CHARS)
        if text is None or pid is None:
            continue
        key = _prompt_key(text)
        if key in seen_text:
            problems.add(
                where, f"repeats prompts[{seen_text[key]}] (prompts match ignoring case and spacing)"
            )
            continue
        if pid in seen_id:
            problems.add(where, f"id {pid!r} is already used by prompts[{seen_id[pid]}]")
            continue
        seen_text[key], seen_id[pid] = index, index
        prompts.append(Prompt(pid, text))
    return prompts


def _parse_models(
    raw: Any,
    trial_type: str | None,
    problems: _Problems,
    base_dir: str | Path | None,
    known: Collection[str] | None,
) -> list[ModelRef]:
    limit = MAX_RANK_MODELS if trial_type == "rank" else MAX_PAIR_MODELS
    if not isinstance(raw, list) or len(raw) < 2:
        problems.add(
            "models", "must list at least two models (names from the models config or results folders)"
        )
        return []
    if len(raw) > limit:
        problems.add("models", f"has {len(raw)} entries; a {trial_type} study takes at most {limit}")
        return []
    models: list[ModelRef] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        where = _join("models", index)
        results = None
        if isinstance(entry, str):
            name = entry
        elif isinstance(entry, Mapping):
            problems.keys(entry, ("name", "results"), where)
            results_raw = entry.get("results")
            name = entry.get("name")
            if results_raw is not None:
                if not isinstance(results_raw, str) or not results_raw.strip():
                    problems.add(_join(where, "results"), "must be a folder path")
                    continue
                if not os.path.isabs(results_raw) and base_dir is None:
                    problems.add(
                        _join(where, "results"),
                        "must be an absolute path here (no config folder to resolve it)",
                    )
                    continue
                # normpath, not resolve(): validation stays pure (no filesystem access)
                results = os.path.normpath(os.path.join(str(base_dir or ""), results_raw))
                if name is None:
                    name = os.path.basename(results).lower()
        else:
            problems.add(where, "must be a model name or a {name, results} mapping")
            continue
        if not (isinstance(name, str) and _NAME.match(name)):
            problems.add(where, f"name {name!r} must be lowercase letters, digits, '-', '_' or '.' (max 64)")
            continue
        if results is None and known is not None and name not in known:
            hint = _suggest(name, sorted(known))
            extra = (
                f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(sorted(known)) or 'none'}"
            )
            problems.add(where, f"model {name!r} is not in the models config{extra}")
            continue
        if name in seen:
            problems.add(where, f"model {name!r} is already models[{seen[name]}]")
            continue
        seen[name] = index
        models.append(ModelRef(name, results))
    return models


def _parse_stimulus(raw: Any, problems: _Problems) -> StimulusSettings | None:
    data = _mapping(raw, "stimulus", problems)
    if data is None:
        return None
    problems.keys(data, ("seed", "duration_s", "fps"), "stimulus")
    seed = _int(data.get("seed", 0), "stimulus.seed", problems, 0, MAX_SEED)
    duration = _float(data.get("duration_s", 4.0), "stimulus.duration_s", problems, 0.5, 30.0)
    fps = _int(data.get("fps", 24), "stimulus.fps", problems, 10, 120)
    if seed is None or duration is None or fps is None:
        return None
    return StimulusSettings(seed, duration, fps)


def _parse_checks(
    raw: Any, trial_type: str | None, models: Sequence[str], prompts: Collection[str], problems: _Problems
) -> list[AttentionCheck]:
    if not isinstance(raw, list):
        problems.add("attention_checks", "must be a list")
        return []
    if len(raw) > MAX_ATTENTION_CHECKS:
        problems.add("attention_checks", f"has {len(raw)} entries (limit {MAX_ATTENTION_CHECKS})")
        return []
    checks: list[AttentionCheck] = []
    for index, entry in enumerate(raw):
        where = _join("attention_checks", index)
        data = _mapping(entry, where, problems)
        if data is None:
            continue
        kind = data.get("kind")
        if kind == "contradiction":
            problems.keys(data, ("kind", "prompt", "model", "decoy_prompt"), where)
            prompt = _text(data.get("prompt"), _join(where, "prompt"), problems, max_chars=MAX_PROMPT_CHARS)
            decoy = _text(
                data.get("decoy_prompt"), _join(where, "decoy_prompt"), problems, max_chars=MAX_PROMPT_CHARS
            )
            model = data.get("model")
            if model not in models:
                problems.add(
                    _join(where, "model"),
                    f"must be one of the study's models ({', '.join(models)}), got {model!r}",
                )
                model = None
            if prompt and decoy and _prompt_key(prompt) == _prompt_key(decoy):
                problems.add(
                    _join(where, "decoy_prompt"), "must differ from prompt (the decoy has to contradict it)"
                )
                continue
            if prompt and _prompt_key(prompt) in prompts:
                # a check on a study prompt would show the participant a study clip twice
                problems.add(_join(where, "prompt"), "must not be one of the study prompts")
                continue
            if prompt and decoy and model:
                checks.append(AttentionCheck("contradiction", prompt, model=model, decoy_prompt=decoy))
        elif kind == "instruction":
            problems.keys(data, ("kind", "prompt", "side", "text"), where)
            prompt = _text(data.get("prompt"), _join(where, "prompt"), problems, max_chars=MAX_PROMPT_CHARS)
            side = data.get("side", "alternate")
            if side not in ("left", "right", "alternate"):
                problems.add(_join(where, "side"), f"must be left, right or alternate, got {side!r}")
                side = None
            default_text = INSTRUCTION_TEXTS.get(str(trial_type), "{side}")
            text = _text(data.get("text", default_text), _join(where, "text"), problems)
            if text is not None and side == "alternate" and "{side}" not in text:
                problems.add(_join(where, "text"), "must contain '{side}' when side is alternate")
                text = None
            if text is not None and set(re.findall(r"\{([^}]*)\}", text)) - {"side"}:
                problems.add(_join(where, "text"), "may only use the placeholder {side}")
                text = None
            if prompt and side and text:
                checks.append(AttentionCheck("instruction", prompt, side=side, text=text))
        else:
            problems.add(_join(where, "kind"), f"must be contradiction or instruction, got {kind!r}")
    return checks


def _parse_exclusion(raw: Any, n_checks: int, problems: _Problems) -> ExclusionRules | None:
    data = _mapping(raw, "exclusion", problems)
    if data is None:
        return None
    allowed = ("failed_attention_checks_at_least", "median_dwell_below_s")
    problems.keys(data, allowed, "exclusion")
    failed = data.get(allowed[0])
    if failed is not None:
        failed = _int(failed, f"exclusion.{allowed[0]}", problems, 1, MAX_ATTENTION_CHECKS)
        if failed is not None and failed > n_checks:
            problems.add(
                f"exclusion.{allowed[0]}", f"is {failed} but the study has only {n_checks} attention checks"
            )
    dwell = data.get(allowed[1])
    if dwell is not None:
        dwell = _float(dwell, f"exclusion.{allowed[1]}", problems, 0.0, 600.0)
    return ExclusionRules(failed, dwell)


def _parse_control(raw: Any, n_prompts: int, n_models: int, problems: _Problems) -> MismatchControl | None:
    if raw is None:
        return MismatchControl(0)
    data = _mapping(raw, "prompt_mismatch_control", problems)
    if data is None:
        return None
    problems.keys(data, ("per_participant",), "prompt_mismatch_control")
    if n_prompts and n_prompts < 2:
        problems.add(
            "prompt_mismatch_control", "needs at least two prompts (the wrong prompt is another study prompt)"
        )
        return None
    high = max(1, min(n_prompts * n_models, 50)) if n_prompts and n_models else 50
    per = _int(data.get("per_participant", 1), "prompt_mismatch_control.per_participant", problems, 0, high)
    return None if per is None else MismatchControl(per)


def load_definition(path: str | Path, *, known_models: Collection[str] | None = None) -> StudyDefinition:
    """Read a study config (``.yaml``/``.yml`` or ``.json``); relative results folders resolve
    against the config's folder. Raises :class:`DefinitionError` (a :class:`FormatError`)."""
    path = Path(path)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise DefinitionError(path, [("", "a study config must end in .yaml, .yml or .json")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(path, [("", f"cannot read: {exc}")]) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                path, [(f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}")]
            ) from None
        except ValueError as exc:
            raise DefinitionError(path, [("", f"not valid JSON: {exc}")]) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
            raise DefinitionError(path, [(where, f"not valid YAML: {exc.problem or exc.context}")]) from None
        except yaml.YAMLError as exc:
            raise DefinitionError(path, [("", f"not valid YAML: {exc}")]) from None
    return parse_definition(data, source=path, base_dir=path.parent.resolve(), known_models=known_models)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def definition_from_canonical_json(text: str) -> StudyDefinition:
    """Rebuild a definition from its stored canonical JSON (what storage keeps)."""
    return parse_definition(json.loads(text), source="<stored study>")


# ----------------------------------------------------------------------------------------------
# assignment
# ----------------------------------------------------------------------------------------------


class _Stream:
    """Uniform integers from SHA-256 in counter mode, keyed by (seed, labels): the same on every
    platform and Python version (``random.shuffle``'s algorithm is not guaranteed to be)."""

    def __init__(self, seed: int, *labels: object) -> None:
        self._key = hashlib.sha256(json.dumps([seed, *labels]).encode()).digest()
        self._counter = 0

    def below(self, n: int) -> int:
        """Uniform in [0, n); rejection sampling removes modulo bias."""
        limit = (2**64 // n) * n
        while True:
            block = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            value = int.from_bytes(block[:8], "big")
            if value < limit:
                return value % n

    def permutation(self, n: int) -> list[int]:
        """A uniform permutation of range(n) (Fisher-Yates)."""
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            order[i], order[j] = order[j], order[i]
        return order


def _rotate(seq: Sequence[Any], shift: int) -> tuple[Any, ...]:
    """Element ``i`` moves to position ``(i - shift) mod K``."""
    shift %= len(seq)
    return tuple(seq[shift:]) + tuple(seq[:shift])


def _deal(pool: int, per: int, participant: int) -> list[tuple[int, int]]:
    """Round-robin dealing: slot ``g = participant * per + j`` takes pool entry ``k = g mod pool``
    in round ``r = g div pool``. Returns ``(k, r)`` per slot; ``per <= pool`` means no repeats."""
    return [((participant * per + j) % pool, (participant * per + j) // pool) for j in range(per)]


def participant_trials(definition: StudyDefinition, participant_index: int) -> tuple[Trial, ...]:
    """The trials of participant ``participant_index`` (0-based), in presentation order.

    Pure and deterministic in ``definition.seed``. Items: a seeded permutation is dealt
    round-robin (see :func:`_deal`); the ``r``-th rater of the item at permutation index ``k``
    sees its clips (in the seeded base order of models) rotated by ``(r + k) mod K``, so across
    successive raters every clip takes every position equally often (cyclic Latin square), and
    consecutive trials of one participant alternate. Attention checks (every participant, every
    check) and mismatch controls rotate by participant index. The final order is a seeded shuffle
    per participant, with an attention check never first.
    """
    if isinstance(participant_index, bool) or not isinstance(participant_index, int) or participant_index < 0:
        raise ValueError(f"participant_index must be a non-negative integer, got {participant_index!r}")
    d, p = definition, participant_index
    seed = d.stimulus.seed
    rank = d._model_rank
    trials: list[Trial] = []

    order = d._item_order
    for k, r in _deal(len(d.items), d.items_per_participant, p):
        item = d.items[order[k]]
        base = sorted(item.models, key=rank.__getitem__)
        clips = _rotate([ClipRef(m, item.prompt.text, seed) for m in base], r + k)
        trials.append(Trial(0, "item", item.id, item.prompt.text, d.question, clips))

    for c, check in enumerate(d.attention_checks):
        shift = p + c
        if check.kind == "contradiction":
            if d.clips_per_item == 2:
                base_refs = [ClipRef(str(check.model), check.prompt, seed)]
            else:
                others = [m for m in sorted(rank, key=rank.__getitem__) if m != check.model]
                base_refs = [ClipRef(m, check.prompt, seed) for m in others]
            decoy = ClipRef(str(check.model), str(check.decoy_prompt), seed)
            clips = _rotate([*base_refs, decoy], shift)
            rule = CheckRule("reject", clips.index(decoy))
            question = d.question
        else:
            names = [m.name for m in d.models[: d.clips_per_item]]
            clips = _rotate([ClipRef(m, check.prompt, seed) for m in names], shift)
            side = check.side if check.side != "alternate" else ("left", "right")[shift % 2]
            rule = CheckRule("choose", 0 if side == "left" else len(clips) - 1)
            question = str(check.text).replace("{side}", str(side))
        trials.append(Trial(0, "attention", f"check:{c}", check.prompt, question, clips, check=rule))

    if d.mismatch_control is not None:
        combos = [(m.name, i) for m in d.models for i in range(len(d.prompts))]
        combo_order = _Stream(d.seed, "controls").permutation(len(combos))
        per = d.mismatch_control.per_participant
        for k, r in _deal(len(combos), per, p):
            model, i = combos[combo_order[k]]
            offset = _Stream(d.seed, "wrong-prompt", model, i).below(len(d.prompts) - 1)
            shown, wrong = d.prompts[i], d.prompts[(i + 1 + offset) % len(d.prompts)]
            matched = ClipRef(model, shown.text, seed)
            clips = _rotate([matched, ClipRef(model, wrong.text, seed)], r + k)
            item_id = f"control:{model}:{shown.id}"
            trials.append(
                Trial(0, "control", item_id, shown.text, d.question, clips, matched=clips.index(matched))
            )

    shuffled = [trials[i] for i in _Stream(d.seed, "order", p).permutation(len(trials))]
    if shuffled[0].kind == "attention":
        # a check as the very first screen measures confusion about the task, not attention
        first = next((i for i, t in enumerate(shuffled) if t.kind != "attention"), 0)
        shuffled[0], shuffled[first] = shuffled[first], shuffled[0]
    return tuple(
        Trial(i, t.kind, t.item_id, t.prompt, t.question, t.clips, t.check, t.matched)
        for i, t in enumerate(shuffled)
    )


# ----------------------------------------------------------------------------------------------
# answers
# ----------------------------------------------------------------------------------------------


def validate_answer(trial_type: str, n_clips: int, payload: Any) -> dict[str, Any]:
    """Check a decoded JSON answer against the trial type; returns its canonical form.

    Raises :class:`AnswerError` naming the problem. Unknown keys are errors: the stored answer is
    exactly what the participant page is allowed to send.
    """
    if not isinstance(payload, Mapping):
        raise AnswerError(f"the answer must be a JSON object, got {type(payload).__name__}")
    if trial_type == "rank":
        if set(payload) != {"ranking"}:
            raise AnswerError(f"a rank answer has exactly the key 'ranking', got {sorted(map(str, payload))}")
        ranking = payload["ranking"]
        if not isinstance(ranking, list) or len(ranking) != n_clips:
            raise AnswerError(f"'ranking' must list {n_clips} ranks, one per clip from the left")
        if any(isinstance(r, bool) or not isinstance(r, int) for r in ranking):
            raise AnswerError("ranks must be integers")
        if sorted(ranking) != list(range(1, n_clips + 1)):
            raise AnswerError(f"'ranking' must use each rank 1..{n_clips} exactly once, got {ranking}")
        return {"ranking": list(ranking)}
    choices = {"2afc5": CHOICES_2AFC5, "pairwise": CHOICES_PAIRWISE}.get(trial_type)
    if choices is None:
        raise AnswerError(f"unknown trial type {trial_type!r}")
    if n_clips != 2:
        raise AnswerError(f"a {trial_type} trial shows two clips, this one has {n_clips}")
    if set(payload) != {"choice"}:
        raise AnswerError(
            f"a {trial_type} answer has exactly the key 'choice', got {sorted(map(str, payload))}"
        )
    if payload["choice"] not in choices:
        raise AnswerError(f"'choice' must be one of {', '.join(choices)}, got {payload['choice']!r}")
    return {"choice": payload["choice"]}


def _winner(trial_type: str, answer: Mapping[str, Any]) -> int | None:
    """Position of the preferred clip of a two-clip answer (None: no preference)."""
    choice = answer.get("choice")
    if trial_type == "pairwise":
        return {"a": 0, "b": 1}.get(choice)
    return {"strong_a": 0, "weak_a": 0, "strong_b": 1, "weak_b": 1}.get(choice)


def check_passed(trial_type: str, trial: Trial, answer: Mapping[str, Any]) -> bool:
    """Whether a validated answer passes the trial's attention check (``trial.check`` not None)."""
    if trial.check is None:
        raise ValueError(f"trial {trial.item_id} is not an attention check")
    rule, target = trial.check.rule, trial.check.position
    if "ranking" in answer:
        rank = answer["ranking"][target]
        return rank == 1 if rule == "choose" else rank == len(answer["ranking"])
    winner = _winner(trial_type, answer)
    if rule == "choose":
        if trial_type == "2afc5":  # the instruction asks for "much better"
            return answer["choice"] == ("strong_a" if target == 0 else "strong_b")
        return winner == target
    return winner is not None and winner != target


def answer_outcome(trial_type: str, trial: Trial, answer: Mapping[str, Any]) -> dict[str, Any]:
    """Model-level reading of a validated answer, for exports.

    Returns ``preferred_model`` (two-clip trials; None for equal/tie/both bad), ``strength``
    (2afc5: 2 strong, 1 weak, 0 equal; pairwise: 1 or 0) and ``ranks`` (rank trials: model ->
    rank, None otherwise). Control and check trials show one model twice: read them with positions.
    """
    if "ranking" in answer:
        ranks = {clip.model: rank for clip, rank in zip(trial.clips, answer["ranking"], strict=True)}
        return {"preferred_model": None, "strength": None, "ranks": ranks}
    winner = _winner(trial_type, answer)
    choice = answer["choice"]
    if trial_type == "2afc5":
        strength = 2 if choice.startswith("strong") else 1 if choice.startswith("weak") else 0
    else:
        strength = int(winner is not None)
    return {
        "preferred_model": None if winner is None else trial.clips[winner].model,
        "strength": strength,
        "ranks": None,
    }
