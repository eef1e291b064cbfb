"""Study load benchmark: ``python -m benchmarks.study_load --participants 50 --seconds 120 --json``.

Against a real server (``python app.py`` on a free loopback port, its own temporary SQLite database
and output folder, the tiny rank study of :mod:`benchmarks.study_server`: three screens of three
clips per participant), ``--participants`` simulated participants work concurrently through the
JSON API for ``--seconds``: each starts with a fresh PROLIFIC_PID, and per screen sends ``shown``,
then for every clip ``play``, waits ``--watch-ms`` (watching it) and sends ``ended``, then waits
``--think-ms`` and answers; a participant who finishes starts over as a new one. Afterwards the
database is read back directly.

Pace: the defaults model a participant of a default study (4-second clips watched one after the
other, 2 s to decide: ~14 s and 8 requests per screen). ``--watch-ms 0 --think-ms 0`` is a stress
test instead: every participant fires its next request the moment the last one returns, which on
SQLite measures the database's commit rate (each write is one fsync'd transaction).

Prints one JSON object: ``acknowledged`` (answers the server acknowledged with 200), ``stored``
(answer rows of the study), ``lost`` (acknowledged answers not in the database), ``duplicates``
(answers acknowledged twice or stored twice), ``p50_ms``/``p95_ms``/``max_ms`` (answer round
trips), ``requests`` and ``requests_per_s`` (all API calls), ``errors`` (failed calls, first few
messages), ``completed`` (participants who got a completion code) and ``machine``.
Targets (issue 7, 2 cores): lost = 0, duplicates = 0, p95 <= 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
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

from benchmarks.study_server import Participant, StudyServer, TinyStudy, prepare_study

TARGETS = {"lost": 0, "duplicates": 0, "p95_ms": 500.0}


def stored_answers(study: TinyStudy) -> list[tuple[int, int]]:
    """``(participant row id, trial id)`` of every stored answer of the study, read from the database."""
    from sqlalchemy import text

    from studio.study.storage import create_study_engine

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
        participant = Participant(client, study.study_id, f"bench{worker:04d}x{run:05d}", rng)
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
    study: TinyStudy, url: str, participants: int, seconds: float, pace: tuple[float, float]
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
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        requests = _count_requests(client)
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(
            *(_participant_loop(client, study, w, deadline, pace, log) for w in range(participants))
        )
        elapsed = time.perf_counter() - start
    log["requests"], log["elapsed_s"] = requests["n"], elapsed
    return log


def measure(
    participants: int,
    seconds: float,
    watch_ms: float = 4000.0,
    think_ms: float = 2000.0,
    server_factory: Callable[[TinyStudy], Any] = StudyServer,
) -> dict[str, Any]:
    """Run the benchmark; ``server_factory`` makes the server (default: a ``python app.py``
    process; tests pass :class:`~benchmarks.study_server.ThreadedServer` to skip its start-up)."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="studio-bench-study-") as tmp:
        study = prepare_study(Path(tmp))
        with server_factory(study) as server:
            pace = (watch_ms / 1000, think_ms / 1000)
            log = asyncio.run(_drive(study, server.url, participants, seconds, pace))
        result = check_answers(log["acknowledged"], study)
    latencies = np.asarray(log["latencies_ms"] or [np.nan])
    p50, p95 = np.percentile(latencies, [50, 95])
    result.update({
        "p50_ms": round(float(p50), 1), "p95_ms": round(float(p95), 1),
        "max_ms": round(float(latencies.max()), 1),
        "requests": log["requests"], "requests_per_s": round(log["requests"] / log["elapsed_s"], 1),
        "errors": log["errors"], "error_messages": log["messages"], "completed": log["completed"],
        "participants": participants, "seconds": seconds, "watch_ms": watch_ms, "think_ms": think_ms,
        "database": "sqlite", "targets": TARGETS,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_before": round(load_before, 2),
                    "load_avg_1m_after": round(os.getloadavg()[0], 2), "python": platform.python_version()},
    })  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.study_load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--participants", type=int, default=50, help="concurrent simulated participants")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long they keep answering")
    parser.add_argument("--watch-ms", type=float, default=4000.0, help="time between a clip's play and ended")
    parser.add_argument("--think-ms", type=float, default=2000.0, help="pause before each answer")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.participants < 1 or args.seconds <= 0 or args.think_ms < 0 or args.watch_ms < 0:
        parser.error("--participants >= 1, --seconds > 0, --watch-ms >= 0 and --think-ms >= 0")
    result = measure(args.participants, args.seconds, args.watch_ms, args.think_ms)
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
        ):
            print(f"{key:<15} {result[key]}")
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
