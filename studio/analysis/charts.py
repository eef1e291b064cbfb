"""Plotly charts of prompt and motion categories: pure functions, arrays in, ``go.Figure`` out.

Every ``chart_*`` takes plain arrays (no files, no models) so the Explore tab, the CLI and the
tests share them. Category colours are fixed (:data:`CATEGORY_COLOURS`); a point's colour in a
t-SNE map is the score-weighted mix of the six (Express4D Fig. 5a), so a pure category shows
its own colour and an ambiguous prompt turns greyish-brown. Empty input gives an empty chart
with a centred note, never an exception.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from studio.facs import EMOTIONS

# Express4D order. Distinct for colour-blind readers as far as six hues allow (Okabe–Ito based).
CATEGORY_COLOURS: Mapping[str, str] = {
    "happiness": "#E69F00",  # orange-gold
    "sadness": "#0072B2",  # blue
    "fear": "#7B3FA0",  # purple
    "surprise": "#56B4E9",  # sky blue
    "anger": "#D55E00",  # vermilion
    "disgust": "#009E73",  # green
}
SOURCE_COLOURS = ("#4C4C4C", "#999999", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00")
_RGB = np.array([[int(CATEGORY_COLOURS[e][i : i + 2], 16) for i in (1, 3, 5)] for e in EMOTIONS], np.float64)
# A map of more points than this is drawn with WebGL (Scattergl): SVG slows down past a few thousand.
SVG_MAX_POINTS = 5000
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=70, b=60), font=dict(size=13))


def blend_colours(scores: np.ndarray) -> list[str]:
    """Score rows ``(N, 6)`` -> ``N`` CSS ``rgb(r,g,b)`` colours: score-weighted mixes of the six."""
    s = np.asarray(scores, np.float64).reshape(-1, len(EMOTIONS))
    total = s.sum(axis=1, keepdims=True)
    rgb = np.rint((s / np.where(total > 0, total, 1.0)) @ _RGB).clip(0, 255).astype(int)
    return [f"rgb({r},{g},{b})" for r, g, b in rgb]


def _empty(title: str, note: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(
        text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=15, color="#666")
    )
    figure.update_layout(
        title=title, xaxis=dict(visible=False), yaxis=dict(visible=False), height=420, **_LAYOUT
    )
    return figure


def _wrap(text: str, width: int = 60, limit: int = 300) -> str:
    """Escape and wrap a prompt for a hover box (plotly hover text is HTML)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "<br>".join(html.escape(x) for x in lines)


def _score_line(row: np.ndarray) -> str:
    order = np.argsort(-row, kind="stable")
    return "<br>".join(f"{EMOTIONS[k]} {row[k]:.3f}" for k in order)


def _legend_swatches(figure: go.Figure) -> None:
    """Six legend entries in the category colours (the points themselves carry blends)."""
    for emotion in EMOTIONS:
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=emotion,
                hoverinfo="skip",
                marker=dict(size=11, color=CATEGORY_COLOURS[emotion]),
            )
        )


