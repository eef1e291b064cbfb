"""Study crash benchmark: ``python -m benchmarks.study_crash --json``.

A real server (``python app.py``, its own temporary SQLite database and output folder, the tiny
study of :mod:`benchmarks.study_server` as a pairwise study: nine items and an attention check,
ten screens per participant) takes answers from ``--participants`` simulated participants working
flat out through the JSON API (no pauses but the clip length the server insists on before each
answer: as many requests in flight as possible). When a share of all answers has been
acknowledged (1/(kills+1), then 2/(kills+1), ...; by progress, not by the clock, so the kill
always lands mid-study however fast the machine is),
the server process gets SIGKILL -- no shutdown code runs -- while requests are in flight; it is
restarted on the same files, the database is read back, and the participants reload their link
(same PROLIFIC_PID: they resume) and carry on. This repeats ``--kills`` times; at the end every
participant finishes their screens.

Prints one JSON object: ``acknowledged`` (answers the server acknowledged with 200 before any
kill), ``present_after_restart`` (how many of those the database holds after the restarts),
``lost`` (acknowledged but missing: must be 0), ``duplicates`` (answers stored twice),
``failed_in_flight`` (requests cut off by a kill: not acknowledged, so the participant answers
again if the answer did not commit), ``stored_without_ack`` (answers that committed but whose
acknowledgement was cut off: the participant resumed past them), ``resumed`` / ``completed``
(participants who resumed after a kill / got their completion code), ``restart_s`` (seconds
from spawning to answering, per restart) and ``machine``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.study_load import stored_answers
from benchmarks.study_server import Participant, StudyServer, prepare_study

TRIALS_PER_PARTICIPANT = 10  # nine pair items and one attention check (prepare_study below)


async def _round(
    server: StudyServer, study_id: int, pids: list[str], kill_at: int | None, log: dict[str, Any]
) -> None:
    """Every participant (re)starts and answers flat out; with ``kill_at``, the server gets SIGKILL as
    soon as that many answers (over all rounds) have been acknowledged, while requests are in flight."""
    import httpx

    limits = httpx.Limits(max_connections=len(pids), max_keepalive_connections=len(pids))
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30.0) as client:
        participants = [  # each its own client address (the server trusts one proxy hop: us)
            Participant(client, study_id, pid, np.random.default_rng(i), f"10.1.{i // 250}.{i % 250 + 1}")
            for i, pid in enumerate(pids)
        ]

        async def one(participant: Participant) -> None:
            try:
                await participant.run()
            except (httpx.HTTPError, OSError):  # the server was killed under this request
                log["failed_in_flight"] += 1
            if participant.completion_code is not None:
                log["completed"].add(participant.pid)

        tasks = [asyncio.create_task(one(p)) for p in participants]
        if kill_at is not None:
            before = len(log["acknowledged"])
            while before + sum(len(p.acknowledged) for p in participants) < kill_at:
                if all(t.done() for t in tasks):
                    break
                await asyncio.sleep(0.002)
            await asyncio.to_thread(server.kill)  # SIGKILL, requests in flight
        await asyncio.gather(*tasks)
        for participant in participants:
            log["acknowledged"] += participant.acknowledged


def measure(participants: int, kills: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    pids = [f"crash{i:04d}" for i in range(participants)]
    log: dict[str, Any] = {"acknowledged": [], "failed_in_flight": 0, "completed": set()}
    restart_s: list[float] = []
    total = participants * TRIALS_PER_PARTICIPANT
    with tempfile.TemporaryDirectory(prefix="studio-bench-crash-") as tmp:
        study = prepare_study(Path(tmp), "pairwise", items_per_participant=TRIALS_PER_PARTICIPANT - 1)
        server = StudyServer(study, settings={"STUDIO_TRUSTED_PROXY_HOPS": "1"})
        server.start()
        try:
            for k in range(1, kills + 1):  # kill k lands when k/(kills+1) of all answers are in
                asyncio.run(_round(server, study.study_id, pids, k * total // (kills + 1), log))
                restart_s.append(round(server.start(), 2))  # same database, same output folder
            acknowledged = list(log["acknowledged"])
            after = stored_answers(study)  # read back once the restarted server holds the database
            unfinished = len([p for p in pids if p not in log["completed"]])
            asyncio.run(_round(server, study.study_id, pids, None, log))  # everyone resumes and finishes
        finally:
            server.stop()
        final = stored_answers(study)
    stored_trials = {t for _, t in after}
    acked = Counter(acknowledged)
    final_counts = Counter(t for _, t in final)
    return {
        "acknowledged": len(acknowledged),
        "present_after_restart": sum(1 for t in acked if t in stored_trials),
        "lost": sum(1 for t in acked if t not in stored_trials),
        "duplicates": sum(n - 1 for n in acked.values() if n > 1) + sum(n - 1 for n in final_counts.values()),
        "failed_in_flight": log["failed_in_flight"],
        "stored_without_ack": len(stored_trials - set(acked)),
        "kills": kills,
        "resumed": unfinished,
        "completed": len(log["completed"]),
        "participants": participants,
        "answers_stored_at_end": len(final),
        "restart_s": restart_s,
        "database": "sqlite",
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m_before": round(load_before, 2),
            "python": platform.python_version(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.study_crash", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--participants", type=int, default=20, help="simulated participants")
    parser.add_argument("--kills", type=int, default=3, help="how many times the server is killed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.participants < 1 or args.kills < 1:
        parser.error("--participants >= 1 and --kills >= 1")
    result = measure(args.participants, args.kills)
    if args.json:
        print(json.dumps(result))
    else:
        for key in (
            "acknowledged",
            "present_after_restart",
            "lost",
            "duplicates",
            "failed_in_flight",
            "completed",
        ):
            print(f"{key:<22} {result[key]}")
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["completed"] == args.participants
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
