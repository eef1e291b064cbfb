"""A participant takes a three-screen study in headless Chromium; the admin page refuses strangers
and works for the admin (its requests carry the CSRF token).

The server is the real assembly (:func:`studio.server.build_server`) on loopback, with the tiny
rank study of :mod:`benchmarks.study_server` (three screens of three 1-second clips, rendered; the
server refuses an answer sooner than a clip lasts, so each screen takes a second of real playback).
Screenshots of every stage go to ``$STUDIO_SCREENSHOT_DIR`` when it is set.
"""

from __future__ import annotations

import pytest

from benchmarks.study_server import MODELS, SECRET, ThreadedServer, prepare_study
from studio.study.storage import StudyStore
from tests.ui.test_study_pages import rank

pytestmark = pytest.mark.browser
ADMIN_TOKEN = "browser-admin-token-0123"
PID = "60f1a2b3c4d5e6f7a8b9c0d1"


@pytest.fixture(scope="module")
def study_server(tmp_path_factory):
    study = prepare_study(tmp_path_factory.mktemp("browser-study"))
    with ThreadedServer(study, admin_token=ADMIN_TOKEN) as server:
        yield study, server


def play_all_clips(page) -> None:
    """Play every visible clip to its end, as a participant pressing play on each would."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].filter(v => v.offsetParent && v.src).length === 3"
        " && [...document.querySelectorAll('video')].every(v => !v.offsetParent || v.readyState >= 1)",
        timeout=30_000,
    )
    page.evaluate(
        "() => Promise.all([...document.querySelectorAll('video')].filter(v => v.offsetParent)"
        ".map(v => { v.muted = true; return v.play(); }))"
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].filter(v => v.offsetParent).every(v => v.ended)",
        timeout=30_000,
    )


def answer_screen(page, ranking: list[int]) -> None:
    submit = page.locator("#study-submit")
    assert submit.is_disabled()  # locked until every clip has played
    play_all_clips(page)
    page.wait_for_function("() => !document.querySelector('#study-submit').disabled", timeout=30_000)
    rank(page, ranking)  # tapping each dropdown's option (typing + Enter could race the filter)


def test_a_participant_completes_the_study_and_can_reload(browser, study_server, screenshot_dir):
    study, server = study_server
    url = f"{server.url}/study?study={study.study_id}&PROLIFIC_PID={PID}&STUDY_ID=abc&SESSION_ID=s1"
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="load")

    page.get_by_role("button", name="I agree and want to take part").wait_for(timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "study-1-consent.png"), full_page=True)
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").wait_for(timeout=30_000)
    page.reload(wait_until="load")  # consent is on record: the instructions again, not the consent
    page.get_by_role("button", name="Start").wait_for(timeout=30_000)
    assert not page.get_by_role("button", name="I agree and want to take part").is_visible()
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Screen 1 of 3").wait_for(timeout=30_000)
    page.reload(wait_until="load")  # before the first answer: straight back to screen 1
    page.get_by_text("Screen 1 of 3").wait_for(timeout=30_000)
    assert not page.get_by_role("button", name="I agree and want to take part").is_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].filter(v => v.src && v.readyState >= 2).length === 3"
    )
    page.screenshot(path=str(screenshot_dir / "study-2-trial-locked.png"), full_page=True)
    answer_screen(page, [1, 2, 3])
    page.screenshot(path=str(screenshot_dir / "study-3-trial-answered.png"), full_page=True)
    page.locator("#study-submit").click()
    page.get_by_text("Screen 2 of 3").wait_for(timeout=30_000)

    page.reload(wait_until="load")  # mid-study: resumes at screen 2, no consent again
    page.get_by_text("Screen 2 of 3").wait_for(timeout=30_000)
    assert page.get_by_text("Welcome back").is_visible()
    html = page.content()
    assert not any(name in html for name in MODELS)
    sources = page.evaluate("() => [...document.querySelectorAll('video')].map(v => v.src).filter(Boolean)")
    assert len(sources) == 3 and all(s.split("/")[-1][:64].isalnum() for s in sources)
    for ranking, screen in (([3, 1, 2], "Screen 3 of 3"), ([2, 3, 1], None)):
        answer_screen(page, ranking)
        page.locator("#study-submit").click()
        if screen:
            page.get_by_text(screen).wait_for(timeout=30_000)
    page.get_by_text("Your completion code").wait_for(timeout=30_000)
    page.wait_for_timeout(500)  # let the pending-update fade finish before the picture
    page.screenshot(path=str(screenshot_dir / "study-4-completion.png"), full_page=True)
    shown_code = page.locator("#study-code code").inner_text().strip()

    with StudyStore(study.db_url, SECRET) as store:
        record = store.get_study(study.study_id)
        rows = store.export_answers(record)
        summary = store.participant_summaries(record)
    assert [json_ranking(r) for r in rows] == [[1, 2, 3], [3, 1, 2], [2, 3, 1]]
    assert len(summary) == 1 and summary[0].completed and summary[0].answered == 3
    assert summary[0].median_dwell_s is not None and summary[0].median_dwell_s > 0
    participant = summary[0].participant_id
    with StudyStore(study.db_url, SECRET) as store:
        assert shown_code == store.completion_code(store.get_study(study.study_id), participant)
    assert not errors, errors
    page.close()


def json_ranking(row) -> list[int]:
    import json

    return json.loads(row["ranking"])


def test_mobile_layout_puts_the_clips_two_to_a_row(browser, study_server, screenshot_dir):
    study, server = study_server
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(f"{server.url}/study?study={study.study_id}&PROLIFIC_PID=mobile01", wait_until="load")
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").wait_for(timeout=30_000)
    page.reload(wait_until="load")  # consent is on record: the instructions again, not the consent
    page.get_by_role("button", name="Start").wait_for(timeout=30_000)
    assert not page.get_by_role("button", name="I agree and want to take part").is_visible()
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Screen 1 of 3").wait_for(timeout=30_000)
    page.reload(wait_until="load")  # before the first answer: straight back to screen 1
    page.get_by_text("Screen 1 of 3").wait_for(timeout=30_000)
    assert not page.get_by_role("button", name="I agree and want to take part").is_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].filter(v => v.src && v.readyState >= 2).length === 3"
    )
    page.wait_for_timeout(500)  # let the pending-update fade finish before measuring and the picture
    boxes = [page.locator("video").nth(i).bounding_box() for i in range(3)]
    assert all(b and b["x"] >= 0 and b["x"] + b["width"] <= 390 for b in boxes)
    # two to a row (the third alone, as wide as the others), never three squeezed side by side
    assert boxes[0]["y"] == pytest.approx(boxes[1]["y"], abs=1)
    assert boxes[1]["x"] >= boxes[0]["x"] + boxes[0]["width"]
    assert boxes[2]["x"] == pytest.approx(boxes[0]["x"], abs=1)
    assert boxes[2]["y"] >= boxes[0]["y"] + boxes[0]["height"]
    assert all(b["width"] == pytest.approx(boxes[0]["width"], abs=1) and b["width"] >= 150 for b in boxes)
    page.screenshot(path=str(screenshot_dir / "study-5-mobile.png"), full_page=True)
    page.close()


def test_a_link_without_prolific_id_explains_itself(browser, study_server):
    study, server = study_server
    page = browser.new_page()
    page.goto(f"{server.url}/study?study={study.study_id}", wait_until="load")
    page.get_by_text("This link has no Prolific ID").wait_for(timeout=30_000)
    page.close()


def test_admin_page_refuses_without_credentials(browser, study_server, screenshot_dir):
    _, server = study_server
    page = browser.new_page()
    page.goto(f"{server.url}/admin/", wait_until="load")
    page.get_by_role("button", name="Login").wait_for(timeout=30_000)
    page.get_by_label("username").fill("admin")
    page.get_by_label("password").fill("not-the-token-000")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Incorrect Credentials").wait_for(timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "study-6-admin-refused.png"), full_page=True)
    assert "Create" not in page.inner_text("body")
    page.close()


def test_the_admin_logs_in_and_the_page_sends_its_csrf_token(browser, study_server, screenshot_dir):
    study, server = study_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if r.status == 403 else None)
    page.goto(f"{server.url}/admin/", wait_until="load")  # not logged in: the login form
    page.get_by_label("username").fill("admin")
    page.get_by_label("password").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Login").click()
    page.get_by_label("Study").click()  # the admin page itself
    page.get_by_role("option", name=f"{study.study_id} · tiny rank study").click()
    page.get_by_role("tab", name="Progress").click()
    page.get_by_text("started ·").first.wait_for(timeout=30_000)  # the event ran on the server
    page.screenshot(path=str(screenshot_dir / "study-7-admin-progress.png"), full_page=True)
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["studio_admin"]["sameSite"] == "Strict" and cookies["studio_admin"]["httpOnly"]
    assert not refused, refused
    page.close()