def chart_prompt_tsne(
    coords: np.ndarray,
    scores: np.ndarray,
    texts: Sequence[str],
    *,
    title: str = "Prompts (t-SNE of MiniLM embeddings)",
    subtitle: str = "",
    marker_size: float | None = None,
    notes: Sequence[str] | None = None,
    axis_label: str = "t-SNE",
    ids: Sequence[str] | None = None,
) -> go.Figure:
    """t-SNE map: ``coords (N, 2)``, ``scores (N, 6)`` colour each point by its category blend.

    Hover shows the item id (when ``ids`` is given), the prompt and its six scores, largest first;
    a prompt with a ``notes`` entry (e.g. not English) is drawn as a cross and its note shown.
    ``subtitle`` states where the scores come from (the prompt categoriser, or a model's motion).
    ``ids`` also become each point's ``customdata``, so a click on a point names its item
    (the Explore tab opens that clip); items sharing a point (a duplicate prompt) are listed in
    its hover. Up to :data:`SVG_MAX_POINTS` points are SVG (crisp, no WebGL needed), more WebGL.
    """
    coords = np.asarray(coords, np.float64).reshape(-1, 2)
    scores = np.asarray(scores, np.float64).reshape(-1, len(EMOTIONS))
    full_title = title + (f"<br><sup>{html.escape(subtitle)}</sup>" if subtitle else "")
    if len(coords) == 0:
        return _empty(full_title, "No prompts to map.")
    size = marker_size or float(np.clip(14.0 - 2.2 * np.log10(len(coords)), 3.0, 11.0))
    notes = list(notes) if notes is not None else [""] * len(coords)
    heads = [""] * len(coords) if ids is None else _id_lines(coords, list(ids))
    hover = [
        f"{h}{_wrap(t)}<br><br>{_score_line(s)}" + (f"<br><i>{html.escape(n)}</i>" if n else "")
        for h, t, s, n in zip(heads, texts, scores, notes, strict=True)
    ]
    trace = go.Scatter if len(coords) <= SVG_MAX_POINTS else go.Scattergl
    figure = go.Figure(
        trace(
            x=coords[:, 0],
            y=coords[:, 1],
            mode="markers",
            hovertext=hover,
            hoverinfo="text",
            customdata=None if ids is None else [str(i) for i in ids],
            showlegend=False,
            marker=dict(
                size=size,
                color=blend_colours(scores),
                opacity=0.85,
                # a prompt with a note (e.g. not English) is drawn as a cross: read its colour with care
                symbol=["x" if n else "circle" for n in notes],
                line=dict(width=0),
            ),
        )
    )
    _legend_swatches(figure)
    if any(notes):
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name="✕ read with care (hover)",
                hoverinfo="skip",
                marker=dict(size=10, symbol="x", color="#777"),
            )
        )
    figure.update_layout(
        title=full_title,
        height=640,
        legend=dict(title="category", itemclick=False, itemdoubleclick=False),
        xaxis=dict(title=f"{axis_label} 1", showticklabels=False, zeroline=False),
        yaxis=dict(title=f"{axis_label} 2", showticklabels=False, zeroline=False, scaleanchor="x"),
        **_LAYOUT,
    )
    if len(coords) == 1:
        figure.add_annotation(
            text="One prompt: nothing to compare it with.",
            x=0.5,
            y=0.05,
            xref="paper",
            yref="paper",
            showarrow=False,
        )
    return figure


def _id_lines(coords: np.ndarray, ids: list[str], limit: int = 5) -> list[str]:
    """Per point, the hover's first line: its id in bold, plus the other ids drawn on the same spot."""
    if len(ids) != len(coords):
        raise ValueError(f"{len(ids)} ids for {len(coords)} points")
    spots: dict[tuple[float, float], list[str]] = {}
    for (x, y), item in zip(coords.tolist(), ids, strict=True):
        spots.setdefault((x, y), []).append(str(item))
    lines = []
    for (x, y), item in zip(coords.tolist(), ids, strict=True):
        others = [o for o in spots[(x, y)] if o != str(item)]
        shown = ", ".join(html.escape(o) for o in others[:limit]) + (" …" if len(others) > limit else "")
        lines.append(
            f"<b>{html.escape(str(item))}</b>" + (f" <i>(same spot: {shown})</i>" if others else "") + "<br>"
        )
    return lines


def dominant_counts(scores: np.ndarray) -> np.ndarray:
    """Score rows ``(N, 6)`` -> ``(6,) int`` how many rows each category tops."""
    scores = np.asarray(scores, np.float64).reshape(-1, len(EMOTIONS))
    return np.bincount(scores.argmax(axis=1), minlength=len(EMOTIONS)) if len(scores) else np.zeros(6, int)


def chart_category_proportions(
    counts: Mapping[str, np.ndarray] | np.ndarray, *, title: str = "Dominant emotion category"
) -> go.Figure:
    """Share of items per dominant category (Express4D Fig. 5c).

    ``counts`` is ``(6,)`` counts, or ``{source: (6,) counts}`` to compare sources side by side
    (the prompts, the dataset's clips, each model's clips).
    """
    sources = {"prompts": np.asarray(counts)} if not isinstance(counts, Mapping) else dict(counts)
    totals = {name: int(np.sum(c)) for name, c in sources.items()}
    if not sources or all(t == 0 for t in totals.values()):
        return _empty(title, "No items to count.")
    figure = go.Figure()
    single = len(sources) == 1
    for i, (name, c) in enumerate(sources.items()):
        c = np.asarray(c, np.float64)
        share = 100.0 * c / max(totals[name], 1)
        figure.add_trace(
            go.Bar(
                x=list(EMOTIONS),
                y=share,
                name=f"{name} (n={totals[name]})",
                marker_color=[CATEGORY_COLOURS[e] for e in EMOTIONS] if single else SOURCE_COLOURS[i % 8],
                text=[f"{v:.1f}%" for v in share],
                textposition="outside",
                cliponaxis=False,
                customdata=c.astype(int),
                hovertemplate="%{x}: %{y:.1f}% (%{customdata})<extra>" + name + "</extra>",
            )
        )
    figure.update_layout(
        title=title,
        barmode="group",
        height=460,
        showlegend=not single,
        yaxis=dict(title="share of items (%)", rangemode="tozero"),
        **_LAYOUT,
    )
    if single:
        name = next(iter(sources))
        figure.update_layout(xaxis_title=f"{name} (n={totals[name]})")
    return figure


