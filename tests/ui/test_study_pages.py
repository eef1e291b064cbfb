"""The study pages in headless Chromium with a four-model rank study (as examples/study_rank3.yaml):
the participant page on a phone and a desktop, the admin's stimulus gallery and the participant
preview, which stores nothing.

The server is the real assembly (:func:`studio.server.build_server`) on loopback. Stimuli are
rendered at the default 384 px (1 s at 12 fps) so the pictures show what participants get.
Screenshots go to ``$STUDIO_SCREENSHOT_DIR`` when it is set.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks.study_server import SECRET, ThreadedServer, TinyStudy

pytestmark = pytest.mark.browser
ADMIN_TOKEN = "browser-admin-token-4567"
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15 viewport in CSS pixels
# one "model" per results folder, each moving other ARKit channels (names only the admin may see)
MODELS = {
    "smiler": ("mouthSmileLeft", "mouthSmileRight"),
    "jawdrop": ("jawOpen",),
    "browraise": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "frowner": ("mouthFrownLeft", "mouthFrownRight", "browDownLeft", "browDownRight"),
}
PROMPTS = (
    "A person smiles widely and then raises their eyebrows",
    "A person frowns and shakes their head",
    "Someone gasps in surprise, then slowly starts laughing",
)
CHECK_PROMPT = "A calm neutral face"


def _results(folder: Path, channels: tuple[str, ...], prompts: list[str]) -> None:
    from studio.formats import write_clip
    from studio.motion import ARKIT_CHANNELS, OUTPUT_FPS, MotionClip

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["prompt", "seed", "file"])
        writer.writeheader()
        for p, prompt in enumerate(prompts):
            values = np.zeros((30, len(ARKIT_CHANNELS)), np.float32)
            envelope = np.sin(np.linspace(0, np.pi, 30)) * (0.6 + 0.15 * p)
            for name in channels:
                values[:, ARKIT_CHANNELS.index(name)] = envelope
            write_clip(MotionClip(values, OUTPUT_FPS, "arkit", ARKIT_CHANNELS), folder / f"p{p}.npz")
            writer.writerow({"prompt": prompt, "seed": 0, "file": f"p{p}.npz"})


def prepare_four_model_study(root: Path) -> TinyStudy:
    """Four results-folder models, three prompts, one instruction check: four screens of four clips."""
    from studio.models.pool import ModelPool
    from studio.study.parsing import parse_definition
    from studio.study.schema import sqlite_url
    from studio.study.stimuli import render_stimuli
    from studio.study.storage import StudyStore

    for name, channels in MODELS.items():
        _results(root / "results" / name, channels, [*PROMPTS, CHECK_PROMPT])
    definition = parse_definition(
        {
            "name": "four models on a phone",
            "trial_type": "rank",
            "seed": 3,
            "prompts": [{"id": f"p{i}", "text": text} for i, text in enumerate(PROMPTS)],
            "models": [{"name": n, "results": str(root / "results" / n)} for n in MODELS],
            "raters_per_item": 2,
            "stimulus": {"seed": 0, "duration_s": 1.0, "fps": 12},
            "attention_checks": [{"kind": "instruction", "prompt": CHECK_PROMPT}],
        }
    )
    output_dir = root / "outputs"
    render_stimuli(definition, ModelPool([]), output_dir)  # the default size, 384 px
    db_url = sqlite_url(root / "study.db")
    with StudyStore(db_url, SECRET) as store:
        record = store.create_study(definition)
    return TinyStudy(root, db_url, output_dir, record.id, record.sha256)


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    from renderers import RenderUnavailableError, get_rasterizer

    try:
        get_rasterizer(64)
    except (RenderUnavailableError, OSError) as exc:
        pytest.skip(f"no offscreen OpenGL here ({exc})")
    study = prepare_four_model_study(tmp_path_factory.mktemp("four-models"))
    with ThreadedServer(study, admin_token=ADMIN_TOKEN) as server:
        yield study, server


VISIBLE = "[...document.querySelectorAll('video')].filter(v => v.offsetParent)"  # the screen's clips


def wait_for_clips(page, n: int) -> None:
    page.wait_for_function(
        f"() => {VISIBLE}.filter(v => v.src && v.readyState >= 2).length === {n}", timeout=30_000
    )


def play_all_clips(page) -> None:
    """Play every visible clip to its end, as a participant pressing play on each would."""
    page.evaluate(f"() => Promise.all({VISIBLE}.map(v => {{ v.muted = true; return v.play(); }}))")
    page.wait_for_function(f"() => {VISIBLE}.every(v => v.ended)", timeout=30_000)
    page.wait_for_function("() => !document.querySelector('#study-submit').disabled", timeout=30_000)


def rank(page, ranking: list[int]) -> None:
    from playwright.sync_api import expect

    for i, value in enumerate(ranking):  # tap the dropdown, tap the rank: what a phone user does
        dropdown = page.get_by_label(f"Rank of Clip {i + 1}")
        dropdown.click()
        menu = page.locator(f"#{dropdown.get_attribute('aria-controls')}")  # this dropdown's options
        menu.get_by_role("option", name=str(value), exact=True).click()
        expect(dropdown).to_have_value(str(value))
    page.mouse.click(2, 2)  # nothing focused: every choice is committed
    for i, value in enumerate(ranking):
        expect(page.get_by_label(f"Rank of Clip {i + 1}")).to_have_value(str(value))


def show_mid_clip(page) -> None:
    """For the pictures: show each clip's middle frame (a played clip rests on its last, neutral
    frame)."""
    page.evaluate(f"() => {VISIBLE}.forEach(v => {{ v.currentTime = 0.5; }})")
    page.wait_for_timeout(500)


def to_first_screen(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Screen 1 of 4").wait_for(timeout=30_000)
    wait_for_clips(page, 4)


def clip_boxes(page) -> list[dict[str, float]]:
    """The visible clips' boxes in viewport coordinates, left to right, top to bottom."""
    return page.evaluate(
        f"""() => {VISIBLE}.map(v => {{ const r = v.getBoundingClientRect();
            return {{x: r.x, y: r.y, width: r.width, height: r.height}}; }})"""
    )


