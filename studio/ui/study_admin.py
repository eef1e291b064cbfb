"""The study admin pages: create a study, render and look at its stimuli, preview the participant
page, watch progress, results, exports.

:func:`build_admin` returns a separate ``gr.Blocks``; the server (:mod:`studio.server`) mounts it at
``/admin`` behind ``STUDIO_ADMIN_TOKEN`` and never without it. Participants never reach it. Every
event here is closed to the Gradio API (``api_visibility="private"``).

The work is :class:`~studio.study.admin.StudyAdmin`'s, as for the command line; the functions
above :func:`build_admin` turn its results into plain values (Markdown, pandas tables, plotly
figures, file paths) and the Blocks only wires them to components, so the tests call them directly.
Exports are written to a fresh temporary folder, never under ``output_dir`` (which the studio
serves to everyone).

The Stimuli tab shows every rendered clip in a gallery captioned with its model, prompt and
blinded id (the content hash a participant's URL carries): model names appear here, to the
authenticated admin, and nowhere a participant can reach. The Preview tab makes a signed,
expiring link (:class:`~studio.study.admin.StudyPreviews`) that opens the participant page as
a chosen participant index would see it, marked as a preview, storing nothing.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from studio.config import StudioConfig
from studio.formats import FormatError
from studio.gpu import gpu_task
from studio.models.pool import ModelPool
from studio.security.files import CACHE_LIFETIME_S, FileAccessError, uploaded_file
from studio.study.admin import (
    MAX_CONFIG_BYTES,
    PREVIEW_TTL_S,
    AdminError,
    StudyAdmin,
    StudyPreviews,
    design_line,
    enable_previews,
    preview_url,
)
from studio.study.agreement import DEFAULT_REDUCTION, REDUCTIONS
from studio.study.charts import CHARTS, build_charts
from studio.study.definition import DefinitionError
from studio.study.parsing import CONFIG_SUFFIXES
from studio.study.records import StudyRecord
from studio.study.stimuli import DEFAULT_SIZE
from studio.study.storage import StudyStore
from studio.ui.common import rig_dropdown

SIZES = (256, 384, 512)
BLINDED_CHARS = 8  # of a stimulus' content hash in gallery captions: enough to tell clips apart
ADMIN_PREFIX = "/admin"  # where studio.server mounts these pages; the participant page is at /study
_PRIVATE: dict[str, Any] = {"api_visibility": "private"}
_REDUCTION_LABELS = {
    "rank_as_category": "rank as category per (prompt, model)",
    "top_choice": "top choice per prompt",
}


# ----------------------------------------------------------------------------------------------
# work
# ----------------------------------------------------------------------------------------------


def study_choices(admin: StudyAdmin) -> list[tuple[str, int]]:
    """Dropdown choices: ``("3 · name · 1a2b3c4d5e6f", 3)``, newest first."""
    return [(f"{i} · {name} · {sha[:12]}", i) for i, sha, name in reversed(admin.studies())]


def read_upload(path: str | Path | None) -> str:
    """The text of an uploaded config (UTF-8, at most :data:`MAX_CONFIG_BYTES`)."""
    if not path:
        return ""
    try:
        file = uploaded_file(path)  # only a file this server received as an upload
    except FileAccessError as exc:
        raise AdminError(str(exc)) from None
    if file.suffix.lower() not in CONFIG_SUFFIXES:
        raise AdminError("A study config must be a .yaml, .yml or .json file.")
    if file.stat().st_size > MAX_CONFIG_BYTES:
        raise AdminError(
            f"The config is larger than {MAX_CONFIG_BYTES // 1024} kB; that is not a study config."
        )
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AdminError("The config is not UTF-8 text.") from None


def server_url(url: Any, headers: Mapping[str, str]) -> str:
    """The studio's public root URL (no trailing slash) as the admin's browser reached it, from an
    event's HTTP request: its ``url`` (``<root>/admin/gradio_api/...``, a starlette URL) and
    ``headers`` (a proxy's ``X-Forwarded-Host``/``-Proto`` win). The result is only shown to the
    admin who sent the request, so a forged header misleads nobody else."""
    host = headers.get("x-forwarded-host", "").split(",")[0].strip() or url.netloc
    scheme = headers.get("x-forwarded-proto", "").split(",")[0].strip() or url.scheme
    page = url.path.split("/gradio_api/")[0].rstrip("/")
    root = page[: -len(ADMIN_PREFIX)] if page.endswith(ADMIN_PREFIX) else page
    return f"{scheme}://{host}{root}"


def create_study(
    admin: StudyAdmin,
    text: str,
    source: str,
    known_models: Sequence[str] | None,
    base_url: str = "<your server URL>",
) -> tuple[StudyRecord | None, str]:
    """Validate and store a pasted or uploaded config; returns the record (None on errors) and
    Markdown saying what happened: every validation problem with where it is, or the new study
    and its Prolific link on ``base_url`` (the studio's root URL)."""
    from studio.study.service import participant_url

    if not text.strip():
        return None, "Paste a study config or upload a .yaml/.json file."
    try:
        definition = admin.parse_config(text, source, known_models)
    except DefinitionError as exc:
        lines = [f"- `{where or 'top level'}`: {problem}" for where, problem in exc.problems]
        head = f"**The config has {len(lines)} problem{'s' if len(lines) > 1 else ''}; nothing was stored.**"
        return None, head + "\n\n" + "\n".join(lines)
    record = admin.create(definition)
    d = record.definition
    verb = "Created" if record.created else "Already stored (the same frozen config)"
    link = participant_url(base_url, record)
    return record, (
        f"**{verb}: study {record.id}**, `{record.sha256[:12]}` — {d.name}\n\n"
        f"- {design_line(d)}\n"
        f"- {len(d.stimuli())} stimuli to render (next tab)\n"
        f"- Prolific link: `{link}`"
    )


def study_summary(admin: StudyAdmin, study_id: Any) -> str:
    """The study's design and whether its stimuli are rendered."""
    record = admin.find(study_id)
    d = record.definition
    manifest = admin.manifest(record)
    if manifest is None:
        stimuli = f"**not rendered** ({len(d.stimuli())} clips): participants are refused until they are"
    else:
        stage = manifest.stage
        stimuli = (
            f"**rendered**: {len(manifest.files)} clips, {stage.get('size')} px, "
            f"camera {stage.get('camera')}, rig {stage.get('rig')}, {stage.get('fps')} fps, "
            f"{stage.get('frames')} frames each"
        )
    models = ", ".join(m.name + (" (results folder)" if m.results else "") for m in d.models)
    return (
        f"### {d.name}\nstudy {record.id} · `{record.sha256[:12]}` · {d.trial_type}\n\n"
        f"- prompts: {len(d.prompts)}; models: {models}\n- stimuli: {stimuli}\n"
        f"- attention checks: {len(d.attention_checks)}; mismatch controls per participant: "
        f"{0 if d.mismatch_control is None else d.mismatch_control.per_participant}\n"
        f"- exclusion rules: {_rules(d.exclusion)}"
    )


def stimulus_gallery(admin: StudyAdmin, study_id: Any) -> tuple[list[tuple[str, str]], str]:
    """The rendered clips as gallery items ``(path, "model · prompt id · blinded id")`` in the order
    of the study's stimuli, and a Markdown line about them (how many; which files several clips
    share, i.e. identical motion; or that nothing is rendered yet)."""
    record = admin.find(study_id)
    stimuli = admin.stimuli(record)
    if not stimuli:
        n = len(record.definition.stimuli())
        return [], f"No rendered stimuli yet ({n} clips to render): press **Render stimuli** above."
    items = [
        (str(s.path), f"{s.clip.model} · {s.prompt_id} · {s.blinded_id[:BLINDED_CHARS]}") for s in stimuli
    ]
    shared = sorted({s.blinded_id[:BLINDED_CHARS] for s in stimuli if s.shared > 1})
    text = (
        f"**{len(stimuli)} clips** ({len({s.path.name for s in stimuli})} distinct files), each captioned "
        "*model · prompt id · blinded id*. The blinded id starts the file name participants' URLs "
        "carry; model names are shown on this page only."
    )
    if shared:
        text += (
            f"\n\n**Identical clips:** {len(shared)} files serve several clips ({', '.join(shared)}): the "
            "same motion came out for them, and participants cannot tell those clips apart."
        )
    return items, text


def preview_view(
    admin: StudyAdmin,
    previews: StudyPreviews | None,
    study_id: Any,
    participant_index: Any = None,
    base_url: str = "<your server URL>",
) -> tuple[str, pd.DataFrame]:
    """The participant link, a preview link for ``participant_index`` (default: the next new
    participant's) on ``base_url``, and that participant's screens (with model names, for the
    admin). Raises :class:`AdminError` without previews (no study secret) or for a bad index."""
    from studio.study.service import participant_url

    record = admin.find(study_id)
    if previews is None:
        raise AdminError("previews need STUDIO_STUDY_SECRET (the key that signs their links)")
    index = admin.next_participant_index(record) if participant_index in (None, "") else participant_index
    screens = admin.screens(record, index)  # checks the index
    link = preview_url(base_url, record, previews.token(record, index))
    hours = PREVIEW_TTL_S / 3600
    text = (
        f"**Preview of study {record.id} as participant #{index}** — "
        f"[open the participant page]({link}) (a new tab; the link works for {hours:g} hours).\n\n"
        "Answers given there are not saved, take no participant slot and count in no statistics.\n\n"
        f"- preview link: `{link}`\n"
        f"- participant link for Prolific: `{participant_url(base_url, record)}`"
    )
    return text, _frame(screens)


def _rules(rules: Any) -> str:
    parts = []
    if rules.failed_attention_checks_at_least is not None:
        parts.append(f"{rules.failed_attention_checks_at_least}+ failed attention checks")
    if rules.median_dwell_below_s is not None:
        parts.append(f"median dwell below {rules.median_dwell_below_s:g} s")
    return "; ".join(parts) or "none"


def render(
    admin: StudyAdmin,
    pool: ModelPool,
    study_id: Any,
    size: int | None = None,
    rig: str = "default",
    progress: Callable[[int, int, str], None] | None = None,
) -> str:
    """Render the study's stimuli (reusing any already rendered); returns what happened."""
    record = admin.find(study_id)
    stage = {"rig": rig} if size is None else {"rig": rig, "size": int(size)}
    try:
        manifest = admin.render(record, pool, progress=progress, **stage)
    except FormatError as exc:  # StimulusError included
        return f"**Rendering failed:** {exc}"
    notices = "".join(f"\n- {n}" for n in manifest.notices)
    return f"**{len(manifest.files)} stimuli ready** ({manifest.rendered} rendered now).{notices}"


# a ZeroGPU Space needs the decorated function at import time; elsewhere this is render itself
render_on_gpu = gpu_task(duration_s=600)(render)


def _frame(rows: Sequence[dict[str, Any]], empty: str = "nothing yet") -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({"": [empty]})
    return pd.DataFrame(list(rows)).round(3)  # three decimals are what a reader can use


def progress_view(
    admin: StudyAdmin, study_id: Any
) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summary Markdown and the tables: answers per item, participants (with attention-check
    failures and exclusions), attention checks, rejected submissions."""
    record = admin.find(study_id)
    report = admin.progress(record)
    failed = sum(p["checks_failed"] > 0 for p in report.participants)
    summary = (
        study_summary(admin, study_id)
        + f"\n\n**Participants:** {report.n_participants} started · {report.n_completed} completed · "
        f"{failed} failed an attention check · {report.n_excluded} excluded · "
        f"**{report.n_analysed} analysed** "
        f"(needed: {record.definition.participants_needed}) · rejected submissions: "
        f"{sum(report.rejections.values())}"
    )
    rejections = [{"reason": k, "count": v} for k, v in report.rejections.items()]
    return (
        summary,
        _frame(report.items),
        _frame(report.participants, "no participants yet"),
        _frame(report.attention, "no attention check answered yet"),
        _frame(rejections, "no rejected submissions"),
    )


def results_view(
    admin: StudyAdmin, study_id: Any, reduction: str = DEFAULT_REDUCTION, n_bootstrap: int = 1000
) -> tuple[Any, ...]:
    """The dashboard: one figure per chart of :data:`~studio.study.charts.CHARTS` (in its order),
    the statistics table, the Bradley-Terry table and the full Markdown report."""
    from studio.study.report import report_markdown, statistics_rows

    report = admin.report(admin.find(study_id), reduction=reduction, n_bootstrap=int(n_bootstrap))
    return (
        *build_charts(report).values(),
        _frame(statistics_rows(report), "no analysable answers yet"),
        _frame(report.bradley_terry, "no comparisons yet"),
        report_markdown(report),
    )


def export_files(admin: StudyAdmin, study_id: Any, reduction: str = DEFAULT_REDUCTION) -> list[str]:
    """Raw answers (CSV, Parquet), participants, the codebook and the report, in a new temporary
    folder (not under the served output folder)."""
    record = admin.find(study_id)
    folder = Path(tempfile.mkdtemp(prefix=f"studio-study{record.id}-export-"))
    return [str(p) for p in admin.export(record, folder, with_report=reduction)]


# ----------------------------------------------------------------------------------------------
# the page
# ----------------------------------------------------------------------------------------------


def build_admin(config: StudioConfig, store: StudyStore, *, pool: ModelPool | None = None) -> gr.Blocks:
    """The admin Blocks. ``pool`` defaults to the configured models (loaded on first render)."""
    if pool is None:
        from studio.ui import model_pool

        pool, _ = model_pool(config)
    known = pool.names or None
    admin = StudyAdmin(config, store)
    previews = None if config.study_secret is None else StudyPreviews(config.study_secret)
    if previews is not None:
        enable_previews(store, previews)  # the participant page opens preview links of this store

    def shielded(fn: Callable[..., Any], n_outputs: int, emptied: Sequence[int] = ()) -> Callable[..., Any]:
        """Turn an :class:`AdminError` into a warning toast instead of an error page. Outputs at
        ``emptied`` (file outputs: the gallery) get an empty value instead of ``gr.skip()``: a skip
        gives the session its own copy of the component, whose later files Gradio no longer counts
        as handed out (the file guard would refuse them)."""

        @functools.wraps(fn)  # keeps the signature: Gradio injects gr.Progress through it
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except AdminError as exc:
                gr.Warning(str(exc))
                out = [[] if i in emptied else gr.skip() for i in range(n_outputs)]
                return tuple(out) if n_outputs > 1 else out[0]

        return run

    with gr.Blocks(title="Study admin", analytics_enabled=False, delete_cache=CACHE_LIFETIME_S) as page:
        gr.Markdown(
            "# Study admin\nCreate studies, render their stimuli, watch progress, read results, export."
        )
        with gr.Row():
            chooser = gr.Dropdown(study_choices(admin), label="Study", scale=4, interactive=True)
            refresh = gr.Button("Refresh", scale=1)
        with gr.Tabs():
            with gr.Tab("Create", id="create"):
                with gr.Row():
                    upload = gr.File(
                        label="Upload a config (.yaml / .json)",
                        file_types=[".yaml", ".yml", ".json"],
                        type="filepath",
                    )
                    pasted = gr.Code(label="…or paste it here", language="yaml", lines=16)
                create_btn = gr.Button("Validate and create", variant="primary")
                create_md = gr.Markdown()
            with gr.Tab("Stimuli", id="stimuli"):
                summary_md = gr.Markdown()
                with gr.Row():
                    size = gr.Dropdown(list(SIZES), value=DEFAULT_SIZE, label="Frame size (px)")
                    rig = rig_dropdown()
                render_btn = gr.Button("Render stimuli", variant="primary")
                render_md = gr.Markdown()
                gallery_md = gr.Markdown()
                gallery = gr.Gallery(
                    label="Rendered stimuli: model · prompt id · blinded id",
                    columns=4,
                    height="fit-content",  # every clip, no inner scrolling ("auto" means a fixed height)
                    object_fit="contain",
                    interactive=False,
                    elem_id="admin-stimuli",
                )
            with gr.Tab("Preview", id="preview"):
                gr.Markdown(
                    "Open the participant page exactly as a participant sees it, marked as a preview: "
                    "nothing you answer there is stored, and it takes no participant slot. Pick whose "
                    "screens to see: participants get their screens in the order they arrive, and the "
                    "box starts at the next one to arrive."
                )
                with gr.Row():
                    preview_index = gr.Number(
                        None, precision=0, minimum=0, label="As participant # (0-based)", scale=2
                    )
                    preview_btn = gr.Button("Make a preview link", variant="primary", scale=1)
                preview_md = gr.Markdown()
                screens_df = gr.Dataframe(
                    label="That participant's screens (model names: admin only)",
                    interactive=False,
                    elem_id="admin-screens",
                )
            with gr.Tab("Progress", id="progress"):
                progress_md = gr.Markdown()
                with gr.Row():
                    progress_btn = gr.Button("Refresh progress")
                    auto = gr.Checkbox(False, label="Refresh every 15 s")
                timer = gr.Timer(15, active=False)
                items_df = gr.Dataframe(label="Answers per item", interactive=False)
                participants_df = gr.Dataframe(
                    label="Participants (attention-check failures, dwell, exclusions)", interactive=False
                )
                with gr.Row():
                    attention_df = gr.Dataframe(label="Attention checks", interactive=False)
                    rejections_df = gr.Dataframe(label="Rejected submissions", interactive=False)
            with gr.Tab("Results", id="results"):
                with gr.Row():
                    reduction = gr.Radio(
                        [(_REDUCTION_LABELS[name], name) for name in REDUCTIONS],
                        value=DEFAULT_REDUCTION,
                        label="Fleiss' kappa reduction to declare (rank studies)",
                    )
                    n_boot = gr.Number(
                        1000, precision=0, minimum=0, maximum=20000, label="Bootstrap resamples"
                    )
                results_btn = gr.Button("Compute results", variant="primary")
                with gr.Row():
                    charts = [gr.Plot(label=title) for title, _ in CHARTS.values()]
                stats_df = gr.Dataframe(label="Statistics (95% bootstrap CIs over items)", interactive=False)
                bt_df = gr.Dataframe(label="Bradley-Terry", interactive=False)
                with gr.Accordion("Full report", open=False):
                    report_md = gr.Markdown()
            with gr.Tab("Export", id="export"):
                gr.Markdown(
                    "Raw answers of every participant (excluded ones too: `participants.csv` says who "
                    "and why), as CSV and Parquet, with a codebook of every column."
                )
                export_btn = gr.Button("Export", variant="primary")
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False)

        def on_create(path: str | None, text: str | None, request: gr.Request):
            source = Path(path).name if path else "pasted config"
            body = read_upload(path) if path else (text or "")
            record, message = create_study(
                admin, body, source, known, server_url(request.url, request.headers)
            )
            if record is None:
                return message, gr.skip()
            return message, gr.Dropdown(choices=study_choices(admin), value=record.id)

        def on_refresh(study_id: Any):
            return gr.Dropdown(choices=study_choices(admin), value=study_id)

        def on_render(study_id: Any, frame_size: int, rig_name: str, progress=gr.Progress()):
            def report(done: int, total: int, description: str) -> None:
                progress((done, max(total, 1)), desc=description)

            message = render_on_gpu(admin, pool, study_id, frame_size, rig_name, report)
            return message, study_summary(admin, study_id), *stimulus_gallery(admin, study_id)

        def on_preview(study_id: Any, index: float | None, request: gr.Request):
            return preview_view(admin, previews, study_id, index, server_url(request.url, request.headers))

        def on_progress(study_id: Any):
            if study_id in (None, ""):
                return (gr.skip(),) * 5
            return progress_view(admin, study_id)

        def on_results(study_id: Any, chosen: str, resamples: float | None):
            return results_view(admin, study_id, chosen, max(0, int(resamples or 0)))

        def on_export(study_id: Any, chosen: str):
            # not shielded: its gr.skip() on a file output would give the session its own copy of the
            # component, whose files Gradio no longer counts as handed out (the file guard refuses them)
            try:
                return export_files(admin, study_id, chosen)
            except AdminError as exc:
                gr.Warning(str(exc))
                return []

        def on_select(study_id: Any):
            if study_id in (None, ""):
                return tuple([] if o is gallery else gr.skip() for o in select_outputs)
            gallery_items, gallery_text = stimulus_gallery(admin, study_id)
            return (
                study_summary(admin, study_id),
                *progress_view(admin, study_id),
                gallery_text,
                gallery_items,
                # a preview link already shown stays (it names its study): clearing it here would
                # also wipe one made while this handler still ran
                admin.next_participant_index(admin.find(study_id)),
            )

        progress_outputs = [progress_md, items_df, participants_df, attention_df, rejections_df]
        select_outputs = [summary_md, *progress_outputs, gallery_md, gallery, preview_index]
        select = shielded(on_select, len(select_outputs), [select_outputs.index(gallery)])
        # .input, not .change: a Dropdown's change event does not reach the server here (Gradio 6.31);
        # programmatic changes (create, refresh) chain the same handler with .then
        chooser.input(select, chooser, select_outputs, **_PRIVATE)
        create_btn.click(shielded(on_create, 2), [upload, pasted], [create_md, chooser], **_PRIVATE).then(
            select, chooser, select_outputs, **_PRIVATE
        )
        refresh.click(shielded(on_refresh, 1), chooser, chooser, **_PRIVATE).then(
            select, chooser, select_outputs, **_PRIVATE
        )
        render_btn.click(
            shielded(on_render, 4, [2]),
            [chooser, size, rig],
            [render_md, summary_md, gallery, gallery_md],
            concurrency_limit=1,
            **_PRIVATE,
        )
        preview_btn.click(
            shielded(on_preview, 2), [chooser, preview_index], [preview_md, screens_df], **_PRIVATE
        )
        progress_btn.click(shielded(on_progress, 5), chooser, progress_outputs, **_PRIVATE)
        timer.tick(shielded(on_progress, 5), chooser, progress_outputs, **_PRIVATE)
        auto.change(lambda on: gr.Timer(active=bool(on)), auto, timer, **_PRIVATE)
        results_btn.click(
            shielded(on_results, len(CHARTS) + 3),
            [chooser, reduction, n_boot],
            [*charts, stats_df, bt_df, report_md],
            **_PRIVATE,
        )
        export_btn.click(on_export, [chooser, reduction], downloads, **_PRIVATE)
        # the list built with the page goes stale as studies are created (here, by the command line
        # or by another admin): every page load reads it again
        page.load(lambda: gr.Dropdown(choices=study_choices(admin)), None, chooser, **_PRIVATE)
    return page
