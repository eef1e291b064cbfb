"""The Gradio app: one module per tab, each calling studio functions; no domain logic here."""

from __future__ import annotations

import gradio as gr

from studio.config import StudioConfig
from studio.formats import FormatError
from studio.models import read_models_config
from studio.models.pool import ModelPool
from studio.security.files import CACHE_LIFETIME_S
from studio.ui import benchmark, compare, explore

TITLE = "Expression Studio"
INTRO = (
    "Run text-to-facial-expression models on the same prompt and seed, watch them side by side, "
    "score them with the field's metrics and run preference studies."
)
CSS = """
.studio-note { color: var(--body-text-color-subdued); font-size: 0.95em; }
footer { display: none !important; }
"""


STUDY_NOTE = """Preference studies run beside the studio on this server:

- **Researchers** create a study from a YAML config, render its stimuli, watch progress and export answers
  on the [admin pages](admin/) (user `admin`, password: the `STUDIO_ADMIN_TOKEN`), or with
  `python -m studio study ...`.
- **Participants** open `study?study=<id>&PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...` (the link
  Prolific fills in): consent, instructions, the clips, a completion code. Scripts use the same actions
  as JSON under `study/api/`.
"""


def model_pool(config: StudioConfig) -> tuple[ModelPool, str | None]:
    """The configured models (loaded lazily), or an empty pool and why the config is unusable."""
    if not config.models_config.is_file():
        return ModelPool([]), f"models config {config.models_config} not found"
    try:
        return ModelPool(read_models_config(config.models_config)), None
    except FormatError as exc:
        return ModelPool([]), str(exc)


def build_app(config: StudioConfig, pool: ModelPool | None = None, problem: str | None = None) -> gr.Blocks:
    """Assemble the tabs. Nothing heavy happens here: models and renderers load on first use.

    ``pool`` is shared with the server's other routes (the player); ``problem`` says why the
    models config was unusable when the caller read it."""
    if pool is None:
        pool, problem = model_pool(config)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=CACHE_LIFETIME_S) as app:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        if problem:
            gr.Markdown(f"**Models config problem:** {problem}")
        with gr.Tabs():
            with gr.Tab("Compare", id="compare"):
                wire_compare_load = compare.build_tab(config, pool)
            with gr.Tab("Explore", id="explore"):
                explore.build_tab(config)
            with gr.Tab("Benchmark", id="benchmark") as benchmark_tab:
                benchmark.build_tab(config, pool, benchmark_tab)
            with gr.Tab("Study", id="study"):
                gr.Markdown(STUDY_NOTE)
        wire_compare_load(app)  # a shared link (?prompt=...&seed=...) fills the Compare inputs
    return app
