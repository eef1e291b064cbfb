"""The whole server on one FastAPI app: studio, participant page, admin pages, study JSON API.

```
/                       the studio (Compare, Explore, ... tabs)           studio.ui.build_app
/study?study=<id>&...   the participant page (Prolific link)               studio.ui.study_page
/study/api/...          the same participant actions as JSON               study_api() below
/study/media/<sha>.mp4  stimulus files, content-hash names only            output_dir/stimuli
/admin                  admin pages behind STUDIO_ADMIN_TOKEN              studio.ui.study_admin
/admin/login            the admin login (back-off, lockout, CSRF)          studio.security.admin_auth
/player?models=a,b&...  the in-browser 3D player (three.js), its API       studio.player
```

:func:`build_server` assembles it from a :class:`~studio.config.StudioConfig`; :func:`serve` runs
it with uvicorn (what ``app.py`` does). Never a share link. In front of everything: the Host
allow-list and same-origin CORS (:mod:`studio.security.http`), then the file guard
(:mod:`studio.security.files`): every mounted Gradio app gets Gradio's launched-app file checks,
takes only its own uploads and serves only files it handed out. The stimulus manifests (they map
files to models) and a SQLite database are blocked everywhere. Every study and admin event is
closed to the Gradio API; the footer's API link is hidden there.

JSON API (all bodies JSON, at most :data:`MAX_REQUEST_BYTES`; the session token from ``start`` goes
in ``Authorization: Bearer <token>``; errors are ``{"error": code, "message", "detail"}`` with a 4xx
status, and rejected submissions are counted by the store):

- ``POST /study/api/start`` ``{"study": id, "PROLIFIC_PID": ..., "STUDY_ID": ..., "SESSION_ID": ...}``
  -> the session (token, progress, next trial, completion code when done);
- ``GET /study/api/state`` -> the same, for the token's participant (resume);
- ``POST /study/api/events`` ``{"kind": "ended", "trial_id": 12, "clip": 0, "client_ms": 1234.5}``
  -> ``{"event_id": n}``;
- ``POST /study/api/trials/<trial_id>/answer`` with the answer as the body (``{"choice": "a"}`` or
  ``{"ranking": [2, 1, 3]}``) -> the session after the answer committed (next trial, or the
  completion code after the last one).
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from studio.config import ConfigError, StudioConfig
from studio.models.pool import ModelPool
from studio.player import player_router
from studio.security.admin_auth import AdminGate, install_admin_gate
from studio.security.clients import request_client
from studio.security.files import GradioFileGuard, MountTable, UploadLimit, mark_launched
from studio.security.http import add_request_policies
from studio.study.service import STIMULUS_NAME, ServiceError, StudyService
from studio.study.storage import StudyStore
from studio.ui import CSS, build_app, model_pool
from studio.ui.study_page import CSS as STUDY_CSS
from studio.ui.study_page import build_study_page

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4096  # an answer is < 100 bytes, an event < 1.2 kB; storage caps answers at 2 kB
MANIFEST_DIR = "study-manifests"  # the stimulus manifests: file -> model; never served
ADMIN_USER = "admin"
_EVENT_KEYS = {"kind", "trial_id", "clip", "client_ms", "detail"}


def _error(error: ServiceError) -> JSONResponse:
    return JSONResponse(error.to_json(), status_code=error.status)


async def _body(request: Request) -> tuple[bytes, bool]:
    """The request body, read at most ``MAX_REQUEST_BYTES + 1`` bytes far (whatever Content-Length
    claims); ``(bytes, too_large)``."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return b"".join(chunks)[: MAX_REQUEST_BYTES + 1], True
    return b"".join(chunks), False


def _token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ServiceError(401, "bad_token", "Missing session token.", "send Authorization: Bearer <token>")
    return token.strip()


