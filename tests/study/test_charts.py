"""Charts: every chart of CHARTS is drawn (or None without data) and labelled like the report."""

from __future__ import annotations

from studio.study.charts import CHARTS, build_charts
from studio.study.statistics import build_report, level_labels


def test_every_chart_is_drawn_in_table_order(simulated):
    store, study = simulated
    report = build_report(store, study, n_bootstrap=0)
    figures = build_charts(report)
    assert list(figures) == list(CHARTS)
    assert all(figure is not None for figure in figures.values())  # a rank study has both
    names = [trace.name for trace in figures["preference_bars"].data]
    assert names == list(level_labels("rank", "A", "B"))  # the legend speaks as the report does
