"""Writing benchmark results: ``results.json`` (everything), ``results.csv`` (one line per row and
metric) and ``results.md`` (the leaderboard, provenance and constants)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from evaluations.results import (
    BenchmarkResults,
    leaderboard_markdown,
)


def results_csv(results: BenchmarkResults) -> str:
    """One line per row and metric: model, family, metric, value, uncertainty, kind, n."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "family", "metric", "value", "uncertainty", "kind", "n"])
    for row in results.rows:
        if row.error:
            writer.writerow([row.model, row.family, "error", "", "", row.error, ""])
        for key, value in row.metrics.items():
            n = value.detail.get("n", value.detail.get("n_items", ""))
            writer.writerow(
                [
                    row.model,
                    row.family,
                    key,
                    repr(value.value),
                    "" if value.uncertainty is None else repr(value.uncertainty),
                    value.kind,
                    n,
                ]
            )
    return buffer.getvalue()


def results_markdown(results: BenchmarkResults) -> str:
    """The leaderboard plus the provenance and the constants, for people."""
    p, e = results.protocol, results.evaluator
    lines = [
        f"# Benchmark: {results.dataset['name']} / {results.dataset['split']}",
        "",
        leaderboard_markdown(results),
        "## Provenance",
        "",
        f"- evaluator: `{e.checkpoint_sha256}`, trained on {e.training_data} "
        f"(data `{e.training_data_sha256}`); "
        f"{e.fps:g} fps, {e.max_frames} frames; {e.normalisation}; loss: {e.loss}; text: {e.text_encoder}",
    ]
    if results.emotion_recogniser:
        r = results.emotion_recogniser
        lines.append(f"- emotion recogniser: `{r['checkpoint_sha256']}`; {r['circumplex']}")
    lines += ["", "## Constants", ""] + [f"- {k}: {v}" for k, v in p.items()]
    lines += ["", "## Timing (s)", ""] + [f"- {k}: {v}" for k, v in results.timing.items()]
    lines += ["", f"machine: {results.machine}", f"created: {results.created}"]
    if results.command:
        lines.append(f"command: `{results.command}`")
    return "\n".join(lines) + "\n"


def write_results(results: BenchmarkResults, out: str | Path) -> list[Path]:
    """Write ``results.json``, ``results.csv`` and ``results.md`` into ``out``; returns the paths."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.csv", out / "results.md"]
    texts = [
        json.dumps(_finite(results.to_dict()), indent=2, allow_nan=False, default=_json_default) + "\n",
        results_csv(results),
        results_markdown(results),
    ]
    for path, text in zip(paths, texts, strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")  # never leave a half-written file behind
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths


def _finite(value: Any) -> Any:
    """NaN and inf become null: JSON has no spelling for them (an undefined CCC, say)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in results.json")
