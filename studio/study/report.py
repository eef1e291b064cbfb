"""A study report as text: the statistics table, Markdown, a self-contained HTML page with the
charts, and the files :func:`write_report` writes (the only function here that touches files)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from studio.study.agreement import (
    REDUCTIONS,
)
from studio.study.charts import build_charts
from studio.study.statistics import StudyReport


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_none_"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def statistics_rows(report: StudyReport) -> list[dict[str, str]]:
    """The statistics table as display strings (estimate, 95% CI, basis, note)."""
    return [
        {
            "statistic": s.name,
            "estimate": _fmt(s.estimate),
            "95% CI": "—" if s.low is None else f"[{s.low:.3f}, {s.high:.3f}]",
            "basis": s.basis,
            "note": s.note,
        }
        for s in report.statistics
    ]


def report_markdown(report: StudyReport) -> str:
    """The whole report as Markdown (tables; the charts are in the HTML version)."""
    parts = [
        f"# Study report: {report.name}",
        f"Study `{report.sha256[:12]}` · trial type **{report.trial_type}** · question: {report.question}",
        f"Participants: {report.n_participants} started, {report.n_completed} completed, "
        f"{report.n_excluded} excluded by the pre-registered rules, **{report.n_analysed} analysed**.",
    ]
    if report.reduction:
        parts.append(
            f"Fleiss' kappa reduction declared for this report: **{report.reduction.replace('_', ' ')}** "
            f"({REDUCTIONS[report.reduction]})."
        )
    parts += ["## Statistics", markdown_table(statistics_rows(report))]
    if report.mean_ranks:
        parts += ["## Mean rank per model (1 = best; 95% CI over prompts)", markdown_table(report.mean_ranks)]
    if report.bradley_terry:
        parts += ["## Bradley-Terry", markdown_table(report.bradley_terry)]
        # a fit that stopped short is said under its table, not only in the notes at the end
        parts += [f"**{n}**" for n in report.notes if n.startswith("Warning:") and "Bradley-Terry" in n]
    if report.win_rates is not None:
        rows = [
            {"model": a, **{b: report.win_rates[i, j] for j, b in enumerate(report.models)}}
            for i, a in enumerate(report.models)
        ]
        parts += ["## Win rates (row beats column; ties count half)", markdown_table(rows)]
    if report.rank_counts is not None and report.rank_counts.sum():
        k = len(report.models)
        rows = [
            {
                "model": m,
                **{
                    f"rank {r + 1}": f"{report.rank_shares[i, r]:.0%} ({report.rank_counts[i, r]})"
                    for r in range(k)
                },
            }
            for i, m in enumerate(report.models)
        ]
        parts += ["## Rank distribution (share of votes)", markdown_table(rows)]
    if report.preferences:
        rows = [
            {
                "pair": f"{p.a} vs {p.b}",
                "level": label,
                "answers": count,
                "share": share,
                "95% CI": f"[{lo:.2f}, {hi:.2f}]",
            }
            for p in report.preferences
            for label, count, share, lo, hi in zip(p.labels, p.counts, p.shares, p.low, p.high, strict=True)
        ]
        parts += ["## Preferences per pair (Wilson 95% CI)", markdown_table(rows)]
    parts += ["## Per prompt", markdown_table(report.per_prompt)]
    parts += ["## Answers per item", markdown_table(report.items)]
    parts += ["## Attention checks", markdown_table(report.attention)]
    if report.controls:
        parts += [
            "## Prompt-mismatch controls (clip made from the shown text preferred)",
            markdown_table(report.controls),
        ]
    parts += ["## Participants", markdown_table(report.participants)]
    rejected = [{"reason": k, "count": v} for k, v in report.rejections.items()]
    parts += ["## Rejected submissions", markdown_table(rejected)]
    parts += ["## Notes", "\n".join(f"- {n}" for n in report.notes)]
    return "\n\n".join(parts) + "\n"


def _html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    columns = list(rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_fmt(r.get(c)).replace(chr(92) + '|', '|'))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: StudyReport, plotly_src: str = "plotly.min.js") -> str:
    """A self-contained page (apart from ``plotly_src``, the plotly.js it loads): charts, then the
    tables of :func:`report_markdown`."""
    charts = [f for f in build_charts(report).values() if f is not None]
    figures = "".join(f.to_html(full_html=False, include_plotlyjs=False) for f in charts)
    sections = [
        ("Statistics", statistics_rows(report)),
        ("Mean rank per model", report.mean_ranks),
        ("Bradley-Terry", report.bradley_terry),
        ("Per prompt", report.per_prompt),
        ("Answers per item", report.items),
        ("Attention checks", report.attention),
        ("Prompt-mismatch controls", report.controls),
        ("Participants", report.participants),
        ("Rejected submissions", [{"reason": k, "count": v} for k, v in report.rejections.items()]),
    ]
    body = "".join(
        f"<h2>{html.escape(title)}</h2>{_html_table(rows)}"
        for title, rows in sections
        if rows or title in ("Statistics", "Attention checks")
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    reduction = (
        f"<p>Fleiss' kappa reduction declared: <b>{html.escape(report.reduction.replace('_', ' '))}</b></p>"
        if report.reduction
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Study report: {html.escape(report.name)}</title>"
        f"<script src='{html.escape(plotly_src)}'></script>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:left;font-size:.9em}th{background:#f3f3f3}</style></head><body>"
        f"<h1>Study report: {html.escape(report.name)}</h1>"
        f"<p>Study <code>{report.sha256[:12]}</code> · trial type <b>{html.escape(report.trial_type)}</b> · "
        f"{report.n_participants} started, {report.n_completed} completed, {report.n_excluded} excluded, "
        f"<b>{report.n_analysed} analysed</b></p>{reduction}{figures}{body}<h2>Notes</h2><ul>{notes}</ul>"
        "</body></html>"
    )


def write_report(report: StudyReport, out_dir: str | Path) -> list[Path]:
    """Write ``report.md``, ``report.html`` (+ ``plotly.min.js``, so it opens offline) and
    ``report.json`` (the statistics as numbers) into ``out_dir``; returns the paths."""
    from plotly.offline import get_plotlyjs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.md", out / "report.html", out / "plotly.min.js", out / "report.json"]
    paths[0].write_text(report_markdown(report), encoding="utf-8")
    paths[1].write_text(report_html(report), encoding="utf-8")
    paths[2].write_text(get_plotlyjs(), encoding="utf-8")
    numbers = {
        "study": report.name,
        "sha256": report.sha256,
        "trial_type": report.trial_type,
        "reduction": report.reduction,
        "participants": report.n_participants,
        "analysed": report.n_analysed,
        "excluded": report.n_excluded,
        "statistics": [
            {
                "name": s.name,
                "estimate": s.estimate,
                "ci_low": s.low,
                "ci_high": s.high,
                "basis": s.basis,
                "note": s.note,
            }
            for s in report.statistics
        ],
        "bradley_terry": report.bradley_terry,
        "mean_ranks": report.mean_ranks,
        "notes": report.notes,
    }
    paths[3].write_text(json.dumps(numbers, indent=1, ensure_ascii=False), encoding="utf-8")
    return paths
