"""The study JSON API and the server assembly, through real HTTP on loopback.

Every forged or malformed submission gets a 4xx JSON error, is counted by the store, and leaves
the stored answers exactly as they were.
"""

from __future__ import annotations

import json

import httpx
import pytest

from benchmarks.study_server import MODELS, SECRET, ThreadedServer, prepare_study
from studio.server import MAX_REQUEST_BYTES
from studio.study.limits import MAX_ANSWER_BYTES
from studio.study.storage import StudyStore
from tests.study.simulate import backdate

ADMIN_TOKEN = "admin-token-for-tests-0123"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    study = prepare_study(tmp_path_factory.mktemp("api"))
    with (
        ThreadedServer(study, admin_token=ADMIN_TOKEN) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield study, server, client


@pytest.fixture(scope="module")
def store(live):
    study, _, _ = live
    with StudyStore(study.db_url, SECRET) as store:
        yield store


def start(client, study, pid):
    response = client.post("/study/api/start", json={"study": study.study_id, "PROLIFIC_PID": pid})
    assert response.status_code == 200, response.text
    view = response.json()
    return view, {"Authorization": f"Bearer {view['token']}"}


def watch(client, headers, trial, store):
    """Play every clip to the end; the screen counts as shown 5 s ago (its clips last 1 s)."""
    for clip in trial["clips"]:
        for kind in ("play", "ended"):
            body = {"kind": kind, "trial_id": trial["trial_id"], "clip": clip["position"], "client_ms": 1.0}
            response = client.post("/study/api/events", json=body, headers=headers)
            assert response.status_code == 200, response.text
    backdate(store, trial["trial_id"], 0.0, served_s=5.0)


def snapshot(store, study):
    record = store.get_study(study.study_id)
    return store.export_answers(record), store.rejection_counts(record)


def test_a_participant_completes_the_study_over_http(live, store):
    study, _, client = live
    view, headers = start(client, study, "httpcomplete01")
    assert view["trial"]["number"] == 1 and view["completion_code"] is None
    media = client.get(view["trial"]["clips"][0]["url"])
    assert media.status_code == 200 and media.headers["content-type"] == "video/mp4"
    assert media.content[4:8] == b"ftyp"
    while view["trial"] is not None:
        watch(client, headers, view["trial"], store)
        trial_id = view["trial"]["trial_id"]
        response = client.post(
            f"/study/api/trials/{trial_id}/answer", json={"ranking": [2, 3, 1]}, headers=headers
        )
        assert response.status_code == 200, response.text
        view = response.json()
    assert view["answered"] == 3 and len(view["completion_code"]) >= 8
    state = client.get("/study/api/state", headers=headers).json()
    assert state["completion_code"] == view["completion_code"] and state["trial"] is None


def _forgeries(client, study, store):
    """(name, request, expected status, expected error code, counter) for every forged submission."""
    mine, my_headers = start(client, study, "forger01")
    theirs, _ = start(client, study, "victim01")
    trial = mine["trial"]
    watch(client, my_headers, trial, store)
    answered = client.post(
        f"/study/api/trials/{trial['trial_id']}/answer", json={"ranking": [1, 2, 3]}, headers=my_headers
    )
    assert answered.status_code == 200
    next_id = answered.json()["trial"]["trial_id"]  # not played yet
    url = "/study/api/trials/{}/answer".format
    big = json.dumps({"ranking": [1, 2, 3], "pad": "x" * MAX_ANSWER_BYTES})
    huge = json.dumps({"ranking": [1, 2, 3], "pad": "x" * (4 * MAX_REQUEST_BYTES)})
    return [
        ("unknown trial", (url(987654), {"json": {"ranking": [1, 2, 3]}}), 404, "answer.unknown_trial"),
        ("not a trial id", (url("abc"), {"json": {"ranking": [1, 2, 3]}}), 404, "answer.unknown_trial"),
        (
            "another participant's trial",
            (url(theirs["trial"]["trial_id"]), {"json": {"ranking": [1, 2, 3]}}),
            403,
            "answer.foreign_trial",
        ),
        (
            "replayed answer",
            (url(trial["trial_id"]), {"json": {"ranking": [3, 2, 1]}}),
            409,
            "answer.replayed",
        ),
        (
            "answer before playback",
            (url(next_id), {"json": {"ranking": [1, 2, 3]}}),
            409,
            "answer.not_played",
        ),
        ("oversized answer", (url(next_id), {"content": big}), 413, "answer.oversized"),
        ("oversized request", (url(next_id), {"content": huge}), 413, "answer.oversized"),
        ("not JSON", (url(next_id), {"content": b"ranking=1,2,3"}), 400, "answer.not_json"),
        ("NaN is not JSON", (url(next_id), {"content": b'{"ranking": NaN}'}), 400, "answer.not_json"),
        ("not an answer", (url(next_id), {"json": {"ranking": [1, 1, 1]}}), 422, "answer.invalid_answer"),
        ("malformed event", ("/study/api/events", {"content": b"[1, 2"}), 422, "event.invalid_event"),
        (
            "event on another's trial",
            (
                "/study/api/events",
                {"json": {"kind": "ended", "clip": 0, "trial_id": theirs["trial"]["trial_id"]}},
            ),
            403,
            "event.foreign_trial",
        ),
    ], my_headers


def test_forged_and_malformed_submissions_are_refused_counted_and_change_nothing(live, store):
    study, _, client = live
    cases, headers = _forgeries(client, study, store)
    for name, (path, kwargs), status, code in cases:
        answers_before, counts_before = snapshot(store, study)
        response = client.post(path, headers=headers, **kwargs)
        assert response.status_code == status, f"{name}: {response.status_code} {response.text}"
        body = response.json()
        assert body["error"] == code and body["message"], name
        answers_after, counts_after = snapshot(store, study)
        assert answers_after == answers_before, f"{name} changed the stored answers"
        counter = code if code.startswith("answer.") else "event." + code.split(".")[1]
        assert counts_after.get(counter, 0) == counts_before.get(counter, 0) + 1, name


def test_bad_tokens_and_links_get_clear_json_errors(live):
    study, _, client = live
    for headers in ({}, {"Authorization": "Bearer nope.nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/study/api/state", headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "bad_token"
    response = client.post("/study/api/start", json={"study": study.study_id})
    assert response.status_code == 400 and response.json()["error"] == "missing_prolific_id"
    response = client.post("/study/api/start", content=b"\xff\xfe")
    assert response.status_code == 400 and response.json()["error"] == "not_json"
    response = client.post("/study/api/start", json={"study": 77, "PROLIFIC_PID": "a"})
    assert response.status_code == 404 and response.json()["error"] == "unknown_study"


def test_what_the_server_serves_and_hides(live):
    study, _, client = live
    redirect = client.get("/study?study=1&PROLIFIC_PID=abc", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "study/?study=1&PROLIFIC_PID=abc"
    page = client.get("/study/?study=1&PROLIFIC_PID=abc")
    assert page.status_code == 200
    config = client.get("/study/config").text
    for name in MODELS:
        assert name not in page.text and name not in config
    for mount in ("/study", "/"):
        response = client.get(f"{mount.rstrip('/')}/gradio_api/info")
        assert response.status_code == 404, mount  # the pages never use it (studio.security.files)
    manifest = next((study.output_dir / "study-manifests").glob("*.json"))
    for mount in ("", "/study", "/admin"):
        leaked = client.get(f"{mount}/gradio_api/file={manifest}")
        assert leaked.status_code in (401, 403, 404), mount
        assert b"m-smile" not in leaked.content
    for name in ("../study.db", "%2e%2e%2fstudy.db", "x.mp4", manifest.name):
        assert client.get(f"/study/media/{name}").status_code == 404


def test_admin_requires_the_token(live):
    _, server, _ = live
    with httpx.Client(base_url=server.url, timeout=30) as fresh:
        assert fresh.get("/admin/config").status_code == 401
        assert fresh.get("/admin/gradio_api/info").status_code == 404  # closed before the login
        assert fresh.get("/admin/", follow_redirects=False).headers["location"] == "/admin/login"
        wrong = fresh.post("/admin/login", data={"username": "admin", "password": "wrong-token-0000"})
        assert wrong.status_code == 401 and fresh.get("/admin/config").status_code == 401
        right = fresh.post("/admin/login", data={"username": "admin", "password": ADMIN_TOKEN})
        assert right.status_code == 303 and right.headers["location"] == "/admin/", right.text
        assert fresh.get("/admin/config").status_code == 200
        assert fresh.get("/admin/gradio_api/info").status_code == 404
