"""Study storage against SQLite and a real PostgreSQL server (both through ``db_url``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from studio.study import storage
from studio.study.assignment import participant_trials
from studio.study.definition import Trial
from studio.study.limits import MAX_ANSWER_BYTES, Rejection, SubmissionRejected
from studio.study.records import EXPORT_COLUMNS, Ack, ParticipantState, ProlificIdentity, StudyRecord
from studio.study.schema import (
    AnswerRow,
    EventRow,
    StorageError,
    utc_now,
)
from studio.study.storage import StudyStore
from tests.study.conftest import SECRET, make_definition
from tests.study.simulate import backdate

PID = "5f1d3c0ffee0b5e55ed1d2a3"  # looks like a Prolific id; must never reach the database
PROLIFIC_STUDY = "64aa0bb1cc2dd3ee4ff50617"
SESSION = "sess9c8b7a6f5e4d3c2b1a0"


def identity(n: int = 0, session: str = SESSION) -> ProlificIdentity:
    return ProlificIdentity(PID if n == 0 else f"participant{n:04d}", PROLIFIC_STUDY, session)


@pytest.fixture
def store(db_url: str):
    with StudyStore(db_url, SECRET) as opened:
        yield opened


@pytest.fixture
def study(store: StudyStore) -> StudyRecord:
    return store.create_study(make_definition())


def good_answer(trial: Trial, *, pass_check: bool = True) -> str:
    """A valid pairwise answer; for attention checks, one that passes (or fails) it."""
    choice = "a"
    if trial.check is not None:
        target = trial.check.position
        wanted = target if trial.check.rule == "choose" else 1 - target
        choice = "ab"[wanted if pass_check else 1 - wanted]
    return json.dumps({"choice": choice})


def play(store: StudyStore, study: StudyRecord, participant_id: int, trial_id: int, n_clips: int = 2) -> None:
    """Watch every clip to the end; the trial counts as served 5 s ago (its clips last 4 s), its
    events stay where they are (dwell tests see milliseconds)."""
    store.record_event(study, participant_id, "shown", trial_id=trial_id)
    for clip in range(n_clips):
        store.record_event(study, participant_id, "play", trial_id=trial_id, clip=clip, client_ms=10.0)
        store.record_event(study, participant_id, "ended", trial_id=trial_id, clip=clip, client_ms=4010.0)
    backdate(store, trial_id, 0.0, served_s=5.0)


def answer_next(store: StudyStore, study: StudyRecord, participant_id: int, **kw: bool) -> Ack:
    state = store.participant_state(study, participant_id)
    assert state.next_trial is not None
    trial = state.next_trial
    play(store, study, participant_id, trial.id, len(trial.trial.clips))
    return store.submit_answer(study, participant_id, trial.id, good_answer(trial.trial, **kw))


def stored_answers(store: StudyStore, study: StudyRecord) -> list[tuple[int, str, str]]:
    return [(r["trial_id"], r["participant"], r["answer"]) for r in store.export_answers(study)]


# -- studies ------------------------------------------------------------------------------------


def test_create_study_is_idempotent_by_hash(store: StudyStore):
    definition = make_definition()
    first = store.create_study(definition)
    again = store.create_study(make_definition())
    other = store.create_study(make_definition(seed=8))
    assert first.created and not again.created and other.created
    assert again.id == first.id and other.id != first.id
    assert (
        first.sha256 == definition.sha256 == hashlib.sha256(definition.canonical_json().encode()).hexdigest()
    )
    loaded = store.get_study(first.sha256)
    assert loaded.id == first.id and loaded.definition == definition
    assert store.get_study(first.id).definition == definition
    assert [row[1] for row in store.list_studies()] == [first.sha256, other.sha256]
    with pytest.raises(KeyError):
        store.get_study("0" * 64)


def test_a_study_edited_in_the_database_is_refused(store: StudyStore, study: StudyRecord):
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE studies SET config_json = replace(config_json, :old, :new)"),
            {"old": '"seed":7', "new": '"seed":9'},
        )
    with pytest.raises(StorageError, match="does not match its hash"):
        store.get_study(study.id)


# -- participants -------------------------------------------------------------------------------


def test_participant_gets_the_pure_assignment_and_resumes_after_a_reload(db_url: str):
    with StudyStore(db_url, SECRET) as store:
        study = store.create_study(make_definition())
        state = store.get_or_create_participant(study, identity())
        assert state.created and state.participant_index == 0 and state.answered == 0
        expected = participant_trials(study.definition, 0)
        assert state.total == len(expected) == 5
        assert state.next_trial is not None and state.next_trial.trial == expected[0]
        answer_next(store, study, state.participant_id)
        answer_next(store, study, state.participant_id)
    # a "reload": a new server process, a new Prolific session id, the same person
    with StudyStore(db_url, SECRET) as store:
        study = store.get_study(study.sha256)
        again = store.get_or_create_participant(study, identity(session="anotherSession1"))
        assert not again.created
        assert again.participant_id == state.participant_id and again.participant_index == 0
        assert again.answered == 2 and again.next_trial is not None
        assert again.next_trial.trial == expected[2]
        second = store.get_or_create_participant(study, identity(1))
        assert second.created and second.participant_index == 1
        assert (
            second.next_trial is not None
            and second.next_trial.trial == participant_trials(study.definition, 1)[0]
        )


def test_concurrent_arrivals_get_distinct_indexes_and_one_row_per_person(
    store: StudyStore, study: StudyRecord
):
    people = [identity(n % 6 + 1) for n in range(24)]  # 6 people, each arriving 4 times at once
    barrier = threading.Barrier(len(people))

    def arrive(person: ProlificIdentity) -> tuple[str, int]:
        barrier.wait(timeout=30)
        return person.pid, store.get_or_create_participant(study, person).participant_id

    with ThreadPoolExecutor(len(people)) as pool:
        results = list(pool.map(arrive, people))
    ids: dict[str, set[int]] = {}
    for pid, participant_id in results:
        ids.setdefault(pid, set()).add(participant_id)
    assert len(ids) == 6 and all(len(found) == 1 for found in ids.values())
    summaries = store.participant_summaries(study)
    assert sorted(s.participant_index for s in summaries) == list(range(6))
    assert all(s.total == 5 for s in summaries)


# -- answers ------------------------------------------------------------------------------------


def test_completion_code_only_with_the_last_committed_answer(store: StudyStore, study: StudyRecord):
    state = store.get_or_create_participant(study, identity())
    codes = []
    for _ in range(state.total):
        assert store.completion_code(study, state.participant_id) is None
        ack = answer_next(store, study, state.participant_id)
        codes.append(ack.completion_code)
    assert codes[:-1] == [None] * (state.total - 1)
    assert codes[-1] is not None and len(codes[-1]) == 12
    assert ack.answered == ack.total == state.total and ack.next_trial is None
    assert store.completion_code(study, state.participant_id) == codes[-1]
    resumed = store.get_or_create_participant(study, identity())
    assert resumed.completion_code == codes[-1] and resumed.next_trial is None
    # a study configured with Prolific's own completion code hands out that one
    prolific = store.create_study(make_definition(completion_code="C1A2B3C4"))
    other = store.get_or_create_participant(prolific, identity())
    for _ in range(other.total):
        ack = answer_next(store, prolific, other.participant_id)
    assert ack.completion_code == "C1A2B3C4"


def _trial_ids(store: StudyStore, study: StudyRecord, participant_id: int) -> list[int]:
    with Session(store.engine) as session:
        rows = session.execute(
            text("SELECT id FROM trials WHERE participant_id = :p ORDER BY position"), {"p": participant_id}
        )
        return [r[0] for r in rows]


def test_forged_and_malformed_answers_are_rejected_counted_and_change_nothing(
    store: StudyStore, study: StudyRecord
):
    alice = store.get_or_create_participant(study, identity(1)).participant_id
    bob = store.get_or_create_participant(study, identity(2)).participant_id
    alice_trials, bob_trials = _trial_ids(store, study, alice), _trial_ids(store, study, bob)
    answer_next(store, study, alice)  # alice answered her first trial
    for trial_id in (alice_trials[1], bob_trials[0]):
        owner = alice if trial_id in alice_trials else bob
        play(store, study, owner, trial_id)
    store.record_event(study, alice, "ended", trial_id=alice_trials[2], clip=0)  # clip 1 never ended
    other_study = store.create_study(make_definition(seed=99))
    stranger = store.get_or_create_participant(other_study, identity(3)).participant_id
    stranger_trial = _trial_ids(store, other_study, stranger)[0]
    ok = json.dumps({"choice": "a"})
    cases = [
        (alice, 10**9, ok, Rejection.UNKNOWN_TRIAL),
        (alice, stranger_trial, ok, Rejection.UNKNOWN_TRIAL),  # a trial of another study
        (alice, "1", ok, Rejection.UNKNOWN_TRIAL),
        (alice, bob_trials[0], ok, Rejection.FOREIGN_TRIAL),
        (alice, alice_trials[0], ok, Rejection.REPLAYED),
        (alice, alice_trials[0], json.dumps({"choice": "b"}), Rejection.REPLAYED),
        (alice, alice_trials[1], "x" * (MAX_ANSWER_BYTES + 1), Rejection.OVERSIZED),
        (alice, alice_trials[1], {"choice": "a", "pad": "é" * MAX_ANSWER_BYTES}, Rejection.OVERSIZED),
        (alice, alice_trials[1], b'{"choice": "a"', Rejection.NOT_JSON),
        (alice, alice_trials[1], '{"choice": NaN}', Rejection.NOT_JSON),
        (alice, alice_trials[1], '{"choice": "a", "choice": "b"}', Rejection.NOT_JSON),
        (alice, alice_trials[1], b"\xff\xfe{}", Rejection.NOT_JSON),
        (alice, alice_trials[1], 42, Rejection.NOT_JSON),
        (alice, alice_trials[1], {"choice": object()}, Rejection.NOT_JSON),
        (alice, alice_trials[1], '["a"]', Rejection.INVALID_ANSWER),
        (alice, alice_trials[1], '{"choice": "left"}', Rejection.INVALID_ANSWER),
        (alice, alice_trials[1], '{"choice": "a", "extra": 1}', Rejection.INVALID_ANSWER),
        (alice, alice_trials[1], '{"ranking": [1, 2]}', Rejection.INVALID_ANSWER),
        (alice, alice_trials[2], ok, Rejection.NOT_PLAYED),
        (alice, alice_trials[3], ok, Rejection.NOT_PLAYED),
        (10**9, alice_trials[1], ok, Rejection.UNKNOWN_PARTICIPANT),
        (stranger, alice_trials[1], ok, Rejection.UNKNOWN_PARTICIPANT),  # a participant of another study
    ]
    expected: Counter[str] = Counter()
    for participant, trial_id, payload, reason in cases:
        before = stored_answers(store, study)
        with pytest.raises(SubmissionRejected) as caught:
            store.submit_answer(study, participant, trial_id, payload)
        assert caught.value.reason is reason, (trial_id, payload, caught.value)
        assert stored_answers(store, study) == before
        expected[f"answer.{reason.value}"] += 1
        assert store.rejection_counts(study) == dict(expected)
    assert store.rejection_counts(other_study) == {}
    by_participant = {s.participant_id: s.rejections for s in store.participant_summaries(study)}
    assert by_participant[alice] == len(cases) - 2 and by_participant[bob] == 0
    # the legitimate answers still go through afterwards
    assert store.submit_answer(study, alice, alice_trials[1], ok).answered == 2
    assert store.submit_answer(study, bob, bob_trials[0], ok).answered == 1


def test_bad_events_are_rejected_and_counted(store: StudyStore, study: StudyRecord, monkeypatch):
    alice = store.get_or_create_participant(study, identity(1)).participant_id
    bob = store.get_or_create_participant(study, identity(2)).participant_id
    alice_trial, bob_trial = _trial_ids(store, study, alice)[0], _trial_ids(store, study, bob)[0]
    cases = [
        dict(kind="ended", trial_id=bob_trial, clip=0, why=Rejection.FOREIGN_TRIAL),
        dict(kind="ended", trial_id=10**9, clip=0, why=Rejection.UNKNOWN_TRIAL),
        dict(kind="ended", trial_id=alice_trial, clip=2, why=Rejection.INVALID_EVENT),
        dict(kind="ended", trial_id=alice_trial, clip=None, why=Rejection.INVALID_EVENT),
        dict(kind="ended", trial_id=None, clip=0, why=Rejection.INVALID_EVENT),
        dict(kind="shown", trial_id=alice_trial, clip=0, why=Rejection.INVALID_EVENT),
        dict(kind="teleport", trial_id=alice_trial, clip=None, why=Rejection.INVALID_EVENT),
    ]
    for case in cases:
        with pytest.raises(SubmissionRejected) as caught:
            store.record_event(study, alice, case["kind"], trial_id=case["trial_id"], clip=case["clip"])
        assert caught.value.reason is case["why"] and caught.value.what == "event"
    with pytest.raises(SubmissionRejected) as caught:
        store.record_event(study, alice, "consent", detail={"x": "y" * 2000})
    assert caught.value.reason is Rejection.OVERSIZED
    with pytest.raises(SubmissionRejected) as caught:
        store.record_event(study, alice, "play", trial_id=alice_trial, clip=0, client_ms=float("nan"))
    assert caught.value.reason is Rejection.INVALID_EVENT
    monkeypatch.setattr(storage, "MAX_EVENTS_PER_PARTICIPANT", 3)
    for _ in range(3):
        store.record_event(study, alice, "consent")
    with pytest.raises(SubmissionRejected) as caught:
        store.record_event(study, alice, "consent")
    assert caught.value.reason is Rejection.TOO_MANY_EVENTS
    counts = store.rejection_counts(study)
    assert counts == {
        "event.foreign_trial": 1,
        "event.unknown_trial": 1,
        "event.invalid_event": 6,
        "event.oversized": 1,
        "event.too_many_events": 1,
    }
    with Session(store.engine) as session:
        assert session.scalar(text("SELECT count(*) FROM events")) == 3


def test_the_database_itself_enforces_one_answer_and_the_trial_owner(store: StudyStore, study: StudyRecord):
    """Bypass the application: raw inserts that break the rules must fail in the database."""
    alice = store.get_or_create_participant(study, identity(1)).participant_id
    bob = store.get_or_create_participant(study, identity(2)).participant_id
    alice_trial, bob_trial = _trial_ids(store, study, alice)[0], _trial_ids(store, study, bob)[0]
    now = utc_now()
    VALID = '{"choice": "a"}'  # noqa: N806

    def insert(*rows: object) -> None:
        with Session(store.engine) as session, session.begin():
            session.add_all(rows)

    insert(AnswerRow(participant_id=alice, trial_id=alice_trial, payload_json=VALID, created_at=now))
    with pytest.raises(IntegrityError):  # a second answer to the same trial
        insert(AnswerRow(participant_id=alice, trial_id=alice_trial, payload_json=VALID, created_at=now))
    with pytest.raises(IntegrityError):  # alice answering bob's trial
        insert(AnswerRow(participant_id=alice, trial_id=bob_trial, payload_json=VALID, created_at=now))
    with pytest.raises(IntegrityError):  # a trial that does not exist (foreign keys are on)
        insert(AnswerRow(participant_id=alice, trial_id=10**9, payload_json=VALID, created_at=now))
    with pytest.raises(IntegrityError):  # an event on another participant's trial
        insert(EventRow(participant_id=alice, trial_id=bob_trial, kind="ended", clip=0, created_at=now))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:  # a trial moved to another study
        conn.execute(
            text("UPDATE trials SET study_id = :s WHERE id = :t"),
            {"s": store.create_study(make_definition(seed=3)).id, "t": bob_trial},
        )
    assert len(store.export_answers(study)) == 1


def test_concurrent_submitters_lose_nothing_and_duplicate_nothing(store: StudyStore, study: StudyRecord):
    """Eight participants, each answered by two racing threads (a double click, a retry, a second
    tab): one walks the trials forwards, one backwards, so they collide on some trials and finish
    different trials at the same moment."""
    people = [store.get_or_create_participant(study, identity(n + 1)) for n in range(8)]
    for person in people:
        for trial_id in _trial_ids(store, study, person.participant_id):
            play(store, study, person.participant_id, trial_id)
    acks: list[Ack] = []
    replays: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def racer(person: ParticipantState, backwards: bool) -> None:
        trial_ids = _trial_ids(store, study, person.participant_id)
        specs = {t: Trial.from_json(json.loads(_spec(store, t))) for t in trial_ids}
        barrier.wait(timeout=30)
        for trial_id in reversed(trial_ids) if backwards else trial_ids:
            try:
                ack = store.submit_answer(
                    study, person.participant_id, trial_id, good_answer(specs[trial_id])
                )
            except SubmissionRejected as rejected:
                assert rejected.reason is Rejection.REPLAYED
                with lock:
                    replays.append(trial_id)
            else:
                with lock:
                    acks.append(ack)

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(racer, person, backwards) for person in people for backwards in (False, True)]
        for future in futures:
            future.result()
    total = sum(p.total for p in people)
    rows = store.export_answers(study)
    assert len(acks) == total == len(rows) == len(replays)  # two tries per trial: one stored, one refused
    assert len({a.trial_id for a in acks}) == total  # every trial acknowledged exactly once
    assert {r["trial_id"] for r in rows} == {a.trial_id for a in acks}
    assert store.rejection_counts(study) == {"answer.replayed": total}
    # whoever stored a participant's last answer got the code, even when two answers finished together
    assert sum(a.completion_code is not None for a in acks) == len(people)
    assert all(store.completion_code(study, p.participant_id) is not None for p in people)


def _spec(store: StudyStore, trial_id: int) -> str:
    with Session(store.engine) as session:
        return session.scalar(text("SELECT spec_json FROM trials WHERE id = :t"), {"t": trial_id})


def test_export_attention_outcomes_dwell_and_exclusions(store: StudyStore, study: StudyRecord):
    careful = store.get_or_create_participant(study, identity(1)).participant_id
    careless = store.get_or_create_participant(study, identity(2)).participant_id
    for _ in range(5):
        answer_next(store, study, careful)
        answer_next(store, study, careless, pass_check=False)
    rows = store.export_answers(study)
    assert len(rows) == 10 and all(tuple(row) == EXPORT_COLUMNS for row in rows)
    assert [r["position"] for r in rows] == [0, 1, 2, 3, 4] * 2
    checks = [(r["participant_index"], r["attention_passed"]) for r in rows if r["kind"] == "attention"]
    assert sorted(checks) == [(0, True), (0, True), (1, False), (1, False)]
    assert all(r["attention_passed"] is None for r in rows if r["kind"] == "item")
    for row in rows:
        models = json.loads(row["clip_models"])
        if row["kind"] == "item":
            assert row["preferred_model"] == models[0] and row["choice"] == "a"
            assert row["item_id"].split(":")[1] == "~".join(
                sorted(models, key=["alpha", "beta", "gamma"].index)
            )
        assert row["dwell_ms"] is not None and row["dwell_ms"] >= 0
    summaries = {s.participant_index: s for s in store.participant_summaries(study)}
    assert summaries[0].completed and summaries[0].checks_failed == 0
    assert summaries[1].checks_failed == 2 and summaries[1].checks_answered == 2
    # both answered within milliseconds, far below the 1 s median-dwell rule; careless also failed checks
    assert any("median dwell" in r for r in summaries[0].exclusion_reasons)
    assert any("failed 2 attention checks" in r for r in summaries[1].exclusion_reasons)


# -- identity -----------------------------------------------------------------------------------


def test_identity_is_a_keyed_hash_and_never_stored_raw(db_url: str, tmp_path: Path):
    with StudyStore(db_url, SECRET) as store:
        study = store.create_study(make_definition())
        state = store.get_or_create_participant(study, identity())
        for _ in range(2):
            answer_next(store, study, state.participant_id)
        expected = hmac.new(
            SECRET, f"studio-participant-v1\0{PID}\0{PROLIFIC_STUDY}".encode(), "sha256"
        ).hexdigest()
        assert store.identity_hash(identity()) == expected
        assert store.export_answers(study)[0]["participant"] == expected
        with StudyStore(db_url, b"another-secret-of-enough-bytes!!", upgrade=False) as other:
            assert other.identity_hash(identity()) != expected
        raw_ids = [value.encode() for value in (PID, PROLIFIC_STUDY, SESSION)]
        if make_url(db_url).get_backend_name() == "sqlite":
            files = list(Path(make_url(db_url).database).parent.glob("study*.db*"))
            blob = b"".join(f.read_bytes() for f in files)
            assert any(f.name.endswith("-wal") for f in files)  # data still in the WAL is scanned too
        else:
            with store.engine.connect() as conn:
                tables = inspect(conn).get_table_names()
                blob = "\n".join(
                    row[0]
                    for t in tables
                    for row in conn.execute(text(f"SELECT row_to_json(t)::text FROM {t} t"))
                ).encode()
        assert expected.encode() in blob and b"a wide happy smile" in blob  # the scan does see the data
        for raw in raw_ids:
            assert raw not in blob
    assert PID not in repr(identity()) and SESSION not in repr(identity())


def test_identity_and_secret_validation():
    with pytest.raises(ValueError, match="PROLIFIC_PID"):
        ProlificIdentity("")
    with pytest.raises(ValueError, match="session_id"):
        ProlificIdentity("abc", "def", "<script>")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        StudyStore("sqlite:///unused.db", b"short")