def test_a_phone_shows_four_clips_as_a_2x2_grid_with_prompt_and_ranks_in_the_first_screen(
    browser, four, screenshot_dir
):
    """Every screen of the study (three prompts and the attention check), at 390x844 scrolled to the
    top: the clips form a 2x2 grid, and the prompt, the clips, the four ranks and the submit button
    all lie inside the first screen. Printed: where they are (Safari with its bars shown leaves about
    390x660 of it: the printed bottoms say what that cuts off)."""
    study, server = four
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    to_first_screen(page, f"{server.url}/study?study={study.study_id}&PROLIFIC_PID=phone0001")
    for screen in range(1, 5):
        page.get_by_text(f"Screen {screen} of 4").wait_for(timeout=30_000)
        wait_for_clips(page, 4)
        page.evaluate("() => window.scrollTo(0, 0)")
        clips = clip_boxes(page)
        assert len(clips) == 4
        # a 2x2 grid: two columns (same x in each), two rows (same y in each), clips of one size
        assert clips[0]["x"] == pytest.approx(clips[2]["x"], abs=1)
        assert clips[1]["x"] == pytest.approx(clips[3]["x"], abs=1)
        assert clips[0]["y"] == pytest.approx(clips[1]["y"], abs=1)
        assert clips[2]["y"] == pytest.approx(clips[3]["y"], abs=1)
        assert clips[1]["x"] >= clips[0]["x"] + clips[0]["width"]  # side by side, not overlapping
        assert clips[2]["y"] >= clips[0]["y"] + clips[0]["height"]  # the second row below the first
        assert all(c["width"] == pytest.approx(clips[0]["width"], abs=1) for c in clips)
        assert all(c["width"] >= 170 and c["height"] >= 170 for c in clips)  # a face is still a face
        assert all(c["x"] >= 0 and c["x"] + c["width"] <= PHONE["width"] for c in clips)
        # the prompt, every clip, every rank control and the submit button: in the first screen
        prompt = page.locator("#study-prompt").bounding_box()
        ranks = [page.get_by_label(f"Rank of Clip {i + 1}").bounding_box() for i in range(4)]
        submit = page.locator("#study-submit").bounding_box()
        bottom = {
            "prompt": prompt["y"] + prompt["height"],
            "clips": max(c["y"] + c["height"] for c in clips),
            "ranks": max(r["y"] + r["height"] for r in ranks),
            "submit": submit["y"] + submit["height"],
        }
        print(
            f"\nphone 390x844, screen {screen}: clips {clips[0]['width']:.0f} px square at x "
            f"{clips[0]['x']:.0f}/{clips[1]['x']:.0f}, y {clips[0]['y']:.0f}/{clips[2]['y']:.0f}; bottom of "
            + ", ".join(f"{name} {y:.0f}" for name, y in bottom.items())
            + f"; page {page.evaluate('() => document.documentElement.scrollHeight')} px tall"
        )
        assert prompt["y"] >= 0 and all(y <= PHONE["height"] for y in bottom.values()), bottom
        # each rank sits under its own clip
        for clip, control in zip(clips, ranks, strict=True):
            assert clip["x"] - 1 <= control["x"] < clip["x"] + clip["width"]
            assert control["y"] >= clip["y"] + clip["height"] - 1
        if screen == 1:
            page.screenshot(path=str(screenshot_dir / "study-phone-first-screen.png"))
            page.locator("video").first.tap()  # what a participant does: a tap plays the clip
            page.get_by_text("1 of 4 clips played to the end").wait_for(timeout=30_000)
        play_all_clips(page)
        rank(page, [2, 1, 4, 3])
        if screen == 1:
            show_mid_clip(page)
            page.screenshot(path=str(screenshot_dir / "study-phone-ranked.png"))
        page.locator("#study-submit").click()
        if screen < 4:
            try:
                page.get_by_text(f"Screen {screen + 1} of 4").wait_for(timeout=30_000)
            except Exception:
                page.screenshot(path=str(screenshot_dir / f"study-phone-stuck-{screen}.png"), full_page=True)
                raise
    page.get_by_text("Your completion code").wait_for(timeout=30_000)
    context.close()