def study_api(service: StudyService, stimuli_dir: Path) -> APIRouter:
    """The participant JSON API and the stimulus files (see the module docstring). A rate-limited
    start is answered 429 with ``Retry-After``; the client is the address
    :func:`~studio.security.clients.request_client` finds (``service.trusted_proxy_hops``)."""
    router = APIRouter()

    def _error(error: ServiceError) -> JSONResponse:
        retry = {} if error.retry_after is None else {"Retry-After": error.retry_after}
        return JSONResponse(error.to_json(), status_code=error.status, headers=retry)

    @router.post("/study/api/start")
    async def start(request: Request) -> Response:
        body, too_large = await _body(request)
        if too_large:
            return _error(ServiceError(413, "request_too_large", "Request too large."))
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return _error(ServiceError(400, "not_json", "The request body is not JSON."))
        if not isinstance(params, dict):
            return _error(ServiceError(400, "not_json", "The request body must be a JSON object."))
        try:
            client = request_client(request, service.trusted_proxy_hops)
            view = await run_in_threadpool(lambda: service.start(params.get("study"), params, client=client))
        except ServiceError as error:
            return _error(error)
        return JSONResponse(view.to_json())

    @router.get("/study/api/state")
    async def state(request: Request) -> Response:
        try:
            view = await run_in_threadpool(service.current, _token(request))
        except ServiceError as error:
            return _error(error)
        return JSONResponse(view.to_json())

    @router.post("/study/api/events")
    async def event(request: Request) -> Response:
        try:
            token = _token(request)
            service.session(token)  # a bad token is refused before the body is read
            body, too_large = await _body(request)
            if too_large:
                error = await run_in_threadpool(service.reject_malformed_event, token, "oversized")
                raise ServiceError(
                    413, error.code, "Request too large.", f"body over {MAX_REQUEST_BYTES} bytes"
                )
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if not isinstance(data, dict) or not set(data) <= _EVENT_KEYS or "kind" not in data:
                raise await run_in_threadpool(service.reject_malformed_event, token, "not an event object")
            event_id = await run_in_threadpool(
                lambda: service.record_event(
                    token,
                    data["kind"],
                    trial_id=data.get("trial_id"),
                    clip=data.get("clip"),
                    client_ms=data.get("client_ms"),
                    detail=data.get("detail"),
                )
            )
        except ServiceError as error:
            return _error(error)
        return JSONResponse({"event_id": event_id})

    @router.post("/study/api/trials/{trial_id}/answer")
    async def answer(trial_id: str, request: Request) -> Response:
        try:
            token = _token(request)
            service.session(token)
            body, _too_large = await _body(request)
            # an over-long body is cut at MAX_REQUEST_BYTES + 1 bytes: the store refuses and counts
            # it as oversized, like any answer over its own (smaller) limit
            trial: Any = int(trial_id) if trial_id.isdigit() and len(trial_id) < 19 else trial_id
            view = await run_in_threadpool(service.submit_answer, token, trial, body)
        except ServiceError as error:
            return _error(error)
        return JSONResponse(view.to_json())

    @router.get("/study/media/{name}")
    def media(name: str) -> Response:
        path = stimuli_dir / name
        if not STIMULUS_NAME.match(name) or not path.is_file():
            return JSONResponse({"error": "not_found", "message": "No such clip."}, status_code=404)
        # content-addressed: the bytes behind a name never change
        return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "public, max-age=86400"})

    return router


def _placeholder(title: str, text: str) -> gr.Blocks:
    """A page that only explains why the real one is not there (nothing callable)."""
    with gr.Blocks(title=title, analytics_enabled=False) as page:
        gr.Markdown(f"## {title}\n{text}")
    return page


def _admin_blocks(config: StudioConfig, store: StudyStore | None) -> gr.Blocks:
    if config.admin_token is None:
        return _placeholder(
            "Admin disabled",
            "The admin pages are disabled: set `STUDIO_ADMIN_TOKEN` (12+ characters) and restart.",
        )
    if store is None:
        return _placeholder("Admin", "Studies are not configured: set `STUDIO_STUDY_SECRET` and restart.")
    try:
        from studio.ui.study_admin import build_admin
    except ImportError as exc:
        log.warning("admin pages unavailable: %s", exc)
        return _placeholder("Admin", "The admin pages are not installed in this build.")
    return build_admin(config, store)


def _admin_auth(config: StudioConfig, store: StudyStore | None) -> AdminGate | None:
    """The admin login (studio.security.admin_auth): user ``admin``, password the admin token;
    failed logins counted in the study database when there is one (shared by every process).
    None without an admin token."""
    token = config.admin_token or ""

    def check(username: str, password: str) -> bool:
        user_ok = hmac.compare_digest(username.encode(), ADMIN_USER.encode())
        return hmac.compare_digest(password.encode(), token.encode()) and user_ok

    return AdminGate.from_config(config, store, check)


def open_store(config: StudioConfig) -> StudyStore | None:
    """The study database, or None when no study secret is configured (studies off)."""
    if config.study_secret is None:
        return None
    return StudyStore(config.db_url, config.study_secret)


def _mount(
    server: FastAPI, table: MountTable, blocks: gr.Blocks, path: str, *, uploads: bool, **kwargs: Any
) -> None:
    """Mount ``blocks`` at ``path`` with the file checks of a launched app (studio.security.files)."""
    gr.mount_gradio_app(server, blocks, path, **kwargs)
    mark_launched(blocks)
    table.add(path, blocks, uploads=uploads)


