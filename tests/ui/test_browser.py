"""The studio in a real browser: tabs render, two built-in models compare, Explore reads an upload."""

import numpy as np
import pytest

from studio.formats import write_clip
from studio.motion import ARKIT_CHANNELS, MotionClip

pytestmark = pytest.mark.browser


def blink_take(path):
    """A 3-second Live Link take at 30 fps with two blinks and a jaw opening."""
    t = np.arange(90) / 30
    values = np.zeros((90, 61), np.float32)
    blink = np.exp(-(((t[:, None] - np.array([0.8, 2.2])) / 0.06) ** 2)).sum(axis=1)
    values[:, ARKIT_CHANNELS.index("eyeBlinkLeft")] = blink
    values[:, ARKIT_CHANNELS.index("eyeBlinkRight")] = blink
    values[:, ARKIT_CHANNELS.index("jawOpen")] = 0.6 * np.sin(np.pi * t / 3)
    write_clip(MotionClip(values, 30, "arkit", ARKIT_CHANNELS), path)
    return path


def test_tabs_render_and_explore_reads_an_upload(browser, studio_url, tmp_path, screenshot_dir):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(studio_url, wait_until="networkidle")
    # the page is built by Gradio's JavaScript after "networkidle": wait for it, a loaded machine is slow
    page.get_by_role("heading", name="Expression Studio").wait_for(timeout=60_000)
    for tab in ("Compare", "Explore", "Benchmark", "Study"):
        page.get_by_role("tab", name=tab).wait_for(timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "app-compare.png"), full_page=True)

    page.get_by_role("tab", name="Explore").click()
    page.get_by_role("tab", name="Clip file").click()
    page.locator("input[type=file][accept*='.npz']").set_input_files(str(blink_take(tmp_path / "take.csv")))
    page.get_by_text("dropped rows").wait_for(timeout=30_000)
    assert page.get_by_text("livelink").first.is_visible()
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "app-explore.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_bad_upload_shows_one_message(browser, studio_url, tmp_path):
    page = browser.new_page()
    page.goto(studio_url, wait_until="networkidle")
    page.get_by_role("tab", name="Explore").click()
    page.get_by_role("tab", name="Clip file").click()
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:00.000,61,0.5\n")
    page.locator("input[type=file][accept*='.npz']").set_input_files(str(bad))
    page.get_by_text("Could not read this file.").wait_for(timeout=30_000)
    assert page.get_by_text("missing channel").first.is_visible()
    page.close()


def test_two_built_in_models_side_by_side(browser, studio_url, screenshot_dir):
    """The front page with the shipped models: one click, one video that really plays."""
    page = browser.new_page(viewport={"width": 1280, "height": 1300})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(studio_url, wait_until="networkidle")
    for name, keep in (("emotion-label", True), ("keyframe", True), ("retrieval", False), ("mdm", False)):
        page.get_by_label(name, exact=True).set_checked(keep)
    page.get_by_label("Prompt").fill("A person smiles widely and then raises their eyebrows")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.duration > 0; }", timeout=120_000
    )
    duration = page.evaluate("() => document.querySelector('video').duration")
    assert 3.5 < duration < 4.5  # the default 4-second request
    for name in ("emotion-label", "keyframe"):
        assert page.get_by_role("cell", name=name, exact=True).is_visible()
    assert not page.get_by_role("cell", name="mdm", exact=True).count()
    page.screenshot(path=str(screenshot_dir / "app-compare-built-ins.png"), full_page=True)
    assert not errors, errors
    page.close()
