"""The player inside the Compare tab, in Chromium with WebGL: the landing example plays on load,
Generate shows the new request's motion in the same player, and the MP4 arrives after it."""

from __future__ import annotations

import pytest

from benchmarks.app import GL_ARGS, tab_player
from benchmarks.app import PLAYER_READY as READY
from tests.models.conftest import STORED_PROMPTS
from tests.ui.conftest import launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def gl_browser():
    yield from launch_chromium(GL_ARGS)


def player_frame(page):
    return tab_player(page, 60_000)


def test_generate_plays_in_the_tab_s_player_and_the_video_follows(gl_browser, compare_url, screenshot_dir):
    # Playwright's waits evaluate strings, which the player's policy forbids (tested elsewhere)
    page = gl_browser.new_page(viewport={"width": 1280, "height": 1400}, bypass_csp=True)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(compare_url, wait_until="domcontentloaded")
    frame = player_frame(page)
    frame.wait_for_function(READY, timeout=120_000)
    landing = frame.evaluate("player.request")
    assert landing["models"] == ["stored", "broken"] and frame.evaluate("player.loads") == 1
    # the landing example is not in this results folder, and the broken model says why it failed
    stored, broken = (p["error"] for p in frame.evaluate("player.panels"))
    assert "no stored output" in stored and "failed to load" in broken
    page.get_by_label("Prompt").fill(STORED_PROMPTS[1])
    page.get_by_label("Seed").fill("4")
    page.get_by_role("button", name="Generate").click()
    frame.wait_for_function("window.player.loads === 2 && window.player.ready", timeout=120_000)
    shown = frame.evaluate("player.request")
    assert (
        shown["prompt"] == STORED_PROMPTS[1]
        and shown["seed"] == 4
        and shown["models"] == ["stored", "broken"]
    )
    assert frame.evaluate("player.panels[0].error") is None
    assert frame.evaluate("player.panelPixels(0).background") < 0.8  # a head is drawn
    assert frame.evaluate("window.frameElement.getBoundingClientRect().height") < 900  # sized to fit
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.duration > 0; }", timeout=120_000
    )
    page.screenshot(path=str(screenshot_dir / "compare-player.png"), full_page=True)
    assert not errors, errors
    page.close()
