"""The study admin page: its functions on a real store, its API closed, and one run in Chromium."""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from studio.config import StudioConfig
from studio.models.pool import ModelPool
from studio.study.admin import MAX_CONFIG_BYTES, AdminError, StudyAdmin
from studio.study.schema import sqlite_url
from studio.study.storage import StudyStore
from studio.ui.study_admin import (
    build_admin,
    create_study,
    export_files,
    progress_view,
    read_upload,
    results_view,
    study_choices,
)
from tests.study.conftest import SECRET
from tests.study.simulate import simulate
from tests.study.test_stimuli import CHECK_PROMPT, DECOY_PROMPT, PROMPTS, results_folder
from tests.ui.conftest import free_port

GOOD = """
name: admin test
trial_type: rank
seed: 4
prompts: ["{p0}", "{p1}"]
models:
  - {{name: alpha, results: "{alpha}"}}
  - {{name: beta, results: "{beta}"}}
stimulus: {{duration_s: 0.5, fps: 10}}
attention_checks:
  - {{kind: contradiction, prompt: "{check}", decoy_prompt: "{decoy}", model: beta}}
exclusion: {{failed_attention_checks_at_least: 1}}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("admin")
    every = [*PROMPTS, CHECK_PROMPT, DECOY_PROMPT]
    alpha, beta = results_folder(root / "alpha", 1, every), results_folder(root / "beta", 2, every)
    text = GOOD.format(
        p0=PROMPTS[0], p1=PROMPTS[1], check=CHECK_PROMPT, decoy=DECOY_PROMPT, alpha=alpha, beta=beta
    )
    store = StudyStore(sqlite_url(root / "studio.db"), SECRET)
    config = StudioConfig(port=free_port(), output_dir=root / "outputs")
    yield config, StudyAdmin(config, store), text
    store.close()


def test_create_lists_every_problem_and_stores_nothing_on_error(setup):
    _, admin, text = setup
    record, message = create_study(admin, "name: x\ntrial_type: rnak\nseed: -1\n", "pasted config", None)
    assert record is None and "nothing was stored" in message
    assert "`trial_type`: must be one of rank, 2afc5, pairwise, got 'rnak'; did you mean 'rank'?" in message
    assert "`seed`" in message and "`prompts`" in message
    record, message = create_study(admin, "name: [unclosed", "pasted config", None)
    assert record is None and "not valid YAML" in message and "line 1, column 16" in message
    # a pasted config has no folder: relative results paths are refused, not guessed
    relative = text.replace('results: "/', 'results: "./', 1)
    assert relative != text and "must be an absolute path" in create_study(admin, relative, "pasted", None)[1]
    assert study_choices(admin) == []


def test_create_and_watch_a_study(setup):
    config, admin, text = setup
    record, message = create_study(admin, text, "pasted config", ["alpha"])
    assert record is not None and f"study {record.id}" in message and "PROLIFIC_PID" in message
    assert study_choices(admin)[0][1] == record.id
    again, message = create_study(
        admin, json.dumps(json.loads(json.dumps(record.definition.canonical()))), "pasted JSON", None
    )
    assert again.id == record.id and "Already stored" in message  # JSON pastes too; frozen by hash
    simulate(admin.store, record, 4, {"alpha": 1.0, "beta": -1.0}, careless=[2], seed=1)
    summary, items, participants, attention, rejections = progress_view(admin, record.id)
    assert "4 started · 4 completed · 1 failed an attention check · 1 excluded" in summary
    assert "**not rendered**" in summary
    assert items["answers"].tolist() == [4, 4] and items["analysed"].tolist() == [3, 3]
    assert participants["status"].str.startswith("excluded").sum() == 1
    assert attention["failed"].tolist() == [1]
    assert rejections.columns.tolist() == [""]  # none yet
    heatmap, bars, stats, bt, markdown = results_view(admin, record.id, "top_choice", 100)
    assert heatmap is not None and bars is not None
    assert "Fleiss' kappa, top choice (declared)" in stats["statistic"].tolist()
    assert bt["model"].tolist()[0] == "alpha"
    assert "## Attention checks" in markdown
    files = export_files(admin, record.id)
    names = sorted(Path(f).name for f in files)
    assert "answers.parquet" in names and "codebook.md" in names and "report.md" in names
    assert all(not Path(f).is_relative_to(config.output_dir) for f in files)  # never in the served folder
    with pytest.raises(AdminError, match="no study 999"):
        progress_view(admin, 999)


def test_uploads_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # the files below count as uploads
    (tmp_path / "config.txt").write_text("name: x")
    with pytest.raises(AdminError, match=r"\.yaml, \.yml or \.json"):
        read_upload(tmp_path / "config.txt")
    (tmp_path / "huge.yaml").write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(AdminError, match="larger than"):
        read_upload(tmp_path / "huge.yaml")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9".encode("latin-1"))
    with pytest.raises(AdminError, match="UTF-8"):
        read_upload(tmp_path / "latin1.yaml")
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.yaml"
    outside.write_text("name: x")
    with pytest.raises(AdminError, match="not uploaded here"):
        read_upload(outside)  # a path sent in the payload, never uploaded


def test_every_admin_event_is_closed_to_the_api(setup):
    config, admin, _ = setup
    blocks = build_admin(config, admin.store, pool=ModelPool([]))
    dependencies = blocks.config["dependencies"]
    assert dependencies and {d["api_visibility"] for d in dependencies} == {"private"}
    blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=config.port)
    try:
        info = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{config.port}/gradio_api/info").read())
        assert info["named_endpoints"] == {} and info["unnamed_endpoints"] == {}
    finally:
        blocks.close()


@pytest.mark.browser
def test_render_and_results_in_the_browser(setup, browser, screenshot_dir):
    from renderers import RenderUnavailableError, get_rasterizer

    try:
        get_rasterizer(64)
    except (RenderUnavailableError, OSError) as exc:
        pytest.skip(f"no offscreen OpenGL here ({exc})")
    config, admin, text = setup
    record, _ = create_study(admin, text, "pasted config", None)
    if not admin.store.participant_summaries(record):  # run alone: give the dashboard answers to show
        simulate(admin.store, record, 4, {"alpha": 1.0, "beta": -1.0}, careless=[2], seed=1)
    port = free_port()
    blocks = build_admin(config, admin.store, pool=ModelPool([]))
    blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_label("Study").click()
        page.get_by_role("option", name=f"{record.id} · admin test").click()
        page.get_by_role("tab", name="Stimuli").click()
        page.get_by_text("not rendered").wait_for(timeout=15_000)
        page.get_by_role("button", name="Render stimuli").click()
        page.get_by_text("stimuli ready").wait_for(timeout=60_000)
        assert page.get_by_text("rendered now").count() == 1
        page.screenshot(path=str(screenshot_dir / "admin_stimuli.png"), full_page=True)
        page.get_by_role("tab", name="Results").click()
        page.get_by_role("button", name="Compute results").click()
        page.locator(".js-plotly-plot").nth(1).wait_for(timeout=30_000)  # heatmap and preference bars
        assert page.locator(".js-plotly-plot").count() == 2
        page.get_by_text("Fleiss' kappa, rank as category (declared)").wait_for(timeout=10_000)
        page.screenshot(path=str(screenshot_dir / "admin_results.png"), full_page=True)
    finally:
        page.close()
        blocks.close()
    stimuli = list((config.output_dir / "stimuli").glob("*.mp4"))
    assert len(stimuli) == len(record.definition.stimuli())


def test_the_study_list_is_read_on_every_page_load(setup):
    config, admin, text = setup
    blocks = build_admin(config, admin.store, pool=ModelPool([]))  # built before the study exists below
    loads = [d for d in blocks.config["dependencies"] if any(t[1] == "load" for t in d["targets"])]
    assert len(loads) == 1 and loads[0]["api_visibility"] == "private"
    record, _ = create_study(admin, text.replace("admin test", "made after the page"), "pasted", None)
    fn = blocks.fns[loads[0]["id"]].fn
    assert (f"{record.id} · made after the page · {record.sha256[:12]}", record.id) in fn().choices


@pytest.mark.browser
def test_a_new_page_lists_studies_created_since_it_was_built(setup, browser):
    config, admin, text = setup
    port = free_port()
    blocks = build_admin(config, admin.store, pool=ModelPool([]))
    record, _ = create_study(admin, text.replace("admin test", "created by the CLI"), "pasted", None)
    blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        page.get_by_label("Study").click()  # no Refresh pressed
        page.get_by_role("option", name=f"{record.id} · created by the CLI").wait_for(timeout=15_000)
    finally:
        page.close()
        blocks.close()


def test_the_prolific_link_names_the_server_the_admin_reached():
    from starlette.datastructures import URL

    from studio.ui.study_admin import server_url

    join = URL("http://10.0.0.5:7860/admin/gradio_api/queue/join?x=1")
    assert server_url(join, {}) == "http://10.0.0.5:7860"
    proxied = {"x-forwarded-host": "studio.example.org, inner", "x-forwarded-proto": "https"}
    assert server_url(join, proxied) == "https://studio.example.org"
    assert server_url(URL("http://h/lab/admin/gradio_api/queue/join"), {}) == "http://h/lab"  # a path prefix
    assert server_url(URL("http://127.0.0.1:9/gradio_api/queue/join"), {}) == "http://127.0.0.1:9"


@pytest.mark.browser
def test_a_study_created_in_the_browser_shows_its_real_link(setup, browser):
    config, admin, text = setup
    port = free_port()
    blocks = build_admin(config, admin.store, pool=ModelPool([]))
    blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        page.locator(".cm-content").click()
        page.keyboard.insert_text(text.replace("admin test", "typed in the browser"))
        page.get_by_role("button", name="Validate and create").click()
        page.get_by_text(f"http://127.0.0.1:{port}/study?study=").wait_for(timeout=15_000)
    finally:
        page.close()
        blocks.close()


def test_the_gallery_lists_every_clip_with_its_blinded_id_and_names_identical_ones(setup, tmp_path):
    from renderers import RenderUnavailableError, get_rasterizer
    from studio.ui.study_admin import stimulus_gallery

    try:
        get_rasterizer(64)
    except (RenderUnavailableError, OSError) as exc:
        pytest.skip(f"no offscreen OpenGL here ({exc})")
    config, admin, text = setup
    alpha = re.search(r'alpha, results: "([^"]+)"', text).group(1)
    # a third model stored from the same folder as alpha: the same motion, so the same video
    twin = text.replace("admin test", "gallery test").replace(
        "stimulus:", f'  - {{name: twin, results: "{alpha}"}}\nstimulus:', 1
    )
    record, message = create_study(admin, twin, "pasted", None)
    assert record is not None, message
    assert [m.name for m in record.definition.models] == ["alpha", "beta", "twin"]
    items, note = stimulus_gallery(admin, record.id)
    assert items == [] and f"{len(record.definition.stimuli())} clips to render" in note
    admin.render(record, ModelPool([]), size=64)
    items, note = stimulus_gallery(admin, record.id)
    stimuli = record.definition.stimuli()
    assert len(items) == len(stimuli)
    for (path, caption), clip in zip(items, stimuli, strict=True):
        model, prompt_id, blinded = caption.split(" · ")
        assert model == clip.model and re.fullmatch(r"[0-9a-f]{8}", blinded)
        assert Path(path).name.startswith(blinded) and Path(path).parent == config.output_dir / "stimuli"
        assert prompt_id in {p.id for p in record.definition.prompts} | {"check"}
    first = record.definition.prompts[0].id
    clip = {tuple(caption.split(" · ")[:2]): Path(path) for path, caption in items}
    assert clip["alpha", first] == clip["twin", first] != clip["beta", first]
    assert "**Identical clips:**" in note and clip["alpha", first].stem[:8] in note


def test_a_preview_link_names_the_server_the_study_and_the_next_participant(setup):
    from studio.study.admin import StudyPreviews, previews_for
    from studio.ui.study_admin import preview_view

    config, admin, text = setup
    record, _ = create_study(admin, text.replace("admin test", "preview test"), "pasted", None)
    simulate(admin.store, record, 2, {"alpha": 1.0, "beta": -1.0}, seed=3)  # participants 0 and 1
    previews = StudyPreviews(SECRET)
    message, screens = preview_view(admin, previews, record.id, None, "https://lab.example.org")
    link = re.search(r"\((https://lab\.example\.org/study\?study=\d+&preview=[^)\s]+)\)", message).group(1)
    grant = previews.grant(link.split("preview=")[1])
    assert (grant.study_id, grant.participant_index) == (record.id, 2)  # the next one to arrive
    assert "as participant #2" in message and "PROLIFIC_PID" in message  # the real link beside it
    assert len(screens) == record.definition.trials_per_participant
    assert set(screens["kind"]) == {"item", "attention"}
    _, screens0 = preview_view(admin, previews, record.id, 0, "https://lab.example.org")
    assert "alpha" in " ".join(screens0["clips (left to right)"])  # the admin sees model names
    with pytest.raises(AdminError, match="participant index"):
        preview_view(admin, previews, record.id, -3, "https://lab.example.org")
    with pytest.raises(AdminError, match="STUDIO_STUDY_SECRET"):
        preview_view(admin, None, record.id, 0, "https://lab.example.org")
    # the admin page enables previews of its store only with the secret that signs them
    build_admin(config, admin.store, pool=ModelPool([]))
    assert previews_for(admin.store) is None
    build_admin(replace(config, study_secret=SECRET.decode()), admin.store, pool=ModelPool([]))
    assert previews_for(admin.store).grant(link.split("preview=")[1]).participant_index == 2