def test_a_desktop_shows_four_clips_in_one_row_with_their_ranks_under_them(browser, four, screenshot_dir):
    study, server = four
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    to_first_screen(page, f"{server.url}/study?study={study.study_id}&PROLIFIC_PID=desk0001")
    clips = [page.locator("video").nth(i).bounding_box() for i in range(4)]
    ranks = [page.get_by_label(f"Rank of Clip {i + 1}").bounding_box() for i in range(4)]
    assert len({round(c["y"]) for c in clips}) == 1  # one row, left to right
    assert [c["x"] for c in clips] == sorted(c["x"] for c in clips)
    for clip, control in zip(clips, ranks, strict=True):  # each rank under its own clip
        assert clip["x"] - 20 <= control["x"] <= clip["x"] + clip["width"]
        assert control["y"] > clip["y"] + clip["height"] - 1
    assert max(r["y"] + r["height"] for r in ranks) <= 900
    play_all_clips(page)
    rank(page, [1, 2, 3, 4])
    show_mid_clip(page)
    page.screenshot(path=str(screenshot_dir / "study-desktop-trial.png"))
    page.close()


def login(page, url: str) -> None:
    page.goto(f"{url}/admin/", wait_until="load")
    page.get_by_label("username").fill("admin")
    page.get_by_label("password").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Login").click()


