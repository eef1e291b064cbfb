"""The study benchmarks, run briefly: load against the server in this process (one replica on
SQLite, two on a throw-away PostgreSQL), crash against a real ``python app.py`` process that gets
SIGKILL."""

from __future__ import annotations

import pytest

from benchmarks import study_crash, study_load
from benchmarks.study_server import PostgresUnavailable, ThreadedServer


def test_study_load_loses_nothing_briefly():
    result = study_load.measure(4, 3, watch_ms=0, think_ms=0, server_factory=ThreadedServer)
    assert result["acknowledged"] > 0 and result["errors"] == 0, result["error_messages"]
    assert result["stored"] == result["acknowledged"]
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["max_ms"]
    assert result["admitted_in_burst"] == result["limit"] == study_load.START_LIMIT
    assert result["rate_limited"] == result["burst"] - result["limit"]
    assert result["admin_failures_before_backoff"] == result["admin_backoff_after"]


@pytest.mark.slow
def test_study_load_on_two_replicas_counts_limits_once():
    """Two servers on one PostgreSQL database: the burst from one client, spread over both, is
    admitted exactly up to the limit, and the login back-off starts after exactly N failures."""
    try:
        result = study_load.measure(
            4, 3, watch_ms=0, think_ms=0, server_factory=ThreadedServer, replicas=2, db="postgresql"
        )
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    assert result["database"] == "postgresql" and result["replicas"] == 2
    assert result["acknowledged"] > 0 and result["errors"] == 0, result["error_messages"]
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["admitted_in_burst"] == result["limit"] and result["rate_limited"] == result["burst"] - 5
    assert min(result["burst_admitted_by_replica"]) >= 0 and len(result["burst_admitted_by_replica"]) == 2
    assert result["admin_failures_before_backoff"] == result["admin_backoff_after"]


@pytest.mark.slow
def test_study_crash_keeps_every_acknowledged_answer():
    result = study_crash.measure(participants=4, kills=1)
    assert result["acknowledged"] > 0 and result["failed_in_flight"] > 0  # the kill really hit mid-study
    assert result["present_after_restart"] == result["acknowledged"] and result["lost"] == 0
    assert result["duplicates"] == 0 and result["completed"] == 4  # everyone resumed and finished
    assert result["answers_stored_at_end"] == 4 * 10