def chart_keyframe_emotions(
    counts: np.ndarray, *, title: str = "Emotion of each keyframe, by position"
) -> go.Figure:
    """Stacked shares of dominant categories per keyframe position (KeyframeFace Fig. 11b).

    ``counts (P, 6) int``: row p counts the p-th keyframes (1-based on the axis) per category.
    """
    counts = np.asarray(counts, np.float64).reshape(-1, len(EMOTIONS))
    totals = counts.sum(axis=1)
    if len(counts) == 0 or totals.sum() == 0:
        return _empty(title, "This dataset has no keyframe annotations.")
    labels = [f"keyframe {p + 1}<br>(n={int(t)})" for p, t in enumerate(totals)]
    figure = go.Figure()
    for k, emotion in enumerate(EMOTIONS):
        share = 100.0 * counts[:, k] / np.maximum(totals, 1)
        figure.add_trace(
            go.Bar(
                x=labels,
                y=share,
                name=emotion,
                marker_color=CATEGORY_COLOURS[emotion],
                text=[f"{v:.0f}%" if v >= 4 else "" for v in share],
                textposition="inside",
                hovertemplate=f"{emotion}: %{{y:.1f}}%<extra></extra>",
            )
        )
    figure.update_layout(
        title=title,
        barmode="stack",
        height=460,
        yaxis=dict(title="share of keyframes (%)", range=[0, 100]),
        **_LAYOUT,
    )
    return figure


def chart_keyframes_per_clip(n_keyframes: np.ndarray, *, title: str = "Keyframes per clip") -> go.Figure:
    """Bar chart of how many clips have 1, 2, 3... keyframes (KeyframeFace Figs. 8–9). ``(N,) int``."""
    n = np.asarray(n_keyframes, int).ravel()
    if len(n) == 0:
        return _empty(title, "This dataset has no keyframe annotations.")
    values = np.arange(n.min(), n.max() + 1)
    counts = np.array([(n == v).sum() for v in values])
    share = 100.0 * counts / len(n)
    figure = go.Figure(
        go.Bar(
            x=values,
            y=counts,
            marker_color="#0072B2",
            text=[f"{s:.1f}%" for s in share],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x} keyframes: %{y} clips<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{title} (n={len(n)}, mean {n.mean():.2f})",
        height=420,
        xaxis=dict(title="keyframes", dtick=1),
        yaxis=dict(title="clips"),
        **_LAYOUT,
    )
    return figure


def chart_clip_durations(
    durations_s: np.ndarray, *, bin_s: float = 0.5, title: str = "Clip durations"
) -> go.Figure:
    """Histogram of clip lengths in seconds (KeyframeFace Fig. 10; Express4D's 1.75–10 s). ``(N,) float``."""
    d = np.asarray(durations_s, np.float64).ravel()
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return _empty(title, "No clip durations.")
    start = np.floor(d.min() / bin_s) * bin_s
    figure = go.Figure(
        go.Histogram(
            x=d,
            xbins=dict(start=start, end=d.max() + bin_s, size=bin_s),
            marker_color="#009E73",
            marker_line=dict(color="white", width=1),
            hovertemplate="%{x} s: %{y} clips<extra></extra>",
        )
    )
    stats = (
        f"n={len(d)} · mean {d.mean():.2f} s · median {np.median(d):.2f} s · {d.min():.2f}–{d.max():.2f} s"
    )
    figure.update_layout(
        title=f"{title}<br><sup>{stats}</sup>",
        height=420,
        bargap=0.02,
        xaxis=dict(title="duration (s)"),
        yaxis=dict(title="clips"),
        **_LAYOUT,
    )
    return figure


