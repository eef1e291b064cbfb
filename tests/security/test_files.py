"""File access on a real server: only this app's uploads reach a handler, only files the app
handed out are served; and Gradio's own checks hold for a mounted app even without the guard."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import gradio as gr
import httpx
import pytest
from fastapi import FastAPI

from benchmarks.security import Attacker, Tally, Target
from benchmarks.study_server import serve_in_thread
from studio.config import StudioConfig
from studio.security.files import FileAccessError, UploadLimit, iter_paths, mark_launched, uploaded_file
from tests.ui.conftest import free_port, serving


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    folder = tmp_path_factory.mktemp("private")
    secret = f"CANARY-{secrets.token_hex(8)}"
    path = folder / "canary.csv"
    path.write_text(f"Timecode,BlendShapeCount,{secret}\n00:00:00:00.000,61,0.5\n")
    return path, secret


@pytest.fixture(scope="module")
def studio(tmp_path_factory, canary):
    config = StudioConfig(port=free_port(), output_dir=tmp_path_factory.mktemp("out"))
    with serving(config) as url:
        target = Target(url.rstrip("/"), [canary[0]], canary[1], canary[0], canary[0].parent, 0)
        yield Attacker(target, Tally())


def upload_event(attacker: Attacker) -> tuple[int, list]:
    """The Explore "Clip file" change event: its id and default inputs."""
    config = attacker.app_config("")
    components = {c["id"]: c for c in config["components"]}
    for dependency in config["dependencies"]:
        kinds = [components[i]["type"] for i in dependency["inputs"]]
        if kinds == ["file"]:
            return dependency["id"], [None]
    raise AssertionError("no event takes a file")


def filedata(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "clip.csv"}


def test_a_path_that_was_not_uploaded_is_refused_before_any_handler_runs(studio, canary):
    fn, _ = upload_event(studio)
    for spelling in (str(canary[0]), f"/tmp/gradio/../..{canary[0]}", f"file://{canary[0]}"):
        status, text = studio.run_event("", fn, [filedata(spelling)])
        assert status == 403 and "file_not_allowed" in text and canary[1] not in text


def test_an_upload_of_this_app_is_read(studio, livelink_dir):
    fn, _ = upload_event(studio)
    with (livelink_dir / "S88-001.csv").open("rb") as handle:
        response = studio.client.post("/gradio_api/upload", files={"files": ("take.csv", handle, "text/csv")})
    assert response.status_code == 200
    [path] = response.json()
    status, text = studio.run_event("", fn, [filedata(path)])
    assert status == 200 and "dropped rows" in text  # the handler read it: the guard is no blanket refusal


def test_routes_the_pages_never_use_are_closed(studio, canary):
    fn, _ = upload_event(studio)
    body = {"data": [filedata(str(canary[0]))], "fn_index": fn, "session_hash": "abc"}
    for route in ("run/predict", "api/predict", "call/predict", "component_server", "info", "mcp/schema"):
        response = studio.client.post(f"/gradio_api/{route}", json=body)
        assert response.status_code in (404, 405), route
    assert studio.client.get("/gradio_api/info").status_code == 404
    assert studio.client.get(f"/gradio_api/file={canary[0]}").status_code == 403
    assert studio.client.get("/gradio_api/file=http://127.0.0.1:1/x").status_code == 403


def test_oversized_and_deeply_nested_payloads_are_refused(studio):
    response = studio.client.post("/gradio_api/queue/join", content=b"{" + b" " * (1 << 21) + b"}")
    assert response.status_code == 413
    nested = {"data": [json.loads("[" * 200 + "]" * 200)], "fn_index": 0, "session_hash": "abc"}
    response = studio.client.post("/gradio_api/queue/join", json=nested)
    assert response.status_code == 400 and "too_deep" in response.text


def test_iter_paths_finds_filedata_anywhere():
    payload = {"data": [1, {"a": [{"path": "/x", "meta": {}}]}, {"path": 3}], "event_data": {"path": "/y"}}
    assert sorted(map(str, iter_paths(payload))) == ["/x", "/y", "3"]


def test_uploaded_file_resolves_links_and_stays_in_the_upload_folder(tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    (folder / "abc").mkdir(parents=True)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    good = folder / "abc" / "clip.csv"
    good.write_text("x")
    assert uploaded_file(str(good)) == good.resolve()
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (folder / "abc" / "link.csv").symlink_to(outside)
    link, climb = folder / "abc" / "link.csv", folder / "abc" / ".." / ".." / "secret.txt"
    for bad in (str(outside), str(link), str(climb), str(folder / "abc"), None, ""):
        with pytest.raises(FileAccessError) as caught:
            uploaded_file(bad)
        assert str(tmp_path) not in str(caught.value)


def test_gradio_checks_a_mounted_app_once_marked_launched(tmp_path, canary, monkeypatch):
    """Layer 2 alone (no guard): Gradio itself refuses a FileData that was never uploaded."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    with gr.Blocks() as blocks:
        file = gr.File(type="filepath")
        out = gr.Textbox()
        file.change(lambda p: Path(p).read_text() if p else "", file, out)  # a naive handler
    app = gr.mount_gradio_app(FastAPI(), blocks, "/")
    mark_launched(blocks)
    with serve_in_thread(app, free_port()) as url:
        target = Target(url.rstrip("/"), [canary[0]], canary[1], canary[0], canary[0].parent, 0)
        status, text = Attacker(target, Tally()).run_event("", 0, [filedata(str(canary[0]))])
        assert status == -1 and canary[1] not in text  # the event fails; the handler never read it
        assert canary[1] not in httpx.get(f"{target.url}/gradio_api/file={canary[0]}").text


def test_uploads_are_limited_per_client():
    limit = UploadLimit(per_client=2, window_s=60)
    first = {"type": "http", "client": ("203.0.113.5", 1234), "headers": []}
    other = {"type": "http", "client": ("203.0.113.6", 1234), "headers": []}
    assert limit.retry_after(first) is None and limit.retry_after(first) is None
    assert 1 <= limit.retry_after(first) <= 60  # the third in the window waits
    assert limit.retry_after(other) is None  # another client is not affected
    spoofed = {**first, "headers": [(b"x-forwarded-for", b"198.51.100.1")]}
    assert limit.retry_after(spoofed) is not None  # no trusted proxy: the header is not read


def test_an_upload_flood_gets_429(tmp_path):
    from fastapi.testclient import TestClient

    from studio.server import build_server

    client = TestClient(build_server(StudioConfig(output_dir=tmp_path)), base_url="http://127.0.0.1")
    statuses = [
        client.post("/gradio_api/upload", files={"files": ("a.csv", b"x,y\n", "text/csv")}).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429


def test_odd_spellings_of_the_api_path_are_refused(studio, canary):
    body = {"data": [filedata(str(canary[0]))], "fn_index": 0, "session_hash": "abc"}
    for path in (
        "//gradio_api/queue/join",
        "/studyX/gradio_api/queue/join",
        "/study//gradio_api/queue/join",
        "/gradio_api/queue/join/",
        "/./gradio_api/queue/join",
        "/x/../gradio_api/queue/join",
    ):
        response = studio.client.post(path, json=body)
        assert response.status_code in (403, 404, 405), (path, response.status_code)
        assert canary[1] not in response.text
