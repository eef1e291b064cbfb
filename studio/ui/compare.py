"""Compare tab, the front page: several models, one prompt and seed, one synchronised video."""

from __future__ import annotations

import html
import math
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from renderers import CAMERA_PRESETS
from studio.compare import CompareRequest, CompareResult, Comparison, compare
from studio.config import StudioConfig
from studio.examples import DURATION_S as EXAMPLE_DURATION_S
from studio.examples import EXAMPLE_PROMPTS
from studio.examples import SEED as EXAMPLE_SEED
from studio.gpu import gpu_task
from studio.models import LoadReport, check_request
from studio.models.base import MAX_DURATION_S, MAX_SEED, MIN_DURATION_S
from studio.models.pool import ModelPool, model_identity
from studio.models.prompts import MAX_PROMPT_CHARS, is_non_text
from studio.player import MAX_PANELS, curve_section
from studio.ui.common import camera_radio, rig_choices, rig_dropdown

EXAMPLES = list(EXAMPLE_PROMPTS)
MODEL_COLOURS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]
CHANNEL_DASH = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
# The duration slider, in seconds: inside what a model may be asked for (MIN/MAX_DURATION_S).
DURATION_MIN_S, DURATION_MAX_S, DURATION_STEP_S = max(1.0, MIN_DURATION_S), min(10.0, MAX_DURATION_S), 0.5
DEFAULT_DURATION_S = EXAMPLE_DURATION_S  # so that Generate on an example is answered at once
# The query keys of a shared link (see share_link); anything else in the URL is ignored.
SHARE_KEYS = ("prompt", "seed", "models", "duration", "rig", "camera", "curves", "autorun")
TRUE_WORDS = ("1", "true", "yes", "on")


# -- the 3D player in the tab -------------------------------------------------------------------

# Runs in the page on Generate (before the Python handler): hands the request to the player in
# the frame (studio/player_static/player.js, `player.load`), waiting for the frame to be ready.
LOAD_IN_PLAYER = """
(prompt, models, seed, duration, camera, rig, curves) => {
  const request = {prompt, models: (models || []).join(","), seed, duration, rig, camera};
  const started = Date.now();
  const send = () => {
    const frame = document.querySelector("#studio-player iframe");
    const player = frame && frame.contentWindow && frame.contentWindow.player;
    if (player) player.load(request).catch(() => {});
    else if (Date.now() - started < 60000) setTimeout(send, 100);
  };
  send();
  return [prompt, models, seed, duration, camera, rig, curves];
}
"""


def landing_request(names: Sequence[str]) -> dict[str, str]:
    """What the player shows before anyone clicks: the first example on the configured models
    (answered from the examples shipped in ``assets/examples`` when the built-ins are configured)."""
    return {
        "prompt": EXAMPLES[0],
        "models": ",".join(list(names)[:MAX_PANELS]),
        "seed": str(EXAMPLE_SEED),
        "duration": f"{EXAMPLE_DURATION_S:g}",
    }


def player_frame(request: Mapping[str, str]) -> str:
    """The player page in a frame; it sizes the frame to its content (studio/player_static)."""
    if not request.get("models"):
        return ""
    query = html.escape(urllib.parse.urlencode({"embed": "1", **request}), quote=True)
    return (
        f'<iframe src="player?{query}" title="3D player: every model on one timeline" '
        'style="width:100%;height:640px;border:0;display:block" loading="eager"></iframe>'
    )


# -- shareable links ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedInputs:
    """What a shared URL asks for, already checked: ``None`` keeps the page's default for that widget.

    ``seed`` is in ``[0, MAX_SEED]``; ``duration_s`` in seconds on the slider's grid; ``models``
    only names the pool offers; ``notices`` say what was dropped or changed, without echoing the
    untrusted text itself (it would be rendered as Markdown).
    """

    prompt: str | None = None
    models: tuple[str, ...] | None = None
    seed: int | None = None
    duration_s: float | None = None
    rig: str | None = None
    camera: str | None = None
    curves: bool | None = None
    autorun: bool = False
    notices: tuple[str, ...] = field(default_factory=tuple)


def _bounded_prompt(raw: str, notices: list[str]) -> str | None:
    """Drop control and formatting characters (newlines stay: keyframe scripts have lines), cut to
    :data:`MAX_PROMPT_CHARS`; None when nothing is left."""
    raw = raw[: 20 * MAX_PROMPT_CHARS]  # bound the work before looking at each character
    text = "".join(ch for ch in raw if not is_non_text(ch))
    if len(text) != len(raw):
        notices.append("removed control characters from the linked prompt")
    if len(text) > MAX_PROMPT_CHARS:
        text = text[:MAX_PROMPT_CHARS]
        notices.append(f"the linked prompt was cut to {MAX_PROMPT_CHARS} characters")
    return text if text.strip() else None


