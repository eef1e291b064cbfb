"""The 3D player's server side: the payload, the preview checks, the allow-listed files, the rig URL."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from benchmarks.study_server import free_port
from studio.config import StudioConfig
from studio.models import ModelSpec
from studio.models.pool import ModelPool
from studio.motion import ARKIT_BLENDSHAPES, ARKIT_CHANNELS, ARKIT_INDEX, MotionClip
from studio.player import (
    API_PARAMS,
    BLINKS,
    IMMUTABLE,
    MAX_PANELS,
    PAGE_DIR,
    STATIC_FILES,
    VENDOR_DIR,
    PlayerRequestError,
    RigCache,
    default_curves,
    parse_preview,
    player_payload,
)
from tests.models.conftest import STORED_PROMPTS, make_results_folder
from tests.ui.conftest import serving

MODELS = ["stored", "other"]


def clip(seconds: float = 4.0, fps: float = 30.0, seed: int = 0, **ranges: float) -> MotionClip:
    """Smooth random motion; ``ranges`` sets chosen channels to a sine of that peak-to-peak range."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fps)
    values = np.zeros((n, 61), np.float32)
    values[:, :52] = 0.05 * rng.random(52)
    t = np.linspace(0, np.pi, n)
    for name, span in ranges.items():
        values[:, ARKIT_INDEX[name]] = span * np.sin(t) ** 2
    values[:, ARKIT_INDEX["headYaw"]] = 0.2 * np.sin(t)
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS)


def decode(values: str, n_frames: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(values), "<f4").reshape(n_frames, 61)


@pytest.fixture(scope="module")
def rigs() -> RigCache:
    return RigCache()


# -- the payload ---------------------------------------------------------------------------------


def test_payload_carries_exact_values_on_one_timeline(rigs):
    long, short = clip(4.0, seed=1, jawOpen=0.8), clip(2.0, fps=60.0, seed=2, mouthSmileLeft=0.6)
    payload = player_payload(
        [("long", long), ("short", short), ("broken", "failed to load: no file")], "default", rigs=rigs
    )
    assert payload["format"] == "studio-player-1" and payload["fps"] == 30.0
    assert payload["n_frames"] == 120 and payload["duration_s"] == pytest.approx(119 / 30)
    assert payload["channels"] == list(ARKIT_CHANNELS)
    first, second, broken = payload["panels"]
    assert first["label"] == "long" and first["n_frames"] == 120
    np.testing.assert_array_equal(decode(first["values"], 120), long.values)
    assert second["n_frames"] == 60  # resampled from 60 fps to the player's 30
    np.testing.assert_allclose(decode(second["values"], 60), short.resample(30.0).values)
    assert broken == {"label": "broken", "error": "failed to load: no file"}
    rig = payload["rig"]
    assert re.fullmatch(r"/player/rig/[0-9a-f]{64}\.glb", rig["url"]) and rig["name"] == "default"
    assert set(rig["cameras"]) == {"front", "three-quarter"}
    front = rig["cameras"]["front"]
    # the default rig is in decimetres: cameras come in metres, the glTF's unit
    assert rig["metres_per_unit"] == pytest.approx(0.1)
    assert front["target"] == pytest.approx([0.0, -0.002, 0.035], abs=1e-6) and front["fov_y_deg"] == 22.0
    assert json.loads(json.dumps(payload)) == payload  # plain JSON


def test_payload_for_four_models_of_four_seconds_is_small(rigs):
    clips = [(f"model-{i}", clip(4.0, seed=i, jawOpen=0.5)) for i in range(4)]
    payload = player_payload(clips, "default", rigs=rigs)
    size = len(json.dumps(payload))
    as_lists = [np.round(c.values.astype(float), 4).tolist() for _, c in clips]
    rounded = len(json.dumps(as_lists, separators=(",", ":")))
    print(
        f"\npayload, 4 models x 4 s: {size / 1000:.1f} kB; values as 4-decimal JSON: {rounded / 1000:.1f} kB"
    )
    assert size < 180_000


def test_default_curves_skip_the_blinks_and_pick_the_widest_ranges():
    clips = [
        clip(seed=1, eyeBlinkLeft=1.0, eyeBlinkRight=1.0, jawOpen=0.7, browInnerUp=0.3),
        clip(seed=2, mouthSmileLeft=0.9, mouthSmileRight=0.5, cheekPuff=0.2),
    ]
    curves = default_curves(clips)
    assert curves == ["mouthSmileLeft", "jawOpen", "mouthSmileRight", "browInnerUp"]
    assert not BLINKS & set(curves) and set(curves) <= set(ARKIT_BLENDSHAPES)
    still = MotionClip(np.zeros((10, 61), np.float32), 30.0, "arkit", ARKIT_CHANNELS)
    assert default_curves([still]) == [] and default_curves([]) == []


