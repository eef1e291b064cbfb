"""The in-browser 3D player: its motion payload, the rig as binary glTF, and its routes.

The page (``studio/player_static/``) draws every model's clip on the same rig in one WebGL canvas
with three.js (vendored by ``scripts/vendor_threejs.sh`` into ``assets/vendor/three/``). It asks
the server for two things:

```
GET /player                          the page (query: models, prompt, seed, duration, rig, demo;
                                      page-only: size = panel pixels, camera = a preset name)
GET /player/api/preview?...          the motion payload (below) for a prompt run through models
GET /player/api/stream?...           the same as NDJSON, each model's panel as soon as it is ready
GET /player/rig/<sha256>.glb         a rig as .glb, by the hash of its bytes (immutable)
GET /player/static/<name>            the page's scripts and the vendored three.js, by allow-list
```

Nothing a request names is ever joined to a folder: static files come from a fixed table of
names, rigs from the hashes this process computed; anything else is 404.

**Payload** (:func:`player_payload`), one JSON object::

    format      "studio-player-1"
    fps         frames per second of every panel's values (OUTPUT_FPS)
    n_frames    frames of the longest clip, T; duration_s = (T - 1) / fps (the last frame's time)
    channels    the 61 ARKit channel names, the columns of every values array
    curves      up to 4 channel names to plot: those the prompt's category moves most (with a
                 prompt; else the widest ranges over all clips, blinks excluded)
    curves_reason   one sentence saying why those (with a prompt)
    curve_groups    [[group label, [channel, ...]], ...]: every channel, for the page's picker
    panels      [{label, n_frames, values: base64 of little-endian float32 (n_frames, 61)}
                 or {label, error}]
    rig         {name, url, metres_per_unit, cameras: {preset: {eye, target, up, fov_y_deg,
                 near, far}}} (lengths in metres, the glTF's world unit)

base64 float32 is exact and the smallest simple encoding: 4 clips × 4 s at 30 fps (120 × 61
values) are 4 × 39 kB of base64, against ~4 × 50 kB for a JSON list rounded to 4 decimals.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from studio.config import ASSETS_DIR
from studio.curve_channels import (
    BLINKS,
    N_CURVES,
    CurveChoice,
    curve_picker_groups,
    prompt_category,
    prompt_curves,
    rank_curves,
)
from studio.models import check_request
from studio.models.base import MAX_DURATION_S, MAX_SEED, MIN_DURATION_S
from studio.models.pool import ModelPool
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, OUTPUT_FPS, MotionClip
from studio.security.clients import request_client
from studio.security.rates import ClientLimit

PAYLOAD_FORMAT = "studio-player-1"
STREAM_FORMAT = "studio-player-stream-1"
PAGE_DIR = Path(__file__).resolve().parent / "player_static"
VENDOR_DIR = ASSETS_DIR / "vendor" / "three"
# URL name under /player/static/ -> the file; the only files these routes ever serve
STATIC_FILES: Mapping[str, Path] = {
    "player.js": PAGE_DIR / "player.js",
    "curves.js": PAGE_DIR / "curves.js",
    "player.css": PAGE_DIR / "player.css",
    "three/three.module.js": VENDOR_DIR / "three.module.js",
    "three/three.core.js": VENDOR_DIR / "three.core.js",
    "three/addons/loaders/GLTFLoader.js": VENDOR_DIR / "addons" / "loaders" / "GLTFLoader.js",
    "three/addons/utils/BufferGeometryUtils.js": VENDOR_DIR / "addons" / "utils" / "BufferGeometryUtils.js",
    "three/addons/utils/SkeletonUtils.js": VENDOR_DIR / "addons" / "utils" / "SkeletonUtils.js",
    "three/addons/controls/OrbitControls.js": VENDOR_DIR / "addons" / "controls" / "OrbitControls.js",
}
RIG_URL = re.compile(r"^([0-9a-f]{64})\.glb$")
IMMUTABLE = "public, max-age=31536000, immutable"
MAX_PANELS = 6
DEMO_PROMPT = "A person smiles warmly, then looks surprised"
DEMO_MODELS = ("emotion-label", "keyframe", "retrieval")  # the quick built-ins (no mdm: ~15 s on CPU)
DEMO_DURATION_S = 4.0
API_PARAMS = frozenset({"prompt", "seed", "models", "duration", "rig", "demo"})
# New previews (ones that run models) admitted per client address and window; cached ones are free.
PREVIEW_RUNS_PER_CLIENT, PREVIEW_WINDOW_S = 60, 600.0


class PlayerRequestError(ValueError):
    """A preview request refused: one message for the 400 answer."""


# -- rigs as .glb -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RigAsset:
    """One rig as a ``.glb`` file: ``data`` (bytes), its ``gzipped`` copy, ``sha256`` of ``data``;
    ``metres_per_unit`` is the glTF root's scale (rig units -> metres); ``cameras`` the studio
    camera presets in metres (what the MP4 renders use, scaled)."""

    name: str
    data: bytes
    gzipped: bytes
    sha256: str
    metres_per_unit: float
    cameras: dict[str, dict[str, Any]]

    @property
    def url(self) -> str:
        return f"/player/rig/{self.sha256}.glb"


def available_rigs() -> tuple[str, ...]:
    """The rigs the tabs offer: ``default``, and ``ict`` when its folder is found."""
    from renderers import ict_dir

    return ("default", "ict") if ict_dir() is not None else ("default",)


def _glb_root_scale(data: bytes) -> float:
    """The uniform scale of node 0 in a ``.glb`` (its JSON chunk), 1.0 when it has none."""
    (length,) = struct.unpack_from("<I", data, 12)
    document = json.loads(data[20 : 20 + length])
    return float(document["nodes"][0].get("scale", [1.0])[0])


def build_rig_asset(name: str) -> RigAsset:
    """Load rig ``name`` and write it at rest (one frame of zeros) as a ``.glb``; ~3 s for the
    default rig (4.0 MB, 2.6 MB gzipped)."""
    from renderers import CAMERA_PRESETS, camera_preset, gltf_bytes, load_rig

    rig = load_rig(name)
    rest = MotionClip(np.zeros((1, len(ARKIT_CHANNELS)), np.float32), OUTPUT_FPS, "arkit", ARKIT_CHANNELS)
    data = gltf_bytes(rest, rig)
    scale = _glb_root_scale(data)
    cameras = {}
    for preset in CAMERA_PRESETS:
        camera = camera_preset(preset, rig.frame_center, rig.frame_radius)
        cameras[preset] = {
            "eye": [float(c) * scale for c in camera.eye],
            "target": [float(c) * scale for c in camera.target],
            "up": [float(c) for c in camera.up],
            "fov_y_deg": float(camera.fov_y_deg),
            "near": float(camera.near) * scale,
            "far": float(camera.far) * scale,
        }
    return RigAsset(
        name=name,
        data=data,
        gzipped=gzip.compress(data, compresslevel=6, mtime=0),
        sha256=hashlib.sha256(data).hexdigest(),
        metres_per_unit=scale,
        cameras=cameras,
    )


class RigCache:
    """Rig assets built on first use and kept in memory for the process (a few MB each)."""

    def __init__(self) -> None:
        self._by_name: dict[str, RigAsset] = {}
        self._by_hash: dict[str, RigAsset] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> RigAsset:
        with self._lock:  # two first requests must not build the same rig twice
            asset = self._by_name.get(name)
            if asset is None:
                asset = build_rig_asset(name)
                self._by_name[name] = asset
                self._by_hash[asset.sha256] = asset
            return asset

    def by_hash(self, sha256: str) -> RigAsset | None:
        """Only a rig this process built answers; a hash is never a file name."""
        return self._by_hash.get(sha256)


RIGS = RigCache()


# -- the payload --------------------------------------------------------------------------------


def default_curves(clips: Sequence[MotionClip], n: int = N_CURVES) -> list[str]:
    """The ``n`` blendshapes whose range (max - min, over all ``clips``) is widest, blinks left
    out; channels that never move are not picked (so fewer than ``n`` for still clips)."""
    if not clips:
        return []
    shapes = len(ARKIT_BLENDSHAPES)
    ranges = np.max([np.ptp(clip.values[:, :shapes], axis=0) for clip in clips], axis=0)
    order = [k for k in np.argsort(-ranges, kind="stable") if ARKIT_BLENDSHAPES[k] not in BLINKS]
    return [ARKIT_BLENDSHAPES[k] for k in order[:n] if ranges[k] > 0]


def curve_section(
    prompt: str, clips: Sequence[MotionClip], category: Future[tuple[str | None, str]] | None = None
) -> dict[str, Any]:
    """``curves`` (the channels the prompt's category moves most, see
    :func:`studio.curve_channels.prompt_curves`), ``curves_reason`` (one sentence saying why)
    and ``curve_groups`` (every channel, grouped for the page's picker). ``category``: the
    prompt already being read (:func:`studio.curve_channels.prompt_category`), if it is."""
    try:
        if category is None:
            choice = prompt_curves(prompt, clips)
        else:
            name, why = category.result()
            choice = rank_curves(name, clips, N_CURVES, why_none=why)
    except Exception as exc:  # the curves must never cost the motion (an encoder that fails to load)
        reason = f"the widest-moving channels (the prompt was not read: {exc})"
        choice = CurveChoice(None, tuple(default_curves(clips)), reason)
    return curves_entry(choice)


def curves_entry(choice: CurveChoice) -> dict[str, Any]:
    """The stream's curve fields for ``choice``, with every channel grouped for the picker."""
    return {
        "curves": list(choice.channels),
        "curves_reason": choice.reason,
        "curve_groups": [[label, names] for label, names in curve_picker_groups()],
    }


def encode_values(values: np.ndarray) -> str:
    """``(T, 61)`` -> base64 of little-endian float32, row-major (frame after frame)."""
    return base64.b64encode(np.ascontiguousarray(values, "<f4").tobytes()).decode("ascii")


def rig_section(asset: RigAsset) -> dict[str, Any]:
    """The payload's ``rig`` entry: where the ``.glb`` is and the camera presets on it."""
    return {
        "name": asset.name,
        "url": asset.url,
        "metres_per_unit": asset.metres_per_unit,
        "cameras": asset.cameras,
    }


def panel_spec(label: str, clip: MotionClip | str) -> tuple[dict[str, Any], MotionClip | None]:
    """One panel of the payload (its values at ``OUTPUT_FPS``, or its error) and the clip played."""
    if isinstance(clip, str):
        return {"label": label, "error": clip}, None
    if clip.space != "arkit":
        return {"label": label, "error": "the player draws ARKit clips only"}, None
    clip = clip.resample(OUTPUT_FPS)
    return {"label": label, "n_frames": clip.n_frames, "values": encode_values(clip.values)}, clip


def player_payload(
    clips: Sequence[tuple[str, MotionClip | str]], rig: str, *, rigs: RigCache | None = None
) -> dict[str, Any]:
    """The payload of the module docstring for ``(label, clip)`` pairs on rig ``rig``.

    A clip may be a string instead: that panel's error message (a model that failed). Clips are
    resampled to ``OUTPUT_FPS``; FLAME clips are refused (the player draws ARKit rigs only).
    """
    asset = (rigs or RIGS).get(rig)
    specs = [panel_spec(label, clip) for label, clip in clips]
    played = [clip for _, clip in specs if clip is not None]
    n_frames = max((clip.n_frames for clip in played), default=1)
    return {
        "format": PAYLOAD_FORMAT,
        "fps": OUTPUT_FPS,
        "n_frames": n_frames,
        "duration_s": (n_frames - 1) / OUTPUT_FPS,
        "channels": list(ARKIT_CHANNELS),
        "curves": default_curves(played),
        "panels": [spec for spec, _ in specs],
        "rig": rig_section(asset),
    }


# -- preview requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRequest:
    """A checked preview: ``prompt`` cleaned, ``models`` configured names, ``duration_s`` seconds."""

    prompt: str
    seed: int
    models: tuple[str, ...]
    duration_s: float
    rig: str


def parse_preview(params: Mapping[str, str], model_names: Sequence[str]) -> PreviewRequest:
    """Check a preview's query parameters; missing ones take the demo's values.

    Raises :class:`PlayerRequestError` with one message naming the parameter.
    """
    unknown = sorted(set(params) - API_PARAMS)
    if unknown:
        raise PlayerRequestError(
            f"unknown parameter {unknown[0][:40]!r}; use {', '.join(sorted(API_PARAMS))}"
        )
    if params.get("demo", "1") != "1":
        raise PlayerRequestError("demo must be 1")
    seed_text = params.get("seed", "0")
    if not (seed_text.isascii() and seed_text.isdigit() and len(seed_text) <= 10):
        raise PlayerRequestError(f"seed must be an integer in [0, {MAX_SEED}]")
    try:
        duration = float(params.get("duration", str(DEMO_DURATION_S)))
    except ValueError:
        raise PlayerRequestError("duration must be a number of seconds") from None
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:  # also refuses nan
        raise PlayerRequestError(f"duration must be between {MIN_DURATION_S:g} and {MAX_DURATION_S:g} s")
    if "models" in params:
        models = tuple(name.strip() for name in params["models"].split(","))
    else:
        models = tuple(name for name in DEMO_MODELS if name in model_names) or tuple(model_names[:2])
    if not models or not all(models):
        raise PlayerRequestError("models must name at least one configured model (comma-separated)")
    if len(models) > MAX_PANELS:
        raise PlayerRequestError(f"at most {MAX_PANELS} models at a time")
    for name in models:
        if name not in model_names:
            raise PlayerRequestError(f"unknown model {name[:64]!r}; configured: {', '.join(model_names)}")
    if len(set(models)) != len(models):
        raise PlayerRequestError("a model is listed twice")
    rig = params.get("rig", "default")
    if rig not in available_rigs():
        raise PlayerRequestError(f"rig must be one of {', '.join(available_rigs())}")
    try:
        prompt, _notices = check_request(params.get("prompt", DEMO_PROMPT), int(seed_text), duration)
    except ValueError as exc:  # PromptError, or the seed beyond MAX_SEED
        raise PlayerRequestError(str(exc)) from None
    return PreviewRequest(prompt, int(seed_text), models, duration, rig)


def panel_clip(pool: ModelPool, name: str, request: PreviewRequest) -> MotionClip | str:
    """Model ``name``'s clip for ``request`` from the pool's generation cache, or its error."""
    generation = pool.generate(name, request.prompt, seed=request.seed, duration_s=request.duration_s)
    return generation.clip if generation.clip is not None else str(generation.error)


def preview_payload(pool: ModelPool, request: PreviewRequest, rigs: RigCache | None = None) -> dict[str, Any]:
    """Run each model of ``request`` (cached) and build the payload (blocking: call off the loop)."""
    clips = [(name, panel_clip(pool, name, request)) for name in request.models]
    payload = player_payload(clips, request.rig, rigs=rigs)
    played = [clip for _, clip in (panel_spec(name, clip) for name, clip in clips) if clip is not None]
    payload.update(curve_section(request.prompt, played), request=request_section(request))
    return payload


def glb_download(pool: ModelPool, model: str, request: PreviewRequest) -> tuple[bytes, str] | str:
    """``model``'s clip for ``request`` (from the generation cache) as an animated ``.glb`` on the
    request's rig, with its download name ``<model>_p<prompt hash>-s<seed>.glb``; or why there is
    none (the model failed). Blocking, ~2 s for a 4 s clip on the default head."""
    from renderers import gltf_bytes, load_rig
    from studio.compare import prompt_file_tag

    clip = panel_clip(pool, model, request)
    if isinstance(clip, str):
        return f"{model} has no clip for this request: {clip}"
    if clip.space != "arkit":
        return f"{model} made a {clip.space} clip; the .glb export takes ARKit clips"
    data = gltf_bytes(clip, load_rig(request.rig))
    return data, f"{model}_{prompt_file_tag(request.prompt, request.seed)}.glb"


def request_section(request: PreviewRequest) -> dict[str, Any]:
    return {
        "prompt": request.prompt,
        "seed": request.seed,
        "models": list(request.models),
        "duration_s": request.duration_s,
    }


def stream_header(asset: RigAsset, request: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """The stream's first line: its format, frame rate, channels, rig and one panel per label."""
    return {
        "format": STREAM_FORMAT,
        "fps": OUTPUT_FPS,
        "channels": list(ARKIT_CHANNELS),
        "rig": rig_section(asset),
        "request": request,
        "panels": [{"label": label} for label in labels],
    }


def clip_lines(
    clip: MotionClip, label: str, title: str, rig: str = "default", *, rigs: RigCache | None = None
) -> list[dict[str, Any]]:
    """One clip (a file read on the server) as the stream's lines, for a page to hand to its
    player (``player.show(lines)``): the header, its panel, then ``done`` with the curves of
    the clip's own prompt when it has one (else its widest-moving channels). ``title`` is the
    line under the picture. A FLAME clip's panel says the player draws ARKit clips only."""
    spec, played = panel_spec(label, clip)
    n_frames = played.n_frames if played is not None else 1
    duration_s = (n_frames - 1) / OUTPUT_FPS
    header = stream_header((rigs or RIGS).get(rig), {"title": title, "duration_s": duration_s}, [label])
    prompt = str(clip.meta.get("prompt", "") or "").strip()
    clips = [played] if played is not None else []
    if prompt:
        curves = curve_section(prompt, clips)
    else:  # a capture take has no prompt: its own busiest channels
        curves = curves_entry(rank_curves(None, clips, N_CURVES, why_none="the file has no prompt"))
    done = {"done": True, "n_frames": n_frames, "duration_s": duration_s, **curves}
    return [header, {"panel": 0, **spec}, done]


def preview_stream(pool: ModelPool, request: PreviewRequest, rigs: RigCache | None = None) -> Iterator[str]:
    """The payload as NDJSON lines, each panel sent as soon as its model has answered.

    First ``{format, fps, channels, rig, request, panels: [{label}]}`` (the rig can load while
    the models run), then ``{panel: i, ...}`` per model in order (the fields of a payload panel),
    then ``{done: true, n_frames, duration_s, curves}``. Blocking: iterate off the event loop.
    """
    header = stream_header((rigs or RIGS).get(request.rig), request_section(request), request.models)
    yield json.dumps(header) + "\n"
    played = []
    # the prompt is read (its category picks the curves) while the models run: reading it may
    # load the text encoder, which must not hold up the motion
    with ThreadPoolExecutor(max_workers=1) as reader:
        category = reader.submit(prompt_category, request.prompt)
        for i, name in enumerate(request.models):
            spec, clip = panel_spec(name, panel_clip(pool, name, request))
            if clip is not None:
                played.append(clip)
            yield json.dumps({"panel": i, **spec}) + "\n"
        n_frames = max((clip.n_frames for clip in played), default=1)
        done = {"done": True, "n_frames": n_frames, "duration_s": (n_frames - 1) / OUTPUT_FPS}
        yield json.dumps({**done, **curve_section(request.prompt, played, category)}) + "\n"


def warm_up(pool: ModelPool, prompts: Sequence[str] = ()) -> None:
    """Load what the first visitor waits for: the default rig's ``.glb``, every model, the text
    encoder (models and the curves' prompt reading use it), and ``prompts``' categories. Run on
    a background thread when the server starts (:func:`studio.server.serve`); a part that fails
    is left for its first request to report."""
    for step in (
        lambda: RIGS.get("default"),
        *(lambda name=name: pool.get(name) for name in pool.names),
        *(lambda prompt=prompt: prompt_category(prompt) for prompt in prompts),
    ):
        try:
            step()
        except Exception:  # noqa: S112 - the request that needs it says what went wrong
            continue


# -- routes -------------------------------------------------------------------------------------


def page_policy(html: bytes) -> str:
    """The page's Content-Security-Policy: scripts, styles and data from this server only, and
    the one inline script, the import map, allowed by its hash."""
    import_map = re.search(rb'<script type="importmap">(.*?)</script>', html, re.DOTALL)
    if import_map is None:
        raise ValueError("the player page has no import map")
    digest = base64.b64encode(hashlib.sha256(import_map.group(1)).digest()).decode()
    return (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; style-src 'self'; "
        "connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'"
    )


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": "Not found."}, status_code=404)


def player_router(
    pool: ModelPool,
    *,
    rigs: RigCache | None = None,
    run_limit: ClientLimit | None = None,
    trusted_proxy_hops: int = 0,
) -> APIRouter:
    """The routes of the module docstring, for the models of ``pool``.

    A preview that must run a model counts against ``run_limit`` (per client address, see
    :func:`studio.security.clients.request_client`); one served from the clip cache does not. Over
    the limit: 429 with ``Retry-After``, so one client cannot keep the server's CPUs busy."""
    router = APIRouter()
    rigs = rigs or RIGS
    run_limit = run_limit or ClientLimit("player-run", PREVIEW_RUNS_PER_CLIENT, PREVIEW_WINDOW_S)

    html = (PAGE_DIR / "index.html").read_bytes()
    page_headers = {"Cache-Control": "no-cache", "Content-Security-Policy": page_policy(html)}

    @router.get("/player", include_in_schema=False)
    def page() -> Response:
        return Response(html, media_type="text/html", headers=page_headers)

    @router.get("/player/static/{name:path}", include_in_schema=False)
    def static(name: str) -> Response:
        path = STATIC_FILES.get(name)
        if path is None or not path.is_file():
            return _not_found()
        # vendored files change only with the pinned version; the page's own scripts revalidate
        cache = "public, max-age=86400" if name.startswith("three/") else "no-cache"
        return FileResponse(
            path,
            media_type="text/javascript" if name.endswith(".js") else "text/css",
            headers={"Cache-Control": cache},
        )

    @router.get("/player/rig/{name}", include_in_schema=False)
    def rig(name: str, request: Request) -> Response:
        match = RIG_URL.match(name)
        asset = rigs.by_hash(match.group(1)) if match else None
        if asset is None:
            return _not_found()
        headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{asset.sha256}"', "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(asset.gzipped, media_type="model/gltf-binary", headers=headers)
        return Response(asset.data, media_type="model/gltf-binary", headers=headers)

    def checked_request(
        request: Request, params: dict[str, str] | None = None, *, costly: bool = False
    ) -> PreviewRequest | JSONResponse:
        """The preview a request asks for (``params``: its query, or what is left of it), or the
        400/429 answer refusing it. It counts against ``run_limit`` when a model must run, or
        always when the answer itself is ``costly`` (a ``.glb`` export)."""
        query = request.query_params
        if len(query.multi_items()) != len(query):
            return JSONResponse({"error": "bad_request", "message": "a parameter is given twice"}, 400)
        try:
            checked = parse_preview(dict(query) if params is None else params, pool.names)
        except PlayerRequestError as exc:
            return JSONResponse({"error": "bad_request", "message": str(exc)}, status_code=400)
        asked = {"seed": checked.seed, "duration_s": checked.duration_s}
        if costly or not all(pool.holds(name, checked.prompt, **asked) for name in checked.models):
            wait = run_limit.admit(request_client(request, trusted_proxy_hops))
            if wait is not None:
                message = f"too many new previews from this address; try again in {wait} s"
                body = {"error": "rate_limited", "message": message}
                return JSONResponse(body, status_code=429, headers={"Retry-After": str(wait)})
        return checked

    @router.get("/player/api/preview", include_in_schema=False)
    async def preview(request: Request) -> Response:  # async: the payload is built off the loop
        checked = checked_request(request)
        if isinstance(checked, Response):
            return checked
        payload = await run_in_threadpool(preview_payload, pool, checked, rigs)
        return JSONResponse(payload, headers={"Cache-Control": "no-store"})

    @router.get("/player/api/glb", include_in_schema=False)
    async def glb(request: Request) -> Response:  # async: the export runs off the loop
        params = dict(request.query_params)
        model = params.pop("model", "")
        checked = checked_request(request, params, costly=True)
        if isinstance(checked, Response):
            return checked
        if model not in checked.models:
            message = "model must name one of the request's models"
            return JSONResponse({"error": "bad_request", "message": message}, status_code=400)
        answer = await run_in_threadpool(glb_download, pool, model, checked)
        if isinstance(answer, str):
            return JSONResponse({"error": "no_clip", "message": answer}, status_code=422)
        data, filename = answer
        headers = {
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return Response(data, media_type="model/gltf-binary", headers=headers)

    @router.get("/player/api/stream", include_in_schema=False)
    def stream(request: Request) -> Response:
        checked = checked_request(request)
        if isinstance(checked, Response):
            return checked
        # a plain iterator: Starlette advances it on a worker thread, one line at a time
        lines = preview_stream(pool, checked, rigs)
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        return StreamingResponse(lines, media_type="application/x-ndjson", headers=headers)

    return router
