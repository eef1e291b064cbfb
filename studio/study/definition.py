"""Study definitions: a validated config as frozen dataclasses, canonicalised and hashed.

A study is frozen when it is created: :func:`~studio.study.parsing.parse_definition` turns a config
mapping into a :class:`StudyDefinition` (every default filled in, text normalised),
``definition.canonical_json()`` is the one byte-exact form (sorted keys, no whitespace, UTF-8) and
``definition.sha256`` its hash. Parsing the canonical JSON again gives an equal definition with the
same hash, which is how storage reloads a study.

Who sees what is :mod:`studio.study.assignment`; what an answer may be, :mod:`studio.study.answers`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from studio.formats.errors import FormatError
from studio.study.seeds import SeedStream

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
    """A validated, frozen study. Build it with :func:`~studio.study.parsing.parse_definition` or
    :func:`~studio.study.parsing.load_definition`.

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
        return tuple(SeedStream(self.seed, "items").permutation(len(self.items)))

    @functools.cached_property
    def _model_rank(self) -> dict[str, int]:
        # one seeded base order of the models; positions rotate from it (see participant_trials)
        order = SeedStream(self.seed, "base-order").permutation(len(self.models))
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