def chart_consistency_matrix(
    confusion: np.ndarray, *, title: str = "Emotion consistency", shown_label: str = "shown by the motion"
) -> go.Figure:
    """Heatmap of ``confusion (6, 6)`` counts: rows = category the prompt asks, columns = category shown.

    Cells are coloured by row share (so rare categories read as clearly as common ones) and
    labelled with share and count.
    """
    c = np.asarray(confusion, np.float64).reshape(len(EMOTIONS), len(EMOTIONS))
    total = c.sum()
    if total == 0:
        return _empty(title, "No prompt–clip pairs.")
    rows = c.sum(axis=1, keepdims=True)
    share = np.where(rows > 0, 100.0 * c / np.maximum(rows, 1), np.nan)
    text = [
        [
            f"{share[i, j]:.0f}%<br>({int(c[i, j])})" if rows[i, 0] else ("none asked" if j == 0 else "")
            for j in range(6)
        ]
        for i in range(6)
    ]
    agreement = np.trace(c) / total
    figure = go.Figure(
        go.Heatmap(
            z=share,
            x=list(EMOTIONS),
            y=list(EMOTIONS),
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=100,
            colorbar=dict(title="% of row"),
            hoverongaps=False,
            hovertemplate="asked %{y}, shown %{x}: %{z:.1f}% of row<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{title}<br><sup>top-1 agreement {100 * agreement:.1f}% over {int(total)} prompts</sup>",
        height=520,
        width=620,
        xaxis=dict(title=shown_label, side="bottom"),
        yaxis=dict(title="asked by the prompt", autorange="reversed", scaleanchor="x"),
        **_LAYOUT,
    )
    return figure


def chart_consistency_summary(
    rows: Sequence[Mapping[str, object]], *, title: str = "Emotion consistency per model"
) -> go.Figure:
    """Grouped bars per source: top-1 agreement with the prompt categoriser (95% CI whiskers),
    mean cosine, and — when the rows carry it — top-1 agreement with the dataset's intended label.

    ``rows``: mappings with ``name``, ``top1``, ``mean_cosine`` and optionally ``top1_ci95``,
    ``top1_vs_intended``, ``top1_vs_intended_ci95`` (values in [0, 1], None when unknown).
    A dashed line marks chance top-1 agreement (1/6).
    """
    rows = [r for r in rows if r.get("top1") is not None]
    if not rows:
        return _empty(title, "No models were run.")
    names = [str(r["name"]) for r in rows]
    series = [
        ("top1", "top-1 agreement (prompt categoriser)", "#0072B2"),
        ("mean_cosine", "mean cosine", "#E69F00"),
    ]
    if any(r.get("top1_vs_intended") is not None for r in rows):
        series.append(("top1_vs_intended", "top-1 agreement (intended label)", "#009E73"))
    figure = go.Figure()
    for key, label, colour in series:
        values = [_number(r.get(key)) for r in rows]
        error = None
        if isinstance(rows[0].get(f"{key}_ci95"), list | tuple):
            cis = [r.get(f"{key}_ci95") or (None, None) for r in rows]
            upper = [
                (_number(c[1]) or 0) - (v or 0) if c[1] is not None else 0
                for c, v in zip(cis, values, strict=True)
            ]
            lower = [
                (v or 0) - (_number(c[0]) or 0) if c[0] is not None else 0
                for c, v in zip(cis, values, strict=True)
            ]
            error = dict(type="data", array=upper, arrayminus=lower, color="#333", thickness=1.2, width=4)
        figure.add_trace(
            go.Bar(
                x=names,
                y=values,
                name=label,
                marker_color=colour,
                error_y=error,
                text=[f"{v:.2f}" if v is not None else "" for v in values],
                textposition="inside",
                insidetextanchor="start",
            )
        )
    figure.add_hline(
        y=1 / 6,
        line_dash="dash",
        line_color="#999",
        annotation_text="chance top-1 (1/6)",
        annotation_position="bottom right",
    )
    figure.update_layout(
        title=title,
        barmode="group",
        height=460,
        yaxis=dict(range=[0, 1.05], title="score"),
        legend=dict(orientation="h", y=-0.15),
        **_LAYOUT,
    )
    return figure


def _number(x: object) -> float | None:
    return float(x) if isinstance(x, int | float) and np.isfinite(x) else None
