"""The values the study store takes and hands out: a visit's identity, stored studies and trials,
a participant's progress, acknowledgements, participant summaries and the export row's columns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from studio.study.definition import StudyDefinition, Trial

_ID_TEXT = re.compile(r"^[A-Za-z0-9_-]{0,128}$")  # Prolific ids are 24 hex digits


@dataclass(frozen=True)
class ProlificIdentity:
    """The Prolific URL parameters of one visit. Never stored; ``repr`` hides the values.

    ``pid`` (PROLIFIC_PID) is required; ``study_id`` (STUDY_ID) and ``session_id`` (SESSION_ID)
    may be empty outside Prolific. Each is at most 128 letters, digits, '-' or '_'.
    """

    pid: str = field(repr=False)
    study_id: str = field(default="", repr=False)
    session_id: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for name in ("pid", "study_id", "session_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _ID_TEXT.match(value):
                raise ValueError(f"{name} must be at most 128 letters, digits, '-' or '_'")
        if not self.pid:
            raise ValueError("pid (PROLIFIC_PID) must not be empty")


@dataclass(frozen=True)
class StudyRecord:
    """A stored study: database ``id``, ``sha256`` of its canonical config, the definition, and
    whether this call ``created`` it."""

    id: int
    sha256: str
    definition: StudyDefinition
    created: bool = False


@dataclass(frozen=True)
class StoredTrial:
    """A trial as stored: its database ``id`` (what the page submits) and the :class:`Trial`."""

    id: int
    trial: Trial


@dataclass(frozen=True)
class ParticipantState:
    """Where a participant stands: ``answered`` of ``total`` trials, the ``next_trial`` (None when
    done), the ``completion_code`` (only once every answer is committed) and whether consent and
    the instructions are already recorded."""

    participant_id: int
    participant_index: int
    created: bool
    total: int
    answered: int
    next_trial: StoredTrial | None
    completion_code: str | None
    consented: bool = False  # a 'consent' event is stored: a reload skips the consent screen
    instructed: bool = False  # an 'instructions' event is stored: a reload skips the instructions too


@dataclass(frozen=True)
class Ack:
    """Returned only after the answer's transaction committed."""

    answer_id: int
    trial_id: int
    answered: int
    total: int
    next_trial: StoredTrial | None
    completion_code: str | None


@dataclass(frozen=True)
class ParticipantSummary:
    """Progress and exclusion status of one participant (dwell in seconds, server clock)."""

    participant_id: int
    participant_index: int
    participant: str  # the identity HMAC, hex
    total: int
    answered: int
    completed: bool
    checks_answered: int
    checks_failed: int
    median_dwell_s: float | None
    rejections: int
    exclusion_reasons: tuple[str, ...]


EXPORT_COLUMNS: tuple[str, ...] = (
    "study_sha256",
    "participant",
    "participant_index",
    "trial_id",
    "position",
    "kind",
    "item_id",
    "prompt",
    "question",
    "clip_models",
    "clip_prompts",
    "answer",
    "choice",
    "ranking",
    "preferred_model",
    "strength",
    "ranks",
    "attention_passed",
    "dwell_ms",
    "answered_at",
)
"""Columns of :meth:`StudyStore.export_answers` rows. Lists and mappings are JSON text so rows
go to CSV or Parquet unchanged; ``clip_models``/``clip_prompts`` are in display order (left first)."""
