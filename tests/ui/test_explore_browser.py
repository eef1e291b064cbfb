"""Explore tab in a real browser: open a dataset folder, see its table and charts, watch a clip."""

from __future__ import annotations

import pytest

from studio.config import StudioConfig
from tests.models.conftest import tiny_corpus_dir
from tests.ui.conftest import free_port, serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def explore_url(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    tiny_corpus_dir(data)  # data/tiny_corpus: 120 items with prompts, clips, splits, keyframes
    config = StudioConfig(port=free_port(), output_dir=tmp_path_factory.mktemp("out"), data_dirs=(data,))
    with serving(config) as url:
        yield url


def test_open_a_dataset_and_watch_a_clip(browser, explore_url, screenshot_dir):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(explore_url, wait_until="networkidle")
    page.get_by_role("tab", name="Explore").click()
    page.get_by_role("button", name="Open").click()
    page.get_by_text("120 items").first.wait_for(timeout=120_000)
    assert page.get_by_text("categoriser accuracy against").first.is_visible()
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").count() >= 5  # t-SNE, proportions, keyframes, durations...
    page.get_by_role("gridcell").nth(1).click()  # the first row's prompt
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].some(v => v.duration > 0)", timeout=90_000
    )
    page.screenshot(path=str(screenshot_dir / "app-explore-dataset.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_a_folder_outside_the_data_folders_is_refused(browser, explore_url):
    page = browser.new_page()
    page.goto(explore_url, wait_until="networkidle")
    page.get_by_role("tab", name="Explore").click()
    box = page.get_by_label("Dataset folder")
    box.fill("/etc")
    box.press("Enter")
    page.get_by_role("button", name="Open").click()
    page.get_by_text("outside the data folders").first.wait_for(timeout=30_000)
    page.close()


def test_search_page_and_change_the_camera(browser, explore_url, screenshot_dir):
    from renderers import CAMERA_PRESETS

    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(explore_url, wait_until="networkidle")
    page.get_by_role("tab", name="Explore").click()
    page.get_by_role("button", name="Open").click()
    page.get_by_text("page 1 of 3 · 120 of 120 clips match").wait_for(timeout=120_000)
    first = page.get_by_role("gridcell").first.inner_text()
    page.get_by_role("button", name="Next page").click()
    page.get_by_text("page 2 of 3 · 120 of 120 clips match").wait_for(timeout=30_000)
    assert page.get_by_role("gridcell").first.inner_text() != first
    search = page.get_by_label("Search prompts and ids")
    search.fill("FC5-000002")
    search.press("Enter")
    page.get_by_text("page 1 of 1 · 1 of 120 clips match").wait_for(timeout=30_000)
    assert page.get_by_role("gridcell").first.inner_text() == "fc5-000002"
    page.screenshot(path=str(screenshot_dir / "app-explore-search.png"), full_page=True)
    page.get_by_role("gridcell").nth(1).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].some(v => v.duration > 0)", timeout=90_000
    )
    src = page.locator("video").first.get_attribute("src")
    # the Compare tab has the same radio, hidden here
    page.get_by_label(CAMERA_PRESETS["three-quarter"]).locator("visible=true").check()  # re-renders the clip
    page.wait_for_function(
        "old => [...document.querySelectorAll('video')].some(v => v.src !== old && v.duration > 0)",
        arg=src,
        timeout=90_000,
    )
    assert not errors, errors
    page.close()
