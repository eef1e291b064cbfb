"""Explore tab: open a dataset folder (table of clips, the analysis charts, click a row to watch
it) or inspect a single clip file.

The handlers here only translate between widgets and studio calls: the analysis is
:func:`studio.analysis.analyse_dataset` and its charts, rendering is
:func:`studio.compare.render_side_by_side`.
"""

from __future__ import annotations

import hashlib
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


def inspect_file(path: str | None, max_frames: int) -> tuple[str, go.Figure | None]:
    """Gradio handler: a summary and a curve plot, or one clear message for a bad file."""
    if not path:
        return "Upload a Live Link CSV, keyframe CSV, KeyframeFace answer JSON or npz clip.", None
    try:
        loaded = read_clip(uploaded_file(path), max_frames=max_frames)
    except FileAccessError as exc:
        return f"**Could not read this file.** {exc}", None
    except FormatError as exc:
        return f"**Could not read this file.** {exc.problem}" + (f" ({exc.where})" if exc.where else ""), None
    return summary_markdown(loaded), curves_figure(loaded.clip)


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
    """Gradio handler for a clicked table row: find the item in its folder again (the page keeps
    no server-side state), then :func:`render_item`."""
    from studio.formats.dataset import read_dataset

    try:
        items = {it.id: it for it in read_dataset(resolve_dataset(config, text)).items}
    except (ValueError, FormatError) as exc:
        return None, f"**Could not open this dataset.** {exc}", None
    if item_id not in items:
        return None, "Click a row of the table.", None
    return render_item(config, item_id, str(items[item_id].clip_path), camera)


def render_item(
    config: StudioConfig, item_id: str, clip_path: str, camera: str
) -> tuple[str | None, str, Any]:
    """Render one dataset clip to an MP4 named by content hash; returns (video, summary, curves)."""
    try:
        loaded = read_clip(clip_path, max_frames=config.max_frames)
    except FormatError as exc:
        return None, f"**Could not read {item_id}.** {exc.problem}", None
    clip = loaded.clip
    digest = hashlib.sha256(clip.values.tobytes() + f"{clip.fps}|{clip.space}|{camera}".encode()).hexdigest()
    path = config.output_dir / "explore" / f"{digest[:32]}.mp4"
    summary = f"**{item_id}**\n\n" + summary_markdown(loaded)
    if not path.is_file():
        try:
            render_side_by_side([clip], [item_id], path, camera=camera, curves=True)
        except (StudioError, OSError) as exc:
            return None, summary + f"\n\n**Rendering failed:** {exc}", curves_figure(clip)
    return str(path), summary, curves_figure(clip)


# -- layout -------------------------------------------------------------------------------------


def build_tab(config: StudioConfig) -> None:
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
        table = gr.Dataframe(
            headers=TABLE_COLUMNS,
            interactive=False,
            wrap=True,
            max_height=360,
            column_widths=TABLE_WIDTHS,
            label="Clips (click a row to watch it)",
        )
        with gr.Row():
            with gr.Column(scale=1):
                camera = camera_radio()
                video = gr.Video(label="Clip on the default head", autoplay=True, loop=True, height=380)
            with gr.Column(scale=1):
                item_summary = gr.Markdown()
                item_curves = gr.Plot(label="Busiest channels")
        plots = []
        for stem in CHART_STEMS:
            plots.append(gr.Plot(label=stem.replace("_", " ")))

        def on_open(text, limit, progress=gr.Progress()):  # Gradio injects progress through this default
            return open_dataset(
                config,
                text,
                int(limit or MAX_ITEMS_DEFAULT),
                progress=lambda message: progress(None, desc=message),
            )

        open_button.click(on_open, [folder, max_items], [status, table, *plots], api_visibility="private")

        def on_select(text: str, camera_name: str, event: gr.SelectData):
            row = event.row_value or [None]
            return watch_item(config, text, row[0], camera_name)

        table.select(
            on_select, [folder, camera], [video, item_summary, item_curves], api_visibility="private"
        )

    with gr.Tab("Clip file"):
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Clip file", file_types=CLIP_TYPES, type="filepath")
                summary = gr.Markdown()
            with gr.Column(scale=2):
                plot = gr.Plot(label="Busiest channels")
        upload.change(
            lambda p: inspect_file(p, config.max_frames), upload, [summary, plot], api_visibility="private"
        )
