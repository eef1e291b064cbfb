"""Explore tab in a real browser: open a dataset folder, see its table and charts, watch a clip."""

from __future__ import annotations

import re

import numpy as np
import pytest

from studio.config import StudioConfig
from studio.ui.explore import TABLE_COLUMNS
from tests.models.conftest import tiny_corpus_dir
from tests.ui.conftest import free_port, serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory):
    return tiny_corpus_dir(tmp_path_factory.mktemp("data"))  # 120 items: prompts, clips, splits, keyframes


@pytest.fixture(scope="module")
def explore_url(corpus_root, tmp_path_factory):
    config = StudioConfig(
        port=free_port(), output_dir=tmp_path_factory.mktemp("out"), data_dirs=(corpus_root.parent,)
    )
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


# -- the t-SNE maps: a click on a point opens that clip ------------------------------------------


def _open_the_corpus(page, url: str, items: int = 120) -> None:
    """Open the tiny corpus in Explore, analysing a sample of ``items`` of its 120."""
    page.goto(url, wait_until="networkidle", timeout=120_000)  # a busy 2-core machine can take a while
    page.get_by_role("tab", name="Explore").click()
    page.get_by_label("Items to analyse").fill(str(items))
    page.get_by_role("button", name="Open").click()
    pages = -(-items // 50)
    page.get_by_text(f"page 1 of {pages} · {items} of {items} clips match").wait_for(timeout=120_000)


def _loneliest_point(page, map_id: str, count: int = 120) -> tuple[float, float]:
    """Page coordinates of the drawn point of map ``#map_id`` farthest from every other one, found
    from what is on screen alone (so a click there cannot be read as a neighbour)."""
    chart = page.locator(f"#{map_id}")
    chart.locator(".scatterlayer .trace path.point").first.wait_for(timeout=30_000)
    chart.scroll_into_view_if_needed()
    centres = np.array(
        chart.locator(".scatterlayer .trace")
        .first.locator("path.point")
        .evaluate_all(
            "points => points.map(p => { const r = p.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })"
        )
    )
    assert len(centres) == count
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(len(centres)) * 1e9
    x, y = centres[int(gaps.min(axis=1).argmax())]
    assert gaps.min(axis=1).max() > 12  # farther than a marker's width from any other point
    return float(x), float(y)


def _hovered(page, map_id: str, x: float, y: float) -> tuple[str, str]:
    """(id, prompt) that the map's hover box shows for the point under the mouse at (x, y)."""
    page.mouse.move(x, y)
    box = page.locator(f"#{map_id} .hoverlayer .hovertext")
    box.wait_for(timeout=10_000)
    lines = box.locator("tspan.line").all_text_contents()
    return lines[0].split(" (same spot")[0], " ".join(lines[1 : lines.index("")])


def _pick(page, map_id: str, prompts: dict[str, str], count: int = 120) -> str:
    """Click the loneliest point of a map; check its hover names a clip of the folder and its prompt."""
    x, y = _loneliest_point(page, map_id, count)
    item_id, hover_prompt = _hovered(page, map_id, x, y)
    assert " ".join(prompts[item_id].split()) == hover_prompt
    page.mouse.click(x, y)
    return item_id


def _watching(page, item_id: str, prompt: str) -> None:
    """Wait until the Explore view names ``item_id`` with ``prompt`` and its video has loaded."""
    summary = page.locator("#explore-item")
    summary.locator("strong", has_text=re.compile(f"^{re.escape(item_id)}$")).wait_for(timeout=90_000)
    summary.locator("blockquote", has_text=" ".join(prompt.split())).wait_for(timeout=10_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#explore-video video'); return v && v.duration > 0; }",
        timeout=90_000,
    )


def _frames(page, tmp_path, name: str):
    from renderers import read_mp4

    src = page.locator("#explore-video video").get_attribute("src")
    path = tmp_path / f"{name}.mp4"
    path.write_bytes(page.request.get(src).body())
    return src, read_mp4(path)[0]


@pytest.fixture(scope="module")
def corpus_prompts(corpus_root) -> dict[str, str]:
    from studio.formats.dataset import read_dataset

    return {item.id: item.prompt for item in read_dataset(corpus_root).items}


def test_clicking_a_map_point_opens_its_clip_whatever_the_table_shows(
    browser, explore_url, corpus_prompts, screenshot_dir
):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a sample of 100: the map's points are not the folder's items in order, so only the id can say
    _open_the_corpus(page, explore_url, items=100)
    page.get_by_role("button", name="Next page").click()
    page.get_by_text("page 2 of 2 · 100 of 100 clips match").wait_for(timeout=30_000)
    x, y = _loneliest_point(page, "explore-prompt-tsne", 100)
    target, _ = _hovered(page, "explore-prompt-tsne", x, y)
    cells = page.get_by_role("gridcell")
    other = next(
        cells.nth(len(TABLE_COLUMNS) * row).inner_text()
        for row in range(2)
        if cells.nth(len(TABLE_COLUMNS) * row).inner_text() != target
    )
    search = page.get_by_label("Search prompts and ids")
    search.fill(other)  # the table now shows one other clip: the map must not care
    search.press("Enter")
    page.get_by_text("page 1 of 1 · 1 of 100 clips match").wait_for(timeout=30_000)
    assert page.get_by_role("gridcell").first.inner_text() == other

    assert _pick(page, "explore-prompt-tsne", corpus_prompts, 100) == target
    _watching(page, target, corpus_prompts[target])
    assert page.get_by_role("gridcell").first.inner_text() == other  # the table was left as it was
    page.screenshot(path=str(screenshot_dir / "app-explore-map-click.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_a_camera_change_re_renders_the_clip_picked_on_the_map(
    browser, explore_url, corpus_prompts, tmp_path
):
    from renderers import CAMERA_PRESETS

    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open_the_corpus(page, explore_url)
    picked = _pick(page, "explore-clip-tsne", corpus_prompts)  # the map of what the clips show
    _watching(page, picked, corpus_prompts[picked])
    front_src, front = _frames(page, tmp_path, "front")

    page.get_by_label(CAMERA_PRESETS["three-quarter"]).locator("visible=true").check()
    page.wait_for_function(
        "old => { const v = document.querySelector('#explore-video video');"
        " return v && v.src !== old && v.duration > 0; }",
        arg=front_src,
        timeout=90_000,
    )
    _watching(page, picked, corpus_prompts[picked])  # the same clip, from the new camera
    _, turned = _frames(page, tmp_path, "three-quarter")
    assert front.shape == turned.shape
    # the head is seen from elsewhere: the frames differ well beyond video-coding noise
    assert np.abs(front[0].astype(float) - turned[0].astype(float)).mean() > 2.0
    assert not errors, errors
    page.close()
