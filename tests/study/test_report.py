"""The report files of a study read from a store: who is excluded, what is written."""

from __future__ import annotations

import json

from studio.study.report import write_report
from studio.study.statistics import build_report


def test_report_from_the_store_excludes_by_the_rules_and_writes_files(simulated, tmp_path):
    store, study = simulated
    report = build_report(store, study, n_bootstrap=200)
    assert (report.n_participants, report.n_completed, report.n_excluded, report.n_analysed) == (7, 6, 1, 5)
    excluded = [p for p in report.participants if p["status"].startswith("excluded")]
    assert [p["participant_index"] for p in excluded] == [3]
    assert report.attention[0]["failed"] == 1
    assert report.bradley_terry[0]["model"] == "gamma"  # the clearly best simulated model wins
    assert report.controls and report.controls[-1]["model"] == "all models"
    paths = write_report(report, tmp_path / "report")
    assert [p.name for p in paths] == ["report.md", "report.html", "plotly.min.js", "report.json"]
    numbers = json.loads(paths[3].read_text())
    assert numbers["reduction"] == "rank_as_category" and len(numbers["statistics"]) == 5