# -- preview parameters --------------------------------------------------------------------------


def test_preview_parameters_default_to_the_demo():
    request = parse_preview({}, ["emotion-label", "retrieval", "keyframe", "mdm"])
    assert request.models == ("emotion-label", "keyframe", "retrieval")
    assert request.seed == 0 and request.duration_s == 4.0 and request.rig == "default"
    assert parse_preview({"demo": "1"}, MODELS).models == ("stored", "other")
    request = parse_preview(
        {"prompt": "  a  smile\u202e ", "seed": "42", "models": "other", "duration": "2.5"}, MODELS
    )
    assert (request.prompt, request.seed, request.models, request.duration_s) == (
        "a smile",
        42,
        ("other",),
        2.5,
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"prompt": "\u200b \n"}, "the prompt is empty"),
        ({"seed": "-1"}, "seed must be an integer"),
        ({"seed": "1.5"}, "seed must be an integer"),
        ({"seed": str(2**32)}, "seed must be an integer"),
        ({"seed": "٣"}, "seed must be an integer"),  # a digit, but not an ASCII one
        ({"duration": "soon"}, "duration must be a number"),
        ({"duration": "nan"}, "duration must be between"),
        ({"duration": "0.1"}, "duration must be between"),
        ({"duration": "31"}, "duration must be between"),
        ({"models": ""}, "models must name at least one"),
        ({"models": "stored,"}, "models must name at least one"),
        ({"models": "stored,../../etc"}, "unknown model '../../etc'"),
        ({"models": "stored,stored"}, "listed twice"),
        ({"models": ",".join(["stored"] * (MAX_PANELS + 1))}, f"at most {MAX_PANELS} models"),
        ({"rig": "/etc/passwd"}, "rig must be one of"),
        ({"demo": "yes"}, "demo must be 1"),
        ({"size": "512"}, "unknown parameter 'size'"),
    ],
)
def test_preview_parameters_are_checked(params, message):
    with pytest.raises(PlayerRequestError, match=re.escape(message)):
        parse_preview(params, MODELS)


# -- over HTTP: the routes on the real server ----------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("player")
    specs = [
        ModelSpec("stored", "results", "arkit", path=make_results_folder(root / "results")),
        ModelSpec("broken", "results", "arkit", path=root / "nowhere"),
    ]
    config = StudioConfig(port=free_port(), output_dir=root / "outputs")
    with serving(config, ModelPool(specs)) as url:
        yield urlsplit(url).netloc


