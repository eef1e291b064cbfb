"""Explore's clip file in a real browser with WebGL: an uploaded take plays in the tab's player.

Its own module: a second Playwright (the WebGL browser) cannot start while another module-scoped
one is running in the same thread."""

from __future__ import annotations

import pytest

from studio.config import StudioConfig
from tests.ui.conftest import free_port, serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def explore_url(tmp_path_factory):
    config = StudioConfig(port=free_port(), output_dir=tmp_path_factory.mktemp("out"))
    with serving(config) as url:
        yield url


@pytest.fixture(scope="module")
def gl_browser():
    from benchmarks.app import GL_ARGS
    from tests.ui.conftest import launch_chromium

    yield from launch_chromium(GL_ARGS)


def test_a_clip_file_plays_in_the_tab_s_player(gl_browser, explore_url, livelink_dir, screenshot_dir):
    """A real Live Link take, uploaded: the tab's player plays it on the default head, with its
    busiest channels as curves; the page holds the motion, never a path on the server."""
    page = gl_browser.new_page(viewport={"width": 1280, "height": 1400}, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(explore_url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Explore").click()
    page.get_by_role("tab", name="Clip file").click()
    frame = page.wait_for_selector("#clip-player iframe", timeout=60_000).content_frame()
    frame.wait_for_function("window.player !== undefined", timeout=60_000)
    assert frame.evaluate("player.loads") == 0  # waiting for a file, fetching nothing
    page.locator("#clip-upload input[type=file]").set_input_files(str(livelink_dir / "S88-001.csv"))
    frame.wait_for_function("player.loads > 0 && player.ready", timeout=120_000, polling=100)
    shown = frame.evaluate(
        "({n: player.nFrames, fps: player.panelFps, request: player.request, panels: player.panels,"
        " curves: player.curves})"
    )
    assert shown["panels"] == [{"name": "clip file", "visible": True, "error": None, "pending": False}]
    assert shown["request"]["title"].startswith("S88-001.csv · ") and shown["fps"] == 30
    assert shown["n"] > 55 * 30 and 1 <= len(shown["curves"]) <= 8
    frame.evaluate("player.seek(20)")
    drawn = frame.evaluate("player.panelPixels(0)")
    assert drawn["background"] < 0.9  # a head is drawn, not an empty panel
    assert page.get_by_role("cell", name="277", exact=True).count() == 1  # the summary: dropped rows
    page.locator("#clip-curves .js-plotly-plot").wait_for(timeout=30_000)  # the full-length curves below
    page.screenshot(path=str(screenshot_dir / "app-explore-clip-file.png"), full_page=True)
    assert not errors, errors
    page.close()
