"""File access closed by construction for the Gradio apps mounted into the server.

Gradio decides which files a request may touch in two places: the FileData payloads of an event's
inputs (copied into its cache, then handed to the handler) and the ``/gradio_api/file=`` route.
A Blocks mounted with ``gr.mount_gradio_app`` never counts as launched, and Gradio skips its
input checks for such an app, so any FileData naming ``/etc/passwd`` was copied and served. Two
layers close that:

1. :func:`mark_launched` makes Gradio run its own checks (inputs only from its upload folder,
   ``blocked_paths`` honoured) exactly as for ``Blocks.launch()``.
2. :class:`GradioFileGuard`, an ASGI middleware in front of every mount, admits only the Gradio
   routes the studio's pages use and allows, per mount:

   - in an event's payload, a ``path`` only if that app received it as an upload or handed it
     out itself (``Blocks.upload_file_set`` and the components' ``temp_files``, Gradio's own
     records), never a URL (Gradio would fetch it);
   - at ``file=``, only a file that app handed out or received (so an admin export cached by the
     admin app is not served by the public studio at ``/``), never a URL (Gradio would proxy it).

Uploads are rate-limited per client (:class:`UploadLimit`) and every app deletes its cached files
after :data:`CACHE_LIFETIME_S`, so nobody can fill the disk. Handlers that take an uploaded file
resolve it with :func:`uploaded_file`, which refuses anything
outside Gradio's upload folder (symlinks resolved) whatever reached them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.requests import Request

from studio.errors import StudioError
from studio.formats.text import TextError, loads_json
from studio.security.clients import request_client
from studio.security.rates import ClientLimit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

GRADIO_API = "gradio_api/"
# Gradio keeps uploads and handed-out copies on disk: every hour, delete what an app created more
# than a day ago (``gr.Blocks(delete_cache=...)``; a copy handed out again is made anew).
CACHE_LIFETIME_S = (3600, 86400)
# An event's payload is a prompt and a few numbers; 1 MiB leaves room for a long keyframe script.
MAX_EVENT_BYTES = 1 << 20
# The Gradio routes the studio's pages call (Gradio's JS client: queue, upload, heartbeat, files).
# Everything else under gradio_api/ (run/, api/, call/, component_server, info, mcp, ...) is an
# API the pages never use: refused, so there is one way in and it is the checked one.
_OPEN_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (frozenset({"POST"}), re.compile(r"queue/join")),
    (frozenset({"GET"}), re.compile(r"queue/data")),
    (frozenset({"GET"}), re.compile(r"heartbeat/[\w-]{1,64}")),
    (frozenset({"POST"}), re.compile(r"cancel")),
    (frozenset({"GET", "HEAD"}), re.compile(r"file=.*", re.DOTALL)),
    (frozenset({"POST"}), re.compile(r"upload")),
    (frozenset({"GET"}), re.compile(r"upload_progress")),
    (frozenset({"GET"}), re.compile(r"startup-events")),
)
_UPLOAD_ROUTES = ("upload", "upload_progress")


class FileAccessError(StudioError, ValueError):
    """A file reference a request may not use. The message never names the server's paths."""


def mark_launched(blocks: gr.Blocks) -> None:
    """Make Gradio apply its launched-app file checks to a mounted ``blocks``.

    ``processing_utils._check_allowed`` returns early unless ``Blocks.has_launched``; ``launch()``
    sets it, ``mount_gradio_app`` does not. Nothing else in Gradio reads the flag.
    """
    blocks.has_launched = True


def uploaded_file(value: str | os.PathLike[str] | None) -> Path:
    """The real path of a file Gradio received as an upload, or :class:`FileAccessError`.

    ``value`` is what a ``gr.File(type="filepath")`` hands its handler. The path is resolved
    (symlinks included) and must be a regular file inside Gradio's upload folder.
    """
    if value is None or str(value) == "":
        raise FileAccessError("No file was uploaded.")
    root = Path(os.path.realpath(gr.utils.get_upload_folder()))
    path = Path(os.path.realpath(os.fspath(value)))
    if not path.is_relative_to(root) or not path.is_file():
        raise FileAccessError("That file was not uploaded here; upload it again.")
    return path


