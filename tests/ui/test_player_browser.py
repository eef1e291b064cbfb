"""The 3D player in a real Chromium with WebGL (ANGLE on Mesa's llvmpipe): it loads the shipped
built-in models' motion, draws every panel in one canvas and looks like the MP4 renders."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from benchmarks.app import GL_ARGS
from benchmarks.app import PLAYER_READY as READY
from benchmarks.study_server import free_port
from studio.config import StudioConfig
from studio.motion import ARKIT_CHANNELS, MotionClip
from tests.ui.conftest import launch_chromium, serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODELS = "keyframe,retrieval"  # shipped built-ins, no checkpoint download, a few seconds on a CPU
SIZE = 512


@pytest.fixture(scope="module")
def player_url(tmp_path_factory):
    """The whole server with the shipped models config (assets/models.yaml)."""
    config = StudioConfig(port=free_port(), output_dir=tmp_path_factory.mktemp("outputs"))
    with serving(config) as url:
        yield url + "player"


@pytest.fixture(scope="module")
def gl_browser():
    yield from launch_chromium(GL_ARGS)


def open_player(browser, url: str, viewport_width: int = 1400):
    # Playwright's wait_for_function evaluates strings, which the page's policy forbids; the
    # policy itself is tested on a page of its own (test_the_page_runs_under_its_policy)
    page = browser.new_page(viewport={"width": viewport_width, "height": 1000}, bypass_csp=True)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function(READY, timeout=240_000)
    assert page.evaluate("window.playerError || null") is None
    return page


@pytest.fixture(scope="module")
def page(gl_browser, player_url):
    page = open_player(gl_browser, f"{player_url}?models={MODELS}&size={SIZE}&seed=3")
    yield page
    assert not page.errors, page.errors
    page.close()


def redrawn(page, action: str):
    """Run ``action`` in the page and wait until the player has drawn after it."""
    before = page.evaluate("window.player.framesDrawn")
    page.evaluate(action)
    page.wait_for_function("n => window.player.framesDrawn > n", arg=before, timeout=30_000)


def test_the_first_frame_shows_every_model(page):
    player = page.evaluate(
        "({panels: window.player.panels, n: window.player.nFrames, fps: window.player.panelFps})"
    )
    assert [p["name"] for p in player["panels"]] == MODELS.split(",")
    assert all(p["visible"] and p["error"] is None for p in player["panels"])
    assert player["n"] == 120 and player["fps"] == 30  # 4 s at 30 fps, the demo's duration
    labels = page.locator("#labels .label strong").all_inner_texts()
    assert labels == MODELS.split(",")
    # each label offers its motion as a .glb, and the link downloads one
    links = page.locator("#labels .label a.download")
    assert links.count() == 2
    for i, model in enumerate(MODELS.split(",")):
        href = links.nth(i).get_attribute("href")
        assert href.startswith("/player/api/glb?") and f"model={model}" in href and "seed=3" in href
    with page.expect_download(timeout=60_000) as download:
        links.first.click()
    assert (
        download.value.suggested_filename.startswith("keyframe_p")
        and download.value.path().stat().st_size > 1e6
    )
    canvas = page.locator("#view").bounding_box()
    assert (canvas["width"], canvas["height"]) == (2 * SIZE, SIZE)
    for i in range(2):
        assert page.evaluate(f"window.player.panelPixels({i}).background") < 0.8  # a head, not background


def test_dragging_orbits_and_the_wheel_zooms_one_camera(page):
    start = page.evaluate("window.player.camera")
    box = page.locator("#view").bounding_box()
    x, y = box["x"] + SIZE / 2, box["y"] + SIZE / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for dx in range(10, 130, 10):
        page.mouse.move(x + dx, y + dx / 4)
    page.mouse.up()
    page.wait_for_timeout(100)
    moved = page.evaluate("window.player.camera")
    assert np.linalg.norm(np.subtract(moved["position"], start["position"])) > 0.05 * np.linalg.norm(
        np.subtract(start["position"], start["target"])
    )
    assert moved["target"] == pytest.approx(start["target"])  # orbiting keeps the point looked at
    distance = np.linalg.norm(np.subtract(moved["position"], moved["target"]))
    page.mouse.move(x + SIZE, y)  # over the second panel: the same camera
    page.mouse.wheel(0, 400)
    page.wait_for_timeout(300)
    zoomed = page.evaluate("window.player.camera")
    assert np.linalg.norm(np.subtract(zoomed["position"], zoomed["target"])) > distance * 1.05
    redrawn(page, "window.player.resetCamera()")
    assert page.evaluate("window.player.camera")["position"] == pytest.approx(start["position"])


def test_scrubbing_moves_time_frame_and_the_curve_playhead(page):
    redrawn(page, "window.player.seek(1.5)")
    state = page.evaluate(
        "({t: player.time, f: player.frame, head: player.curvePlayhead, playing: player.playing})"
    )
    assert state["t"] == pytest.approx(1.5) and state["f"] == 45 and not state["playing"]
    assert abs(state["head"] - state["t"]) <= 1 / 30
    assert page.locator("#clock").inner_text().startswith("1.50 s · frame 45 / 119")
    # the slider itself
    redrawn(
        page,
        "(s => { s.value = '2.9'; s.dispatchEvent(new Event('input')); })(document.getElementById('scrub'))",
    )
    assert page.evaluate("player.time") == pytest.approx(2.9)
    state = page.evaluate("({t: player.time, f: player.frame, head: player.curvePlayhead})")
    assert state["f"] == 87 and abs(state["head"] - state["t"]) <= 1 / 30


def test_frame_steps_are_exact(page):
    redrawn(page, "window.player.seek(1.0)")
    assert page.evaluate("player.frame") == 30
    redrawn(page, "window.player.step(1)")
    assert page.evaluate("[player.frame, player.time]") == [31, pytest.approx(31 / 30)]
    page.get_by_role("button", name="+1").click()
    page.get_by_role("button", name="+1").click()
    page.wait_for_function("window.player.frame === 33")
    page.get_by_role("button", name="−1").click()
    page.wait_for_function("window.player.frame === 32")
    redrawn(page, "window.player.step(-1)")
    assert page.evaluate("[player.frame, player.time]") == [31, pytest.approx(31 / 30)]
    redrawn(page, "window.player.step(-1000)")
    assert page.evaluate("player.frame") == 0
    redrawn(page, "window.player.step(1000)")
    assert page.evaluate("[player.frame, player.time]") == [119, pytest.approx(119 / 30)]
    assert abs(page.evaluate("player.curvePlayhead") - 119 / 30) <= 1 / 30


def test_hiding_a_panel_leaves_background_in_its_viewport(page):
    assert page.evaluate("player.panelPixels(1).background") < 0.8
    first = page.evaluate("player.panelPixels(0).mean")
    page.evaluate("player.setVisible(1, false)")
    assert page.evaluate("player.panels[1].visible") is False
    assert page.evaluate("player.panelPixels(1).background") == 1.0
    assert page.evaluate("player.panelPixels(0).mean") == pytest.approx(first)  # the other one is untouched
    assert not page.locator("#labels input").nth(1).is_checked()
    page.locator("#labels input").nth(1).check()  # the label's own toggle shows it again
    page.wait_for_function("window.player.panels[1].visible")
    assert page.evaluate("player.panelPixels(1).background") < 0.8


def test_playing_follows_the_speed(page):
    page.evaluate("player.setLoop(false); player.seek(0); player.setSpeed(2)")
    page.locator("#speed").select_option("2")
    start = time.perf_counter()
    page.evaluate("player.play()")
    page.wait_for_timeout(1000)
    played = page.evaluate("player.time")
    elapsed = time.perf_counter() - start
    page.evaluate("player.pause()")
    # 2x: two seconds of motion per second (less the last frame time, which may be long under load)
    assert 2 * 0.6 <= played <= 2 * elapsed + 0.2
    assert page.evaluate("player.frame") == int(page.evaluate("player.time") * 30 + 1e-6)
    with pytest.raises(Exception, match="speed must be within"):
        page.evaluate("player.setSpeed(3)")
    # without loop, playing stops on the last frame
    page.evaluate("player.seek(3.8); player.play()")
    page.wait_for_function("!window.player.playing", timeout=10_000)
    assert page.evaluate("player.frame") == 119
    page.evaluate("player.setSpeed(1); player.setLoop(true)")


def test_the_heads_look_like_the_mp4_render(page, player_url, screenshot_dir):
    """The browser's panel against the offscreen renderer's frame of the same clip and frame."""
    from renderers import Stage, frames_for, load_rig

    redrawn(page, "player.resetCamera(); player.pause(); player.seek(1.5)")
    page.locator("#view").screenshot(path=str(screenshot_dir / "player-canvas.png"))
    png = page.evaluate("player.panelImage(0)").removeprefix("data:image/png;base64,")
    browser_panel = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"))
    query = f"?models={MODELS}&seed=3"
    with urllib.request.urlopen(player_url + "/api/preview" + query, timeout=120) as response:
        payload = json.load(response)
    spec = payload["panels"][0]
    values = np.frombuffer(base64.b64decode(spec["values"]), "<f4").reshape(spec["n_frames"], 61)
    clip = MotionClip(values, payload["fps"], "arkit", ARKIT_CHANNELS)
    frames = frames_for(clip, load_rig("default"), Stage(size=SIZE, camera="front"))
    reference = next(f for k, f in enumerate(frames) if k == 45)
    Image.fromarray(np.concatenate([reference, browser_panel], axis=1)).save(
        screenshot_dir / "player-vs-render.png"
    )
    page.screenshot(path=str(screenshot_dir / "player-page.png"), full_page=True)
    difference = np.abs(reference.astype(int) - browser_panel.astype(int))
    print(
        f"\nplayer vs MP4 frame 45: mean abs difference {difference.mean():.2f} levels, "
        f"{(difference.max(axis=2) > 40).mean():.2%} of pixels off by > 40"
    )
    # same framing, light and colours: small differences only where triangles' edges fall
    assert difference.mean() < 4, difference.mean()
    assert (difference.max(axis=2) > 40).mean() < 0.02
    assert reference[5, 5].tolist() == pytest.approx(browser_panel[5, 5].tolist(), abs=1)  # background


def test_head_and_eye_rotations_turn_the_way_the_renders_do(page, player_url):
    """At the frame where the second model's eyes turn most, the eyes match the render of that
    frame far better than a render with every rotation reversed."""
    from renderers import Stage, frames_for, load_rig

    with urllib.request.urlopen(f"{player_url}/api/preview?models={MODELS}&seed=3", timeout=120) as response:
        spec = json.load(response)["panels"][1]
    values = np.frombuffer(base64.b64decode(spec["values"]), "<f4").reshape(spec["n_frames"], 61)
    frame = int(np.abs(values[:, ARKIT_CHANNELS.index("leftEyeYaw")]).argmax())
    assert abs(values[frame, ARKIT_CHANNELS.index("leftEyeYaw")]) > 0.05  # a turn worth seeing
    redrawn(page, f"player.resetCamera(); player.pause(); player.seek({frame} / 30)")
    assert page.evaluate("player.frame") == frame
    png = page.evaluate("player.panelImage(1)").removeprefix("data:image/png;base64,")
    eyes = np.s_[180:250, 130:390]  # the eyes of the default rig in a 512² front view
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"))[eyes].astype(int)
    reversed_turns = values.copy()
    reversed_turns[:, 52:] *= -1
    rig = load_rig("default")
    errors = []
    for candidate in (values, reversed_turns):
        clip = MotionClip(candidate[frame : frame + 1], 30.0, "arkit", ARKIT_CHANNELS)
        reference = next(iter(frames_for(clip, rig, Stage(size=SIZE, camera="front"))))
        errors.append(np.abs(reference[eyes].astype(int) - shown).mean())
    assert errors[0] < 1.0 and errors[0] < errors[1] / 3, errors


def test_the_page_runs_under_its_policy(gl_browser, player_url):
    """No bypass here: the page draws with its Content-Security-Policy on, and breaks none of it."""
    page = gl_browser.new_page()
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda exc: messages.append(str(exc)))
    page.goto(f"{player_url}?models={MODELS}&size=256&seed=3")
    deadline = time.monotonic() + 120
    while page.evaluate("window.player ? window.player.framesDrawn : 0") == 0:  # CDP: no eval()
        assert page.evaluate("window.playerError || null") is None
        assert time.monotonic() < deadline, "no frame drawn"
        page.wait_for_timeout(100)
    assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages
    page.close()


def test_a_bad_request_is_shown_on_the_page(gl_browser, player_url):
    page = gl_browser.new_page(bypass_csp=True)
    page.goto(f"{player_url}?models=keyframe,nope")
    page.wait_for_function("window.playerError", timeout=30_000)
    assert "unknown model 'nope'" in page.locator("#status").inner_text()
    page.close()


def test_the_curves_follow_the_prompt_and_the_picker(page):
    """The default channels are the ones the prompt's category moves (a smile: the smile and
    cheek channels, not the blinks); the picker swaps them, at most four at a time."""
    page.evaluate("player.load({prompt: 'A person smiles warmly at a friend', models: 'keyframe,retrieval'})")
    page.wait_for_function("window.player.curvesReady && window.player.request.prompt.includes('warmly')")
    curves = page.evaluate("player.curves")
    assert 1 <= len(curves) <= 4 and not {"eyeBlinkLeft", "eyeBlinkRight"} & set(curves)
    assert any(name.startswith(("mouthSmile", "cheekSquint")) for name in curves), curves
    assert "happiness" in page.locator("#curves-reason").inner_text()
    page.locator("#picker summary").click()
    boxes = page.locator("#channel-groups input")
    assert boxes.count() == 61
    assert sorted(boxes.evaluate_all("bs => bs.filter(b => b.checked).map(b => b.value)")) == sorted(curves)
    page.evaluate("player.setCurves([])")
    page.locator("#channel-groups input[value='jawOpen']").check()
    page.locator("#channel-groups input[value='headYaw']").check()
    assert page.evaluate("player.curves") == ["jawOpen", "headYaw"]
    page.evaluate(
        "player.setCurves(['a', 'b', 'jawOpen', 'browInnerUp', 'mouthClose', 'eyeWideLeft', 'noseSneerLeft'])"
    )
    assert page.evaluate("player.curves") == ["jawOpen", "browInnerUp", "mouthClose", "eyeWideLeft"]
    assert boxes.evaluate_all("bs => bs.filter(b => b.disabled).length") == 61 - 4
