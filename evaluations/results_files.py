"""Writing benchmark results: ``results.json`` (everything), ``results.csv`` (one line per row and
metric) and ``results.md`` (the leaderboard, provenance and constants); and finding them again.

Where the studio looks (:func:`results_roots`): its output folder (``STUDIO_OUTPUT_DIR``, default
``./outputs``; the Benchmark tab's quick runs go to ``<output>/benchmarks/``) and the data folders
(``STUDIO_DATA_DIRS``), searched :data:`SEARCH_DEPTH` folders deep, so
``python -m studio benchmark --out outputs/my-run`` is listed; and the leaderboard the studio ships
(:func:`shipped_leaderboard`, ``assets/leaderboard/results.json``, made by
``scripts/build_leaderboard.py``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from evaluations.results import (
    BenchmarkResults,
    leaderboard_markdown,
)
from studio.config import StudioConfig

RESULTS_NAME = "results.json"
SEARCH_DEPTH = 4  # folders below a root: <output>/benchmarks/quick-<key>/ is 2, --out a/b/c is 3
LEADERBOARD_FOLDER = "leaderboard"  # under the assets folder


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
    overlap = results.dataset.get("overlap")
    if isinstance(overlap, dict):
        lines.append(f"- overlap with the evaluator's training items: {_overlap_text(overlap)}")
    if results.emotion_recogniser:
        r = results.emotion_recogniser
        lines.append(f"- emotion recogniser: `{r['checkpoint_sha256']}`; {r['circumplex']}")
    lines += ["", "## Constants", ""] + [f"- {k}: {v}" for k, v in p.items()]
    lines += ["", "## Timing (s)", ""] + [f"- {k}: {v}" for k, v in results.timing.items()]
    lines += ["", f"machine: {results.machine}", f"created: {results.created}"]
    if results.command:
        lines.append(f"command: `{results.command}`")
    return "\n".join(lines) + "\n"


def _overlap_text(overlap: dict[str, Any]) -> str:
    if not overlap.get("checked"):
        return f"not checked ({overlap.get('note')})"
    text = (
        f"{overlap.get('overlapping_items')} of {overlap.get('n_items')} scored items "
        f"({overlap.get('by_clip_hash')} by clip hash, {overlap.get('by_prompt')} by normalised prompt)"
    )
    examples = overlap.get("examples") or []
    if examples:
        text += f", e.g. {'; '.join(map(repr, examples))}"
    return f"{text}; {overlap.get('note')}"


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


def results_roots(config: StudioConfig) -> tuple[Path, ...]:
    """The folders whose ``results.json`` files the studio lists: output folder, then data folders."""
    return tuple(dict.fromkeys(Path(p) for p in (config.output_dir, *config.data_dirs)))


def shipped_leaderboard(assets_dir: str | Path) -> Path | None:
    """``<assets>/leaderboard/results.json``, the leaderboard the studio ships, when it is there."""
    path = Path(assets_dir) / LEADERBOARD_FOLDER / RESULTS_NAME
    return path.resolve() if path.is_file() else None


def find_results(roots: Iterable[str | Path], depth: int = SEARCH_DEPTH) -> list[Path]:
    """Every ``results.json`` in or below ``roots`` (at most ``depth`` folders down), resolved,
    newest first. Symlinked folders are not entered and a file whose real path is outside its
    root is left out, so a link in a data folder cannot list (and then serve) a file elsewhere."""
    from studio.formats import FormatError
    from studio.formats.paths import resolve_inside

    found: set[Path] = set()
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        base = len(root.parts)
        for folder, subfolders, files in os.walk(root, followlinks=False):
            if len(Path(folder).parts) - base >= depth:
                subfolders.clear()  # deep enough: a results folder is never buried further
            if RESULTS_NAME not in files:
                continue
            try:
                path = resolve_inside(root, Path(folder, RESULTS_NAME).relative_to(root))
            except FormatError:
                continue
            if path.is_file():
                found.add(path)
    return sorted(found, key=lambda p: (-p.stat().st_mtime, str(p)))


def listed_where(out: str | Path, config: StudioConfig) -> Path | None:
    """The root of :func:`results_roots` under which results written to ``out`` are listed, or
    ``None`` when the studio will not list them (outside every root, or too deep)."""
    target = Path(out).resolve()
    for root in results_roots(config):
        base = root.resolve()
        if target.is_relative_to(base) and len(target.parts) - len(base.parts) <= SEARCH_DEPTH:
            return root
    return None
