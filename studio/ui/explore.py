"""Explore tab: open a dataset folder (table of clips, the analysis charts, click a row or a point
of a t-SNE map to watch that clip) or inspect a single clip file.

The handlers here only translate between widgets and studio calls: the analysis is
:func:`studio.analysis.analyse_dataset` and its charts, rendering is
:func:`studio.compare.render_side_by_side`.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from studio.compare import render_side_by_side
from studio.config import StudioConfig
from studio.errors import StudioError
from studio.formats import FormatError, LoadedClip, read_clip
from studio.motion import MotionClip
from studio.security.files import FileAccessError, uploaded_file
from studio.ui.common import camera_radio, dataset_choices, resolve_dataset

CLIP_TYPES = [".csv", ".npz", ".npy", ".json"]
# The 3D player in a frame that waits for a clip (studio/player_static); the page hands it the
# lines the server made from the uploaded file, so no file reference ever reaches the browser.
CLIP_PLAYER_FRAME = (
    '<iframe src="player?embed=1&amp;wait=1" title="3D player: the clip file on the default head" '
    'style="width:100%;height:560px;border:0;display:block" loading="eager"></iframe>'
)
SHOW_IN_CLIP_PLAYER = """
(lines) => {
  const started = Date.now();
  const send = () => {
    const frame = document.querySelector("#clip-player iframe");
    const player = frame && frame.contentWindow && frame.contentWindow.player;
    if (player) player.show(lines);
    else if (Date.now() - started < 60000) setTimeout(send, 100);  // the frame is still loading
  };
  if (lines) send();
  return [];
}
"""
TABLE_COLUMNS = ["id", "prompt", "split", "duration (s)", "keyframes", "prompt category", "clip shows"]
TABLE_WIDTHS = ["11%", "43%", "6%", "8%", "8%", "12%", "12%"]  # long prompts wrap instead of hiding the rest
# Dataset charts in reading order (stems of studio.analysis.build_figures); absent ones stay hidden.
CHART_STEMS = (
    "prompt_tsne",
    "prompt_categories",
    "clip_tsne",
    "category_comparison",
    "dataset_consistency",
    "keyframe_emotions",
    "keyframes_per_clip",
    "clip_durations",
)
MAX_ITEMS_DEFAULT = 2000  # an interactive look; `python -m studio analyze` does whole datasets
ROWS_PER_PAGE = 50
ANY = "all"  # the split / category filter value that keeps every row
ID_COLUMN, PROMPT_COLUMN, SPLIT_COLUMN, CATEGORY_COLUMN = 0, 1, 2, 5  # indices into TABLE_COLUMNS
MAX_QUERY_CHARS = 200
# The maps whose points open their clip (their figures carry item ids as customdata), beside the video.
MAP_STEMS = ("prompt_tsne", "clip_tsne")
MAX_ID_CHARS = 300  # an id sent back by a click is looked up in the folder; a longer one is refused unread
# gr.Plot has no click event, so a gr.HTML around the maps relays plotly's own `plotly_click` as a
# 'pick' event carrying the point's customdata (its item id). Plotly drops a graph's listeners when
# it redraws from scratch, so the listener is (re)attached on every pointerdown, before plotly's
# click fires; removing it first keeps one listener per graph.
PICK_JS = """
function relay(data) {
  const point = data && data.points && data.points[0];
  if (point && point.customdata !== undefined && point.customdata !== null) {
    trigger('pick', {clip: String(point.customdata)});
  }
}
element.addEventListener('pointerdown', () => {
  element.querySelectorAll('.js-plotly-plot').forEach((graph) => {
    if (typeof graph.on !== 'function') return;
    graph.removeListener('plotly_click', relay);
    graph.on('plotly_click', relay);
  });
}, true);
"""


# -- single clip files --------------------------------------------------------------------------


def busiest_channels(clip: MotionClip, count: int) -> list[int]:
    """Indices of up to ``count`` moving channels with the largest range, busiest first."""
    spread = clip.values.max(axis=0) - clip.values.min(axis=0)
    order = np.argsort(-spread, kind="stable")[:count]
    return [int(i) for i in order if spread[i] > 1e-6]  # a flat channel says nothing


def curves_figure(clip: MotionClip, count: int = 8) -> go.Figure:
    """Plotly line chart of the busiest channels against time in seconds."""
    time_s = np.arange(clip.n_frames) / clip.fps
    figure = go.Figure()
    for column in busiest_channels(clip, count):
        figure.add_trace(
            go.Scatter(x=time_s, y=clip.values[:, column], name=clip.channels[column], mode="lines")
        )
    figure.update_layout(
        xaxis_title="time (s)",
        yaxis_title="value",
        height=380,
        margin=dict(l=40, r=10, t=30, b=40),
        legend=dict(orientation="h", y=-0.25),
        template="plotly_white",
    )
    return figure


def summary_markdown(loaded: LoadedClip) -> str:
    clip = loaded.clip
    rows = [
        ("file", Path(loaded.path).name),
        ("format", loaded.format),
        ("space", f"{clip.space} ({clip.n_channels} channels)"),
        ("fps", f"{clip.fps:g}"),
        ("frames", str(clip.n_frames)),
        ("duration", f"{clip.duration_s:.2f} s"),
        ("dropped rows", str(loaded.dropped_rows)),
    ]
    table = "| property | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    notes = "".join(f"\n- {w}" for w in loaded.warnings)
    return table + (f"\n\n**Notes**{notes}" if notes else "")


def inspect_file(path: str | None, max_frames: int) -> tuple[str, go.Figure | None, list[dict] | None]:
    """Gradio handler: a summary, a curve plot and the clip as player lines (:func:`studio.player.
    clip_lines`, played on the default head in the tab's player), or one clear message for a bad
    file (and nothing to play)."""
    from studio.player import clip_lines

    if not path:
        return "Upload a Live Link CSV, keyframe CSV, KeyframeFace answer JSON or npz clip.", None, None
    try:
        loaded = read_clip(uploaded_file(path), max_frames=max_frames)
    except FileAccessError as exc:
        return f"**Could not read this file.** {exc}", None, None
    except FormatError as exc:
        where = f" ({exc.where})" if exc.where else ""
        return f"**Could not read this file.** {exc.problem}{where}", None, None
    clip = loaded.clip
    title = f"{Path(path).name} · {clip.duration_s:.2f} s at {clip.fps:g} fps · {clip.space}"
    return summary_markdown(loaded), curves_figure(clip), clip_lines(clip, "clip file", title)


# -- dataset folders ----------------------------------------------------------------------------


def dataset_table(analysis: Any) -> list[list[Any]]:
    """One row per item, in :data:`TABLE_COLUMNS` order."""
    from studio.facs import EMOTIONS

    def category(scores: np.ndarray | None, i: int) -> str:
        if scores is None or not np.isfinite(scores[i]).all():
            return ""
        k = int(np.argmax(scores[i]))
        return f"{EMOTIONS[k]} ({scores[i, k]:.2f})"

    rows = []
    for i in range(analysis.n):
        duration = analysis.durations_s[i]
        rows.append(
            [
                analysis.ids[i],
                analysis.prompts[i],
                analysis.splits[i] or "",
                round(float(duration), 2) if np.isfinite(duration) else None,
                int(analysis.n_keyframes[i]) if analysis.n_keyframes[i] >= 0 else None,
                category(analysis.prompt_scores, i),
                category(analysis.clip_scores, i),
            ]
        )
    return rows


def filter_rows(
    rows: Sequence[Sequence[Any]],
    query: str | None = None,
    split: str | None = None,
    category: str | None = None,
) -> list[list[Any]]:
    """The rows (in :data:`TABLE_COLUMNS` order) whose id or prompt contains ``query``
    (case-insensitive), whose split is ``split`` and whose prompt category is ``category`` (an
    emotion of :data:`studio.facs.EMOTIONS`); ``None``, ``""`` or :data:`ANY` keeps every row."""
    needle = (query or "").strip().casefold()[:MAX_QUERY_CHARS]
    kept = []
    for row in rows:
        if (
            needle
            and needle not in str(row[ID_COLUMN]).casefold()
            and needle not in str(row[PROMPT_COLUMN]).casefold()
        ):
            continue
        if split not in (None, "", ANY) and row[SPLIT_COLUMN] != split:
            continue
        if category not in (None, "", ANY) and str(row[CATEGORY_COLUMN]).split(" (")[0] != category:
            continue
        kept.append(list(row))
    return kept


def page_of(
    rows: Sequence[Sequence[Any]], page: float | None, per_page: int = ROWS_PER_PAGE
) -> tuple[list, int, int]:
    """``(rows of page, page, n_pages)``: pages count from 1, ``page`` is clamped into
    ``[1, n_pages]`` (a missing or non-finite page is 1); no rows is one empty page."""
    n_pages = max(1, math.ceil(len(rows) / per_page))
    number = 1 if page is None or not math.isfinite(float(page)) else int(page)
    number = min(max(number, 1), n_pages)
    start = (number - 1) * per_page
    return [list(r) for r in rows[start : start + per_page]], number, n_pages


def page_markdown(shown: int, total: int, page: int, n_pages: int) -> str:
    """``page 2 of 3 · 120 of 480 clips match`` under the table."""
    return f"page {page} of {n_pages} · {shown} of {total} clips match"


def split_choices(rows: Sequence[Sequence[Any]]) -> list[str]:
    """:data:`ANY`, then the splits present in ``rows``, sorted."""
    return [ANY, *sorted({str(r[SPLIT_COLUMN]) for r in rows if r[SPLIT_COLUMN]})]


class TableCache:
    """The last few opened tables, keyed by (dataset folder, items analysed), so that searching and
    paging need no re-analysis and the page keeps no per-session state (a ``gr.State`` would hold a
    heartbeat connection open on every page). Bounded: ``size`` tables."""

    def __init__(self, size: int = 8) -> None:
        self._tables: OrderedDict[tuple[str, int], list[list[Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def put(self, key: tuple[str, int], rows: list[list[Any]]) -> None:
        with self._lock:
            self._tables[key] = rows
            self._tables.move_to_end(key)
            while len(self._tables) > self.size:
                self._tables.popitem(last=False)

    def get(self, key: tuple[str, int]) -> list[list[Any]] | None:
        with self._lock:
            return self._tables.get(key)


def analysis_markdown(analysis: Any) -> str:
    """Counts, the categoriser and its accuracy against the folder's labels, then warnings."""
    summary = analysis.summary()
    lines = [
        f"**{analysis.name}**: {analysis.n} items, {summary['distinct_prompts']} distinct prompts; "
        f"map: {analysis.projection}; categoriser: {analysis.categoriser.get('name')}.",
    ]
    for accuracy in analysis.accuracy:
        lines.append(
            f"- categoriser accuracy against `{accuracy.against}` ({accuracy.split} split): "
            f"{100 * accuracy.accuracy:.1f}% of {accuracy.n} prompts"
        )
    lines += [f"- {w}" for w in analysis.warnings]
    return "\n".join(lines)


def open_dataset(config: StudioConfig, text: str | None, max_items: int, progress: Any = None) -> tuple:
    """Gradio handler: status, table rows, then one figure per chart of :data:`CHART_STEMS`."""
    from studio.analysis import analyse_dataset, build_figures

    empty = (None,) * len(CHART_STEMS)
    try:
        root = resolve_dataset(config, text)
        analysis = analyse_dataset(root, max_items=int(max_items), progress=progress)
    except (ValueError, FormatError) as exc:
        return (f"**Could not open this dataset.** {exc}", [], *empty)
    if analysis.n == 0:
        return (f"**{analysis.name}** has no items.", [], *empty)
    figures = build_figures(analysis)
    return (
        analysis_markdown(analysis),
        dataset_table(analysis),
        *(figures.get(stem) for stem in CHART_STEMS),
    )


def watch_item(config: StudioConfig, text: str | None, item_id: str | None, camera: str) -> tuple:
    """Gradio handler for a clicked table row or map point: find the item in its folder again by
    id (the page keeps no server-side state, and an id is right whatever the table shows), then
    :func:`render_item`."""
    from studio.formats.dataset import read_dataset

    try:
        items = {it.id: it for it in read_dataset(resolve_dataset(config, text)).items}
    except (ValueError, FormatError) as exc:
        return None, f"**Could not open this dataset.** {exc}", None
    if item_id not in items:
        return None, "Click a row of the table or a point of a map.", None
    item = items[item_id]
    return render_item(config, item_id, str(item.clip_path), camera, prompt=item.prompt)


def markdown_text(text: str, limit: int = 600) -> str:
    """``text`` shown literally by Markdown: every ASCII punctuation mark backslash-escaped, one line."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)


def render_item(
    config: StudioConfig, item_id: str, clip_path: str, camera: str, *, prompt: str = ""
) -> tuple[str | None, str, Any]:
    """Render one dataset clip to an MP4 named by content hash; returns (video, summary, curves)."""
    try:
        loaded = read_clip(clip_path, max_frames=config.max_frames)
    except FormatError as exc:
        return None, f"**Could not read {markdown_text(item_id)}.** {exc.problem}", None
    clip = loaded.clip
    digest = hashlib.sha256(clip.values.tobytes() + f"{clip.fps}|{clip.space}|{camera}".encode()).hexdigest()
    path = config.output_dir / "explore" / f"{digest[:32]}.mp4"
    quoted = f"> {markdown_text(prompt)}\n\n" if prompt.strip() else ""
    summary = f"**{markdown_text(item_id)}**\n\n{quoted}" + summary_markdown(loaded)
    if not path.is_file():
        try:
            render_side_by_side([clip], [item_id], path, camera=camera, curves=True)
        except (StudioError, OSError) as exc:
            return None, summary + f"\n\n**Rendering failed:** {exc}", curves_figure(clip)
    return str(path), summary, curves_figure(clip)


# -- layout -------------------------------------------------------------------------------------


def build_tab(config: StudioConfig) -> None:
    from studio.facs import EMOTIONS

    tables = TableCache()
    with gr.Tab("Dataset"):
        choices = dataset_choices(config)
        with gr.Row():
            folder = gr.Dropdown(
                choices,
                value=choices[0] if choices else None,
                allow_custom_value=True,
                scale=3,
                label="Dataset folder",
                info="holds prompts.csv, clips/, splits/; inside the data folders",
            )
            max_items = gr.Number(
                MAX_ITEMS_DEFAULT,
                precision=0,
                minimum=10,
                maximum=50_000,
                label="Items to analyse (a seeded sample)",
                scale=1,
            )
            open_button = gr.Button("Open", variant="primary", scale=1)
        status = gr.Markdown()
        with gr.Row():
            search = gr.Textbox(
                label="Search prompts and ids",
                placeholder="a word of the prompt or an id; Enter to search",
                max_length=MAX_QUERY_CHARS,
                scale=3,
            )
            split = gr.Dropdown([ANY], value=ANY, label="Split", scale=1)
            category = gr.Dropdown([ANY, *EMOTIONS], value=ANY, label="Prompt category", scale=1)
        table = gr.Dataframe(
            headers=TABLE_COLUMNS,
            interactive=False,
            wrap=True,
            max_height=360,
            column_widths=TABLE_WIDTHS,
            label="Clips (click a row to watch it)",
        )
        with gr.Row(equal_height=True):
            previous = gr.Button("◀ Previous page", size="sm", scale=1)
            page_md = gr.Markdown(elem_classes="studio-note")
            following = gr.Button("Next page ▶", size="sm", scale=1)
        # hidden values the page carries between events: the page shown and the clip being watched
        page_number = gr.Number(1, precision=0, visible=False)
        current_id = gr.Textbox(visible=False)
        charts: dict[str, gr.Plot] = {}
        with gr.Row():
            # the maps beside the video, so that a clicked point plays next to where it was clicked
            with gr.Column(scale=3), gr.HTML(html_template="@children", js_on_load=PICK_JS) as maps:
                for stem in MAP_STEMS:
                    charts[stem] = gr.Plot(
                        label=f"{stem.replace('_', ' ')}: click a point to watch it",
                        elem_id=f"explore-{stem.replace('_', '-')}",
                    )
            with gr.Column(scale=2):
                camera = camera_radio()
                video = gr.Video(
                    label="Clip on the default head",
                    autoplay=True,
                    loop=True,
                    height=380,
                    elem_id="explore-video",
                )
                item_summary = gr.Markdown(elem_id="explore-item")
                item_curves = gr.Plot(label="Busiest channels")
        for stem in CHART_STEMS:
            if stem not in charts:
                charts[stem] = gr.Plot(label=stem.replace("_", " "))
        plots = [charts[stem] for stem in CHART_STEMS]

        def table_key(text: str | None, limit: float | None) -> tuple[str, int] | None:
            try:
                return str(resolve_dataset(config, text)), int(limit or MAX_ITEMS_DEFAULT)
            except ValueError:
                return None

        def on_open(text, limit, progress=gr.Progress()):  # Gradio injects progress through this default
            status_text, rows, *figures = open_dataset(
                config,
                text,
                int(limit or MAX_ITEMS_DEFAULT),
                progress=lambda message: progress(None, desc=message),
            )
            key = table_key(text, limit)
            if key is not None and rows:
                tables.put(key, rows)
            shown, number, n_pages = page_of(rows, 1)
            return (
                status_text,
                shown,
                *figures,
                "",
                gr.Dropdown(choices=split_choices(rows), value=ANY),
                ANY,
                page_markdown(len(rows), len(rows), number, n_pages) if rows else "",
                number,
            )

        open_button.click(
            on_open,
            [folder, max_items],
            [status, table, *plots, search, split, category, page_md, page_number],
            api_visibility="private",
        )

        def show(text, limit, query, split_name, category_name, page, step=0):
            key = table_key(text, limit)
            rows = tables.get(key) if key is not None else None
            if rows is None:
                return gr.skip(), "Open a dataset first (the table is kept for the last few opened).", 1
            matching = filter_rows(rows, query, split_name, category_name)
            shown, number, n_pages = page_of(matching, (page or 1) + step)
            return shown, page_markdown(len(matching), len(rows), number, n_pages), number

        view_inputs = [folder, max_items, search, split, category]
        view_outputs = [table, page_md, page_number]
        for trigger in (search.submit, split.input, category.input):
            trigger(lambda *v: show(*v, 1), view_inputs, view_outputs, api_visibility="private")
        previous.click(
            lambda *v: show(*v, step=-1), [*view_inputs, page_number], view_outputs, api_visibility="private"
        )
        following.click(
            lambda *v: show(*v, step=1), [*view_inputs, page_number], view_outputs, api_visibility="private"
        )

        def on_select(text: str, camera_name: str, event: gr.SelectData):
            row = event.row_value or [None]
            return (*watch_item(config, text, row[0], camera_name), row[0] or "")

        table.select(
            on_select,
            [folder, camera],
            [video, item_summary, item_curves, current_id],
            api_visibility="private",
        )

        def on_pick(text: str, camera_name: str, event: gr.EventData):
            # the id comes from the browser: watch_item opens it only if the folder has it
            item_id = str(getattr(event, "clip", "") or "")
            item_id = item_id if len(item_id) <= MAX_ID_CHARS else ""
            return (*watch_item(config, text, item_id or None, camera_name), item_id)

        maps.pick(
            on_pick,
            [folder, camera],
            [video, item_summary, item_curves, current_id],
            api_visibility="private",
        )

        def on_camera(text: str, item_id: str, camera_name: str):
            # never gr.skip() on the video: a skipped file output gets a per-session copy whose files
            # the file guard no longer recognises
            return watch_item(config, text, item_id or None, camera_name)

        camera.input(
            on_camera,
            [folder, current_id, camera],
            [video, item_summary, item_curves],
            api_visibility="private",
        )

    with gr.Tab("Clip file"):
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label="Clip file", file_types=CLIP_TYPES, type="filepath", elem_id="clip-upload"
                )
                summary = gr.Markdown()
            with gr.Column(scale=2):
                gr.HTML(CLIP_PLAYER_FRAME, elem_id="clip-player", padding=False)
                plot = gr.Plot(label="Busiest channels", elem_id="clip-curves")
        lines = gr.JSON(visible="hidden")  # in the page, not shown: the player's input
        upload.change(
            lambda p: inspect_file(p, config.max_frames),
            upload,
            [summary, plot, lines],
            api_visibility="private",
        ).then(None, lines, None, js=SHOW_IN_CLIP_PLAYER)
