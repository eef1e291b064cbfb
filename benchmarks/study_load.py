"""Study load benchmark: ``python -m benchmarks.study_load --participants 50 --seconds 120 --json``.

Against a real server (``python app.py`` on a free loopback port, its own temporary SQLite database
and output folder, the tiny rank study of :mod:`benchmarks.study_server`: three screens of three
clips per participant), ``--participants`` simulated participants work concurrently through the
JSON API for ``--seconds``: each starts with a fresh PROLIFIC_PID, and per screen sends ``shown``,
then for every clip ``play``, waits ``--watch-ms`` (watching it) and sends ``ended``, then waits
``--think-ms`` and answers (never sooner than the clips last: the server refuses that); a
participant who finishes starts over as a new one. Afterwards the database is read back directly.

``--replicas N --db postgresql``: a throw-away PostgreSQL server (as the tests start one) holds the
study, and N server processes serve it on their own loopback ports; participants are spread over
them round robin. Every server trusts one proxy hop and each simulated participant claims its own
address in ``X-Forwarded-For``, so the per-client start limit only bites where it should: after the
load, a burst of ``4 x limit`` new participants from ONE address, sent at once and spread over all
replicas, must be admitted exactly ``limit`` times (the limit lives in the database, not in one
process), and wrong admin passwords from one address, alternating between replicas, must be
answered 401 exactly ``STUDIO_ADMIN_BACKOFF_AFTER`` times before the back-off (429).

Pace: the defaults model a participant of a default study (4-second clips watched one after the
other, 2 s to decide: ~14 s and 8 requests per screen). ``--watch-ms 0 --think-ms 0`` is a stress
test instead: every participant fires its next request the moment the last one returns, which on
SQLite measures the database's commit rate (each write is one fsync'd transaction).

Prints one JSON object: ``acknowledged`` (answers the server acknowledged with 200), ``stored``
(answer rows of the study), ``lost`` (acknowledged answers not in the database), ``duplicates``
(answers acknowledged twice or stored twice), ``p50_ms``/``p95_ms``/``max_ms`` (answer round
trips), ``requests`` and ``requests_per_s`` (all API calls), ``errors`` (failed calls, first few
messages), ``completed`` (participants who got a completion code) and ``machine``; then
``database``, ``replicas``, and for the limits: ``limit`` (new participants per client and window),
``burst`` (starts sent in the burst), ``admitted_in_burst``, ``rate_limited`` (answered 429 with
Retry-After), ``burst_admitted_by_replica``, ``admin_backoff_after`` and
``admin_failures_before_backoff``. Targets (issue 7, 2 cores): lost = 0, duplicates = 0,
p95 <= 500 ms; admitted_in_burst = limit; admin_failures_before_backoff = admin_backoff_after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.study_server import (
    Participant,
    StudyServer,
    TinyStudy,
    create_database,
    prepare_study,
    throwaway_postgres,
)

TARGETS = {"lost": 0, "duplicates": 0, "p95_ms": 500.0}
START_LIMIT = 5  # new participants per client address and window, for the burst
ADMIN_BACKOFF_AFTER = 5
ADMIN_TOKEN = "load-benchmark-admin-0123456789"
BURST_ADDRESS, LOGIN_ADDRESS = "192.0.2.1", "192.0.2.2"
SETTINGS = {
    "STUDIO_TRUSTED_PROXY_HOPS": "1",  # the benchmark plays the proxy: X-Forwarded-For is the client
    "STUDIO_START_LIMIT_PER_CLIENT": str(START_LIMIT),
    "STUDIO_START_LIMIT_CLIENT_WINDOW_S": "600",
    "STUDIO_START_LIMIT_TOTAL": "0",  # the load itself admits hundreds; only the per-client limit is measured
    "STUDIO_ADMIN_BACKOFF_AFTER": str(ADMIN_BACKOFF_AFTER),
}


def stored_answers(study: TinyStudy) -> list[tuple[int, int]]:
    """``(participant row id, trial id)`` of every stored answer of the study, read from the database."""
    from sqlalchemy import text

    from studio.study.schema import create_study_engine

    engine = create_study_engine(study.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.participant_id, a.trial_id FROM answers a "
                    "JOIN participants p ON p.id = a.participant_id WHERE p.study_id = :study"
                ),
                {"study": study.study_id},
            ).all()
    finally:
        engine.dispose()
    return [(int(p), int(t)) for p, t in rows]


def check_answers(acknowledged: list[int], study: TinyStudy) -> dict[str, int]:
    """Compare acknowledged trial ids with the database (trial ids are unique across participants)."""
    stored = stored_answers(study)
    stored_trials = Counter(t for _, t in stored)
    acked = Counter(acknowledged)
    return {
        "acknowledged": sum(acked.values()),
        "stored": len(stored),
        "lost": sum(1 for t in acked if t not in stored_trials),
        "duplicates": sum(n - 1 for n in acked.values() if n > 1)
        + sum(n - 1 for n in stored_trials.values()),
    }


async def _participant_loop(
    client: Any,
    study: TinyStudy,
    worker: int,
    deadline: float,
    pace: tuple[float, float],
    log: dict[str, Any],
) -> None:
    rng = np.random.default_rng(worker)
    await asyncio.sleep(rng.uniform(0, pace[0] + pace[1]))  # participants arrive over a while, not at once
    run = 0
    while time.perf_counter() < deadline:
        address = f"10.{worker % 256}.{run // 250 % 256}.{run % 250 + 1}"  # each participant its own client
        participant = Participant(client, study.study_id, f"bench{worker:04d}x{run:05d}", rng, address)
        run += 1
        try:
            await participant.run(*pace, deadline=deadline)
        except Exception as exc:  # counted and shown, never hidden: an error is a finding
            log["errors"] += 1
            if len(log["messages"]) < 5:
                log["messages"].append(f"{type(exc).__name__}: {str(exc)[:200]}")
        log["acknowledged"] += participant.acknowledged
        log["latencies_ms"] += participant.latencies_ms
        log["completed"] += participant.completion_code is not None


def _count_requests(client: Any) -> dict[str, int]:
    counter = {"n": 0}

    async def hook(_request: Any) -> None:
        counter["n"] += 1

    client.event_hooks["request"].append(hook)
    return counter


async def _drive(
    study: TinyStudy, urls: list[str], participants: int, seconds: float, pace: tuple[float, float]
) -> dict[str, Any]:
    import httpx

    log: dict[str, Any] = {
        "acknowledged": [],
        "latencies_ms": [],
        "errors": 0,
        "messages": [],
        "completed": 0,
    }
    limits = httpx.Limits(max_connections=participants, max_keepalive_connections=participants)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) for url in urls]
    try:
        counters = [_count_requests(client) for client in clients]
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(
            *(
                _participant_loop(clients[w % len(clients)], study, w, deadline, pace, log)
                for w in range(participants)
            )
        )
        elapsed = time.perf_counter() - start
    finally:
        for client in clients:
            await client.aclose()
    log["requests"], log["elapsed_s"] = sum(c["n"] for c in counters), elapsed
    return log


async def _limits(study: TinyStudy, urls: list[str]) -> dict[str, Any]:
    """The burst from one address over every replica, then wrong admin passwords (module docstring)."""
    import httpx

    burst = 4 * START_LIMIT
    clients = [httpx.AsyncClient(base_url=url, timeout=60.0) for url in urls]
    try:
        forwarded = {"X-Forwarded-For": BURST_ADDRESS}

        async def one(n: int) -> tuple[int, int, bool]:
            body = {"study": study.study_id, "PROLIFIC_PID": f"burst{n:04d}", "STUDY_ID": "bench"}
            response = await clients[n % len(clients)].post("/study/api/start", json=body, headers=forwarded)
            return n % len(clients), response.status_code, "retry-after" in response.headers

        outcomes = await asyncio.gather(*(one(n) for n in range(burst)))
        by_replica = [0] * len(clients)
        for replica, status, _ in outcomes:
            by_replica[replica] += status == 200
        failures = 0
        for n in range(4 * ADMIN_BACKOFF_AFTER):  # one after another, alternating replicas
            response = await clients[n % len(clients)].post(
                "/admin/login",
                data={"username": "admin", "password": f"wrong-{n:03d}"},
                headers={"X-Forwarded-For": LOGIN_ADDRESS},
            )
            if response.status_code != 401:
                break
            failures += 1
    finally:
        for client in clients:
            await client.aclose()
    return {
        "limit": START_LIMIT,
        "burst": burst,
        "admitted_in_burst": sum(status == 200 for _, status, _ in outcomes),
        "rate_limited": sum(status == 429 and retry for _, status, retry in outcomes),
        "burst_admitted_by_replica": by_replica,
        "admin_backoff_after": ADMIN_BACKOFF_AFTER,
        "admin_failures_before_backoff": failures,
    }


def measure(
    participants: int,
    seconds: float,
    watch_ms: float = 4000.0,
    think_ms: float = 2000.0,
    server_factory: Callable[..., Any] = StudyServer,
    replicas: int = 1,
    db: str = "sqlite",
) -> dict[str, Any]:
    """Run the benchmark; ``server_factory(study, admin_token=..., settings=...)`` makes each of the
    ``replicas`` servers (default: ``python app.py`` processes; tests pass
    :class:`~benchmarks.study_server.ThreadedServer` to skip their start-up). ``db``: ``sqlite`` (a
    file in the temporary folder) or ``postgresql`` (a throw-away server)."""
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="studio-bench-study-"))
        db_url = create_database(stack.enter_context(throwaway_postgres())) if db == "postgresql" else None
        study = prepare_study(Path(tmp), db_url=db_url)
        servers = [
            stack.enter_context(server_factory(study, admin_token=ADMIN_TOKEN, settings=SETTINGS))
            for _ in range(replicas)
        ]
        urls = [server.url for server in servers]
        pace = (watch_ms / 1000, think_ms / 1000)
        log = asyncio.run(_drive(study, urls, participants, seconds, pace))
        limits = asyncio.run(_limits(study, urls))
        result = check_answers(log["acknowledged"], study)
    latencies = np.asarray(log["latencies_ms"] or [np.nan])
    p50, p95 = np.percentile(latencies, [50, 95])
    result.update(
        {
            "p50_ms": round(float(p50), 1),
            "p95_ms": round(float(p95), 1),
            "max_ms": round(float(latencies.max()), 1),
            "requests": log["requests"],
            "requests_per_s": round(log["requests"] / log["elapsed_s"], 1),
            "errors": log["errors"],
            "error_messages": log["messages"],
            "completed": log["completed"],
            "participants": participants,
            "seconds": seconds,
            "watch_ms": watch_ms,
            "think_ms": think_ms,
            "database": db,
            "replicas": replicas,
            **limits,
            "targets": TARGETS,
            "machine": {
                "cpus": os.cpu_count(),
                "load_avg_1m_before": round(load_before, 2),
                "load_avg_1m_after": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
            },
        }
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.study_load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--participants", type=int, default=50, help="concurrent simulated participants")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long they keep answering")
    parser.add_argument("--watch-ms", type=float, default=4000.0, help="time between a clip's play and ended")
    parser.add_argument("--think-ms", type=float, default=2000.0, help="pause before each answer")
    parser.add_argument("--replicas", type=int, default=1, help="server processes serving the one study")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="the study database")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.participants < 1 or args.seconds <= 0 or args.think_ms < 0 or args.watch_ms < 0:
        parser.error("--participants >= 1, --seconds > 0, --watch-ms >= 0 and --think-ms >= 0")
    if not 1 <= args.replicas <= 16:
        parser.error("--replicas must be in [1, 16]")
    result = measure(
        args.participants, args.seconds, args.watch_ms, args.think_ms, replicas=args.replicas, db=args.db
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key in (
            "acknowledged",
            "stored",
            "lost",
            "duplicates",
            "p50_ms",
            "p95_ms",
            "requests_per_s",
            "errors",
            "limit",
            "admitted_in_burst",
            "rate_limited",
            "admin_failures_before_backoff",
        ):
            print(f"{key:<30} {result[key]}")
    ok = (
        result["lost"] == 0
        and result["duplicates"] == 0
        and result["errors"] == 0
        and result["admitted_in_burst"] == result["limit"]
        and result["admin_failures_before_backoff"] == result["admin_backoff_after"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
