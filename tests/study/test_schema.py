"""The study database: SQLite connection settings, refused URLs, migrations against the head tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from studio.study.assignment import participant_trials
from studio.study.limits import SubmissionRejected
from studio.study.schema import (
    HEAD_VERSION,
    Base,
    StorageError,
    create_study_engine,
    sqlite_url,
    utc_now,
)
from studio.study.storage import StudyStore
from tests.study.conftest import SECRET, make_definition
from tests.study.test_storage import answer_next, identity

# -- SQLite specifics ---------------------------------------------------------------------------


def test_sqlite_pragmas_are_set_on_every_connection(tmp_path: Path):
    url = sqlite_url(tmp_path / "pragmas.db")
    with StudyStore(url, SECRET, busy_timeout_ms=4321) as store:
        connections = [store.engine.connect() for _ in range(3)]  # three distinct pooled connections
        try:
            for conn in connections:
                names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
                values = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names]
                assert values == ["wal", 2, 1, 4321]  # synchronous 2 = FULL
        finally:
            for conn in connections:
                conn.close()


def test_sqlite_writes_begin_immediate_and_reads_do_not(tmp_path: Path):
    store = StudyStore(sqlite_url(tmp_path / "begin.db"), SECRET)
    statements: list[str] = []

    def trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(statements.append)

    from sqlalchemy import event

    store.engine.dispose()
    event.listen(store.engine, "connect", trace)
    study = store.create_study(make_definition())
    participant = store.get_or_create_participant(study, identity())
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins and all(s == "BEGIN IMMEDIATE" for s in begins)
    statements.clear()
    answer_next(store, study, participant.participant_id)
    assert [s for s in statements if s.startswith("BEGIN")].count("BEGIN IMMEDIATE") >= 6  # events + answer
    statements.clear()
    store.export_answers(study)
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN"]
    store.close()


def test_unusable_urls_are_refused():
    with pytest.raises(StorageError, match="in-memory"):
        StudyStore("sqlite://", SECRET)
    with pytest.raises(StorageError, match="unsupported"):
        StudyStore("mysql://localhost/x", SECRET)


# -- migrations ---------------------------------------------------------------------------------


V1_ROWS = (
    "INSERT INTO studies (id, config_hash, name, trial_type, config_json, created_at) "
    "VALUES (1, :h, 'old', 'pairwise', :j, :t)",
    "INSERT INTO participants (id, study_id, participant_index, identity_hash, created_at, last_seen_at) "
    "VALUES (1, 1, 0, :i, :t, :t)",
    "INSERT INTO trials (id, study_id, participant_id, position, kind, item_id, spec_json) "
    "VALUES (1, 1, 1, 0, 'item', :item, :spec)",
    "INSERT INTO answers (id, participant_id, trial_id, payload_json, created_at) "
    'VALUES (1, 1, 1, \'{"choice": "b"}\', :t)',
)


def schema_of(url: str) -> dict[str, object]:
    """Tables, columns, keys, constraints and indexes as the database reports them."""
    engine = create_study_engine(url)
    try:
        insp = inspect(engine)
        out: dict[str, object] = {}
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": sorted(
                    (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
                ),
                "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                    for f in insp.get_foreign_keys(table)
                ),
                "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)
                ),
                "checks": sorted(c["name"] for c in insp.get_check_constraints(table)),
            }
        return out
    finally:
        engine.dispose()


def test_migrating_an_old_database_keeps_its_data_and_matches_the_models(db_factory: Callable[[], str]):
    url = db_factory()
    with StudyStore(url, SECRET, upgrade=False) as old:
        assert old.upgrade(target=1) == 1
        assert old.schema_version() == 1
        with old.engine.connect() as conn:
            assert "attention_outcomes" not in inspect(conn).get_table_names()
        # the data a version-1 studio wrote, by hand (today's ORM classes do not fit that schema)
        definition = make_definition()
        trial = participant_trials(definition, 0)[0]
        with old.engine.begin() as conn:
            now = utc_now().replace(tzinfo=None)
            values = {
                "h": definition.sha256,
                "j": definition.canonical_json(),
                "t": now,
                "i": "f" * 64,
                "item": trial.item_id,
                "spec": json.dumps(trial.to_json()),
            }
            for statement in V1_ROWS:
                conn.execute(text(statement), values)
    with StudyStore(url, SECRET) as store:  # what the app does at start
        assert store.schema_version() == HEAD_VERSION == 3
        study = store.get_study(definition.sha256)
        (row,) = store.export_answers(study)
        assert row["answer"] == '{"choice": "b"}' and row["dwell_ms"] is None and row["choice"] == "b"
        with pytest.raises(SubmissionRejected):  # the version-2 tables work on the migrated database
            store.submit_answer(study, 1, 1, '{"choice": "a"}')
        assert store.rejection_counts(study) == {"answer.replayed": 1}
    fresh = db_factory()
    engine = create_study_engine(fresh)
    Base.metadata.create_all(engine)
    engine.dispose()
    assert schema_of(url) == schema_of(fresh)


def test_upgrade_refuses_a_newer_or_unversioned_database(db_factory: Callable[[], str]):
    url = db_factory()
    with StudyStore(url, SECRET) as store:
        assert store.upgrade() == HEAD_VERSION  # idempotent
        with store.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO schema_versions (version, applied_at) VALUES (99, :t)"),
                {"t": utc_now().replace(tzinfo=None)},
            )
    with pytest.raises(StorageError, match="version 99"):
        StudyStore(url, SECRET)
    unversioned = db_factory()
    engine = create_study_engine(unversioned)
    Base.metadata.tables["studies"].create(engine)
    engine.dispose()
    with pytest.raises(StorageError, match="no schema_versions"):
        StudyStore(unversioned, SECRET)