def get(netloc: str, raw_path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """GET ``raw_path`` exactly as written (no client-side normalisation of ``..`` or ``%2e``)."""
    connection = http.client.HTTPConnection(netloc, timeout=120)
    connection.request("GET", raw_path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def test_the_page_and_its_files_are_served(server):
    page = get(server, "/player")
    assert page.status == 200 and page.getheader("content-type").startswith("text/html")
    html = page.body.decode()
    # the page's own links and its import map name only allow-listed files (or the addons' folder)
    linked = {path.removeprefix("/player/static/") for path in re.findall(r'"(/player/static/[^"]+)"', html)}
    assert linked == {"player.css", "player.js", "three/three.module.js", "three/addons/"}
    assert all(name in STATIC_FILES for name in linked - {"three/addons/"})
    for name in STATIC_FILES:
        response = get(server, f"/player/static/{name}")
        assert response.status == 200, name
        assert response.body == STATIC_FILES[name].read_bytes()
    assert (
        get(server, "/player/static/three/three.module.js").getheader("cache-control")
        == "public, max-age=86400"
    )
    policy = page.getheader("content-security-policy")
    assert "default-src 'none'" in policy and "script-src 'self' 'sha256-" in policy
    assert "unsafe" not in policy


@pytest.mark.parametrize(
    "path",
    [
        "/player/static/../../studio/config.py",
        "/player/static/..%2f..%2fstudio%2fconfig.py",
        "/player/static/%2e%2e/%2e%2e/studio/config.py",
        "/player/static/three/../player.js",
        "/player/static//etc/passwd",
        "/player/static/%2Fetc%2Fpasswd",
        "/player/static/three/addons/loaders/",
        "/player/static/three/addons/loaders/FBXLoader.js",
        "/player/static/player.js/",
        "/player/static/index.html",
        "/player/static/three/LICENSE",
        "/player/static/three/three.module.js%00.py",
        "/player/rig/../../assets/default_rig.npz",
        "/player/rig/" + "0" * 64 + ".glb",
        "/player/rig/default.glb",
    ],
)
def test_anything_off_the_allow_list_is_not_found(server, path):
    response = get(server, path)
    assert response.status == 404, path
    assert b"import" not in response.body and b"studio" not in response.body


def test_preview_answers_400_with_one_message(server):
    for query, message in [
        ("models=nope", "unknown model 'nope'"),
        ("seed=x", "seed must be an integer"),
        ("prompt=", "the prompt is empty"),
        ("seed=1&seed=2", "a parameter is given twice"),
        ("duration=1e400", "duration must be between"),
    ]:
        response = get(server, f"/player/api/preview?{query}")
        body = json.loads(response.body)
        assert response.status == 400 and body["error"] == "bad_request", query
        assert message in body["message"], (query, body)


def test_preview_runs_models_and_the_rig_is_served_by_its_hash(server):
    prompt = STORED_PROMPTS[0].replace(" ", "%20")
    response = get(server, f"/player/api/preview?models=stored,broken&prompt={prompt}&seed=1&duration=2")
    assert response.status == 200
    payload = json.loads(response.body)
    stored, broken = payload["panels"]
    assert stored["label"] == "stored" and decode(stored["values"], stored["n_frames"]).shape[1] == 61
    assert broken["label"] == "broken" and "failed to load" in broken["error"]
    assert payload["request"] == {
        "prompt": STORED_PROMPTS[0],
        "seed": 1,
        "models": ["stored", "broken"],
        "duration_s": 2.0,
    }
    url = payload["rig"]["url"]
    plain = get(server, url)
    assert plain.status == 200 and plain.getheader("content-type") == "model/gltf-binary"
    assert plain.getheader("cache-control") == IMMUTABLE == "public, max-age=31536000, immutable"
    assert plain.getheader("content-encoding") is None and plain.body[:4] == b"glTF"
    assert f"/player/rig/{hashlib.sha256(plain.body).hexdigest()}.glb" == url
    packed = get(server, url, {"Accept-Encoding": "gzip"})
    assert packed.getheader("content-encoding") == "gzip" and gzip.decompress(packed.body) == plain.body
    assert "Accept-Encoding" in packed.getheader("vary") and len(packed.body) < 0.8 * len(plain.body)
    # the same rig again: the same bytes, the same URL (built once per process)
    again = json.loads(get(server, f"/player/api/preview?models=stored&prompt={prompt}").body)
    assert again["rig"]["url"] == url


def test_the_stream_sends_each_panel_as_its_model_answers(server):
    """NDJSON: the header (rig, panels) first, then one line per model in order, then done."""
    prompt = STORED_PROMPTS[1].replace(" ", "%20")
    query = f"models=broken,stored&prompt={prompt}&seed=2&duration=2"
    response = get(server, f"/player/api/stream?{query}")
    assert response.status == 200 and response.getheader("content-type") == "application/x-ndjson"
    lines = [json.loads(line) for line in response.body.decode().splitlines()]
    header, broken, stored, done = lines
    assert header["format"] == "studio-player-stream-1" and header["fps"] == 30
    assert header["panels"] == [{"label": "broken"}, {"label": "stored"}]
    assert header["request"]["models"] == ["broken", "stored"] and header["rig"]["url"].endswith(".glb")
    assert broken["panel"] == 0 and "failed to load" in broken["error"]
    assert stored["panel"] == 1 and decode(stored["values"], stored["n_frames"]).shape[1] == 61
    assert done["done"] and done["n_frames"] == stored["n_frames"] and done["curves"]
    # the same clips as the one-shot payload
    whole = json.loads(get(server, f"/player/api/preview?{query}").body)
    assert whole["panels"][1]["values"] == stored["values"] and whole["curves"] == done["curves"]
    refused = get(server, "/player/api/stream?models=nope")
    assert refused.status == 400 and "unknown model 'nope'" in json.loads(refused.body)["message"]


def test_the_player_answers_only_allowed_hosts(server):
    response = get(server, "/player", {"Host": "attacker.example"})
    assert response.status == 400


# -- the vendored three.js and the page's look -----------------------------------------------------


def test_vendored_files_match_their_checksums():
    sums = (VENDOR_DIR / "SHA256SUMS").read_text().split("\n")
    listed = {line.split("  ")[1]: line.split("  ")[0] for line in sums if line}
    files = {str(p.relative_to(VENDOR_DIR)) for p in VENDOR_DIR.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert set(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR_DIR / name).read_bytes()).hexdigest() == digest, name
    assert (VENDOR_DIR / "VERSION").read_text().startswith("three@0.187.0 ")
    served = {p for p in STATIC_FILES.values() if p.is_relative_to(VENDOR_DIR)}
    assert served == {VENDOR_DIR / n for n in files if n.endswith(".js")}
    assert sum(p.stat().st_size for p in served) < 2_500_000


def test_every_relative_import_of_the_vendored_files_is_served():
    """GLTFLoader imports its utils by relative path: each must be on the allow-list."""
    served = {str(p) for p in STATIC_FILES.values()}
    for path in STATIC_FILES.values():
        if path.suffix == ".js":
            for target in re.findall(r"""from\s+['"](\.{1,2}/[^'"]+)['"]""", path.read_text()):
                assert str((path.parent / target).resolve()) in served, (path.name, target)


def test_the_page_uses_the_renders_lights_and_background():
    """player.js copies renderers/raster.py's studio look; this keeps the two equal."""
    from renderers import raster

    source = (PAGE_DIR / "player.js").read_text()

    def numbers(name: str) -> list[float]:
        block = re.search(rf"const {name} = (\[.*?\]);", source, re.DOTALL)
        assert block, name
        return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", re.sub(r"//[^\n]*", "", block.group(1)))]

    lights = [c for direction, colour in raster.STUDIO_LIGHTS for c in (*direction, *colour)]
    assert numbers("STUDIO_LIGHTS") == pytest.approx(lights)
    assert numbers("AMBIENT_SKY") == pytest.approx(raster.AMBIENT_SKY)
    assert numbers("AMBIENT_GROUND") == pytest.approx(raster.AMBIENT_GROUND)
    assert numbers("BACKGROUND") == pytest.approx(raster.BACKGROUND)
    assert "pow(max(dot(n, normalize(l + v)), 0.0), 40.0)" in source and "0.12 * spec" in source
    assert sorted(
        re.search(r"const API_PARAMS = \[(.*?)\];", source).group(1).replace('"', "").split(", ")
    ) == sorted(API_PARAMS)


def test_the_page_files_ship_inside_the_package():
    assert PAGE_DIR.is_relative_to(Path(__import__("studio").__file__).parent)
    for name in ("index.html", "player.js", "curves.js", "player.css"):
        assert (PAGE_DIR / name).is_file()


def test_new_previews_are_limited_per_client_and_cached_ones_are_free(tmp_path, rigs):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from studio.player import player_router
    from studio.security.rates import ClientLimit

    pool = ModelPool(
        [ModelSpec("stored", "results", "arkit", path=make_results_folder(tmp_path / "results"))]
    )
    app = FastAPI()
    app.include_router(player_router(pool, rigs=rigs, run_limit=ClientLimit("test-run", 2, 600.0)))
    client = TestClient(app)

    def preview(seed: int):
        params = {"prompt": STORED_PROMPTS[0], "models": "stored", "seed": str(seed), "duration": "1"}
        return client.get("/player/api/preview", params=params)

    assert preview(0).status_code == 200 and preview(1).status_code == 200
    refused = preview(2)
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    assert preview(0).status_code == 200  # served from the clip cache: no model runs, no count
    params = {"prompt": STORED_PROMPTS[0], "models": "stored", "seed": "0", "duration": "1"}
    params["model"] = "stored"
    assert client.get("/player/api/glb", params=params).status_code == 429  # an export always counts


def test_a_panel_downloads_as_an_animated_glb(server):
    """The label's link: the model's clip for the request, exported on the request's rig and
    named by the model, the prompt's hash and the seed; the file plays as the clip."""
    import pygltflib

    from studio.compare import prompt_file_tag

    prompt = STORED_PROMPTS[1]
    query = f"models=broken,stored&prompt={prompt.replace(' ', '%20')}&seed=2&duration=2"
    stream = [json.loads(line) for line in get(server, f"/player/api/stream?{query}").body.splitlines()]
    response = get(server, f"/player/api/glb?{query}&model=stored")
    assert response.status == 200 and response.getheader("content-type") == "model/gltf-binary"
    name = f"stored_{prompt_file_tag(prompt, 2)}.glb"
    assert response.getheader("content-disposition") == f'attachment; filename="{name}"'
    document = pygltflib.GLTF2.load_from_bytes(response.body)
    (animation,) = document.animations
    times = document.accessors[animation.samplers[0].input]
    assert times.count == stream[2]["n_frames"] and times.max[0] == pytest.approx((times.count - 1) / 30)
    face = next(mesh for mesh in document.meshes if mesh.name == "face")
    assert len(face.primitives[0].targets) == 52
    for bad, status, message in (
        ("&model=broken", 422, "broken has no clip for this request"),
        ("&model=nope", 400, "model must name one of the request's models"),
        ("", 400, "model must name one of the request's models"),
        ("&model=stored&model=stored", 400, "a parameter is given twice"),
        ("&model=stored&path=/etc/passwd", 400, "unknown parameter 'path'"),
    ):
        refused = get(server, f"/player/api/glb?{query}{bad}")
        assert refused.status == status and message in json.loads(refused.body)["message"], bad
