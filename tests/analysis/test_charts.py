from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from studio.analysis import charts
from studio.analysis.charts import CATEGORY_COLOURS, EMOTIONS


def _rgb(hex_colour: str) -> str:
    return "rgb({},{},{})".format(*(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)))


def test_blend_of_a_pure_category_is_its_colour_and_a_mix_lies_between():
    pure = np.eye(6)
    assert charts.blend_colours(pure) == [_rgb(CATEGORY_COLOURS[e]) for e in EMOTIONS]
    half = charts.blend_colours(np.array([[0.5, 0.5, 0, 0, 0, 0]]))[0]
    a = np.array([int(CATEGORY_COLOURS["happiness"][i : i + 2], 16) for i in (1, 3, 5)])
    b = np.array([int(CATEGORY_COLOURS["sadness"][i : i + 2], 16) for i in (1, 3, 5)])
    assert half == "rgb({},{},{})".format(*np.rint((a + b) / 2).astype(int))


def test_tsne_chart_colours_points_by_blend_and_hovers_the_escaped_prompt():
    coords = np.array([[0.0, 0.0], [1.0, 1.0]])
    scores = np.array([np.eye(6)[0], np.full(6, 1 / 6)])
    figure = charts.chart_prompt_tsne(coords, scores, ["smiles <b>widely</b>", "looks left"])
    points = figure.data[0]
    assert isinstance(figure, go.Figure) and len(points.x) == 2
    assert points.marker.color[0] == _rgb(CATEGORY_COLOURS["happiness"])
    assert "&lt;b&gt;widely&lt;/b&gt;" in points.hovertext[0] and "<b>widely" not in points.hovertext[0]
    assert "happiness 1.000" in points.hovertext[0]
    assert [t.name for t in figure.data[1:]] == list(EMOTIONS)  # legend swatches (no flagged prompt)


def test_category_proportions_single_and_compared_sources():
    single = charts.chart_category_proportions(np.array([3, 1, 0, 0, 0, 0]))
    assert list(single.data[0].y) == pytest.approx([75, 25, 0, 0, 0, 0])
    compared = charts.chart_category_proportions(
        {"prompts": np.array([1, 1, 0, 0, 0, 0]), "model": np.eye(6)[2]}
    )
    assert [t.name for t in compared.data] == ["prompts (n=2)", "model (n=1)"]
    assert list(compared.data[1].y) == pytest.approx([0, 0, 100, 0, 0, 0])


def test_keyframe_emotions_are_stacked_shares_per_position():
    counts = np.array([[2, 2, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]])
    figure = charts.chart_keyframe_emotions(counts)
    assert figure.layout.barmode == "stack" and len(figure.data) == 6
    assert list(figure.data[0].y) == pytest.approx([50, 0]) and list(figure.data[4].y) == pytest.approx(
        [0, 100]
    )
    assert "(n=4)" in figure.data[0].x[0]


def test_keyframes_per_clip_and_durations():
    keyframes = charts.chart_keyframes_per_clip(np.array([1, 2, 2, 2, 4]))
    assert list(keyframes.data[0].x) == [1, 2, 3, 4] and list(keyframes.data[0].y) == [1, 3, 0, 1]
    durations = charts.chart_clip_durations(np.array([1.75, 2.0, 9.9, np.nan]))
    assert len(durations.data[0].x) == 3
    assert "n=3" in durations.layout.title.text


def test_consistency_matrix_shows_row_shares_and_marks_empty_rows():
    confusion = np.zeros((6, 6), int)
    confusion[0, 0], confusion[0, 1], confusion[3, 3] = 3, 1, 2
    figure = charts.chart_consistency_matrix(confusion)
    z = np.array(figure.data[0].z, dtype=float)
    assert z[0, 0] == pytest.approx(75) and z[3, 3] == pytest.approx(100) and np.isnan(z[1]).all()
    assert figure.data[0].text[1][0] == "none asked"
    assert "83.3%" in figure.layout.title.text  # 5 of 6 pairs agree


def test_consistency_summary_bars_whiskers_and_intended_series():
    rows = [
        {"name": "gt", "top1": 0.6, "top1_ci95": [0.5, 0.7], "mean_cosine": 0.8, "top1_vs_intended": 0.7},
        {"name": "m", "top1": 0.4, "top1_ci95": [0.3, 0.5], "mean_cosine": 0.5, "top1_vs_intended": None},
    ]
    figure = charts.chart_consistency_summary(rows)
    assert [t.name for t in figure.data][2] == "top-1 agreement (intended label)"
    assert list(figure.data[0].error_y.array) == pytest.approx([0.1, 0.1])


@pytest.mark.parametrize(
    "figure",
    [
        lambda: charts.chart_prompt_tsne(np.zeros((0, 2)), np.zeros((0, 6)), []),
        lambda: charts.chart_category_proportions(np.zeros(6)),
        lambda: charts.chart_category_proportions({}),
        lambda: charts.chart_keyframe_emotions(np.zeros((0, 6))),
        lambda: charts.chart_keyframes_per_clip(np.zeros(0)),
        lambda: charts.chart_clip_durations(np.array([np.nan])),
        lambda: charts.chart_consistency_matrix(np.zeros((6, 6))),
        lambda: charts.chart_consistency_summary([]),
    ],
)
def test_empty_inputs_give_a_chart_with_a_note(figure):
    result = figure()
    assert isinstance(result, go.Figure)
    assert len(result.layout.annotations) == 1 and result.layout.annotations[0].text


def test_single_prompt_map_says_so():
    figure = charts.chart_prompt_tsne(np.zeros((1, 2)), np.eye(6)[:1], ["only one"])
    assert "One prompt" in figure.layout.annotations[0].text


def test_flagged_prompts_are_crosses_with_their_note():
    figure = charts.chart_prompt_tsne(np.zeros((2, 2)), np.eye(6)[:2], ["a", "b"], notes=["", "not English"])
    assert list(figure.data[0].marker.symbol) == ["circle", "x"]
    assert "not English" in figure.data[0].hovertext[1]


def test_map_points_carry_their_ids_for_clicks_and_hovers():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    ids = ["clip-<a>", "clip-b", "clip-c"]
    figure = charts.chart_prompt_tsne(coords, np.eye(6)[:3], ["smiles", "frowns", "smiles"], ids=ids)
    points = figure.data[0]
    assert list(points.customdata) == ids  # what a click sends back: the id of the point under it
    assert points.hovertext[1].startswith("<b>clip-b</b><br>frowns")
    assert points.hovertext[0].startswith("<b>clip-&lt;a&gt;</b> <i>(same spot: clip-c)</i>")
    assert "(same spot: clip-&lt;a&gt;)" in points.hovertext[2] and "same spot" not in points.hovertext[1]
    assert charts.chart_prompt_tsne(coords, np.eye(6)[:3], ["a", "b", "c"]).data[0].customdata is None
    with pytest.raises(ValueError, match="2 ids for 3 points"):
        charts.chart_prompt_tsne(coords, np.eye(6)[:3], ["a", "b", "c"], ids=ids[:2])


def test_large_maps_switch_to_webgl():
    def kind(n: int) -> str:
        rng = np.random.default_rng(0)
        return (
            charts.chart_prompt_tsne(rng.normal(size=(n, 2)), np.full((n, 6), 1 / 6), ["p"] * n).data[0].type
        )

    assert kind(charts.SVG_MAX_POINTS) == "scatter" and kind(charts.SVG_MAX_POINTS + 1) == "scattergl"
