"""Compare tab in a real browser: one click, one side-by-side video, one row per model."""

import re
import urllib.parse

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


def _status_rows(page) -> list[str]:
    """The status table's rows without the latency column (timings differ between runs)."""
    rows = page.locator("table").filter(has_text="latency").first.locator("tbody tr")
    return [re.sub(r"\d+ ms", "<ms>", rows.nth(i).inner_text()) for i in range(rows.count())]


def _inputs(page) -> dict:
    return {
        "prompt": page.get_by_label("Prompt").input_value(),
        "seed": page.get_by_label("Seed").input_value(),
        "duration": page.get_by_label("number input for Duration (s)").input_value(),
        "camera": page.get_by_label(CAMERA_PRESETS["three-quarter"]).is_checked(),
        "stored": page.get_by_label("stored", exact=True).is_checked(),
        "broken": page.get_by_label("broken", exact=True).is_checked(),
    }


def test_a_shared_link_reproduces_the_run(browser, compare_url, screenshot_dir):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(compare_url, wait_until="networkidle")
    page.get_by_label("Prompt").fill(STORED_PROMPTS[0])
    page.get_by_label("Seed").fill("7")
    page.get_by_label("number input for Duration (s)").fill("2.5")
    page.get_by_label("number input for Duration (s)").press("Enter")
    page.get_by_label(CAMERA_PRESETS["three-quarter"]).check()
    page.get_by_label("broken", exact=True).uncheck()
    page.get_by_role("button", name="Generate").click()
    link = page.get_by_role("link", name="Link to this run")
    link.wait_for(timeout=90_000)
    original, rows = _inputs(page), _status_rows(page)
    href = link.get_attribute("href")
    assert href.startswith("?prompt=") and "autorun=1" in href  # relative: works behind a proxy
    assert original["seed"] == "7" and original["duration"] == "2.5" and not original["broken"]

    shared = browser.new_page(viewport={"width": 1280, "height": 1400})
    shared.on("pageerror", lambda exc: errors.append(str(exc)))
    shared.goto(compare_url.rstrip("/") + "/" + href)
    shared.get_by_role("link", name="Link to this run").wait_for(timeout=90_000)  # autorun ran it
    assert _inputs(shared) == original
    assert _status_rows(shared) == rows and rows
    shared.screenshot(path=str(screenshot_dir / "app-compare-shared-link.png"), full_page=True)
    assert not errors, errors
    page.close()
    shared.close()


def test_a_hostile_link_is_clamped_and_says_so(browser, compare_url):
    query = urllib.parse.urlencode(
        {
            "prompt": "A person sneezes",
            "seed": "-3",
            "duration": "99",
            "models": "stored,<b>x</b>",
            "rig": "/etc",
        }
    )
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.goto(f"{compare_url.rstrip('/')}/?{query}")
    page.get_by_text("From the link:").wait_for(timeout=30_000)
    assert page.get_by_label("Prompt").input_value() == "A person sneezes"
    assert page.get_by_label("Seed").input_value() == "0"
    assert page.get_by_label("number input for Duration (s)").input_value() == "10"
    assert page.get_by_label("stored", exact=True).is_checked()
    assert not page.get_by_label("broken", exact=True).is_checked()
    note = page.locator(".studio-note").filter(has_text="From the link:").first
    assert (
        "1 linked model is not configured here" in note.inner_text()
        and "rig is not offered" in note.inner_text()
    )
    assert "x</b>" not in note.inner_html()  # the untrusted value is not echoed
    assert page.locator("video").count() == 0  # no autorun asked: nothing ran
    page.close()
