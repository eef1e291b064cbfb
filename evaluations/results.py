"""Benchmark results as typed objects: load ``results.json``, format the leaderboard, refuse mixes.

Pure Python + the standard library (no torch), so the UI can import it cheaply::

    results = load_results("runs/quick/results.json")       # BenchmarkResults
    headers, rows = leaderboard_table(results)               # strings, GT row first
    print(leaderboard_markdown(results))

Numbers made by different evaluators (another checkpoint, other training data, another fps or
normalisation) are not comparable: :func:`combine_results` and :func:`leaderboard_table` over
several result sets raise :class:`IncomparableResultsError` saying which fields differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from evaluations.metric_table import GROUP_TITLES, METRICS, MetricSpec
from studio.errors import StudioError
from studio.formats import FormatError
from studio.formats.text import TextError, loads_json, read_text

__all__ = [
    "GROUND_TRUTH",
    "GROUP_TITLES",
    "RESULTS_FORMAT",
    "BenchmarkResults",
    "EvaluatorProvenance",
    "IncomparableResultsError",
    "MetricSpec",
    "MetricValue",
    "ModelResult",
    "ResultsFileError",
    "combine_results",
    "leaderboard_markdown",
    "leaderboard_table",
    "load_results",
    "run_warnings",
]

RESULTS_FORMAT = "expression-studio-benchmark-1"
GROUND_TRUTH = "ground-truth"


class IncomparableResultsError(StudioError, ValueError):
    """Results that must not share a table (different evaluators or protocols); says why."""


class ResultsFileError(StudioError, ValueError):
    """A results.json that cannot be read as benchmark results."""


@dataclass(frozen=True)
class EvaluatorProvenance:
    """Which evaluator made a number: enough to tell two evaluators apart and to rebuild one.

    ``checkpoint_sha256`` covers the weights and the embedded config; the other fields restate
    what a reader needs to judge comparability without opening the checkpoint.
    """

    checkpoint_sha256: str
    training_data: str  # dataset name
    training_data_sha256: str  # evaluations.data.items_fingerprint of the train + val items
    fps: float
    max_frames: int
    normalisation: str
    loss: str
    text_encoder: str
    embed_dim: int
    kind: str = "text-motion-evaluator"

    # fields that decide comparability, in the order a mismatch message names them
    IDENTITY = (
        "checkpoint_sha256",
        "training_data_sha256",
        "fps",
        "max_frames",
        "normalisation",
        "loss",
        "text_encoder",
        "embed_dim",
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], sha256: str) -> EvaluatorProvenance:
        training = config.get("training", {})
        return cls(
            checkpoint_sha256=sha256,
            training_data=str(training.get("dataset", "?")),
            training_data_sha256=str(training.get("data_fingerprint", "?")),
            fps=float(config["fps"]),
            max_frames=int(config["max_frames"]),
            normalisation=str(config.get("normalisation", "?")),
            loss=str(config.get("loss", "?")),
            text_encoder=str(config.get("text_encoder", "?")),
            embed_dim=int(config["net"]["embed_dim"]),
            kind=str(config.get("kind", "text-motion-evaluator")),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluatorProvenance:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, other: EvaluatorProvenance) -> list[str]:
        """Names of the identity fields in which ``other`` differs."""
        return [name for name in self.IDENTITY if getattr(self, name) != getattr(other, name)]

    def short(self) -> str:
        return (
            f"evaluator {self.checkpoint_sha256[:12]} (trained on {self.training_data}, data "
            f"{self.training_data_sha256[:12]}, {self.fps:g} fps)"
        )


@dataclass(frozen=True)
class MetricValue:
    """One number of one row, with its uncertainty and how it was made.

    ``kind``: ``"replications"`` (``uncertainty`` = 1.96·σ/√n over replications),
    ``"bootstrap"`` (``uncertainty`` = bootstrap standard error), ``"exact"`` (no uncertainty,
    e.g. zero by construction for ground truth against itself).
    """

    value: float
    uncertainty: float | None
    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def format(self, digits: int = 3) -> str:
        if not math.isfinite(self.value):
            return "—"
        # heavy-tailed numbers (Cppl of free generation reaches 1e8) read better in 3 significant digits
        spec = ".3g" if abs(self.value) >= 1e4 else f".{digits}f"
        text = f"{self.value:{spec}}"
        if self.uncertainty is not None and math.isfinite(self.uncertainty):
            text += f" ± {self.uncertainty:{'.2g' if spec == '.3g' else spec}}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "uncertainty": self.uncertainty,
            "kind": self.kind,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricValue:
        value = data.get("value")
        return cls(
            value=math.nan if value is None else float(value),
            uncertainty=None if data.get("uncertainty") is None else float(data["uncertainty"]),
            kind=str(data.get("kind", "exact")),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True)
class ModelResult:
    """One row: a model (or the ground truth) and its metrics, keyed by
    :data:`evaluations.metric_table.METRICS` keys."""

    model: str
    family: str
    metrics: Mapping[str, MetricValue]
    checkpoint_sha256: str | None = None
    generation_s: float = 0.0
    error: str | None = None

    @property
    def is_ground_truth(self) -> bool:
        return self.model == GROUND_TRUTH

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "family": self.family,
            "checkpoint_sha256": self.checkpoint_sha256,
            "generation_s": self.generation_s,
            "error": self.error,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelResult:
        return cls(
            model=str(data["model"]),
            family=str(data.get("family", "?")),
            metrics={k: MetricValue.from_dict(v) for k, v in (data.get("metrics") or {}).items()},
            checkpoint_sha256=data.get("checkpoint_sha256"),
            generation_s=float(data.get("generation_s") or 0.0),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class BenchmarkResults:
    """A whole ``results.json``: provenance, protocol constants, dataset, rows (GT first)."""

    evaluator: EvaluatorProvenance
    protocol: Mapping[str, Any]
    dataset: Mapping[str, Any]
    rows: tuple[ModelResult, ...]
    emotion_recogniser: Mapping[str, Any] | None = None
    timing: Mapping[str, Any] = field(default_factory=dict)
    machine: Mapping[str, Any] = field(default_factory=dict)
    created: str = ""
    command: str = ""
    format: str = RESULTS_FORMAT
    # what a reader must know before trusting the table (a non-test split, items the evaluator
    # trained on, an overlap nobody could check); every output shows them. Older files: none.
    warnings: tuple[str, ...] = ()

    def row(self, model: str) -> ModelResult:
        for row in self.rows:
            if row.model == model:
                return row
        raise KeyError(f"no row for model {model!r}; rows: {', '.join(r.model for r in self.rows)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "created": self.created,
            "command": self.command,
            "warnings": list(self.warnings),
            "evaluator": self.evaluator.to_dict(),
            "emotion_recogniser": self.emotion_recogniser,
            "protocol": dict(self.protocol),
            "dataset": dict(self.dataset),
            "rows": [r.to_dict() for r in self.rows],
            "timing": dict(self.timing),
            "machine": dict(self.machine),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchmarkResults:
        if data.get("format") != RESULTS_FORMAT:
            raise ResultsFileError(
                f"not benchmark results (format {data.get('format')!r}, expected {RESULTS_FORMAT!r})"
            )
        try:
            return cls(
                evaluator=EvaluatorProvenance.from_dict(data["evaluator"]),
                protocol=dict(data["protocol"]),
                dataset=dict(data["dataset"]),
                rows=tuple(ModelResult.from_dict(r) for r in data["rows"]),
                emotion_recogniser=data.get("emotion_recogniser"),
                timing=dict(data.get("timing") or {}),
                machine=dict(data.get("machine") or {}),
                created=str(data.get("created", "")),
                command=str(data.get("command", "")),
                warnings=tuple(str(w) for w in data.get("warnings") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsFileError(f"malformed benchmark results: {exc!r}") from None


def load_results(path: str | Path) -> BenchmarkResults:
    """Read a ``results.json`` written by the benchmark runner. Raises :class:`ResultsFileError`."""
    path = Path(path)
    try:
        # bounded size and nesting: a results.json in a data folder is whatever someone put there
        data = loads_json(read_text(path, max_bytes=16 * 2**20))
    except (FormatError, TextError, OSError) as exc:
        raise ResultsFileError(f"{path}: cannot read benchmark results: {exc}") from None
    if not isinstance(data, dict):
        raise ResultsFileError(f"{path}: must hold a JSON object")
    try:
        return BenchmarkResults.from_dict(data)
    except ResultsFileError as exc:
        raise ResultsFileError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------------


def combine_results(results: Sequence[BenchmarkResults]) -> BenchmarkResults:
    """Rows of several result sets in one, when (and only when) they are comparable.

    Comparable = the same evaluator (every :attr:`EvaluatorProvenance.IDENTITY` field), the same
    scored items (dataset fingerprint) and the same protocol constants. Rows are de-duplicated by
    model name (the first set wins; ground truth stays first).
    """
    if not results:
        raise ValueError("no results to combine")
    first = results[0]
    for index, other in enumerate(results[1:], start=2):
        diff = first.evaluator.differences(other.evaluator)
        if diff:
            raise IncomparableResultsError(
                f"refusing to put results from different evaluators in one table: set 1 was scored by "
                f"{first.evaluator.short()}, set {index} by {other.evaluator.short()} (they differ in "
                f"{', '.join(diff)}); features from different evaluators live in different spaces, so "
                "FID, R-precision and MM-Dist cannot be compared. Rescore both with one evaluator."
            )
        if first.dataset.get("items_sha256") != other.dataset.get("items_sha256"):
            raise IncomparableResultsError(
                f"refusing to put results on different test items in one table: set 1 scored "
                f"{_items(first)}, set {index} {_items(other)}."
            )
        keys = [k for k in PROTOCOL_IDENTITY if first.protocol.get(k) != other.protocol.get(k)]
        if keys:
            raise IncomparableResultsError(
                "refusing to put results made under different protocol constants in one table: "
                "they differ in "
                + ", ".join(f"{k} ({first.protocol.get(k)!r} vs {other.protocol.get(k)!r})" for k in keys)
            )
    rows: dict[str, ModelResult] = {}
    for result in results:
        for row in result.rows:
            rows.setdefault(row.model, row)
    ordered = sorted(rows.values(), key=lambda r: not r.is_ground_truth)
    return BenchmarkResults(
        first.evaluator,
        first.protocol,
        first.dataset,
        tuple(ordered),
        first.emotion_recogniser,
        first.timing,
        first.machine,
        first.created,
        first.command,
        warnings=tuple(dict.fromkeys(w for r in results for w in r.warnings)),
    )


def run_warnings(protocol: Mapping[str, Any], dataset: Mapping[str, Any]) -> tuple[str, ...]:
    """The warnings a run's protocol and dataset records call for (the runner stores them in
    :attr:`BenchmarkResults.warnings`): a non-test split, scored items the evaluator trained on,
    and an overlap that could not be checked."""
    out = []
    split = dataset.get("split")
    if protocol.get("allow_non_test") and split != "test":
        out.append(
            f"scored on the {split} split (--allow-non-test), not test: these numbers are not "
            "comparable with test-split leaderboards"
        )
    overlap = dataset.get("overlap")
    if isinstance(overlap, Mapping):
        if not overlap.get("checked"):
            out.append(
                "overlap with the evaluator's training items could not be checked: "
                f"{overlap.get('note') or 'unknown'}"
            )
        elif overlap.get("overlapping_items"):
            out.append(
                f"{overlap['overlapping_items']} of {overlap.get('n_items')} scored items overlap the "
                f"evaluator's training items ({overlap.get('by_clip_hash')} by clip hash, "
                f"{overlap.get('by_prompt')} by normalised prompt; --allow-overlap): the evaluator has "
                "seen them, so R-precision, MM-Dist and FID flatter every row"
            )
    return tuple(out)


def _items(results: BenchmarkResults) -> str:
    d = results.dataset
    return f"{d.get('name')}/{d.get('split')} ({d.get('n_items')} items, {str(d.get('items_sha256'))[:12]})"


# protocol constants that change the numbers (not merely how long they took)
PROTOCOL_IDENTITY = (
    "r_precision_convention",
    "r_precision_batch_size",
    "diversity_pairs",
    "replications",
    "fid_reference",
    "clip_length",
)


def _as_one(results: BenchmarkResults | Sequence[BenchmarkResults]) -> BenchmarkResults:
    if isinstance(results, BenchmarkResults):
        return results
    return combine_results(list(results))


def leaderboard_table(
    results: BenchmarkResults | Sequence[BenchmarkResults],
    groups: Sequence[str] = ("humanml3d",),
) -> tuple[list[str], list[list[str]]]:
    """Headers and string rows (GT first) for the chosen metric groups; refuses incomparable sets."""
    merged = _as_one(results)
    specs = [m for m in METRICS if m.group in groups and any(m.key in r.metrics for r in merged.rows)]
    headers = ["Model"] + [f"{m.title} {m.arrow}" for m in specs]
    rows = []
    for row in merged.rows:
        name = "Ground truth" if row.is_ground_truth else row.model
        if row.error:
            rows.append([name] + ["failed"] * len(specs))
            continue
        rows.append(
            [name] + [row.metrics[m.key].format(m.digits) if m.key in row.metrics else "—" for m in specs]
        )
    return headers, rows


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def leaderboard_markdown(results: BenchmarkResults | Sequence[BenchmarkResults]) -> str:
    """The leaderboard as Markdown: one table per metric group, then the constants that made it."""
    merged = _as_one(results)
    parts = [f"**Warning:** {w}." for w in merged.warnings]
    for group, title in GROUP_TITLES.items():
        headers, rows = leaderboard_table(merged, (group,))
        if len(headers) > 1:
            parts.append(f"**{title}**\n\n{_markdown(headers, rows)}")
    failures = [f"- `{r.model}` failed: {r.error}" for r in merged.rows if r.error]
    if failures:
        parts.append("\n".join(failures))
    p, d = merged.protocol, merged.dataset
    parts.append(
        f"{d.get('name')} / {d.get('split')}: {d.get('n_items')} prompts, "
        f"{p.get('replications')} replications, seed {p.get('seed')}; "
        f"R-precision {p.get('r_precision_convention')} ({p.get('r_precision_description')}), "
        f"batches of {p.get('r_precision_batch_size')}; diversity {p.get('diversity_pairs')} pairs; "
        f"FID reference: {p.get('fid_reference')}; {merged.evaluator.short()}."
    )
    return "\n\n".join(parts) + "\n"