def parse_shared(
    query: Mapping[str, str], known_models: Sequence[str], rigs: Sequence[str], cameras: Sequence[str]
) -> SharedInputs | None:
    """The Compare inputs a page URL's query asks for, or None when it names none of
    :data:`SHARE_KEYS` (a plain visit). Every value is untrusted: unknown models, rigs and cameras
    are dropped, the seed and duration clamped to their ranges, the prompt bounded."""
    if not any(key in query for key in SHARE_KEYS):
        return None
    notices: list[str] = []
    prompt = _bounded_prompt(query["prompt"], notices) if "prompt" in query else None
    models = None
    if "models" in query:
        asked = list(dict.fromkeys(n.strip() for n in query["models"].split(",")[:64] if n.strip()))
        kept = tuple(n for n in asked if n in known_models)
        if len(kept) < len(asked):
            dropped = len(asked) - len(kept)
            notices.append(f"{dropped} linked model{'s are' if dropped > 1 else ' is'} not configured here")
        models = kept or None
        if not kept and asked:
            notices[-1] += "; keeping this page's selection"
    seed = None
    if "seed" in query:
        try:
            seed = int(query["seed"].strip()[:40])
        except ValueError:
            notices.append("the linked seed is not a whole number; using 0")
            seed = 0
        if not 0 <= seed <= MAX_SEED:
            seed = min(max(seed, 0), MAX_SEED)
            notices.append(f"the linked seed was clamped to {seed}")
    duration = None
    if "duration" in query:
        try:
            duration = float(query["duration"].strip()[:40])
        except ValueError:
            duration = math.nan
        if not math.isfinite(duration):
            notices.append("the linked duration is not a number; keeping the default")
            duration = None
        else:
            snapped = round(duration / DURATION_STEP_S) * DURATION_STEP_S
            snapped = min(max(snapped, DURATION_MIN_S), DURATION_MAX_S)
            if abs(snapped - duration) > 1e-9:
                notices.append(
                    f"the linked duration was set to {snapped:g} s (range {DURATION_MIN_S:g}–"
                    f"{DURATION_MAX_S:g} s, steps of {DURATION_STEP_S:g} s)"
                )
            duration = snapped
    rig = _offered(query, "rig", rigs, notices)
    camera = _offered(query, "camera", cameras, notices)
    curves = query["curves"].strip().lower() in TRUE_WORDS if "curves" in query else None
    autorun = query.get("autorun", "").strip().lower() in TRUE_WORDS
    return SharedInputs(prompt, models, seed, duration, rig, camera, curves, autorun, tuple(notices))


def _offered(query: Mapping[str, str], key: str, choices: Sequence[str], notices: list[str]) -> str | None:
    if key not in query:
        return None
    if query[key] in choices:
        return query[key]
    notices.append(f"the linked {key} is not offered here; keeping the default")
    return None


def share_link(request: CompareRequest, autorun: bool = True) -> str:
    """A relative link (``?prompt=...&seed=...``) that fills the Compare inputs with ``request``
    (and runs it when ``autorun``); relative, so it works behind a proxy or under a path prefix."""
    query = {
        "prompt": request.prompt,
        "seed": str(request.seed),
        "models": ",".join(request.models),
        "duration": f"{request.duration_s:g}",
        "rig": request.rig,
        "camera": request.camera,
    }
    if request.curves:
        query["curves"] = "1"
    if autorun:
        query["autorun"] = "1"
    return "?" + urllib.parse.urlencode(query)


def link_markdown(request: CompareRequest) -> str:
    """The "Link to this run" line under the status table."""
    return f"[Link to this run]({share_link(request)}) — opens this page with these inputs and runs them."


def notices_markdown(notices: Sequence[str]) -> str:
    return "**From the link:** " + "; ".join(notices) + "." if notices else ""


def comparison_figure(comparison: Comparison) -> go.Figure | None:
    """Coefficient curves of every model that produced a clip: one colour per model (click a
    legend entry to hide a model), one dash style per channel; the channels are those the
    prompt's emotion category moves most (the player's default, :func:`studio.player.curve_section`)."""
    clips = [(g.model, g.clip) for g in comparison.generations if g.clip is not None]
    if not clips:
        return None
    arkit = [clip for _, clip in clips if clip.space == "arkit"]
    if arkit:
        channels = curve_section(comparison.prompt, arkit)["curves"]
    else:  # FLAME parameters have no FACS reading: the widest-moving ones
        spreads: dict[str, float] = {}
        for _, clip in clips:
            for name, value in zip(clip.channels, np.ptp(clip.values, axis=0), strict=True):
                spreads[name] = max(spreads.get(name, 0.0), float(value))
        channels = [n for n, v in sorted(spreads.items(), key=lambda kv: -kv[1])[:4] if v > 1e-6]
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


