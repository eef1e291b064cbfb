"""Benchmark tab: the leaderboard of saved results (or a ``--quick`` run started here), with the
evaluator's provenance and a chart per metric.

Results are ``results.json`` files written by ``python -m studio benchmark --out DIR`` anywhere
under the studio's output folder or a data folder (or by this tab into
``<output_dir>/benchmarks/``; see :mod:`evaluations.results_files`), plus the leaderboard the
studio ships (``assets/leaderboard/``, shown when the tab opens). Several files share one table
only when :func:`evaluations.results.combine_results` says they are comparable; otherwise the tab
shows its reason. Scoring itself is :func:`evaluations.benchmark.run_benchmark`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from evaluations.results_files import find_results, results_roots, shipped_leaderboard
from studio.config import StudioConfig
from studio.models.pool import ModelPool
from studio.ui.common import dataset_choices, resolve_dataset

GROUND_TRUTH_COLOUR = "#7f7f7f"
MODEL_COLOUR = "#4C78A8"


def results_folder(config: StudioConfig) -> Path:
    return config.output_dir / "benchmarks"


def saved_results(config: StudioConfig) -> list[str]:
    """The shipped leaderboard first, then every ``results.json`` under the output and data folders,
    newest first (a file reached through a symlink that leads out of its folder is left out)."""
    shipped = shipped_leaderboard(config.assets_dir)
    found = [*([shipped] if shipped else []), *find_results(results_roots(config))]
    return [str(path) for path in dict.fromkeys(found)]


def results_choices(config: StudioConfig) -> list[tuple[str, str]]:
    """(label, path) of :func:`saved_results`: the shipped leaderboard by name, the others by their
    path inside the output or data folder they were found in."""
    shipped = shipped_leaderboard(config.assets_dir)
    roots = [root.resolve() for root in results_roots(config)]
    choices = []
    for path in map(Path, saved_results(config)):
        if path == shipped:
            label = "Shipped leaderboard (assets/leaderboard/results.json)"
        else:
            root = next((r for r in roots if path.is_relative_to(r)), path.parent)
            label = f"{root.name}/{path.relative_to(root).as_posix()}"
        choices.append((label, str(path)))
    return choices


def default_selection(config: StudioConfig) -> list[str]:
    """What the tab shows when it opens: the shipped leaderboard, when there is one."""
    shipped = shipped_leaderboard(config.assets_dir)
    return [str(shipped)] if shipped else []


def listed_only(config: StudioConfig, paths: list[str] | None) -> list[str]:
    """``paths`` if every one is in :func:`saved_results`, else ValueError: a request may name any
    path, and only the listed files may be read."""
    listed = set(saved_results(config))
    if any(path not in listed for path in paths or []):
        raise ValueError("Choose results from the list (Refresh list shows new ones).")
    return list(paths or [])


def provenance_markdown(results: Any) -> str:
    """Who scored these numbers and under which constants: the evaluator, recogniser and protocol."""
    e, p, d = results.evaluator, results.protocol, results.dataset
    lines = [
        f"**Evaluator** `{e.checkpoint_sha256[:16]}` · trained on {e.training_data} "
        f"(data `{e.training_data_sha256[:12]}`) · {e.fps:g} fps, ≤ {e.max_frames} frames · "
        f"{e.normalisation} · {e.loss} · text: {e.text_encoder} · {e.embed_dim}-D",
        f"**Scored** {d.get('name')} / {d.get('split')}: {d.get('n_items')} prompts "
        f"(items `{str(d.get('items_sha256'))[:12]}`) · {p.get('replications')} replications · "
        f"seed {p.get('seed')}",
        f"**R-precision** {p.get('r_precision_convention')} ({p.get('r_precision_description')}), "
        f"batches of {p.get('r_precision_batch_size')} · diversity {p.get('diversity_pairs')} pairs · "
        f"FID reference: {p.get('fid_reference')}",
    ]
    if results.emotion_recogniser:
        sha = str(results.emotion_recogniser.get("checkpoint_sha256", "?"))
        lines.append(f"**Emotion recogniser** `{sha[:16]}`")
    if results.created:
        lines.append(
            f"**Created** {results.created}" + (f" · `{results.command}`" if results.command else "")
        )
    return "\n\n".join(lines)


def metric_choices(results: Any) -> list[tuple[str, str]]:
    """(label, key) of every metric some row has, in leaderboard order."""
    from evaluations.metric_table import METRICS

    present = {k for row in results.rows for k in row.metrics}
    return [(f"{m.title} ({m.better} is better)", m.key) for m in METRICS if m.key in present]


def metric_figure(results: Any, key: str) -> go.Figure | None:
    """Bars of one metric by model with its uncertainty as error bars; ground truth in grey."""
    from evaluations.metric_table import METRIC_INDEX

    spec = METRIC_INDEX.get(key)
    if spec is None:
        return None
    names, values, errors, colours = [], [], [], []
    for row in results.rows:
        metric = row.metrics.get(key)
        if metric is None or not math.isfinite(metric.value):
            continue
        names.append("ground truth" if row.is_ground_truth else row.model)
        values.append(metric.value)
        errors.append(metric.uncertainty if metric.uncertainty is not None else 0.0)
        colours.append(GROUND_TRUTH_COLOUR if row.is_ground_truth else MODEL_COLOUR)
    figure = go.Figure(
        go.Bar(x=names, y=values, marker_color=colours, error_y=dict(type="data", array=errors, visible=True))
    )
    kind = next((row.metrics[key].kind for row in results.rows if key in row.metrics), "")
    band = {"replications": "± 1.96·σ/√n over replications", "bootstrap": "± bootstrap SE"}.get(kind, "")
    figure.update_layout(
        title=f"{spec.title} ({spec.better} is better){' · ' + band if band else ''}",
        yaxis_title=spec.title,
        template="plotly_white",
        height=360,
        margin=dict(l=50, r=10, t=50, b=40),
    )
    return figure


def leaderboard_view(paths: list[str] | None) -> tuple[str, str, Any, Any]:
    """Gradio handler: (leaderboard markdown, provenance, metric dropdown update, first chart).

    Several files are combined only when comparable; otherwise the refusal is the message.
    """
    from evaluations.results import (
        IncomparableResultsError,
        ResultsFileError,
        combine_results,
        leaderboard_markdown,
        load_results,
    )

    if not paths:
        return "Choose saved results, or run a quick benchmark.", "", gr.update(choices=[], value=None), None
    try:
        results = combine_results([load_results(p) for p in paths])
    except (ResultsFileError, IncomparableResultsError) as exc:
        return f"**Cannot show these results together.** {exc}", "", gr.update(choices=[], value=None), None
    choices = metric_choices(results)
    first = choices[0][1] if choices else None
    chart = metric_figure(results, first) if first else None
    return (
        leaderboard_markdown(results),
        provenance_markdown(results),
        gr.update(choices=choices, value=first),
        chart,
    )


def chart_for(paths: list[str] | None, key: str | None) -> go.Figure | None:
    from evaluations.results import IncomparableResultsError, ResultsFileError, combine_results, load_results

    if not paths or not key:
        return None
    try:
        return metric_figure(combine_results([load_results(p) for p in paths]), key)
    except (ResultsFileError, IncomparableResultsError):
        return None


def run_quick(
    config: StudioConfig, names: list[str], data: str | None, progress: Any = None
) -> tuple[str, str]:
    """Run a ``--quick`` benchmark of ``names`` on the test split of ``data``; returns (path, log).

    The same call as ``python -m studio benchmark --quick`` (:func:`evaluations.benchmark.
    run_benchmark`, same protocol and seed), in this thread: measured back to back on the 2-core
    machine it takes the command's time (README, Evaluation and leaderboard). ``progress`` (a
    ``gr.Progress``) is told which model runs and how many clips are done; the log gets one timed
    line per model. The output folder is named by a hash of the request, so the same request
    reuses its folder.
    """
    from evaluations.benchmark import run_benchmark
    from evaluations.protocol import BenchmarkError, quick_protocol
    from evaluations.results_files import write_results
    from studio.formats import FormatError

    if not names:
        raise ValueError("Select at least one model.")
    root = resolve_dataset(config, data)
    key = hashlib.sha256(json.dumps([sorted(names), str(root)]).encode()).hexdigest()[:16]
    out = results_folder(config) / f"quick-{key}"
    messages: list[str] = []
    started = time.perf_counter()

    def step(done: int, total: int, what: str) -> None:
        if progress is not None:
            progress((done, total), desc=what, unit="clips")

    def note(message: str) -> None:
        messages.append(f"{time.perf_counter() - started:6.1f} s  {message}")

    try:
        results = run_benchmark(
            names,
            root,
            "test",
            quick_protocol(),
            models_config=config.models_config,
            progress=False,
            log=note,
            on_step=step,
        )
    except (BenchmarkError, FormatError) as exc:
        raise ValueError(str(exc)) from None
    write_results(results, out)
    note("done")
    return str(out / "results.json"), "\n".join(messages)


def build_tab(config: StudioConfig, pool: ModelPool, tab: gr.Tab | None = None) -> None:
    gr.Markdown(
        "Scores from `python -m studio benchmark` (or a quick run below): the ground truth first, scored "
        "by the same evaluator; HumanML3D-protocol metrics as mean ± 1.96·σ/√n over replications, CTEG "
        "metrics (as the paper's equations define them) ± bootstrap SE; Cppl of free-running samples in "
        "a table of its own, since it is not the paper's one-step-ahead perplexity. Results from "
        "different evaluators are never put in one table. The list "
        "holds the shipped leaderboard and every `results.json` under the output folder "
        f"(`{config.output_dir.name}/`, e.g. `--out {config.output_dir.name}/my-run`) and the data folders.",
        elem_classes="studio-note",
    )
    selected = default_selection(config)
    first_view = leaderboard_view(selected or None)
    with gr.Row():
        files = gr.Dropdown(
            results_choices(config),
            value=selected,
            multiselect=True,
            label="Saved results (results.json)",
            allow_custom_value=False,
            scale=4,
        )
        refresh = gr.Button("Refresh list", scale=1)
    with gr.Accordion("Run a quick benchmark (3 replications, test split)", open=False):
        datasets = dataset_choices(config)
        with gr.Row():
            models = gr.CheckboxGroup(pool.names, value=pool.names, label="Models")
            data = gr.Dropdown(
                datasets,
                value=datasets[0] if datasets else None,
                allow_custom_value=True,
                label="Dataset folder (inside the data folders)",
            )
        run = gr.Button("Run quick benchmark", variant="primary")
        run_log = gr.Markdown(elem_id="quick-run-log")
    board = gr.Markdown(first_view[0])
    provenance = gr.Markdown(first_view[1])
    metric = gr.Dropdown(first_view[2].get("choices") or [], value=first_view[2].get("value"), label="Metric")
    chart = gr.Plot(first_view[3], label="Metric by model")

    def on_files(paths):
        try:
            return leaderboard_view(listed_only(config, paths))
        except ValueError as exc:
            return f"**Cannot show these results.** {exc}", "", gr.update(choices=[], value=None), None

    def on_metric(paths, key):
        try:
            return chart_for(listed_only(config, paths), key)
        except ValueError:
            return None

    def relist():
        return gr.update(choices=results_choices(config))

    files.change(on_files, files, [board, provenance, metric, chart], api_visibility="private")
    metric.change(on_metric, [files, metric], chart, api_visibility="private")
    refresh.click(relist, None, files, api_visibility="private")
    if tab is not None:  # opening the tab lists results written meanwhile
        tab.select(relist, None, files, api_visibility="private")

    def on_run(names, folder, progress=gr.Progress()):  # Gradio injects progress through this default
        try:
            path, log = run_quick(config, names or [], folder, progress)
        except ValueError as exc:
            return gr.update(), f"**Could not run the benchmark.** {exc}"
        return (
            gr.update(choices=results_choices(config), value=[path]),
            f"Wrote `{path}`.\n\n```\n{log}\n```",
        )

    # one quick run at a time: each takes both CPUs for minutes; a second request waits its turn
    run.click(on_run, [models, data], [files, run_log], api_visibility="private", concurrency_limit=1)
