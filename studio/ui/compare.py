"""Compare tab, the front page: several models, one prompt and seed, one synchronised video."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from studio.compare import Comparison, request_key, run_comparison
from studio.config import StudioConfig
from studio.formats import write_clip
from studio.gpu import gpu_task
from studio.models.pool import ModelPool

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


def status_markdown(comparison: Comparison, load_failures: dict[str, str] | None = None) -> str:
    """One table row per model (including those that failed to load), then any notices."""
    rows = ["| model | latency | result |", "|---|---|---|"]
    for g in comparison.generations:
        if g.clip is not None:
            result = f"{g.clip.n_frames} frames at {g.clip.fps:g} fps ({g.clip.space})"
        elif g.no_output:
            result = "no stored output for this prompt"
        else:
            result = f"**failed:** {g.error}"
        rows.append(f"| {g.model} | {g.latency_ms:.0f} ms | {result} |")
    rows += [f"| {name} | — | **failed to load:** {error} |" for name, error in (load_failures or {}).items()]
    notices = [n for g in comparison.generations for n in g.notices]
    text = "\n".join(rows)
    return text + ("\n\n" + "\n".join(f"- {n}" for n in dict.fromkeys(notices)) if notices else "")


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
                camera = gr.Radio(["front", "three-quarter"], value="front", label="Camera")
                rig = gr.Dropdown(["default", "ict"], value="default", label="Rig")
            curves = gr.Checkbox(value=False, label="Curves under each panel")
            run = gr.Button("Generate", variant="primary")
    video = gr.Video(label="Side by side (one timeline)", autoplay=True, loop=True, height=420)
    status = gr.Markdown()
    plot = gr.Plot(label="Coefficient curves")
    files = gr.File(label="Downloads", file_count="multiple")

    def on_run(
        prompt_text, names, seed_value, seconds, camera_name, rig_name, with_curves, progress=gr.Progress()
    ):  # Gradio injects progress through this default
        request = (prompt_text, names or [], int(seed_value or 0), float(seconds))
        return compare_and_render(config, pool, *request, camera_name, rig_name, bool(with_curves), progress)

    run.click(
        on_run,
        [prompt, models, seed, duration, camera, rig, curves],
        [video, status, plot, files],
        api_visibility="private",
    )


@gpu_task()
def compare_and_render(
    config: StudioConfig,
    pool: ModelPool,
    prompt: str,
    names: list[str],
    seed: int,
    duration_s: float,
    camera: str,
    rig_name: str,
    curves: bool,
    progress: gr.Progress | None = None,
) -> tuple[str | None, str, go.Figure | None, list[str]]:
    """Run the selected models, render one side-by-side MP4, write per-model downloads."""
    if not names:
        return None, "Select at least one model.", None, []
    reports = [pool.get(name) for name in names]
    models = [r.model for r in reports if r.model is not None]

    def step(i: int, name: str) -> None:
        if progress is not None:
            progress((i, len(models) + 1), desc=f"running {name}")

    comparison = run_comparison(models, prompt, seed=seed, duration_s=duration_s, on_model=step)
    items, labels = [], []
    for generation in comparison.generations:
        item, label = comparison.panel(generation)
        items.append(item)
        labels.append(label)
    for report in reports:
        if report.model is None:
            items.append(f"Failed to load: {report.error}")
            labels.append(f"{report.spec.name} · error")
    status = status_markdown(comparison, {r.spec.name: r.error or "" for r in reports if r.model is None})
    key = request_key(prompt, seed, duration_s, names, camera=camera, rig=rig_name, curves=curves)
    folder = config.output_dir / "compare"
    downloads = _write_downloads(comparison, folder / key)
    if progress is not None:
        progress((len(models), len(models) + 1), desc="rendering")
    from renderers.raster import RenderUnavailableError
    from renderers.rig import RigError

    try:
        video = _render(items, labels, folder / f"{key}.mp4", camera, rig_name, curves)
    except (RenderUnavailableError, RigError, OSError) as exc:  # the clips above are still worth showing
        return None, status + f"\n\n**Rendering failed:** {exc}", comparison_figure(comparison), downloads
    return str(video), status, comparison_figure(comparison), [str(video), *downloads]


def _render(items: list, labels: list[str], path: Path, camera: str, rig_name: str, curves: bool) -> Path:
    from renderers._compat import prepare_gl_environment

    prepare_gl_environment()
    from renderers.pipeline import Stage, compare_frames, load_rig
    from renderers.video import write_mp4

    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Stage(size=384, camera=camera, fps=30.0)
    write_mp4(compare_frames(items, labels, load_rig(rig_name), stage, curves=curves), path, stage.fps)
    return path


def _write_downloads(comparison: Comparison, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for g in comparison.generations:
        if g.clip is None:
            continue
        kinds = (".csv", ".npz") if g.clip.space == "arkit" else (".npz",)
        for suffix in kinds:
            path = folder / f"{g.model}{suffix}"
            write_clip(g.clip, path)
            paths.append(str(path))
    return paths
