"""Durable storage of studies, participants, trials, answers and play events (SQLAlchemy 2.x).

SQLite by default (one file; WAL journal, ``synchronous=FULL``, a busy timeout and
``foreign_keys=ON`` on every connection; every write in ``BEGIN IMMEDIATE``), PostgreSQL by URL
(``postgresql://`` or ``postgresql+psycopg://``). :class:`StudyStore` is the whole API; it takes the
URL and the server secret as arguments, it does not read the environment.

The tables, their constraints and the migrations are in :mod:`studio.study.schema`; what is
refused and rate-limited in :mod:`studio.study.limits`.

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
:func:`~studio.study.limits.playback_floor_ms` has passed since then. The page lets a participant
play a screen's clips side by side at the same time (nothing forces one after the other), so the
floor is the longest clip of the trial, not the sum of their lengths; every clip of a study has the
same length, less :data:`~studio.study.limits.PLAYBACK_TOLERANCE_MS` for frame rounding. A trial
that was never handed out (a guessed trial id) has no ``served_at`` and is refused the same way.
Each clip still needs its ``ended`` event (``not_played``).

Rate limits live in the database too, so every process serving one database shares them:
``rate_hits`` holds one row per counted action (a new participant admitted, an admin login
attempt) by scope and keyed hash of the client address. :meth:`StudyStore.rate_attempt` decides
and records in one transaction under a lock per scope (PostgreSQL: an advisory transaction lock;
SQLite: ``BEGIN IMMEDIATE`` already serialises writers), so concurrent attempts from several
processes are counted exactly once each; :meth:`StudyStore.get_or_create_participant` does the same
inside the transaction that creates the participant (a resuming participant is never counted).

``StudyStore(...)`` migrates the database to the head schema at start (:func:`~studio.study.schema.migrate`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import statistics
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from studio.study.answers import AnswerError, answer_outcome, check_passed, validate_answer
from studio.study.assignment import participant_trials
from studio.study.definition import StudyDefinition, Trial
from studio.study.limits import (
    MAX_EVENTS_PER_PARTICIPANT,
    Admission,
    HitLog,
    RateLimited,
    RatePolicy,
    Rejection,
    SubmissionRejected,
    check_event,
    decode_payload,
    playback_floor_ms,
    rate_lock_key,
)
from studio.study.parsing import definition_from_canonical_json
from studio.study.records import (
    Ack,
    ParticipantState,
    ParticipantSummary,
    ProlificIdentity,
    StoredTrial,
    StudyRecord,
)
from studio.study.schema import (
    HEAD_VERSION,
    WRITE_OPTION,
    AnswerRow,
    AttentionOutcomeRow,
    EventRow,
    ParticipantRow,
    RateHitRow,
    RejectionCounterRow,
    SchemaVersionRow,
    StorageError,
    StudyRow,
    TrialRow,
    create_study_engine,
    migrate,
    utc_now,
)

__all__ = ["StudyStore"]

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 16


def _mac(secret: bytes, label: str, *parts: str) -> str:
    # NUL separators: ids cannot contain NUL, so ("ab", "c") and ("a", "bc") never collide
    message = "\0".join((label, *parts)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _check_secret(secret: bytes | str) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the study secret must be at least {MIN_SECRET_BYTES} bytes (use 32 random bytes)")
    return key


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
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})
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
        """Migrate the schema up to ``target`` (default: head); returns the version now (:func:`migrate`)."""
        return migrate(self._writer, target)

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
                        created_at=utc_now(),
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
        one with the next participant index and its trials from
        :func:`~studio.study.assignment.participant_trials`.

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
            now = utc_now()
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
            session.execute(select(func.pg_advisory_xact_lock(rate_lock_key(scope))))
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
            return self._rate_attempt(session, scope, client, policy, retention_s, utc_now())

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
        now = utc_now()
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
            detail_json = check_event(kind, trial_id, clip, client_ms, detail)
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
                    created_at=utc_now(),
                )
                session.add(row)
                session.flush()
                return row.id
        except SubmissionRejected as error:
            raise self._reject(study, participant_id, error) from None

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
            decoded = decode_payload(payload)
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
                now = utc_now()
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
        decision (:meth:`~studio.study.definition.ExclusionRules.reasons`) of every participant, by index."""
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
