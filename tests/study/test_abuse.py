"""Studies that resist bots: start rate limits, admin login back-off and lockout, admin cookies and
CSRF, no credentialed cross-origin requests, server-side playback timing, resume without consent,
and limits shared by every store on one database.

The HTTP tests run one real server (:class:`~benchmarks.study_server.ThreadedServer`) that trusts
one proxy hop, so each test can speak as several clients through ``X-Forwarded-For``; each test
uses client addresses of its own.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from benchmarks.study_server import SECRET, ThreadedServer, prepare_study
from studio.security.admin_auth import CSRF_COOKIE, SESSION_COOKIE, AdminGate, LoginPolicy
from studio.security.clients import client_address
from studio.security.rates import MemoryRateLog
from studio.study.limits import Admission, RateLimited
from studio.study.records import ProlificIdentity
from studio.study.schema import sqlite_url
from studio.study.service import StartLimits
from studio.study.storage import StudyStore
from tests.study.conftest import make_definition

ADMIN_TOKEN = "abuse-admin-token-0123456789"
PER_CLIENT, TOTAL = 3, 8
SETTINGS = {
    "STUDIO_TRUSTED_PROXY_HOPS": "1",
    "STUDIO_START_LIMIT_PER_CLIENT": str(PER_CLIENT),
    "STUDIO_START_LIMIT_CLIENT_WINDOW_S": "600",
    "STUDIO_START_LIMIT_TOTAL": "1000",  # the shared server: only the burst test's own hits the total
    "STUDIO_START_LIMIT_TOTAL_WINDOW_S": "600",
    "STUDIO_ADMIN_BACKOFF_AFTER": "3",
    "STUDIO_ADMIN_LOCKOUT_AFTER": "5",
    "STUDIO_ADMIN_LOCKOUT_S": "60",
    "STUDIO_ADMIN_GLOBAL_LOCKOUT_AFTER": "1000",
}
EVIL_ORIGIN = "http://localhost:9999"  # another port on the same host: same site, another origin


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare_study(tmp_path_factory.mktemp("abuse"))


def fresh_copy(study, folder: Path):
    """The prepared study on a copy of its database (rate hits are per database)."""
    database = folder / "study.db"
    shutil.copyfile(study.db_url.removeprefix("sqlite:///"), database)
    return replace(study, db_url=sqlite_url(database))


@pytest.fixture(scope="module")
def live(prepared, tmp_path_factory):
    study = fresh_copy(prepared, tmp_path_factory.mktemp("abuse-live"))
    with (
        ThreadedServer(study, admin_token=ADMIN_TOKEN, settings=SETTINGS) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
        StudyStore(study.db_url, SECRET) as store,
    ):
        yield study, server, client, store


def start(client, study, pid: str, address: str) -> httpx.Response:
    body = {"study": study.study_id, "PROLIFIC_PID": pid, "STUDY_ID": "abuse"}
    return client.post("/study/api/start", json=body, headers={"X-Forwarded-For": address})


def admin_login(server, address: str, password: str = ADMIN_TOKEN, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as fresh:
        return fresh.post(
            "/admin/login",
            data={"username": "admin", "password": password},
            headers={"X-Forwarded-For": address, **headers},
        )


# -- participant starts ---------------------------------------------------------------------------


@pytest.fixture
def limited(prepared, tmp_path):
    """A server of its own whose total start limit is TOTAL."""
    study = fresh_copy(prepared, tmp_path)
    settings = SETTINGS | {"STUDIO_START_LIMIT_TOTAL": str(TOTAL)}
    with (
        ThreadedServer(study, settings=settings) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
        StudyStore(study.db_url, SECRET) as store,
    ):
        yield study, server, client, store


def test_start_bursts_get_429_with_retry_after_per_client_and_in_total(limited):
    study, _, client, store = limited
    record = store.get_study(study.study_id)
    before = store.rejection_counts(record).get("start.rate_limited", 0)
    # one client: PER_CLIENT new participants, then 429 with Retry-After
    burst = [start(client, study, f"burst{n:03d}", "203.0.113.7") for n in range(PER_CLIENT + 3)]
    assert [r.status_code for r in burst] == [200] * PER_CLIENT + [429] * 3
    refused = burst[-1]
    assert refused.json()["error"] == "rate_limited" and "try again" in refused.json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    assert refused.json()["retry_after_s"] == int(refused.headers["Retry-After"])
    # a returning participant from that client is never limited, and does not count
    again = start(client, study, "burst000", "203.0.113.7")
    assert again.status_code == 200 and again.json()["resumed"]
    # the address left of the trusted proxy's entry is the client's own writing: ignored
    spoofed = start(client, study, "burst-spoof", "198.51.100.1, 203.0.113.7")
    assert spoofed.status_code == 429
    # everyone together: TOTAL new participants per window, whoever they are
    others = [start(client, study, f"crowd{n:03d}", f"192.0.2.{n + 1}") for n in range(TOTAL)]
    statuses = [r.status_code for r in others]
    assert statuses == [200] * (TOTAL - PER_CLIENT) + [429] * PER_CLIENT
    assert all(int(r.headers["Retry-After"]) >= 1 for r in others if r.status_code == 429)
    # the refusals are counted with the study's other rejections, and stored nothing
    after = store.rejection_counts(record)["start.rate_limited"]
    assert after - before == 3 + 1 + PER_CLIENT
    assert len(store.participant_summaries(record)) == TOTAL


def test_client_address_trusts_only_the_configured_proxies():
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert client_address("10.0.0.2", headers, 0) == "10.0.0.2"  # no proxy: the header is the client's
    assert client_address("10.0.0.2", headers, 1) == "203.0.113.7"
    assert client_address("10.0.0.2", headers, 2) == "198.51.100.1"
    assert client_address("2001:db8:1:2:3:4:5:6", None) == "2001:db8:1:2::/64"  # one line, one key
    assert client_address("::ffff:192.0.2.9", None) == "192.0.2.9"


# -- admin login ----------------------------------------------------------------------------------


def test_admin_brute_force_backs_off_then_locks_out(live):
    _, server, _, _ = live
    me = "203.0.113.50"
    assert [admin_login(server, me, f"guess-{n}").status_code for n in range(3)] == [401] * 3
    slowed = admin_login(server, me, "guess-3")
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
    assert "Too many failed logins" in slowed.text
    time.sleep(1.05)
    assert admin_login(server, me, "guess-4").status_code == 401  # the 4th failure
    slowed = admin_login(server, me, "guess-5")
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "2"  # doubled
    time.sleep(2.05)
    assert admin_login(server, me, "guess-6").status_code == 401  # the 5th: locked out
    locked = admin_login(server, me, ADMIN_TOKEN)  # even the right token is not looked at now
    assert locked.status_code == 429 and 55 <= int(locked.headers["Retry-After"]) <= 60
    # someone else is not locked out by it; a good login forgets that client's failures
    other = "203.0.113.51"
    assert [admin_login(server, other, "nope").status_code for _ in range(2)] == [401, 401]
    assert admin_login(server, other).status_code == 303
    assert [admin_login(server, other, "nope").status_code for _ in range(3)] == [401] * 3


def test_admin_cookies_are_strict_and_http_only(live):
    _, server, _, _ = live
    response = admin_login(server, "203.0.113.60")
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        (name,) = parsed
        cookies[name] = (parsed[name], header.lower())
    session, session_raw = cookies[SESSION_COOKIE]
    assert session["samesite"] == "Strict" and session["httponly"] and session["path"] == "/admin"
    assert "secure" not in session_raw  # plain HTTP on loopback; the next test covers HTTPS
    csrf, csrf_raw = cookies[CSRF_COOKIE]
    assert csrf["samesite"] == "Strict" and "httponly" not in csrf_raw  # the page's script reads it
    behind_https = admin_login(server, "203.0.113.61", **{"X-Forwarded-Proto": "https"})
    assert all("; secure" in h.lower() for h in behind_https.headers.get_list("set-cookie"))


@pytest.fixture
def admin(live):
    """A client logged in as the admin (cookies kept) and its CSRF token."""
    _, server, _, _ = live
    with httpx.Client(base_url=server.url, timeout=30, headers={"X-Forwarded-For": "203.0.113.70"}) as c:
        assert c.post("/admin/login", data={"username": "admin", "password": ADMIN_TOKEN}).status_code == 303
        yield c, c.cookies[CSRF_COOKIE]


JOIN = {"data": [], "fn_index": 0, "session_hash": "abuse0test", "event_data": None, "trigger_id": None}


def test_admin_posts_need_the_csrf_token_and_the_same_origin(admin):
    client, csrf = admin
    for headers in ({}, {"X-Studio-CSRF": "forged"}, {"X-Studio-CSRF": csrf[:-1] + "x"}):
        refused = client.post("/admin/gradio_api/queue/join", json=JOIN, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"] == "csrf", headers
    ok = client.post("/admin/gradio_api/queue/join", json=JOIN, headers={"X-Studio-CSRF": csrf})
    assert ok.status_code == 200 and "event_id" in ok.json()
    for cross in ({"Origin": EVIL_ORIGIN}, {"Sec-Fetch-Site": "same-site"}):
        refused = client.post(
            "/admin/gradio_api/queue/join", json=JOIN, headers={"X-Studio-CSRF": csrf, **cross}
        )
        assert refused.status_code == 403 and refused.json()["error"] == "cross_origin", cross
    # the page itself carries the script that sends the token
    page = client.get("/admin/")
    assert page.status_code == 200 and "X-Studio-CSRF" in page.text.split("</head>")[0]
    assert page.headers["x-frame-options"] == "DENY"


def test_no_credentialed_cross_origin_request_is_answered(admin, live):
    client, _ = admin
    study, _, _, _ = live
    for path in ("/admin/config", "/admin/", "/study/config", "/config"):
        response = client.get(path, headers={"Origin": EVIL_ORIGIN})
        assert "access-control-allow-credentials" not in response.headers, path
        assert "access-control-allow-origin" not in response.headers, path
    preflight = client.options(
        "/admin/gradio_api/queue/join",
        headers={
            "Origin": EVIL_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-studio-csrf",
        },
    )
    assert "access-control-allow-credentials" not in preflight.headers
    assert preflight.headers.get("access-control-allow-origin") not in (EVIL_ORIGIN, "*")
    api = client.post("/study/api/start", json={"study": study.study_id}, headers={"Origin": EVIL_ORIGIN})
    assert "access-control-allow-credentials" not in api.headers


def test_login_policy_counts_every_client_together_too():
    now = [1000.0]
    rates = MemoryRateLog(clock=lambda: now[0])
    policy = LoginPolicy(backoff_after=3, lockout_after=5, lockout_s=60, global_lockout_after=6, base_s=1)
    gate = AdminGate(ADMIN_TOKEN, lambda user, password: password == ADMIN_TOKEN, rates, policy=policy)
    # three clients, one wrong guess each: nobody is slowed per client, but everyone together is
    assert [gate.login(f"10.0.0.{n}", "admin", "x") for n in range(3)] == [(False, 0.0)] * 3
    ok, wait = gate.login("10.0.0.99", "admin", ADMIN_TOKEN)
    assert not ok and wait == pytest.approx(1.0)
    now[0] += 1.0
    for n in range(3, 6):  # each waits out the global back-off (1, 2, 4 s) and fails again
        assert gate.login(f"10.0.0.{n}", "admin", "x")[1] == 0.0
        now[0] += 2.0 ** (n - 2)
    ok, wait = gate.login("10.0.0.99", "admin", ADMIN_TOKEN)  # six failures in the window: locked
    assert not ok and wait > 30
    now[0] += 61.0
    assert gate.login("10.0.0.99", "admin", ADMIN_TOKEN) == (True, 0.0)


# -- playback timing and resume -------------------------------------------------------------------


def test_answers_sooner_than_the_clips_play_are_refused_and_counted(live):
    study, _, client, store = live
    view = start(client, study, "hasty001", "203.0.113.80").json()
    headers = {"Authorization": f"Bearer {view['token']}", "X-Forwarded-For": "203.0.113.80"}
    trial = view["trial"]
    assert trial["clip_duration_s"] == pytest.approx(1.0)  # what a scripted client must wait for
    for clip in trial["clips"]:
        for kind in ("play", "ended"):  # a bot claims it watched everything at once
            event = {"kind": kind, "trial_id": trial["trial_id"], "clip": clip["position"]}
            assert client.post("/study/api/events", json=event, headers=headers).status_code == 200
    url = f"/study/api/trials/{trial['trial_id']}/answer"
    record = store.get_study(study.study_id)
    before = store.rejection_counts(record).get("answer.too_fast", 0)
    hasty = client.post(url, json={"ranking": [1, 2, 3]}, headers=headers)
    assert hasty.status_code == 409 and hasty.json()["error"] == "answer.too_fast", hasty.text
    assert "served" in hasty.json()["detail"]
    # the next screen was never handed out: answering it (events and all) is refused the same way
    future = trial["trial_id"] + 1
    for clip in range(3):
        event = {"kind": "ended", "trial_id": future, "clip": clip}
        assert client.post("/study/api/events", json=event, headers=headers).status_code == 200
    early = client.post(f"/study/api/trials/{future}/answer", json={"ranking": [1, 2, 3]}, headers=headers)
    assert early.status_code == 409 and "never served" in early.json()["detail"]
    assert store.rejection_counts(record)["answer.too_fast"] == before + 2
    assert len([r for r in store.export_answers(record) if r["trial_id"] in (trial["trial_id"], future)]) == 0
    time.sleep(1.0)  # the clips have now had time to play
    patient = client.post(url, json={"ranking": [1, 2, 3]}, headers=headers)
    assert patient.status_code == 200, patient.text


def test_a_reload_before_the_first_answer_skips_consent(live):
    study, _, client, _ = live
    first = start(client, study, "reload001", "203.0.113.90").json()
    assert not first["consented"] and not first["instructed"]
    headers = {"Authorization": f"Bearer {first['token']}"}
    assert client.post("/study/api/events", json={"kind": "consent"}, headers=headers).status_code == 200
    again = start(client, study, "reload001", "203.0.113.90").json()
    assert again["resumed"] and again["consented"] and not again["instructed"] and again["answered"] == 0
    assert again["trial"]["trial_id"] == first["trial"]["trial_id"]
    assert client.post("/study/api/events", json={"kind": "instructions"}, headers=headers).status_code == 200
    assert start(client, study, "reload001", "203.0.113.90").json()["instructed"]


# -- several stores, one database -----------------------------------------------------------------


def test_limits_are_shared_by_every_store_on_one_database(db_url):
    """Two stores (two server processes, as far as the database can tell) on one database: a
    burst of new participants from one client through both is admitted exactly up to the limit,
    and concurrent wrong logins through both are counted exactly once each."""
    limits = StartLimits(per_client=5, client_window_s=600, total=0)
    with StudyStore(db_url, SECRET) as one, StudyStore(db_url, SECRET) as two:
        study = one.create_study(make_definition())
        barrier = threading.Barrier(12)

        def arrive(n: int) -> str:
            store = (one, two)[n % 2]
            barrier.wait(timeout=30)
            admission = Admission("198.51.100.200", limits.wait_s, limits.retention_s)
            try:
                store.get_or_create_participant(
                    study, ProlificIdentity(f"shared{n:03d}"), admission=admission
                )
            except RateLimited:
                return "limited"
            return "admitted"

        with ThreadPoolExecutor(12) as pool:
            outcomes = list(pool.map(arrive, range(12)))
        assert outcomes.count("admitted") == 5 and outcomes.count("limited") == 7
        assert two.rejection_counts(study) == {"start.rate_limited": 7}
        assert len(one.participant_summaries(study)) == 5
        # a participant admitted through one store resumes through the other, over the limit
        assert not two.get_or_create_participant(
            study,
            ProlificIdentity(f"shared{outcomes.index('admitted'):03d}"),
            admission=Admission("198.51.100.200", limits.wait_s, limits.retention_s),
        ).created

        policy = LoginPolicy(backoff_after=3, lockout_after=5, lockout_s=60)
        barrier = threading.Barrier(8)

        def guess(n: int) -> float:
            barrier.wait(timeout=30)
            return (one, two)[n % 2].rate_attempt("admin_login", "198.51.100.201", policy.wait_s, 60)

        with ThreadPoolExecutor(8) as pool:
            waits = list(pool.map(guess, range(8)))
        assert sum(w == 0 for w in waits) == 3  # the 4th and later must wait, whichever store
        assert one.rate_clear("admin_login", "198.51.100.201") == 3


def test_rate_hits_store_no_client_address(db_url):
    with StudyStore(db_url, SECRET) as store:
        store.rate_attempt("admin_login", "198.51.100.77", lambda log: 0.0, 60)
        with store.engine.connect() as conn:
            from sqlalchemy import text

            rows = conn.execute(text("SELECT scope, client FROM rate_hits")).all()
        assert rows == [("admin_login", store.client_hash("198.51.100.77"))]
        assert "198.51.100.77" not in json.dumps([list(r) for r in rows])
