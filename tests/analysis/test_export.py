from __future__ import annotations

import csv
import json
import struct

import numpy as np
import plotly.graph_objects as go
import pytest

from studio.analysis.categorise import EMOTIONS
from studio.analysis.export import find_browser, write_pngs, write_report
from studio.analysis.report import analyse_dataset, analyse_models, build_figures, select_rows
from tests.analysis.conftest import ROWS, keyword_embed
from tests.analysis.test_report import KeywordModel


def _strict_json(path):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_report_writes_html_categories_summary_and_consistency(tiny_dataset, tmp_path):
    a = analyse_dataset(tiny_dataset, embed=keyword_embed)
    a = analyse_models(a, [KeywordModel()], select_rows(a, 5, compositional=False))
    figures = build_figures(a)
    out = tmp_path / "report"
    summary = write_report(a, figures, out, png=False)
    for stem in figures:
        page = (out / f"{stem}.html").read_text(encoding="utf-8")
        assert 'src="plotly.min.js"' in page  # one shared copy, not 4 MB per chart
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    assert summary["png_skipped"] == "not requested (--no-png)"
    written = _strict_json(out / "summary.json")
    assert written["items"] == len(ROWS) and written["distinct_prompts"] == len(ROWS) - 1
    assert written["consistency_table"][1]["name"] == "keyword"
    assert set(written["files"]) == {p.name for p in out.iterdir()}
    with (out / "categories.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(ROWS)
    assert list(rows[0]) == ["id", "prompt", "split", *EMOTIONS, "dominant", "clip_dominant", "note"]
    first = rows[0]
    assert sum(float(first[e]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
    assert first["dominant"] == "happiness" and first["clip_dominant"] == "happiness"
    with (out / "consistency.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [r["name"] for r in table] == ["ground truth (dataset clips)", "keyword"]
    assert float(table[1]["top1_low"]) <= float(table[1]["top1"]) <= float(table[1]["top1_high"])


def test_png_export_without_a_browser_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    assert find_browser() is None
    problem = write_pngs({"x": go.Figure()}, tmp_path)
    assert problem and "chromium" in problem
    assert not (tmp_path / "x.png").exists()


@pytest.mark.browser
def test_png_export_through_the_local_chromium(tmp_path):
    if find_browser() is None:
        pytest.skip("no Chrome/Chromium on this machine")
    pytest.importorskip("kaleido")
    figure = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    assert write_pngs({"bar_confusion": figure}, tmp_path) is None
    data = (tmp_path / "bar_confusion.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (int(720 * 1.5), int(640 * 1.5))
    assert np.frombuffer(data, np.uint8).size > 5000
