"""Study storage fixtures: a real PostgreSQL server on loopback, started and stopped by the tests.

The server comes from Debian's ``postgresql`` package (``make test`` installs it, see
scripts/test-packages.txt), started by :func:`benchmarks.study_server.throwaway_postgres` (the
multi-process load benchmark uses the same): as root it runs as the ``postgres`` user (or
``nobody``), because PostgreSQL refuses to run as root. Its data, socket and log live in a private
temporary folder; it listens on 127.0.0.1 only, with a random password (scram-sha-256). Each test
gets a fresh database on it. ``fsync`` is off: these tests check the studio's constraints and
logic, not PostgreSQL's own durability, and fsync would only make them slower.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.study_server import PostgresUnavailable, create_database, throwaway_postgres
from studio.study.definition import StudyDefinition
from studio.study.parsing import parse_definition

SECRET = b"test-secret-0123456789abcdef-XYZ"  # 32 bytes; the store's HMAC key in tests


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL server; yields the admin URL of its ``postgres`` database."""
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.skip(f"{exc} (make test installs it) to run the storage tests against PostgreSQL")


@pytest.fixture
def postgres_databases(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases on the test server (each call one more); drops them afterwards."""
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    made: list[str] = []

    def make() -> str:
        url = create_database(postgres_server)
        made.append(url.rsplit("/", 1)[1])
        return url

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes URLs of empty databases: SQLite files, then databases on the PostgreSQL server."""
    if request.param == "sqlite":
        from studio.study.schema import sqlite_url

        counter = iter(range(1_000))
        return lambda: sqlite_url(tmp_path / f"study{next(counter)}.db")
    return request.getfixturevalue("postgres_databases")


@pytest.fixture
def db_url(db_factory: Callable[[], str]) -> str:
    """The URL of one empty database (SQLite file or PostgreSQL database)."""
    return db_factory()


def make_definition(**overrides: object) -> StudyDefinition:
    """A small pairwise study: 3 prompts x 3 models (9 pair items), 2 raters per item, 3 items per
    participant, one contradiction and one instruction check -> 5 trials per participant."""
    config: dict[str, object] = {
        "name": "storage test",
        "trial_type": "pairwise",
        "seed": 7,
        "prompts": ["a wide happy smile", "a sad frown", "a surprised gasp"],
        "models": ["alpha", "beta", "gamma"],
        "raters_per_item": 2,
        "items_per_participant": 3,
        "attention_checks": [
            {
                "kind": "contradiction",
                "prompt": "laughing with joy",
                "decoy_prompt": "weeping",
                "model": "beta",
            },
            {"kind": "instruction", "prompt": "a calm neutral face"},
        ],
        "exclusion": {"failed_attention_checks_at_least": 1, "median_dwell_below_s": 1.0},
    }
    config.update(overrides)
    return parse_definition(config)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Iterator[tuple[Any, Any]]:
    """A stored rank study (3 prompts x 3 models, one attention check, one mismatch control) with
    7 simulated participants: index 3 careless (excluded), index 6 incomplete. Yields (store, study)."""
    from studio.study.schema import sqlite_url
    from studio.study.storage import StudyStore
    from tests.study.simulate import simulate

    folder = tmp_path_factory.mktemp("report-db")
    store = StudyStore(sqlite_url(folder / "study.db"), SECRET)
    definition = parse_definition(
        {
            "name": "hand-made rank study",
            "trial_type": "rank",
            "seed": 1,
            "prompts": ["a wide happy smile", "a sad frown", "a surprised gasp"],
            "models": ["alpha", "beta", "gamma"],
            "raters_per_item": 4,
            "attention_checks": [
                {"kind": "contradiction", "prompt": "laughing", "decoy_prompt": "weeping", "model": "beta"}
            ],
            "exclusion": {"failed_attention_checks_at_least": 1, "median_dwell_below_s": 2.0},
            "prompt_mismatch_control": {"per_participant": 1},
        }
    )
    study = store.create_study(definition)
    simulate(
        store, study, 7, {"gamma": 1.5, "beta": 0.5, "alpha": -1.0}, careless=[3], incomplete=[6], seed=4
    )
    yield store, study
    store.close()