def iter_paths(value: Any) -> Iterator[Any]:
    """Every value under a ``"path"`` key anywhere in a decoded JSON payload (FileData dicts);
    the payload's depth is bounded by :func:`~studio.formats.text.loads_json`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "path":
                yield item
            else:
                yield from iter_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_paths(item)


@dataclass(frozen=True)
class Mount:
    """One mounted Gradio app: its URL prefix (``""`` for ``/``) and whether it takes uploads."""

    prefix: str
    blocks: gr.Blocks
    uploads: bool

    def received(self, path: str) -> bool:
        """Did this app receive ``path`` as an upload or hand it out itself? (Gradio's records, which
        hold absolute paths of files Gradio wrote: a URL, a relative path, a traversal or any other
        spelling is simply not among them.)"""
        key = os.path.abspath(path)
        return any(key in files for files in self.blocks.temp_file_sets)


def _json_response(status: int, error: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": error, "message": message}).encode()


class UploadLimit(ClientLimit):
    """Upload requests admitted per client address in a sliding window, in this process's memory.

    Gradio keeps every upload on disk until it is cleaned; unbounded, anyone could fill a Space's
    disk. Per process is enough: an upload lands on the disk of the process that took it.
    """

    def __init__(self, per_client: int = 30, window_s: float = 600.0, trusted_proxy_hops: int = 0) -> None:
        super().__init__("upload", per_client, window_s)
        self.trusted_proxy_hops = trusted_proxy_hops

    def retry_after(self, scope: Scope) -> int | None:
        """Seconds until this client may upload again, or None (and the upload is counted)."""
        return self.admit(request_client(Request(scope), self.trusted_proxy_hops))


class MountTable:
    """The mounted apps a :class:`GradioFileGuard` protects, filled in as they are mounted."""

    def __init__(self, upload_limit: UploadLimit | None = None) -> None:
        self.mounts: list[Mount] = []
        self.upload_limit = upload_limit or UploadLimit()

    def add(self, prefix: str, blocks: gr.Blocks, *, uploads: bool) -> None:
        """Guard the app mounted at ``prefix`` (``"/"``, ``"/study"``, ...)."""
        self.mounts.append(Mount(prefix.rstrip("/"), blocks, uploads))
        self.mounts.sort(key=lambda mount: -len(mount.prefix))  # longest prefix wins


class GradioFileGuard:
    """ASGI middleware: the checks of the module docstring, for every mount in ``table``."""

    def __init__(self, app: ASGIApp, table: MountTable) -> None:
        self.app = app
        self.table = table

    def _route(self, path: str) -> tuple[Mount, str] | None:
        """The mount and the part after its ``gradio_api/``, for Gradio API requests."""
        for mount in self.table.mounts:
            base = f"{mount.prefix}/{GRADIO_API}"
            if path.startswith(base):
                return mount, path[len(base) :]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and self._route(scope["path"]) is not None:
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        routed = self._route(scope["path"])
        if routed is None:
            if "gradio_api" in scope["path"].split("/"):
                # a spelling no mount routes as its API ("//gradio_api", "/studyX/gradio_api"):
                # refused rather than trusted to fall through to a 404
                await _respond(send, *_json_response(404, "not_found", "Not found."))
                return
            await self.app(scope, receive, send)
            return
        mount, route = routed
        method = scope["method"]
        refusal = self._refuse_route(mount, method, route)
        if refusal is None and route == "upload" and method == "POST":
            retry = self.table.upload_limit.retry_after(scope)
            if retry is not None:
                status, body = _json_response(429, "rate_limited", "Too many uploads; try again later.")
                await _respond(send, status, body, [(b"retry-after", str(retry).encode())])
                return
        if refusal is None and route.startswith("file="):
            refusal = self._refuse_file(mount, route[len("file=") :])
        if refusal is None and method == "POST" and route == "queue/join":
            body, refusal = await self._read_body(scope, receive)
            if refusal is None:
                refusal = self._refuse_payload(mount, body)
            if refusal is None:
                await self.app(scope, _replay(body, receive), send)
                return
        if refusal is not None:
            await _respond(send, *refusal)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _refuse_route(mount: Mount, method: str, route: str) -> tuple[int, bytes] | None:
        if route in _UPLOAD_ROUTES and not mount.uploads:
            return _json_response(404, "not_found", "This page takes no uploads.")
        for methods, pattern in _OPEN_ROUTES:
            if pattern.fullmatch(route):
                if method in methods:
                    return None
                return _json_response(405, "method_not_allowed", "Method not allowed.")
        return _json_response(404, "not_found", "Not found.")

    @staticmethod
    def _refuse_file(mount: Mount, target: str) -> tuple[int, bytes] | None:
        # the path as Gradio's route sees it (uvicorn decoded it once)
        if not mount.received(target):
            return _json_response(403, "file_not_allowed", "File not allowed.")
        return None

    @staticmethod
    async def _read_body(scope: Scope, receive: Receive) -> tuple[bytes, tuple[int, bytes] | None]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", _json_response(400, "disconnected", "The client went away.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_EVENT_BYTES:
                return b"", _json_response(413, "request_too_large", "Request too large.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    @staticmethod
    def _refuse_payload(mount: Mount, body: bytes) -> tuple[int, bytes] | None:
        try:
            payload = loads_json(body.decode("utf-8") or "null")
        except (TextError, UnicodeDecodeError) as exc:
            code = "too_deep" if "nested" in str(exc) else "not_json"
            return _json_response(400, code, "The request body is not JSON, or nests too deeply.")
        for path in iter_paths(payload):
            if not isinstance(path, str) or not mount.received(path):
                return _json_response(
                    403, "file_not_allowed", "A file in this request was not uploaded to this page."
                )
        return None


def _replay(body: bytes, receive_next: Receive) -> Receive:
    """A ``receive`` that hands the already-read body on, then defers to the real one."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive_next()

    return receive


async def _respond(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
