"""Compare tab in a real browser: one click, one side-by-side video, one row per model."""

import pytest

from renderers import CAMERA_PRESETS
from tests.models.conftest import STORED_PROMPTS

pytestmark = pytest.mark.browser


def test_compare_runs_every_model_and_shows_one_video(browser, compare_url, screenshot_dir):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(compare_url, wait_until="networkidle")
    prompt = page.get_by_label("Prompt")
    prompt.fill(STORED_PROMPTS[0])
    page.get_by_role("button", name="Generate").click()
    page.locator("video").first.wait_for(timeout=90_000)
    assert page.get_by_text("failed to load").first.is_visible()  # the broken model's own message
    assert page.get_by_role("cell", name="stored").first.is_visible()
    src = page.locator("video").first.get_attribute("src")
    assert src and "stored" not in src and "broken" not in src  # files are named by content hash
    page.screenshot(path=str(screenshot_dir / "app-compare-run.png"), full_page=True)
    # A second run renders on another server worker thread: it must give a new video too.
    page.get_by_label(CAMERA_PRESETS["three-quarter"]).check()  # the label the table gives
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        "old => { const v = document.querySelector('video'); return v && v.src !== old && v.duration > 0; }",
        arg=src,
        timeout=90_000,
    )
    assert not errors, errors
    page.close()


def test_unknown_prompt_is_a_state_not_an_error(browser, compare_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.goto(compare_url, wait_until="networkidle")
    page.get_by_label("Prompt").fill("A person sneezes twice")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("no stored output for this prompt").first.wait_for(timeout=90_000)
    page.close()
