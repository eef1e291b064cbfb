"""Study storage fixtures: a real PostgreSQL server on loopback, started and stopped by the tests.

The server comes from Debian's ``postgresql`` package (``make test`` installs it, see
scripts/test-packages.txt). As root it runs as the ``postgres`` user (or ``nobody``), because
PostgreSQL refuses to run as root. Its data, socket and log live in a private temporary folder;
it listens on 127.0.0.1 only, with a random password (scram-sha-256). Each test gets a fresh
database on it. ``fsync`` is off: these tests check the studio's constraints and logic, not
PostgreSQL's own durability, and fsync would only make them slower.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from studio.study.definition import StudyDefinition, parse_definition

SECRET = b"test-secret-0123456789abcdef-XYZ"  # 32 bytes; the store's HMAC key in tests


def _pg_bindir() -> Path | None:
    """Debian keeps the server binaries in /usr/lib/postgresql/<major>/bin, off PATH."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[-3].isdigit()]
    found.sort(key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).resolve().parent if initdb and pg_ctl else None


def _run_as() -> tuple[list[str], str | None]:
    """Command prefix and user for running the server: unprivileged even when the tests are root."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.fail("running as root without runuser (util-linux): cannot start PostgreSQL unprivileged")
        return [runuser, "-u", user, "--"], user
    pytest.fail("running as root with no 'postgres' or 'nobody' user to start PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL server; yields the admin URL of its ``postgres`` database."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin or on PATH; "
            "install Debian's 'postgresql' package (make test does) to run the storage tests against it"
        )
    prefix, user = _run_as()
    # not pytest's tmp_path: that lives under a root-only folder the server user cannot enter
    root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
    password = secrets.token_hex(16)
    (root / "pwfile").write_text(password + "\n")
    (root / "sock").mkdir()
    if user is not None:
        record = pwd.getpwnam(user)
        for path in (root, root / "pwfile", root / "sock"):
            os.chown(path, record.pw_uid, record.pw_gid)
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60, check=False)

    init = run(str(bindir / "initdb"), "-D", str(data), "-U", "studio", "--pwfile", str(root / "pwfile"),
               "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    options = "-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100"
    port = 0
    for _attempt in range(3):  # the free port can be taken between probing and binding
        port = _free_port()
        start = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30",
                    "-o", f"{options} -p {port} -k {root / 'sock'}", "start")  # fmt: skip
        if start.returncode == 0:
            break
    else:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start:\n{start.stdout}\n{start.stderr}\n{text}")
    try:
        yield f"postgresql+psycopg://studio:{password}@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_databases(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases on the test server (each call one more); drops them afterwards."""
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    made: list[str] = []

    def make() -> str:
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return postgres_server.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes URLs of empty databases: SQLite files, then databases on the PostgreSQL server."""
    if request.param == "sqlite":
        from studio.study.storage import sqlite_url

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
