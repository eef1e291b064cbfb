"""Write an analysis to a folder: every chart as HTML and PNG, ``categories.csv``, ``summary.json``.

The file-writing edge of :mod:`studio.analysis`. HTML charts share one ``plotly.min.js``
written beside them (so they open offline and the folder stays small). PNGs are plotly's own
static export through kaleido, which drives a local Chromium: Debian's ``chromium`` is found on
``PATH`` (or ``BROWSER_PATH``); nothing is downloaded. Without a browser the PNGs are skipped
with one clear reason and everything else is still written.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from studio.analysis.categorise import EMOTIONS
from studio.analysis.report import DatasetAnalysis, consistency_table
from studio.config import browser_path

PNG_SIZE = {"default": (1000, 620), "tsne": (1100, 900), "confusion": (720, 640)}
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_browser() -> str | None:
    """A local Chrome/Chromium for kaleido: ``$BROWSER_PATH``, else one of :data:`BROWSER_NAMES` on PATH."""
    explicit = browser_path()
    if explicit is not None and explicit.is_file():
        return str(explicit)
    return next((p for p in map(shutil.which, BROWSER_NAMES) if p), None)


def _png_size(stem: str) -> tuple[int, int]:
    if stem.endswith("tsne"):
        return PNG_SIZE["tsne"]
    if stem.endswith(("confusion", "consistency")) and "model_consistency" not in stem:
        return PNG_SIZE["confusion"]
    return PNG_SIZE["default"]


def write_pngs(figures: Mapping[str, object], out: Path) -> str | None:
    """Write ``<stem>.png`` for every figure in one browser session; returns why not, or None on success."""
    browser = find_browser()
    if browser is None:
        return "no Chrome/Chromium found (install Debian's 'chromium' or set BROWSER_PATH)"
    try:
        import kaleido  # noqa: F401  (plotly needs it for static export)
        import plotly.io as pio
    except ImportError:
        return "kaleido is not installed (pip install kaleido, see requirements.txt)"
    os.environ.setdefault("BROWSER_PATH", browser)  # choreographer reads it; never downloads Chrome then
    stems = list(figures)
    try:
        pio.write_images(
            [figures[s] for s in stems],
            [out / f"{s}.png" for s in stems],
            width=[_png_size(s)[0] for s in stems],
            height=[_png_size(s)[1] for s in stems],
            scale=1.5,
        )
    except Exception as exc:  # kaleido/browser failures come in many types; the rest is still written
        return f"PNG export failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def write_categories_csv(analysis: DatasetAnalysis, path: Path) -> None:
    """``id, prompt, split, <six scores>, dominant[, clip_dominant], note`` — one row per item."""
    a = analysis
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        header = ["id", "prompt", "split", *EMOTIONS, "dominant"]
        if a.clip_scores is not None:
            header.append("clip_dominant")
        writer.writerow([*header, "note"])
        for i in range(a.n):
            row = [
                a.ids[i],
                a.prompts[i],
                a.splits[i] or "",
                *(f"{v:.4f}" for v in a.prompt_scores[i]),
                EMOTIONS[int(a.prompt_scores[i].argmax())],
            ]
            if a.clip_scores is not None:
                ok = np.isfinite(a.clip_scores[i]).all()
                row.append(EMOTIONS[int(a.clip_scores[i].argmax())] if ok else "")
            writer.writerow([*row, a.notes[i]])


def write_consistency_csv(analysis: DatasetAnalysis, path: Path) -> None:
    table = consistency_table(analysis)
    keys = [
        "name",
        "n",
        "top1",
        "top1_low",
        "top1_high",
        "mean_cosine",
        "top1_vs_intended",
        "top1_vs_intended_low",
        "top1_vs_intended_high",
        "n_intended",
        "failures",
        "baseline",
        "top1_minus_baseline",
        "top1_minus_baseline_low",
        "top1_minus_baseline_high",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, keys, lineterminator="\n")
        writer.writeheader()
        for r in table:
            flat = dict(r)
            for key in ("top1", "top1_vs_intended", "top1_minus_baseline"):
                low, high = r.get(f"{key}_ci95") or (None, None)
                flat[f"{key}_low"], flat[f"{key}_high"] = low, high
            writer.writerow({k: ("" if flat.get(k) is None else flat[k]) for k in keys})


def _index_html(analysis: DatasetAnalysis, stems: list[str], png: bool) -> str:
    items = []
    for stem in stems:
        preview = f'<img src="{stem}.png" alt="{stem}" loading="lazy">' if png else ""
        items.append(
            f'<figure><a href="{stem}.html">{preview}<figcaption>{html.escape(stem)}</figcaption></a>'
            "</figure>"
        )
    return (
        "<!doctype html><meta charset='utf-8'><title>" + html.escape(analysis.name) + " — analysis</title>"
        "<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;width:31%;margin:0.5%;"
        "vertical-align:top}img{width:100%;border:1px solid #ddd}</style>"
        f"<h1>{html.escape(analysis.name)}</h1><p>{analysis.n} items · open a chart for the interactive "
        "version · <a href='summary.json'>summary.json</a> · <a href='categories.csv'>categories.csv</a></p>"
        + "".join(items)
    )


def write_report(
    analysis: DatasetAnalysis, figures: Mapping[str, object], out: str | Path, *, png: bool = True
) -> dict[str, object]:
    """Write everything to ``out`` (created if needed). Returns the summary written to ``summary.json``,
    with ``files`` listing what was written and ``png_skipped`` the reason PNGs are missing, if they are."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    files = ["plotly.min.js"]
    for stem, figure in figures.items():
        pio.write_html(
            figure,
            out / f"{stem}.html",
            include_plotlyjs="directory",
            full_html=True,
            config={"displaylogo": False, "toImageButtonOptions": {"filename": stem}},
        )
        files.append(f"{stem}.html")
    png_problem = write_pngs(figures, out) if png else "not requested (--no-png)"
    if png_problem is None:
        files += [f"{s}.png" for s in figures]
    write_categories_csv(analysis, out / "categories.csv")
    files.append("categories.csv")
    summary = analysis.summary()
    if analysis.models:
        write_consistency_csv(analysis, out / "consistency.csv")
        files.append("consistency.csv")
        summary["consistency_table"] = consistency_table(analysis)
    (out / "index.html").write_text(
        _index_html(analysis, list(figures), png_problem is None), encoding="utf-8"
    )
    files.append("index.html")
    summary["png_skipped"] = png_problem
    summary["files"] = [*files, "summary.json"]
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return summary
