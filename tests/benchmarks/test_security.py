"""The attack suite against a real server process: nothing leaks, and it really probes."""

from __future__ import annotations

from benchmarks.security import KINDS, run


def test_the_attack_suite_finds_no_leak():
    # path_text runs every handler for real (minutes); the benchmark itself runs it
    kinds = tuple(kind for kind in KINDS if kind != "path_text")
    result = run(bursts=40, logins=15, kinds=kinds)
    assert result["leaked"] == 0, result["leaks"]
    assert result["probes"] >= 100
    by_kind = result["by_kind"]
    # every FileData, foreign Host, file route, CORS and forged-token probe is refused
    for kind in ("filedata", "foreign_host", "file_route", "admin_without_login", "cors", "forged_token"):
        assert by_kind[kind]["refused"] == by_kind[kind]["probes"] > 0, (kind, by_kind[kind])
    assert by_kind["bot_burst"]["rate_limited"] > 0 and by_kind["login"]["rate_limited"] > 0
