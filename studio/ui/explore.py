"""Explore tab: open a clip file, see what it holds and how its channels move."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from studio.config import StudioConfig
from studio.formats import FormatError, LoadedClip, read_clip
from studio.motion import MotionClip

CLIP_TYPES = [".csv", ".npz", ".npy", ".json"]


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
        figure.add_trace(go.Scatter(x=time_s, y=clip.values[:, column], name=clip.channels[column],
                                    mode="lines"))  # fmt: skip
    figure.update_layout(
        xaxis_title="time (s)", yaxis_title="value", height=380, margin=dict(l=40, r=10, t=30, b=40),
        legend=dict(orientation="h", y=-0.25), template="plotly_white",
    )  # fmt: skip
    return figure


def summary_markdown(loaded: LoadedClip) -> str:
    clip = loaded.clip
    rows = [
        ("file", Path(loaded.path).name), ("format", loaded.format),
        ("space", f"{clip.space} ({clip.n_channels} channels)"), ("fps", f"{clip.fps:g}"),
        ("frames", str(clip.n_frames)), ("duration", f"{clip.duration_s:.2f} s"),
        ("dropped rows", str(loaded.dropped_rows)),
    ]  # fmt: skip
    table = "| property | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    notes = "".join(f"\n- {w}" for w in loaded.warnings)
    return table + (f"\n\n**Notes**{notes}" if notes else "")


def inspect_file(path: str | None, max_frames: int) -> tuple[str, go.Figure | None]:
    """Gradio handler: a summary and a curve plot, or one clear message for a bad file."""
    if not path:
        return "Upload a Live Link CSV, keyframe CSV, KeyframeFace answer JSON or npz clip.", None
    try:
        loaded = read_clip(path, max_frames=max_frames)
    except FormatError as exc:
        return f"**Could not read this file.** {exc.problem}" + (f" ({exc.where})" if exc.where else ""), None
    return summary_markdown(loaded), curves_figure(loaded.clip)


def build_tab(config: StudioConfig) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(label="Clip file", file_types=CLIP_TYPES, type="filepath")
            summary = gr.Markdown()
        with gr.Column(scale=2):
            plot = gr.Plot(label="Busiest channels")
    upload.change(lambda p: inspect_file(p, config.max_frames), upload, [summary, plot],
                  api_visibility="private")  # fmt: skip
