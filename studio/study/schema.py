"""The study database's tables, migrations and engines (SQLAlchemy 2.x).

SQLite by default (one file; WAL journal, ``synchronous=FULL``, a busy timeout and
``foreign_keys=ON`` on every connection; every write in ``BEGIN IMMEDIATE``), PostgreSQL by URL
(``postgresql://`` or ``postgresql+psycopg://``).

What the database itself enforces, whatever the application code does:

- one answer per (participant, trial): ``UNIQUE (participant_id, trial_id)`` on ``answers``;
- a trial is answered only by its participant: ``answers (trial_id, participant_id)`` is a foreign
  key to ``trials (id, participant_id)``; events and attention outcomes use the same key;
- a trial belongs to a participant of its own study: ``trials (participant_id, study_id)`` ->
  ``participants (id, study_id)``; foreign keys are on in SQLite too.

Schema migrations are explicit and versioned (``schema_versions`` table, :data:`MIGRATIONS`):
:func:`migrate` runs them under ``BEGIN IMMEDIATE`` (SQLite) or an advisory lock (PostgreSQL),
so two processes starting together do not both migrate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from studio.errors import StudioError

log = logging.getLogger(__name__)

# PostgreSQL advisory lock held while migrating (any constant 64-bit key unique to this app)
_MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"studio.study.storage/migrate").digest()[:8], "big", signed=True
)
WRITE_OPTION = "studio_write"  # execution option marking the engine whose transactions write


class StorageError(StudioError, RuntimeError):
    """The database cannot be used as asked (unknown URL scheme, newer schema, tampered study)."""


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


def utc_now() -> datetime:
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
    0-based arrival order that :func:`~studio.study.assignment.participant_trials` assigns trials from."""

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
    now = bindparam("now", utc_now(), type_=UTCDateTime)
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


def migrate(writer: Engine, target: int = HEAD_VERSION) -> int:
    """Apply migrations up to ``target`` (default: head) in one transaction on ``writer`` (an engine
    whose transactions write); returns the version now. Refuses a database newer than this code or
    one with study tables but no version table."""
    if not 1 <= target <= HEAD_VERSION:
        raise ValueError(f"target must be in [1, {HEAD_VERSION}], got {target}")
    versions = Base.metadata.tables["schema_versions"]
    with writer.begin() as conn:
        if writer.dialect.name == "postgresql":
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
            conn.execute(versions.insert().values(version=version, applied_at=utc_now()))
            log.info("study database migrated to schema version %d", version)
        return max(current, target)


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
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
