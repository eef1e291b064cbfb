"""Compare tab, the front page: several models, one prompt and seed, one synchronised video."""

from __future__ import annotations

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from studio.compare import CompareRequest, CompareResult, Comparison, compare
from studio.config import StudioConfig
from studio.gpu import gpu_task
from studio.models.pool import ModelPool
from studio.ui.common import camera_radio, rig_dropdown

EXAMPLES = [
    "A person is raising one eyebrow and smirking",
    "A person smiles widely and then raises their eyebrows",
    "A person frowns and shakes their head",
    "Someone gasps in surprise, then slowly starts laughing",
    "Keyframe Description Sequence:\n1. She presses her lips together, eyes lowered.\n"
    "2. Her face breaks into a relieved smile.\nBackground: She has just heard the exam results.\n"
    "Emotion: anxiety turning to joy",
]
MODEL_COLOURS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]
CHANNEL_DASH = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]


def comparison_figure(comparison: Comparison, n_channels: int = 4) -> go.Figure | None:
    """Coefficient curves of every model that produced a clip: one colour per model (click a
    legend entry to hide a model), one dash style per channel; the channels are those that
    move most across all models."""
    clips = [(g.model, g.clip) for g in comparison.generations if g.clip is not None]
    if not clips:
        return None
    spreads: dict[str, float] = {}
    for _, clip in clips:
        spread = clip.values.max(axis=0) - clip.values.min(axis=0)
        for name, value in zip(clip.channels, spread, strict=True):
            spreads[name] = max(spreads.get(name, 0.0), float(value))
    channels = [n for n, v in sorted(spreads.items(), key=lambda kv: -kv[1])[:n_channels] if v > 1e-6]
    figure = go.Figure()
    for m, (model, clip) in enumerate(clips):
        time_s = np.arange(clip.n_frames) / clip.fps
        for c, name in enumerate(channels):
            if name not in clip.channels:
                continue
            line = dict(color=MODEL_COLOURS[m % len(MODEL_COLOURS)], dash=CHANNEL_DASH[c % len(CHANNEL_DASH)])
            figure.add_trace(
                go.Scatter(
                    x=time_s,
                    y=clip.values[:, clip.channels.index(name)],
                    mode="lines",
                    name=f"{model} · {name}",
                    legendgroup=model,
                    line=line,
                )
            )
    figure.update_layout(
        xaxis_title="time (s)",
        yaxis_title="value",
        height=360,
        template="plotly_white",
        margin=dict(l=40, r=10, t=20, b=40),
        legend=dict(orientation="h", y=-0.3, groupclick="togglegroup"),
    )
    return figure


def status_markdown(result: CompareResult) -> str:
    """One table row per model (including those that failed to load), then any notices."""
    rows = ["| model | latency | result |", "|---|---|---|"]
    for row in result.rows:
        latency = "—" if row.latency_ms is None else f"{row.latency_ms:.0f} ms"
        detail = {"failed": f"**failed:** {row.detail}", "not loaded": f"**failed to load:** {row.detail}"}
        rows.append(f"| {row.model} | {latency} | {detail.get(row.state, row.detail)} |")
    text = "\n".join(rows)
    return text + ("\n\n" + "\n".join(f"- {n}" for n in result.notices) if result.notices else "")


def build_tab(config: StudioConfig, pool: ModelPool) -> None:
    if not pool.names:
        gr.Markdown(
            "No models are configured. Add entries to the models config "
            f"(`{config.models_config}`, or set `STUDIO_MODELS_CONFIG`)."
        )
    with gr.Row():
        with gr.Column(scale=2):
            prompt = gr.Textbox(label="Prompt", lines=3, max_lines=12, value=EXAMPLES[0])
            gr.Examples(EXAMPLES, inputs=prompt, label="Example prompts (Express4D and KeyframeFace style)")
        with gr.Column(scale=1):
            models = gr.CheckboxGroup(pool.names, value=pool.names, label="Models")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                duration = gr.Slider(1.0, 10.0, value=4.0, step=0.5, label="Duration (s)")
            with gr.Row():
                camera = camera_radio()
                rig = rig_dropdown()
            curves = gr.Checkbox(value=False, label="Curves under each panel")
            run = gr.Button("Generate", variant="primary")
    video = gr.Video(label="Side by side (one timeline)", autoplay=True, loop=True, height=420)
    status = gr.Markdown()
    plot = gr.Plot(label="Coefficient curves")
    files = gr.File(label="Downloads", file_count="multiple")

    def on_run(
        prompt_text, names, seed_value, seconds, camera_name, rig_name, with_curves, progress=gr.Progress()
    ):  # Gradio injects progress through this default
        request = CompareRequest(
            prompt_text,
            tuple(names or ()),
            seed=int(seed_value or 0),
            duration_s=float(seconds),
            rig=rig_name,
            camera=camera_name,
            curves=bool(with_curves),
        )
        return compare_and_render(config, pool, request, progress)

    run.click(
        on_run,
        [prompt, models, seed, duration, camera, rig, curves],
        [video, status, plot, files],
        api_visibility="private",
    )


@gpu_task()
def compare_and_render(
    config: StudioConfig, pool: ModelPool, request: CompareRequest, progress: gr.Progress | None = None
) -> tuple[str | None, str, go.Figure | None, list[str]]:
    """The Generate button: (video, status markdown, curves figure, downloads) for the widgets.

    Files go under ``<output_dir>/compare/<request key>/``; their names carry the prompt's hash and
    the seed (:attr:`~studio.compare.CompareRequest.file_tag`).
    """
    if not request.models:
        return None, "Select at least one model.", None, []

    def step(i: int, total: int, desc: str) -> None:
        if progress is not None:
            progress((i, total), desc=desc)

    folder = config.output_dir / "compare" / request.key()
    video_path = folder / f"compare_{request.file_tag}.mp4"
    result = compare(request, pool.get, video_path=video_path, downloads_dir=folder, progress=step)
    if result.error is not None:  # nothing ran: say why where the video would be, offer no files
        return None, f"**Cannot run this request:** {result.error}", None, []
    status = status_markdown(result)
    downloads = [str(p) for p in result.downloads]
    figure = comparison_figure(result.comparison)
    if result.video is None:
        return None, status + f"\n\n**Rendering failed:** {result.render_error}", figure, downloads
    return str(result.video), status, figure, [str(result.video), *downloads]