def test_the_admin_sees_the_stimulus_gallery(browser, four, screenshot_dir):
    study, server = four
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, server.url)
    page.get_by_label("Study").click()
    page.get_by_role("option", name=f"{study.study_id} · four models on a phone").click()
    page.get_by_role("tab", name="Stimuli").click()
    page.get_by_text("16 clips", exact=True).wait_for(timeout=30_000)  # 3 prompts x 4 models + the check's 4
    gallery = page.locator("#admin-stimuli")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#admin-stimuli video')].filter(v => v.readyState >= 2)"
        ".length === 16",
        timeout=30_000,
    )
    outer, last = gallery.bounding_box(), gallery.locator("video").nth(15).bounding_box()
    assert last["y"] + last["height"] <= outer["y"] + outer["height"] + 1  # all shown, none scrolled away
    captions = gallery.inner_text()
    for name in MODELS:  # the admin sees model names, with the blinded ids participants' URLs carry
        assert len(re.findall(rf"{name} · (?:p\d|check) · [0-9a-f]{{8}}", captions)) == 4
    page.evaluate("() => document.querySelectorAll('#admin-stimuli video').forEach(v => v.currentTime = 0.5)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot_dir / "admin-stimuli-gallery.png"), full_page=True)
    page.close()


def test_the_admin_previews_the_participant_page_and_nothing_is_stored(browser, four, screenshot_dir):
    from studio.study.storage import StudyStore
    from tests.study.test_preview import rows

    study, server = four
    with StudyStore(study.db_url, SECRET) as store:
        before = rows(store)
    admin = browser.new_page(viewport={"width": 1280, "height": 900})
    login(admin, server.url)
    admin.get_by_label("Study").click()
    admin.get_by_role("option", name=f"{study.study_id} · four models on a phone").click()
    admin.get_by_role("tab", name="Preview").click()
    admin.get_by_role("button", name="Make a preview link").click()
    link = admin.get_by_role("link", name="open the participant page")
    link.wait_for(timeout=30_000)
    url = link.get_attribute("href")
    assert link.get_attribute("target") == "_blank"  # the admin page stays open
    assert url.startswith(f"{server.url}/study?study={study.study_id}&preview=")
    admin.wait_for_function(  # the check's row of that participant's screens
        "() => document.querySelector('#admin-screens')?.innerText.includes('attention')", timeout=30_000
    )
    shown = admin.inner_text("#admin-screens")
    assert all(shown.count(name) >= 4 for name in MODELS)  # the admin sees model names here
    admin.screenshot(path=str(screenshot_dir / "admin-preview-link.png"), full_page=True)

    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(url, wait_until="load")
    banner = page.locator("#study-preview")
    banner.get_by_text("Preview — answers are not saved").wait_for(timeout=30_000)
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()
    for screen in range(1, 5):
        page.get_by_text(f"Screen {screen} of 4").wait_for(timeout=30_000)
        assert banner.is_visible()
        wait_for_clips(page, 4)
        html = page.content()
        assert not any(name in html for name in MODELS) and "results" not in html
        if screen == 1:
            page.screenshot(path=str(screenshot_dir / "study-preview-phone.png"))
        assert page.locator("#study-submit").is_disabled()  # as for a participant: watch first
        play_all_clips(page)
        rank(page, [4, 3, 2, 1])
        page.locator("#study-submit").click()
    page.get_by_text("End of the preview").wait_for(timeout=30_000)
    assert "completion code" in page.inner_text("#study-code") and banner.is_visible()
    with StudyStore(study.db_url, SECRET) as store:
        assert rows(store) == before  # no participant, trial, event, answer or rate-limit entry
    page.close()
    admin.close()


def test_a_preview_link_is_refused_where_the_admin_pages_are_off(browser, four):
    from studio.study.admin import StudyPreviews
    from studio.study.storage import StudyStore

    study, _ = four
    with StudyStore(study.db_url, SECRET) as store:
        token = StudyPreviews(SECRET).token(store.get_study(study.study_id), 0)
    with ThreadedServer(study) as plain:  # no admin token: no admin pages, no previews
        page = browser.new_page()
        page.goto(f"{plain.url}/study?study={study.study_id}&preview={token}", wait_until="load")
        page.get_by_text("Previews are not available on this server").wait_for(timeout=30_000)
        assert not page.get_by_role("button", name="I agree and want to take part").is_visible()
        page.close()