def build_tab(config: StudioConfig, pool: ModelPool) -> Callable[[gr.Blocks], None]:
    """The tab's widgets and events; returns ``wire_page_load(app)``, which the app calls once to
    fill the inputs from a shared link's query when the page loads (and run them on ``autorun=1``)."""
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
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                duration = gr.Slider(
                    DURATION_MIN_S,
                    DURATION_MAX_S,
                    value=DEFAULT_DURATION_S,
                    step=DURATION_STEP_S,
                    label="Duration (s)",
                )
            with gr.Row():
                camera = camera_radio()
                rig = rig_dropdown()
            curves = gr.Checkbox(value=False, label="Curves under each panel")
            run = gr.Button("Generate", variant="primary")
            link_note = gr.Markdown(elem_classes="studio-note")
    gr.HTML(player_frame(landing_request(pool.names)), elem_id="studio-player", padding=False)
    video = gr.Video(
        label="Side by side MP4 (for downloads and studies)", autoplay=False, loop=True, height=420
    )
    status = gr.Markdown()
    link = gr.Markdown()
    plot = gr.Plot(label="Coefficient curves")
    files = gr.File(label="Downloads", file_count="multiple")
    inputs = [prompt, models, seed, duration, camera, rig, curves]
    outputs = [video, status, plot, files, link]

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
        video_path, status_text, figure, downloads = compare_and_render(config, pool, request, progress)
        return video_path, status_text, figure, downloads, link_markdown(request) if request.models else ""

    # two listeners on one click: the player shows each model's motion as soon as it is made
    # (in the browser, no round trip through the Gradio queue); the MP4 renders meanwhile
    run.click(None, inputs, None, js=LOAD_IN_PLAYER)
    run.click(on_run, inputs, outputs, api_visibility="private")

    def shared_inputs(request: gr.Request) -> SharedInputs | None:
        query = dict(request.query_params or {})
        return parse_shared(query, pool.names, rig_choices(), list(CAMERA_PRESETS))

    def on_load(request: gr.Request):
        shared = shared_inputs(request)
        if shared is None:  # a plain visit: the page's defaults stand
            return (gr.skip(),) * (len(inputs) + 1)
        values = [
            shared.prompt,
            None if shared.models is None else list(shared.models),
            shared.seed,
            shared.duration_s,
            shared.camera,
            shared.rig,
        ]
        return (
            *(gr.skip() if v is None else v for v in [*values, shared.curves]),
            notices_markdown(shared.notices),
        )

    def require_autorun(request: gr.Request) -> None:
        """Stop the load chain unless the link asked to run. A silent error, not gr.skip(): skipping
        a file output gives the session its own copy of that component, whose files Gradio no
        longer counts as handed out, so the file guard would refuse the next video."""
        shared = shared_inputs(request)
        if shared is None or not shared.autorun:
            raise gr.Error("no autorun", visible=False, print_exception=False)

    def wire_page_load(app: gr.Blocks) -> None:
        autorun = app.load(on_load, None, [*inputs, link_note], api_visibility="private").then(
            require_autorun, None, None, api_visibility="private"
        )
        autorun.success(None, inputs, None, js=LOAD_IN_PLAYER)
        autorun.success(on_run, inputs, outputs, api_visibility="private")

    return wire_page_load


def identity_of(report: LoadReport) -> str:
    """A model's identity for file names; a model that did not load is named with its error."""
    return model_identity(report.model) if report.model is not None else f"{report.spec.name}!{report.error}"


@gpu_task()
def compare_and_render(
    config: StudioConfig, pool: ModelPool, request: CompareRequest, progress: gr.Progress | None = None
) -> tuple[str | None, str, go.Figure | None, list[str]]:
    """The Generate button: (video, status markdown, curves figure, downloads) for the widgets.

    Files go under ``<output_dir>/compare/<request key>/``; their names carry the prompt's hash and
    the seed (:attr:`~studio.compare.CompareRequest.file_tag`). The models' answers come from the
    pool's generation cache (shared with the player), and a request made before, by the same
    models, gets its video back without rendering.
    """
    if not request.models:
        return None, "Select at least one model.", None, []

    def step(i: int, total: int, desc: str) -> None:
        if progress is not None:
            progress((i, total), desc=desc)

    try:  # before loading any model: a refused request loads, runs and writes nothing
        check_request(request.prompt, request.seed, request.duration_s)
    except ValueError as exc:  # PromptError is one
        return None, f"**Cannot run this request:** {exc}", None, []
    identities = [identity_of(pool.get(name)) for name in request.models]
    folder = config.output_dir / "compare" / request.key(identities)
    video_path = folder / f"compare_{request.file_tag}.mp4"
    result = compare(
        request,
        pool.get,
        video_path=video_path,
        downloads_dir=folder,
        progress=step,
        run=pool.generations.run,
    )
    if result.error is not None:  # nothing ran: say why where the video would be, offer no files
        return None, f"**Cannot run this request:** {result.error}", None, []
    status = status_markdown(result)
    downloads = [str(p) for p in result.downloads]
    figure = comparison_figure(result.comparison)
    if result.video is None:
        return None, status + f"\n\n**Rendering failed:** {result.render_error}", figure, downloads
    return str(result.video), status, figure, [str(result.video), *downloads]
