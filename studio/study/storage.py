"""Durable storage of studies, participants, trials, answers and play events (SQLAlchemy 2.x).

SQLite by default (one file; WAL journal, ``synchronous=FULL``, a busy timeout and
``foreign_keys=ON`` on every connection; every write in ``BEGIN IMMEDIATE``), PostgreSQL by URL
(``postgresql://`` or ``postgresql+psycopg://``). :class:`StudyStore` is the whole API; it takes the
URL and the server secret as arguments, it does not read the environment.

What the database itself enforces, whatever the application code does:

- one answer per (participant, trial): ``UNIQUE (participant_id, trial_id)`` on ``answers``;
- a trial is answered only by its participant: ``answers (trial_id, participant_id)`` is a foreign
  key to ``trials (id, participant_id)``; events and attention outcomes use the same key;
- a trial belongs to a participant of its own study: ``trials (participant_id, study_id)`` ->
  ``participants (id, study_id)``; foreign keys are on in SQLite too.

Participants are stored only as keyed hashes: ``HMAC-SHA256(secret, PROLIFIC_PID, STUDY_ID)``
is the identity (a new Prolific SESSION_ID for the same person resumes, it does not start over);
the session id is kept only as its own HMAC. Raw ids are never written.

An acknowledgement (:class:`Ack`) is returned only after the transaction that stored the answer
has committed; a completion code only with the ack of the last answer (or afterwards). Rejected
submissions raise :class:`SubmissionRejected` with a :class:`Rejection` reason, are counted in
``rejection_counters`` in a separate transaction, and leave answers untouched.

Playback timing is judged on the server's clock: ``trials.served_at`` is stamped in the
transaction that first hands a trial out (a new participant's first trial, or the next trial in
an answer's acknowledgement), and an answer is refused as ``too_fast`` unless at least
:func:`playback_floor_ms` has passed since then. The page lets a participant play a screen's clips
side by side at the same time (nothing forces one after the other), so the floor is the longest
clip of the trial, not the sum of their lengths; every clip of a study has the same length, less
:data:`PLAYBACK_TOLERANCE_MS` for frame rounding. A trial that was never handed out (a guessed
trial id) has no ``served_at`` and is refused the same way. Each clip still needs its ``ended``
event (``not_played``).

Rate limits live in the database too, so every process serving one database shares them:
``rate_hits`` holds one row per counted action (a new participant admitted, an admin login
attempt) by scope and keyed hash of the client address. :meth:`StudyStore.rate_attempt` decides
and records in one transaction under a lock per scope (PostgreSQL: an advisory transaction lock;
SQLite: ``BEGIN IMMEDIATE`` already serialises writers), so concurrent attempts from several
processes are counted exactly once each; :meth:`StudyStore.get_or_create_participant` does the same
inside the transaction that creates the participant (a resuming participant is never counted).

Schema migrations are explicit and versioned (``schema_versions`` table, :data:`MIGRATIONS`):
``StudyStore(...)`` upgrades the database at start, under ``BEGIN IMMEDIATE`` (SQLite) or an
advisory lock (PostgreSQL), so two processes starting together do not both migrate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import re
import statistics
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from studio.errors import StudioError
from studio.study.definition import (
    AnswerError,
    StudyDefinition,
    Trial,
    answer_outcome,
    check_passed,
    definition_from_canonical_json,
    participant_trials,
    validate_answer,
)

__all__ = [
    "EVENT_KINDS",
    "EXPORT_COLUMNS",
    "HEAD_VERSION",
    "MAX_ANSWER_BYTES",
    "MIGRATIONS",
    "PLAYBACK_TOLERANCE_MS",
    "Ack",
    "Admission",
    "HitLog",
    "ParticipantState",
    "ParticipantSummary",
    "ProlificIdentity",
    "RateLimited",
    "Rejection",
    "StorageError",
    "StoredTrial",
    "StudyRecord",
    "StudyStore",
    "SubmissionRejected",
    "create_study_engine",
    "playback_floor_ms",
    "sqlite_url",
]

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 2048  # a rank answer of 8 clips is ~40 bytes; anything near this is not an answer
MAX_EVENT_DETAIL_BYTES = 1024
MAX_EVENTS_PER_PARTICIPANT = 20_000  # ~40 per trial at the 500-trial limit; bounds a flooding client
MIN_SECRET_BYTES = 16
_ID_TEXT = re.compile(r"^[A-Za-z0-9_-]{0,128}$")  # Prolific ids are 24 hex digits
# PostgreSQL advisory lock held while migrating (any constant 64-bit key unique to this app)
_MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"studio.study.storage/migrate").digest()[:8], "big", signed=True
)
_WRITE = "studio_write"  # execution option marking the engine whose transactions write
# An answer may come this much sooner than the longest clip lasts: the video's last frame and
# timer granularity, never a whole clip.
PLAYBACK_TOLERANCE_MS = 100


class StorageError(StudioError, RuntimeError):
    """The database cannot be used as asked (unknown URL scheme, newer schema, tampered study)."""


class Rejection(StrEnum):
    """Why a submission was refused. Counted per (study, participant, ``<what>.<reason>``)."""

    UNKNOWN_PARTICIPANT = "unknown_participant"  # no such participant in this study
    UNKNOWN_TRIAL = "unknown_trial"  # no such trial in this study
    FOREIGN_TRIAL = "foreign_trial"  # the trial belongs to another participant
    REPLAYED = "replayed"  # the trial already has an answer
    OVERSIZED = "oversized"  # payload larger than MAX_ANSWER_BYTES / MAX_EVENT_DETAIL_BYTES
    NOT_JSON = "not_json"  # payload is not a JSON document (or has NaN, duplicate keys)
    INVALID_ANSWER = "invalid_answer"  # JSON, but not an answer to this trial
    NOT_PLAYED = "not_played"  # some clip has no recorded 'ended' event
    TOO_FAST = "too_fast"  # answered sooner after the trial was served than its clips last
    INVALID_EVENT = "invalid_event"  # unknown kind, clip out of range, missing trial
    TOO_MANY_EVENTS = "too_many_events"  # MAX_EVENTS_PER_PARTICIPANT reached


class RateLimited(StudioError):  # noqa: N818  (a refusal is an outcome, not a crash)
    """A rate-limited action was refused (nothing recorded); try again in ``retry_after_s``."""

    def __init__(self, scope: str, retry_after_s: float) -> None:
        self.scope, self.retry_after_s = scope, max(0.0, retry_after_s)
        super().__init__(f"{scope}: rate limited, retry after {self.retry_after_s:.1f} s")


class SubmissionRejected(StudioError):  # noqa: N818  (a rejection is an outcome, not a crash)
    """A submission was refused; nothing was stored. ``what`` is ``answer`` or ``event``."""

    def __init__(self, reason: Rejection, detail: str, what: Literal["answer", "event"] = "answer") -> None:
        self.reason, self.detail, self.what = reason, detail, what
        super().__init__(f"{what} rejected ({reason.value}): {detail}")


# ----------------------------------------------------------------------------------------------
# identity
# ----------------------------------------------------------------------------------------------


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


def _mac(secret: bytes, label: str, *parts: str) -> str:
    # NUL separators: ids cannot contain NUL, so ("ab", "c") and ("a", "bc") never collide
    message = "\0".join((label, *parts)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _check_secret(secret: bytes | str) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the study secret must be at least {MIN_SECRET_BYTES} bytes (use 32 random bytes)")
    return key


# ----------------------------------------------------------------------------------------------
# schema (head). Changing it needs a new migration below and HEAD_VERSION + 1.
# ----------------------------------------------------------------------------------------------

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive (SQLite has no time zones)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SchemaVersionRow(Base):
    """One row per applied migration."""

    __tablename__ = "schema_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StudyRow(Base):
    """A frozen study: canonical config JSON and its SHA-256 (``config_hash``, unique)."""

    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    trial_type: Mapped[str] = mapped_column(String(16))
    config_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ParticipantRow(Base):
    """A participant of one study, known only by keyed hashes. ``participant_index`` is the
    0-based arrival order that :func:`participant_trials` assigns trials from."""

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("study_id", "identity_hash"),
        UniqueConstraint("study_id", "participant_index"),
        UniqueConstraint("id", "study_id"),  # target of trials' composite foreign key
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    participant_index: Mapped[int] = mapped_column(Integer)
    identity_hash: Mapped[str] = mapped_column(String(64))
    session_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TrialRow(Base):
    """One assigned trial. ``spec_json`` is the :class:`Trial` as assigned (kept, so a later change
    of the assignment code never rewrites what a participant was shown)."""

    __tablename__ = "trials"
    __table_args__ = (
        ForeignKeyConstraint(["participant_id", "study_id"], ["participants.id", "participants.study_id"]),
        UniqueConstraint("participant_id", "position"),
        UniqueConstraint("participant_id", "item_id"),
        UniqueConstraint("id", "participant_id"),  # target of answers'/events' composite foreign keys
        CheckConstraint("kind IN ('item', 'attention', 'control')", name="kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    participant_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[str] = mapped_column(String(200))
    spec_json: Mapped[str] = mapped_column(Text)
    # when the trial was first handed to its participant (server clock; schema version 3)
    served_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AnswerRow(Base):
    """One answer. ``payload_json`` is the validated answer; ``dwell_ms`` runs from the trial's
    first recorded event to the server receiving the answer (server clock, milliseconds)."""

    __tablename__ = "answers"
    __table_args__ = (
        ForeignKeyConstraint(["trial_id", "participant_id"], ["trials.id", "trials.participant_id"]),
        UniqueConstraint("participant_id", "trial_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(Integer)
    trial_id: Mapped[int] = mapped_column(Integer)
    payload_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dwell_ms: Mapped[int | None] = mapped_column(BigInteger)  # added in schema version 2


class EventRow(Base):
    """A play/dwell event: ``kind``, optional ``clip`` position, the client's clock ``client_ms``
    (milliseconds, for intervals only), and the server's ``created_at``."""

    __tablename__ = "events"
    __table_args__ = (
        ForeignKeyConstraint(["trial_id", "participant_id"], ["trials.id", "trials.participant_id"]),
        Index("ix_events_participant_trial_kind", "participant_id", "trial_id", "kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    trial_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    clip: Mapped[int | None] = mapped_column(Integer)
    client_ms: Mapped[float | None] = mapped_column(Float)
    detail_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AttentionOutcomeRow(Base):
    """Pass/fail of an answered attention check, written with its answer (schema version 2)."""

    __tablename__ = "attention_outcomes"
    __table_args__ = (
        PrimaryKeyConstraint("participant_id", "trial_id"),
        ForeignKeyConstraint(["participant_id", "trial_id"], ["answers.participant_id", "answers.trial_id"]),
    )
    participant_id: Mapped[int] = mapped_column(Integer)
    trial_id: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)


class RejectionCounterRow(Base):
    """Rejected submissions per (study, participant, reason) (schema version 2).

    ``participant_key`` is the participant's id, or 0 when the submission named no participant of
    the study (so it has no foreign key). Counters, not a log: a flood cannot grow the table."""

    __tablename__ = "rejection_counters"
    __table_args__ = (
        PrimaryKeyConstraint("study_id", "participant_key", "reason"),
        CheckConstraint("count >= 1", name="count_positive"),
    )
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    participant_key: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateHitRow(Base):
    """One counted action for rate limits (schema version 3): ``scope`` (``start``,
    ``admin_login``), ``client`` (keyed hash of the client address, never the address) and when.
    Rows older than a scope's longest window are pruned as new ones come in."""

    __tablename__ = "rate_hits"
    __table_args__ = (
        Index("ix_rate_hits_scope_client_at", "scope", "client", "at"),
        Index("ix_rate_hits_scope_at", "scope", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


# ----------------------------------------------------------------------------------------------
# migrations: each one is a frozen snapshot of the DDL it ran, never the ORM classes above
# (those describe the head and change over time).
# ----------------------------------------------------------------------------------------------


def _migration_1(conn: Connection) -> None:
    """Studies, participants, trials, answers, events."""
    md = MetaData(naming_convention=NAMING)
    ts = UTCDateTime
    Table(
        "studies",
        md,
        Column("id", Integer, primary_key=True),
        Column("config_hash", String(64), nullable=False, unique=True),
        Column("name", String(200), nullable=False),
        Column("trial_type", String(16), nullable=False),
        Column("config_json", Text, nullable=False),
        Column("created_at", ts, nullable=False),
    )
    Table(
        "participants",
        md,
        Column("id", Integer, primary_key=True),
        Column("study_id", Integer, ForeignKey("studies.id"), nullable=False),
        Column("participant_index", Integer, nullable=False),
        Column("identity_hash", String(64), nullable=False),
        Column("session_hash", String(64)),
        Column("created_at", ts, nullable=False),
        Column("last_seen_at", ts, nullable=False),
        Column("completed_at", ts),
        UniqueConstraint("study_id", "identity_hash"),
        UniqueConstraint("study_id", "participant_index"),
        UniqueConstraint("id", "study_id"),
    )
    Table(
        "trials",
        md,
        Column("id", Integer, primary_key=True),
        Column("study_id", Integer, ForeignKey("studies.id"), nullable=False),
        Column("participant_id", Integer, nullable=False),
        Column("position", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("item_id", String(200), nullable=False),
        Column("spec_json", Text, nullable=False),
        ForeignKeyConstraint(["participant_id", "study_id"], ["participants.id", "participants.study_id"]),
        UniqueConstraint("participant_id", "position"),
        UniqueConstraint("participant_id", "item_id"),
        UniqueConstraint("id", "participant_id"),
        CheckConstraint("kind IN ('item', 'attention', 'control')", name="kind"),
    )
    Table(
        "answers",
        md,
        Column("id", Integer, primary_key=True),
        Column("participant_id", Integer, nullable=False),
        Column("trial_id", Integer, nullable=False),
        Column("payload_json", Text, nullable=False),
        Column("created_at", ts, nullable=False),
        ForeignKeyConstraint(["trial_id", "participant_id"], ["trials.id", "trials.participant_id"]),
        UniqueConstraint("participant_id", "trial_id"),
    )
    Table(
        "events",
        md,
        Column("id", Integer, primary_key=True),
        Column("participant_id", Integer, ForeignKey("participants.id"), nullable=False),
        Column("trial_id", Integer),
        Column("kind", String(32), nullable=False),
        Column("clip", Integer),
        Column("client_ms", Float),
        Column("detail_json", Text),
        Column("created_at", ts, nullable=False),
        ForeignKeyConstraint(["trial_id", "participant_id"], ["trials.id", "trials.participant_id"]),
        Index("ix_events_participant_trial_kind", "participant_id", "trial_id", "kind"),
    )
    md.create_all(conn)


def _migration_2(conn: Connection) -> None:
    """Dwell time on answers; attention-check outcomes; rejection counters."""
    conn.execute(text("ALTER TABLE answers ADD COLUMN dwell_ms BIGINT"))
    md = MetaData(naming_convention=NAMING)
    # stubs of existing tables, only so the new foreign keys can name their targets
    Table("studies", md, Column("id", Integer, primary_key=True))
    Table("answers", md, Column("participant_id", Integer), Column("trial_id", Integer))
    outcomes = Table(
        "attention_outcomes",
        md,
        Column("participant_id", Integer, nullable=False),
        Column("trial_id", Integer, nullable=False),
        Column("passed", Boolean, nullable=False),
        PrimaryKeyConstraint("participant_id", "trial_id"),
        ForeignKeyConstraint(["participant_id", "trial_id"], ["answers.participant_id", "answers.trial_id"]),
    )
    counters = Table(
        "rejection_counters",
        md,
        Column("study_id", Integer, ForeignKey("studies.id"), nullable=False),
        Column("participant_key", Integer, nullable=False),
        Column("reason", String(64), nullable=False),
        Column("count", Integer, nullable=False),
        Column("first_at", UTCDateTime, nullable=False),
        Column("last_at", UTCDateTime, nullable=False),
        PrimaryKeyConstraint("study_id", "participant_key", "reason"),
        CheckConstraint("count >= 1", name="count_positive"),
    )
    outcomes.create(conn)
    counters.create(conn)


def _migration_3(conn: Connection) -> None:
    """When each trial was first served (server-side playback timing); rate-limit hits."""
    timestamp = DateTime(timezone=False).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE trials ADD COLUMN served_at {timestamp}"))
    md = MetaData(naming_convention=NAMING)
    trials = Table("trials", md, Column("id", Integer), Column("served_at", UTCDateTime))
    events = Table("events", md, Column("trial_id", Integer), Column("created_at", UTCDateTime))
    # trials handed out before this version: their first event, else now (a participant who was
    # mid-screen at the upgrade waits one clip length at most)
    first_event = select(func.min(events.c.created_at)).where(events.c.trial_id == trials.c.id)
    now = bindparam("now", _now(), type_=UTCDateTime)
    conn.execute(trials.update().values(served_at=func.coalesce(first_event.scalar_subquery(), now)))
    hits = Table(
        "rate_hits",
        md,
        Column("id", Integer, primary_key=True),
        Column("scope", String(32), nullable=False),
        Column("client", String(64), nullable=False),
        Column("at", UTCDateTime, nullable=False),
        Index("ix_rate_hits_scope_client_at", "scope", "client", "at"),
        Index("ix_rate_hits_scope_at", "scope", "at"),
    )
    hits.create(conn)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migration_1, _migration_2, _migration_3)
HEAD_VERSION = len(MIGRATIONS)


# ----------------------------------------------------------------------------------------------
# engines
# ----------------------------------------------------------------------------------------------


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file (made absolute)."""
    return URL.create("sqlite", database=str(Path(path).absolute())).render_as_string()


def create_study_engine(url: str, *, busy_timeout_ms: int = 10_000, pool_size: int = 10) -> Engine:
    """An engine for the study database. SQLite: a file (not ``:memory:``), every connection set
    to WAL, ``synchronous=FULL``, ``busy_timeout``, ``foreign_keys=ON``; transactions begin with
    ``BEGIN IMMEDIATE`` on engines with the ``studio_write`` execution option, ``BEGIN`` otherwise.
    PostgreSQL: the psycopg 3 driver, connections checked before use."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or str(parsed.database).startswith("file::memory:"):
            raise StorageError("the study database must be a SQLite file, not an in-memory database")
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=2 * pool_size)
    raise StorageError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql://"
    )


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite would BEGIN (deferred) on its own just before the first write; a deferred
        # transaction that later writes can fail with SQLITE_BUSY at once, ignoring busy_timeout.
        # Turning that off lets the "begin" listener issue BEGIN IMMEDIATE itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"SQLite refused WAL mode (got {mode!r}); is the file on a network drive?")
            cursor.execute("PRAGMA synchronous = FULL")  # an acknowledged answer survives power loss
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------


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


class HitLog:
    """The rate hits of one scope as a rate policy sees them, inside the transaction that decides
    (under the scope's lock). ``per_client``: only this client's hits, else every client's."""

    def __init__(self, session: Session, scope: str, client: str, now: datetime) -> None:
        self._session, self._scope, self._client, self._now = session, scope, client, now

    def _where(self, window_s: float, per_client: bool) -> list[Any]:
        since = self._now - timedelta(seconds=window_s)
        where = [RateHitRow.scope == self._scope, RateHitRow.at > since]
        if per_client:
            where.append(RateHitRow.client == self._client)
        return where

    def count(self, window_s: float, *, per_client: bool = True) -> int:
        """Hits within the last ``window_s`` seconds."""
        query = select(func.count()).select_from(RateHitRow).where(*self._where(window_s, per_client))
        return int(self._session.scalar(query) or 0)

    def age_s(self, n: int, window_s: float, *, per_client: bool = True) -> float | None:
        """Seconds since the ``n``-th newest hit (1 = newest) within the window; None if fewer."""
        query = (
            select(RateHitRow.at)
            .where(*self._where(window_s, per_client))
            .order_by(RateHitRow.at.desc())
            .offset(n - 1)
            .limit(1)
        )
        at = self._session.scalar(query)
        return None if at is None else (self._now - at).total_seconds()


RatePolicy = Callable[[HitLog], float]
"""Decides one attempt: seconds the client must still wait (<= 0: allowed, and recorded)."""


@dataclass(frozen=True)
class Admission:
    """The rate limit on admitting a new participant: the ``client``'s address (stored only as a
    keyed hash), the ``policy`` and ``retention_s``, the longest window it looks back over."""

    client: str
    policy: RatePolicy = field(repr=False)
    retention_s: float
    scope: str = "start"


def playback_floor_ms(definition: StudyDefinition) -> float:
    """The least time from serving a trial to its answer: the longest clip (clips can play side by
    side; every clip of a study has the same length), less :data:`PLAYBACK_TOLERANCE_MS`."""
    return max(0.0, definition.stimulus.clip_duration_s * 1000 - PLAYBACK_TOLERANCE_MS)


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


# ----------------------------------------------------------------------------------------------
# the store
# ----------------------------------------------------------------------------------------------

_CLIP_EVENTS = ("play", "pause", "seek", "ended")
_TRIAL_EVENTS = ("shown",)
_FREE_EVENTS = ("consent", "instructions", "page_hidden", "page_visible", "completed_page")
EVENT_KINDS: tuple[str, ...] = _CLIP_EVENTS + _TRIAL_EVENTS + _FREE_EVENTS


class StudyStore:
    """All reads and writes of study data. Thread-safe: each call uses its own transaction.

    ``url``: ``sqlite:///path/to/study.db`` or ``postgresql://user:pw@host:port/db``;
    ``secret``: the server's HMAC key (>= 16 bytes; 32 random bytes recommended). Changing the
    secret makes returning participants unrecognisable, so keep it for a study's lifetime.
    ``upgrade=True`` migrates the schema to :data:`HEAD_VERSION` at start.
    """

    def __init__(
        self, url: str, secret: bytes | str, *, busy_timeout_ms: int = 10_000, upgrade: bool = True
    ) -> None:
        self._secret = _check_secret(secret)
        self.engine = create_study_engine(url, busy_timeout_ms=busy_timeout_ms)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        self.dialect = self.engine.dialect.name
        if upgrade:
            self.upgrade()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction (SQLite: BEGIN IMMEDIATE); commits on leaving the block."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # -- schema --------------------------------------------------------------------------------
    def upgrade(self, target: int = HEAD_VERSION) -> int:
        """Apply migrations up to ``target`` (default: head) in one transaction; returns the
        version now. Refuses a database newer than this code or one with study tables but no
        version table."""
        if not 1 <= target <= HEAD_VERSION:
            raise ValueError(f"target must be in [1, {HEAD_VERSION}], got {target}")
        versions = Base.metadata.tables["schema_versions"]
        with self._writer.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            tables = set(inspect(conn).get_table_names())
            if "schema_versions" not in tables:
                known = tables & set(Base.metadata.tables)
                if known:
                    raise StorageError(
                        f"the database has study tables {sorted(known)} but no schema_versions table"
                    )
                versions.create(conn)
            current = conn.execute(select(func.max(SchemaVersionRow.version))).scalar() or 0
            if current > HEAD_VERSION:
                raise StorageError(
                    f"the database schema is version {current}; this code knows up to {HEAD_VERSION}"
                )
            for version in range(current + 1, target + 1):
                MIGRATIONS[version - 1](conn)
                conn.execute(versions.insert().values(version=version, applied_at=_now()))
                log.info("study database migrated to schema version %d", version)
            return max(current, target)

    def schema_version(self) -> int:
        with self._read() as session:
            return session.scalar(select(func.max(SchemaVersionRow.version))) or 0

    # -- studies ---------------------------------------------------------------------------------
    def create_study(self, definition: StudyDefinition) -> StudyRecord:
        """Store a study, or return the stored one with the same hash (``created=False``)."""
        config = definition.canonical_json()
        for attempt in range(2):
            try:
                with self._write() as session:
                    row = session.scalar(select(StudyRow).where(StudyRow.config_hash == definition.sha256))
                    if row is not None:
                        if row.config_json != config:
                            raise StorageError(
                                f"study {definition.sha256[:12]} is stored with different JSON"
                            )
                        return StudyRecord(row.id, row.config_hash, definition, created=False)
                    row = StudyRow(
                        config_hash=definition.sha256,
                        name=definition.name,
                        trial_type=definition.trial_type,
                        config_json=config,
                        created_at=_now(),
                    )
                    session.add(row)
                    session.flush()
                    return StudyRecord(row.id, row.config_hash, definition, created=True)
            except IntegrityError:
                if attempt:  # a concurrent creator won the race; the retry finds its row
                    raise
        raise AssertionError("unreachable")

    def get_study(self, key: int | str) -> StudyRecord:
        """A stored study by database id or config hash. Checks the stored JSON against its hash."""
        with self._read() as session:
            where = StudyRow.id == key if isinstance(key, int) else StudyRow.config_hash == key
            row = session.scalar(select(StudyRow).where(where))
        if row is None:
            raise KeyError(f"no study {key!r}")
        if hashlib.sha256(row.config_json.encode("utf-8")).hexdigest() != row.config_hash:
            raise StorageError(
                f"study {row.id}: stored config does not match its hash (edited in the database?)"
            )
        return StudyRecord(row.id, row.config_hash, definition_from_canonical_json(row.config_json))

    def list_studies(self) -> list[tuple[int, str, str]]:
        """``(id, sha256, name)`` of every study, oldest first."""
        with self._read() as session:
            rows = session.execute(
                select(StudyRow.id, StudyRow.config_hash, StudyRow.name).order_by(StudyRow.id)
            )
            return [(r.id, r.config_hash, r.name) for r in rows]

    # -- participants --------------------------------------------------------------------------
    def identity_hash(self, identity: ProlificIdentity) -> str:
        """The stored identity: HMAC-SHA256(secret, PROLIFIC_PID, STUDY_ID), hex."""
        return _mac(self._secret, "studio-participant-v1", identity.pid, identity.study_id)

    def get_or_create_participant(
        self, study: StudyRecord, identity: ProlificIdentity, *, admission: Admission | None = None
    ) -> ParticipantState:
        """The participant with this identity (resuming: same id, next unanswered trial), or a new
        one with the next participant index and its trials from :func:`participant_trials`.

        ``admission``: the rate limit on new participants, decided and recorded in the same
        transaction that creates one (a resuming participant is never limited). Over the limit:
        :class:`RateLimited`, nothing stored, counted as ``start.rate_limited`` for the study."""
        try:
            return self._get_or_create_participant(study, identity, admission)
        except RateLimited as limited:
            self._count_rejection(study, None, f"{limited.scope}.rate_limited")
            raise

    def _get_or_create_participant(
        self, study: StudyRecord, identity: ProlificIdentity, admission: Admission | None
    ) -> ParticipantState:
        ident = self.identity_hash(identity)
        session_hash = _mac(
            self._secret, "studio-session-v1", identity.pid, identity.study_id, identity.session_id
        )
        with self._write() as session:
            # lock the study row (PostgreSQL): serialises index assignment and same-identity races
            if session.scalar(select(StudyRow.id).where(StudyRow.id == study.id).with_for_update()) is None:
                raise KeyError(f"no study {study.id}")
            row = session.scalar(
                select(ParticipantRow).where(
                    ParticipantRow.study_id == study.id, ParticipantRow.identity_hash == ident
                )
            )
            created = row is None
            now = _now()
            if row is None and admission is not None:
                wait = self._rate_attempt(
                    session, admission.scope, admission.client, admission.policy, admission.retention_s, now
                )
                if wait > 0:
                    raise RateLimited(admission.scope, wait)  # rolls back: nothing stored
            if row is None:
                last = session.scalar(
                    select(func.max(ParticipantRow.participant_index)).where(
                        ParticipantRow.study_id == study.id
                    )
                )
                index = 0 if last is None else last + 1
                row = ParticipantRow(
                    study_id=study.id,
                    participant_index=index,
                    identity_hash=ident,
                    session_hash=session_hash,
                    created_at=now,
                    last_seen_at=now,
                )
                session.add(row)
                session.flush()
                session.add_all(
                    TrialRow(
                        study_id=study.id,
                        participant_id=row.id,
                        position=t.position,
                        kind=t.kind,
                        item_id=t.item_id,
                        spec_json=json.dumps(t.to_json(), sort_keys=True),
                    )
                    for t in participant_trials(study.definition, index)
                )
                session.flush()
            else:
                row.session_hash, row.last_seen_at = session_hash, now
            total, answered, next_trial = self._progress(session, row.id)
            if next_trial is not None:
                self._serve(session, next_trial.id, now)
            code = self._code(study, row) if row.completed_at is not None else None
            consented, instructed = (False, False) if created else self._consent(session, row.id, answered)
            return ParticipantState(
                row.id,
                row.participant_index,
                created,
                total,
                answered,
                next_trial,
                code,
                consented,
                instructed,
            )

    def participant_state(self, study: StudyRecord, participant_id: int) -> ParticipantState:
        """Progress of a known participant (read only)."""
        with self._read() as session:
            row = self._participant(session, study, participant_id)
            if row is None:
                raise KeyError(f"no participant {participant_id} in study {study.id}")
            total, answered, next_trial = self._progress(session, row.id)
            code = self._code(study, row) if row.completed_at is not None else None
            consented, instructed = self._consent(session, row.id, answered)
            return ParticipantState(
                row.id, row.participant_index, False, total, answered, next_trial, code, consented, instructed
            )

    def completion_code(self, study: StudyRecord, participant_id: int) -> str | None:
        """The completion code, or None while any trial is unanswered."""
        return self.participant_state(study, participant_id).completion_code

    def _code(self, study: StudyRecord, row: ParticipantRow) -> str:
        if study.definition.completion_code:
            return study.definition.completion_code
        # per participant: unguessable without the secret, re-derivable for checking
        mac = hmac.new(self._secret, f"studio-completion-v1\0{row.identity_hash}".encode(), hashlib.sha256)
        return base64.b32encode(mac.digest()).decode()[:12]

    @staticmethod
    def _participant(session: Session, study: StudyRecord, participant_id: Any, lock: bool = False) -> Any:
        if isinstance(participant_id, bool) or not isinstance(participant_id, int):
            return None
        query = select(ParticipantRow).where(
            ParticipantRow.id == participant_id, ParticipantRow.study_id == study.id
        )
        return session.scalar(query.with_for_update() if lock else query)

    @staticmethod
    def _progress(session: Session, participant_id: int) -> tuple[int, int, StoredTrial | None]:
        total = session.scalar(select(func.count()).where(TrialRow.participant_id == participant_id)) or 0
        answered = session.scalar(select(func.count()).where(AnswerRow.participant_id == participant_id)) or 0
        unanswered = ~select(AnswerRow.id).where(AnswerRow.trial_id == TrialRow.id).exists()
        row = session.scalar(
            select(TrialRow)
            .where(TrialRow.participant_id == participant_id, unanswered)
            .order_by(TrialRow.position)
        )
        next_trial = None if row is None else StoredTrial(row.id, Trial.from_json(json.loads(row.spec_json)))
        return total, answered, next_trial

    @staticmethod
    def _serve(session: Session, trial_id: int, now: datetime) -> None:
        """Stamp when a trial is first handed out (kept on later hand-outs: a reload does not
        restart the clock an answer is measured against)."""
        trials = TrialRow.__table__
        session.execute(
            trials.update().where(trials.c.id == trial_id, trials.c.served_at.is_(None)).values(served_at=now)
        )

    @staticmethod
    def _consent(session: Session, participant_id: int, answered: int) -> tuple[bool, bool]:
        """Whether consent and the instructions are on record (a participant with an answer gave both)."""
        if answered > 0:
            return True, True
        kinds = set(
            session.scalars(
                select(EventRow.kind)
                .where(
                    EventRow.participant_id == participant_id, EventRow.kind.in_(("consent", "instructions"))
                )
                .distinct()
            )
        )
        return "consent" in kinds, "instructions" in kinds

    # -- rate limits -----------------------------------------------------------------------------
    def client_hash(self, client: str) -> str:
        """The stored form of a client address: HMAC-SHA256(secret, address), hex (never the address)."""
        return _mac(self._secret, "studio-client-v1", client)

    def _rate_attempt(
        self, session: Session, scope: str, client: str, policy: RatePolicy, retention_s: float, now: datetime
    ) -> float:
        if self.dialect == "postgresql":
            # one lock per scope, held to commit: concurrent attempts from any process are decided
            # one after another, each seeing the hits the earlier ones recorded
            session.execute(select(func.pg_advisory_xact_lock(_rate_lock_key(scope))))
        session.execute(
            delete(RateHitRow).where(
                RateHitRow.scope == scope, RateHitRow.at < now - timedelta(seconds=retention_s)
            )
        )
        client_key = self.client_hash(client)
        wait = float(policy(HitLog(session, scope, client_key, now)))
        if wait > 0:
            return wait
        session.add(RateHitRow(scope=scope, client=client_key, at=now))
        session.flush()
        return 0.0

    def rate_attempt(self, scope: str, client: str, policy: RatePolicy, retention_s: float) -> float:
        """Decide and record one attempt atomically (see the module docstring): returns 0 when
        ``policy`` allowed it (a hit is stored), else the seconds to wait (nothing stored).
        ``retention_s``: the longest window ``policy`` looks at; older hits of the scope are pruned."""
        with self._write() as session:
            return self._rate_attempt(session, scope, client, policy, retention_s, _now())

    def rate_clear(self, scope: str, client: str) -> int:
        """Forget a client's hits in a scope (e.g. its failed logins after a good one); how many."""
        with self._write() as session:
            result = session.execute(
                delete(RateHitRow).where(
                    RateHitRow.scope == scope, RateHitRow.client == self.client_hash(client)
                )
            )
            return int(result.rowcount or 0)

    # -- rejections ------------------------------------------------------------------------------
    def _reject(
        self, study: StudyRecord, participant_id: Any, error: SubmissionRejected
    ) -> SubmissionRejected:
        """Count a rejection in its own transaction (the submission's was rolled back), under the
        claimed participant if it really is one of this study's, else under key 0."""
        self._count_rejection(study, participant_id, f"{error.what}.{error.reason.value}")
        return error

    def _count_rejection(self, study: StudyRecord, participant_id: Any, reason: str) -> None:
        now = _now()
        table = RejectionCounterRow.__table__
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(table).values(
            study_id=study.id,
            participant_key=0,  # replaced below
            reason=reason,
            count=1,
            first_at=now,
            last_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["study_id", "participant_key", "reason"],
            set_={"count": table.c.count + 1, "last_at": statement.excluded.last_at},
        )
        try:
            with self._write() as session:
                participant = self._participant(session, study, participant_id)
                key = 0 if participant is None else participant.id
                session.execute(statement.values(participant_key=key))
        except Exception:  # the rejection stands even if counting it failed (e.g. database busy)
            log.exception("could not count a rejection (%s)", reason)

    def rejection_counts(self, study: StudyRecord) -> dict[str, int]:
        """``{"answer.replayed": n, "event.invalid_event": m, ...}`` over all participants."""
        with self._read() as session:
            rows = session.execute(
                select(RejectionCounterRow.reason, func.sum(RejectionCounterRow.count))
                .where(RejectionCounterRow.study_id == study.id)
                .group_by(RejectionCounterRow.reason)
            )
            return {reason: int(count) for reason, count in rows}

    # -- events ----------------------------------------------------------------------------------
    def record_event(
        self,
        study: StudyRecord,
        participant_id: int,
        kind: str,
        *,
        trial_id: int | None = None,
        clip: int | None = None,
        client_ms: float | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Store one play/dwell event; returns its id after commit. Raises :class:`SubmissionRejected`.

        ``kind``: ``play``/``pause``/``seek``/``ended`` (need ``trial_id`` and ``clip``, the clip's
        position from the left), ``shown`` (needs ``trial_id``), or a page event (``consent``,
        ``instructions``, ``page_hidden``, ``page_visible``, ``completed_page``; trial optional).
        """
        try:
            detail_json = self._check_event(kind, trial_id, clip, client_ms, detail)
        except SubmissionRejected as error:
            raise self._reject(study, participant_id, error) from None
        try:
            with self._write() as session:
                participant = self._participant(session, study, participant_id)
                if participant is None:
                    raise SubmissionRejected(
                        Rejection.UNKNOWN_PARTICIPANT, f"no participant {participant_id!r}", "event"
                    )
                if trial_id is not None:
                    trial = self._trial(session, study, participant.id, trial_id, "event")
                    n_clips = len(json.loads(trial.spec_json)["clips"])
                    if clip is not None and clip >= n_clips:
                        raise SubmissionRejected(
                            Rejection.INVALID_EVENT, f"clip {clip} of {n_clips}", "event"
                        )
                count = (
                    session.scalar(select(func.count()).where(EventRow.participant_id == participant.id)) or 0
                )
                if count >= MAX_EVENTS_PER_PARTICIPANT:
                    raise SubmissionRejected(Rejection.TOO_MANY_EVENTS, f"{count} events stored", "event")
                row = EventRow(
                    participant_id=participant.id,
                    trial_id=trial_id,
                    kind=kind,
                    clip=clip,
                    client_ms=client_ms,
                    detail_json=detail_json,
                    created_at=_now(),
                )
                session.add(row)
                session.flush()
                return row.id
        except SubmissionRejected as error:
            raise self._reject(study, participant_id, error) from None

    @staticmethod
    def _check_event(
        kind: Any, trial_id: Any, clip: Any, client_ms: Any, detail: Mapping[str, Any] | None
    ) -> str | None:
        def bad(why: str) -> SubmissionRejected:
            return SubmissionRejected(Rejection.INVALID_EVENT, why, "event")

        if kind not in EVENT_KINDS:
            raise bad(f"unknown event kind {str(kind)[:40]!r}")
        if trial_id is not None and (isinstance(trial_id, bool) or not isinstance(trial_id, int)):
            raise bad("trial_id must be an integer")
        if kind in _CLIP_EVENTS + _TRIAL_EVENTS and trial_id is None:
            raise bad(f"a {kind!r} event needs a trial")
        if kind in _CLIP_EVENTS:
            if isinstance(clip, bool) or not isinstance(clip, int) or clip < 0:
                raise bad(f"a {kind!r} event needs a clip position >= 0")
        elif clip is not None:
            raise bad(f"a {kind!r} event has no clip")
        if client_ms is not None and (
            isinstance(client_ms, bool)
            or not isinstance(client_ms, int | float)
            or not math.isfinite(client_ms)
        ):
            raise bad("client_ms must be a finite number")
        if detail is None:
            return None
        try:
            detail_json = json.dumps(dict(detail), allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise SubmissionRejected(Rejection.NOT_JSON, f"detail: {exc}", "event") from None
        if len(detail_json.encode("utf-8")) > MAX_EVENT_DETAIL_BYTES:
            raise SubmissionRejected(
                Rejection.OVERSIZED, f"detail over {MAX_EVENT_DETAIL_BYTES} bytes", "event"
            )
        return detail_json

    @staticmethod
    def _trial(
        session: Session,
        study: StudyRecord,
        participant_id: int,
        trial_id: Any,
        what: Literal["answer", "event"],
    ) -> TrialRow:
        if isinstance(trial_id, bool) or not isinstance(trial_id, int):
            raise SubmissionRejected(Rejection.UNKNOWN_TRIAL, "trial id must be an integer", what)
        trial = session.scalar(select(TrialRow).where(TrialRow.id == trial_id, TrialRow.study_id == study.id))
        if trial is None:
            raise SubmissionRejected(Rejection.UNKNOWN_TRIAL, f"no trial {trial_id} in this study", what)
        if trial.participant_id != participant_id:
            raise SubmissionRejected(
                Rejection.FOREIGN_TRIAL, f"trial {trial_id} is another participant's", what
            )
        return trial

    # -- answers ---------------------------------------------------------------------------------
    def submit_answer(self, study: StudyRecord, participant_id: int, trial_id: int, payload: Any) -> Ack:
        """Validate and store an answer; returns the :class:`Ack` after commit.

        ``payload``: the answer as JSON text/bytes from the page, or an already decoded mapping
        (re-encoded to check its size). Raises :class:`SubmissionRejected` for an unknown
        participant or trial, another participant's trial, a replay, an oversized or non-JSON
        payload, an answer that does not fit the trial, or a clip without an ``ended`` event.
        Database errors (e.g. busy past the timeout) propagate: nothing was acknowledged.
        """
        try:
            decoded = _decode_payload(payload)
        except SubmissionRejected as error:
            raise self._reject(study, participant_id, error) from None
        try:
            with self._write() as session:
                # row lock (PostgreSQL): one participant's submissions run one at a time, so the
                # "last answer" check below sees every earlier answer of theirs
                participant = self._participant(session, study, participant_id, lock=True)
                if participant is None:
                    raise SubmissionRejected(
                        Rejection.UNKNOWN_PARTICIPANT, f"no participant {participant_id!r}"
                    )
                trial_row = self._trial(session, study, participant.id, trial_id, "answer")
                already = select(AnswerRow.id).where(
                    AnswerRow.participant_id == participant.id, AnswerRow.trial_id == trial_row.id
                )
                if session.scalar(already) is not None:
                    raise SubmissionRejected(Rejection.REPLAYED, f"trial {trial_id} is already answered")
                trial = Trial.from_json(json.loads(trial_row.spec_json))
                try:
                    answer = validate_answer(study.definition.trial_type, len(trial.clips), decoded)
                except AnswerError as exc:
                    raise SubmissionRejected(Rejection.INVALID_ANSWER, str(exc)) from None
                ended = set(
                    session.scalars(
                        select(EventRow.clip).where(
                            EventRow.participant_id == participant.id,
                            EventRow.trial_id == trial_row.id,
                            EventRow.kind == "ended",
                        )
                    )
                )
                missing = [c for c in range(len(trial.clips)) if c not in ended]
                if missing:
                    raise SubmissionRejected(
                        Rejection.NOT_PLAYED, f"clips {missing} were not played to the end"
                    )
                now = _now()
                floor_ms = playback_floor_ms(study.definition)
                if trial_row.served_at is None:
                    raise SubmissionRejected(Rejection.TOO_FAST, f"trial {trial_id} was never served")
                elapsed_ms = (now - trial_row.served_at).total_seconds() * 1000
                if elapsed_ms < floor_ms:
                    raise SubmissionRejected(
                        Rejection.TOO_FAST,
                        f"answered {elapsed_ms:.0f} ms after the trial was served; "
                        f"its clips need {floor_ms:.0f} ms to play",
                    )
                first = session.scalar(
                    select(func.min(EventRow.created_at)).where(
                        EventRow.participant_id == participant.id, EventRow.trial_id == trial_row.id
                    )
                )
                dwell_ms = None if first is None else round((now - first).total_seconds() * 1000)
                row = AnswerRow(
                    participant_id=participant.id,
                    trial_id=trial_row.id,
                    created_at=now,
                    payload_json=json.dumps(answer, sort_keys=True),
                    dwell_ms=dwell_ms,
                )
                session.add(row)
                if trial.check is not None:
                    passed = check_passed(study.definition.trial_type, trial, answer)
                    session.add(
                        AttentionOutcomeRow(
                            participant_id=participant.id, trial_id=trial_row.id, passed=passed
                        )
                    )
                try:
                    session.flush()
                except IntegrityError:
                    # only reachable if the checks above raced; the constraint is the last word
                    raise SubmissionRejected(
                        Rejection.REPLAYED, f"trial {trial_id} is already answered"
                    ) from None
                total, answered, next_trial = self._progress(session, participant.id)
                if next_trial is not None:
                    self._serve(session, next_trial.id, now)
                if answered == total and participant.completed_at is None:
                    participant.completed_at = now
                code = self._code(study, participant) if answered == total else None
                ack = Ack(row.id, trial_row.id, answered, total, next_trial, code)
            return ack  # the with-block committed: only now is the answer acknowledged
        except SubmissionRejected as error:
            raise self._reject(study, participant_id, error) from None

    # -- reading back ----------------------------------------------------------------------------
    def export_answers(self, study: StudyRecord) -> list[dict[str, Any]]:
        """Every stored answer as a flat row (keys :data:`EXPORT_COLUMNS`), by participant and position."""
        query = (
            select(AnswerRow, TrialRow, ParticipantRow, AttentionOutcomeRow.passed)
            .join(TrialRow, TrialRow.id == AnswerRow.trial_id)
            .join(ParticipantRow, ParticipantRow.id == AnswerRow.participant_id)
            .outerjoin(
                AttentionOutcomeRow,
                (AttentionOutcomeRow.participant_id == AnswerRow.participant_id)
                & (AttentionOutcomeRow.trial_id == AnswerRow.trial_id),
            )
            .where(ParticipantRow.study_id == study.id)
            .order_by(ParticipantRow.participant_index, TrialRow.position)
        )
        trial_type = study.definition.trial_type
        rows: list[dict[str, Any]] = []
        with self._read() as session:
            for answer_row, trial_row, participant, passed in session.execute(query):
                trial = Trial.from_json(json.loads(trial_row.spec_json))
                answer = json.loads(answer_row.payload_json)
                outcome = answer_outcome(trial_type, trial, answer)
                ranks = outcome["ranks"]
                row = {
                    "study_sha256": study.sha256,
                    "participant": participant.identity_hash,
                    "participant_index": participant.participant_index,
                    "trial_id": trial_row.id,
                    "position": trial.position,
                    "kind": trial.kind,
                    "item_id": trial.item_id,
                    "prompt": trial.prompt,
                    "question": trial.question,
                    "clip_models": json.dumps([c.model for c in trial.clips]),
                    "clip_prompts": json.dumps([c.prompt for c in trial.clips], ensure_ascii=False),
                    "answer": answer_row.payload_json,
                    "choice": answer.get("choice"),
                    "ranking": None if "ranking" not in answer else json.dumps(answer["ranking"]),
                    "preferred_model": outcome["preferred_model"],
                    "strength": outcome["strength"],
                    "ranks": None if ranks is None else json.dumps(ranks, sort_keys=True),
                    "attention_passed": passed,
                    "dwell_ms": answer_row.dwell_ms,
                    "answered_at": answer_row.created_at.isoformat(),
                }
                rows.append(row)
        return rows

    def participant_summaries(self, study: StudyRecord) -> list[ParticipantSummary]:
        """Progress, attention-check failures, median dwell and the pre-registered exclusion
        decision (:meth:`ExclusionRules.reasons`) of every participant, by index."""
        rules = study.definition.exclusion
        with self._read() as session:
            participants = session.scalars(
                select(ParticipantRow)
                .where(ParticipantRow.study_id == study.id)
                .order_by(ParticipantRow.participant_index)
            ).all()
            totals = dict(
                session.execute(
                    select(TrialRow.participant_id, func.count())
                    .where(TrialRow.study_id == study.id)
                    .group_by(TrialRow.participant_id)
                ).all()
            )
            answered: dict[int, int] = {}
            dwell: dict[int, list[float]] = {}
            for pid, ms in session.execute(
                select(AnswerRow.participant_id, AnswerRow.dwell_ms)
                .join(ParticipantRow, ParticipantRow.id == AnswerRow.participant_id)
                .where(ParticipantRow.study_id == study.id)
            ):
                answered[pid] = answered.get(pid, 0) + 1
                if ms is not None:
                    dwell.setdefault(pid, []).append(ms / 1000)
            checks: dict[int, list[bool]] = {}
            for pid, passed in session.execute(
                select(AttentionOutcomeRow.participant_id, AttentionOutcomeRow.passed)
                .join(ParticipantRow, ParticipantRow.id == AttentionOutcomeRow.participant_id)
                .where(ParticipantRow.study_id == study.id)
            ):
                checks.setdefault(pid, []).append(bool(passed))
            rejections = dict(
                session.execute(
                    select(RejectionCounterRow.participant_key, func.sum(RejectionCounterRow.count))
                    .where(RejectionCounterRow.study_id == study.id)
                    .group_by(RejectionCounterRow.participant_key)
                ).all()
            )
        out = []
        for p in participants:
            dwell_s = dwell.get(p.id, [])
            failed = sum(not ok for ok in checks.get(p.id, []))
            out.append(
                ParticipantSummary(
                    participant_id=p.id,
                    participant_index=p.participant_index,
                    participant=p.identity_hash,
                    total=int(totals.get(p.id, 0)),
                    answered=answered.get(p.id, 0),
                    completed=p.completed_at is not None,
                    checks_answered=len(checks.get(p.id, [])),
                    checks_failed=failed,
                    median_dwell_s=statistics.median(dwell_s) if dwell_s else None,
                    rejections=int(rejections.get(p.id, 0)),
                    exclusion_reasons=rules.reasons(failed, dwell_s),
                )
            )
        return out


def _rate_lock_key(scope: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"studio.study.storage/rate/{scope}".encode()).digest()[:8], "big", signed=True
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate keys")  # which value would count? refuse rather than guess
    return dict(pairs)


def _decode_payload(payload: Any) -> Any:
    """JSON text/bytes or a mapping -> the decoded value, at most MAX_ANSWER_BYTES of UTF-8."""
    if isinstance(payload, str):
        if len(payload) > MAX_ANSWER_BYTES:  # cheap pre-check: characters <= bytes
            raise SubmissionRejected(Rejection.OVERSIZED, f"payload over {MAX_ANSWER_BYTES} bytes")
        try:
            raw = payload.encode("utf-8")
        except UnicodeEncodeError:
            raise SubmissionRejected(Rejection.NOT_JSON, "payload is not valid Unicode") from None
    elif isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
    elif isinstance(payload, Mapping):
        try:
            raw = json.dumps(dict(payload), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise SubmissionRejected(Rejection.NOT_JSON, f"payload cannot be JSON: {exc}") from None
    else:
        raise SubmissionRejected(
            Rejection.NOT_JSON, f"payload must be JSON text, got {type(payload).__name__}"
        )
    if len(raw) > MAX_ANSWER_BYTES:
        raise SubmissionRejected(
            Rejection.OVERSIZED, f"payload is {len(raw)} bytes (limit {MAX_ANSWER_BYTES})"
        )
    try:
        return json.loads(raw, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SubmissionRejected(Rejection.NOT_JSON, f"payload is not JSON: {exc}") from None