def _blocked_paths(config: StudioConfig) -> list[str]:
    """What no app may serve or read: the stimulus manifests and a SQLite study database."""
    blocked = [str(config.output_dir / MANIFEST_DIR)]
    if config.db_url.startswith("sqlite:///"):
        database = Path(config.db_url.removeprefix("sqlite:///")).resolve()
        blocked += [str(database) + suffix for suffix in ("", "-wal", "-shm", "-journal")]
    return blocked


def build_server(
    config: StudioConfig, pool: ModelPool | None = None, *, store: StudyStore | None = None
) -> FastAPI:
    """Everything on one FastAPI app (see the module docstring). ``store`` defaults to
    :func:`open_store`; pass one to share it (tests, benchmarks)."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    stimuli_dir = config.output_dir / "stimuli"
    stimuli_dir.mkdir(exist_ok=True)
    blocked = _blocked_paths(config)
    store = store if store is not None else open_store(config)
    service = None if store is None else StudyService.from_config(store, config)

    server = FastAPI(title="Expression Studio", docs_url=None, redoc_url=None, openapi_url=None)
    mounts = MountTable(UploadLimit(trusted_proxy_hops=config.trusted_proxy_hops))
    server.add_middleware(GradioFileGuard, table=mounts)
    add_request_policies(server, config.host, config.allowed_hosts)  # outermost: Host, then CORS
    server.state.study_store, server.state.study_service = store, service

    @server.get("/study", include_in_schema=False)
    def study_redirect(request: Request) -> RedirectResponse:
        # the mounted page lives at /study/; keep the Prolific parameters (relative: proxy-safe)
        query = request.url.query
        return RedirectResponse("study/" + (f"?{query}" if query else ""), status_code=307)

    if service is not None:
        server.include_router(study_api(service, stimuli_dir))
    else:

        @server.api_route("/study/api/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
        def studies_off(rest: str) -> JSONResponse:
            error = ServiceError(503, "studies_disabled", "Studies are not configured on this server.")
            return _error(error)

    # one pool for the tabs and the player: they share loaded models and generated clips
    problem = None
    if pool is None:
        pool, problem = model_pool(config)
    # the 3D player (studio.player): plain routes, served before the Gradio app mounted at "/"
    server.include_router(player_router(pool, trusted_proxy_hops=config.trusted_proxy_hops))
    server.state.model_pool = pool

    common = {
        "server_name": config.host,
        "server_port": config.port,
        "show_error": False,
        "ssr_mode": False,
        "max_file_size": f"{config.max_upload_mb}mb",
        "blocked_paths": blocked,
        "theme": gr.themes.Soft(),
    }
    page = build_study_page(
        service, None if service else "This server has no study secret configured (STUDIO_STUDY_SECRET)."
    )
    _mount(
        server,
        mounts,
        page,
        "/study",
        uploads=False,
        allowed_paths=[str(stimuli_dir)],
        css=STUDY_CSS,
        footer_links=[],
        run_history=False,
        **common,
    )
    # without a token the admin mount is only a page saying so (nothing callable), never an open admin
    gate = _admin_auth(config, store)
    _mount(
        server,
        mounts,
        _admin_blocks(config, store),
        "/admin",
        uploads=True,
        allowed_paths=[str(config.output_dir)],
        auth_dependency=None if gate is None else gate.user,
        css=CSS,
        footer_links=[],
        run_history=False,
        **common,
    )
    install_admin_gate(server, gate)  # its own login, CSRF, back-off and lockout in front of it
    _mount(
        server,
        mounts,
        build_app(config, pool, problem),
        "/",
        uploads=True,
        allowed_paths=[str(config.output_dir)],
        css=CSS,
        **common,
    )
    return server


def serve(config: StudioConfig) -> None:
    """Run the server until interrupted (loopback unless STUDIO_HOST says otherwise)."""
    import uvicorn

    server = build_server(config)
    from studio.examples import EXAMPLE_PROMPTS
    from studio.player import warm_up

    # the first visitor should not wait for the models, the encoder or the rig: load them now,
    # beside the server (it answers meanwhile; a request needing one of them waits for it)
    threading.Thread(target=warm_up, args=(server.state.model_pool, EXAMPLE_PROMPTS), daemon=True).start()
    print(f"Expression Studio on http://{config.host}:{config.port}/  (participants: /study, admin: /admin)")
    uvicorn.run(server, host=config.host, port=config.port, log_level="warning", timeout_graceful_shutdown=5)


def main() -> int:
    """``python app.py`` / ``python -m studio.server``: a bad setting is one line and exit code 2."""
    try:
        config = StudioConfig.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    serve(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
