"""Plotly charts of a :class:`~studio.study.statistics.StudyReport`; plotly is imported when a chart
is drawn. :data:`CHARTS` names every chart once: the HTML report and the admin dashboard draw from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from studio.study.statistics import StudyReport, level_labels

_LEVEL_COLOURS = {
    "2afc5": ("#08519c", "#6baed6", "#bdbdbd", "#fdae6b", "#d94801"),
    "pairwise": ("#2171b5", "#e6550d", "#bdbdbd", "#636363"),
    "rank": ("#2171b5", "#e6550d"),
}


def rank_heatmap(report: StudyReport):  # -> go.Figure | None
    """EmoAva-style rank distribution: models (best mean rank on top) x rank, share of votes."""
    import plotly.graph_objects as go

    if report.rank_shares is None or report.rank_counts is None or report.rank_counts.sum() == 0:
        return None
    k = len(report.models)
    mean = {row["model"]: row["mean_rank"] for row in report.mean_ranks}
    order = sorted(range(k), key=lambda i: mean.get(report.models[i], math.inf), reverse=True)
    shares = report.rank_shares[order]
    counts = report.rank_counts[order]
    figure = go.Figure(
        go.Heatmap(
            z=shares,
            x=[f"rank {r}" for r in range(1, k + 1)],
            y=[report.models[i] for i in order],
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar={"title": "share", "tickformat": ".0%"},
            text=[
                [f"{s:.0%}<br>({c})" for s, c in zip(rs, cs, strict=True)]
                for rs, cs in zip(shares, counts, strict=True)
            ],
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Rank distribution ({int(counts[:, 0].sum())} rankings; 1 = best)",
        template="plotly_white",
        height=120 + 60 * k,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def preference_bars(report: StudyReport):  # -> go.Figure | None
    """EmoteGPT-style stacked preference bars: one bar per model pair, share of answers per level."""
    import plotly.graph_objects as go

    if not report.preferences:
        return None
    colours = _LEVEL_COLOURS[report.trial_type]
    names = level_labels(report.trial_type, "A", "B")
    pairs = list(reversed(report.preferences))  # first pair on top
    labels = [f"A = {p.a}  vs  B = {p.b}  (n={p.n})" for p in pairs]
    figure = go.Figure()
    for level, (name, colour) in enumerate(zip(names, colours, strict=True)):
        figure.add_trace(
            go.Bar(
                y=labels,
                x=[p.shares[level] for p in pairs],
                name=name,
                orientation="h",
                marker_color=colour,
                text=[f"{p.shares[level]:.0%}" if p.shares[level] >= 0.06 else "" for p in pairs],
                textposition="inside",
                customdata=[[p.labels[level], p.counts[level], p.low[level], p.high[level]] for p in pairs],
                hovertemplate="%{customdata[0]}: %{x:.1%} (%{customdata[1]} answers; 95% CI "
                "%{customdata[2]:.0%}-%{customdata[3]:.0%})<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        template="plotly_white",
        title="Preferences per model pair (share of answers)",
        xaxis={"tickformat": ".0%", "range": [0, 1]},
        height=200 + 45 * len(pairs),
        legend={"orientation": "h", "y": -0.25, "traceorder": "normal"},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


CHARTS: dict[str, tuple[str, Callable[[StudyReport], Any]]] = {
    "rank_heatmap": ("Rank distribution", rank_heatmap),
    "preference_bars": ("Preferences", preference_bars),
}
"""Every chart by name: its title and the function drawing it, in reading order. A chart function
returns None when the study has no data for it (a rank heatmap of a pairwise study)."""


def build_charts(report: StudyReport) -> dict[str, Any]:
    """``{name: figure or None}`` for every chart of :data:`CHARTS`, in its order."""
    return {name: draw(report) for name, (_, draw) in CHARTS.items()}
