"""Raw data export of a study: every stored answer and participant (excluded ones too, flagged) as
CSV and Parquet, with a codebook of every column (Markdown and JSON)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from studio.study.records import EXPORT_COLUMNS, ParticipantSummary, StudyRecord
from studio.study.report import markdown_table
from studio.study.storage import StudyStore

# column -> (type, meaning, allowed values)
CODEBOOK: dict[str, tuple[str, str, str]] = {
    "study_sha256": ("string", "SHA-256 of the study's frozen canonical config", "64 hex digits"),
    "participant": (
        "string",
        "pseudonymous participant id: HMAC-SHA256(server secret, PROLIFIC_PID, "
        "STUDY_ID); the raw Prolific id is never stored",
        "64 hex digits",
    ),
    "participant_index": (
        "int64",
        "order in which participants started (0-based); fixes their trials",
        ">= 0",
    ),
    "trial_id": ("int64", "database id of the trial (unique in the study)", ">= 1"),
    "position": ("int64", "place of the trial in the participant's sequence (0-based)", ">= 0"),
    "kind": (
        "string",
        "what the trial is",
        "item (counts toward the study), attention (attention check), control (prompt-mismatch control)",
    ),
    "item_id": (
        "string",
        "item: prompt id (rank) or '<prompt id>:<model a>~<model b>' (2afc5/pairwise); "
        "attention: 'check:<i>'; control: 'control:<model>:<prompt id>'",
        "text",
    ),
    "prompt": ("string", "the text shown to the participant", "text"),
    "question": ("string", "the question shown on the trial screen", "text"),
    "clip_models": (
        "string (JSON list)",
        "model of each clip, left to right (hidden from participants)",
        "JSON list of model names",
    ),
    "clip_prompts": (
        "string (JSON list)",
        "text each clip was generated from, left to right (differs from "
        "'prompt' for contradiction decoys and mismatch controls)",
        "JSON list of texts",
    ),
    "answer": (
        "string (JSON)",
        "the stored answer exactly as validated",
        '{"ranking": [...]} or {"choice": ...}',
    ),
    "choice": (
        "string or empty",
        "2afc5/pairwise answer; a/left = first clip",
        "2afc5: strong_a, weak_a, equal, weak_b, strong_b; pairwise: a, b, tie, both_bad; empty for rank",
    ),
    "ranking": (
        "string (JSON list) or empty",
        "rank trials: rank given to each clip, left to right (1 = best)",
        "permutation of 1..K; empty otherwise",
    ),
    "preferred_model": (
        "string or empty",
        "two-clip trials: model of the preferred clip",
        "a model name; empty for equal/tie/both_bad and rank trials",
    ),
    "strength": (
        "int64 or empty",
        "two-clip trials: strength of the preference",
        "2afc5: 2 strong, 1 weak, 0 equal; pairwise: 1 preference, 0 none; empty for rank",
    ),
    "ranks": ("string (JSON object) or empty", "rank trials: model -> rank", "JSON object; empty otherwise"),
    "attention_passed": (
        "bool or empty",
        "attention checks: whether the answer passed",
        "true/false; empty for other trials",
    ),
    "dwell_ms": (
        "int64 or empty",
        "milliseconds from the trial's first recorded event to the stored answer (server clock)",
        ">= 0",
    ),
    "answered_at": ("string (ISO 8601, UTC)", "when the answer was committed", "timestamp"),
}

PARTICIPANT_CODEBOOK: dict[str, tuple[str, str, str]] = {
    "participant": CODEBOOK["participant"],
    "participant_index": CODEBOOK["participant_index"],
    "total": ("int64", "trials assigned to the participant", ">= 1"),
    "answered": ("int64", "trials answered", "0..total"),
    "completed": ("bool", "every trial answered (the completion code was shown)", "true/false"),
    "checks_answered": ("int64", "attention checks answered", ">= 0"),
    "checks_failed": ("int64", "attention checks failed", ">= 0"),
    "median_dwell_s": ("float64 or empty", "median seconds per answered trial", ">= 0"),
    "rejections": (
        "int64",
        "submissions from this participant the server refused (replays, forged, ...)",
        ">= 0",
    ),
    "excluded": ("bool", "excluded by the study's pre-registered rules", "true/false"),
    "exclusion_reasons": ("string", "why, '; '-separated (empty when kept)", "text"),
}

_ARROW_TYPES = {"string": "string", "int64": "int64", "bool": "bool_", "float64": "float64"}


def _arrow_schema(codebook: Mapping[str, tuple[str, str, str]]):
    import pyarrow as pa

    fields = []
    for column, (kind, _, _) in codebook.items():
        base = kind.split(" ")[0]
        fields.append(pa.field(column, getattr(pa, _ARROW_TYPES.get(base, "string"))(), nullable=True))
    return pa.schema(fields)


def _participant_rows(participants: Sequence[ParticipantSummary]) -> list[dict[str, Any]]:
    return [
        {
            "participant": p.participant,
            "participant_index": p.participant_index,
            "total": p.total,
            "answered": p.answered,
            "completed": p.completed,
            "checks_answered": p.checks_answered,
            "checks_failed": p.checks_failed,
            "median_dwell_s": p.median_dwell_s,
            "rejections": p.rejections,
            "excluded": bool(p.exclusion_reasons),
            "exclusion_reasons": "; ".join(p.exclusion_reasons) or None,
        }
        for p in participants
    ]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def codebook_markdown() -> str:
    """The codebook of both exported tables as Markdown."""
    parts = [
        "# Codebook",
        "Empty CSV cells (Parquet nulls) mean 'does not apply'. CSV is UTF-8 with a header "
        "row; booleans are `true`/`false`.",
        "## answers.csv / answers.parquet (one row per stored answer)",
    ]
    for title, book in (
        ("", CODEBOOK),
        ("## participants.csv / participants.parquet (one row per participant)", PARTICIPANT_CODEBOOK),
    ):
        if title:
            parts.append(title)
        rows = [{"column": c, "type": t, "meaning": m, "allowed values": v} for c, (t, m, v) in book.items()]
        parts.append(markdown_table(rows))
    return "\n\n".join(parts) + "\n"


def export_answers(store: StudyStore, study: StudyRecord, out_dir: str | Path) -> list[Path]:
    """Write every stored answer and participant of ``study`` (excluded ones too, flagged) as
    CSV and Parquet, with ``codebook.md`` and ``codebook.json``; returns the paths."""
    return write_exports(store.export_answers(study), store.participant_summaries(study), out_dir)


def write_exports(
    rows: Sequence[Mapping[str, Any]], participants: Sequence[ParticipantSummary], out_dir: str | Path
) -> list[Path]:
    """The file edge of :func:`export_answers`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if list(CODEBOOK) != list(EXPORT_COLUMNS):  # storage and codebook must describe the same table
        raise RuntimeError("the codebook does not match records.EXPORT_COLUMNS")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    tables = (
        ("answers", [dict(r) for r in rows], CODEBOOK),
        ("participants", _participant_rows(participants), PARTICIPANT_CODEBOOK),
    )
    for stem, table_rows, book in tables:
        columns = list(book)
        with (out / f"{stem}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows({c: _csv_value(r[c]) for c in columns} for r in table_rows)
        schema = _arrow_schema(book)
        table = pa.Table.from_pylist([{c: r[c] for c in columns} for r in table_rows], schema=schema)
        pq.write_table(table, out / f"{stem}.parquet")
        paths += [out / f"{stem}.csv", out / f"{stem}.parquet"]
    (out / "codebook.md").write_text(codebook_markdown(), encoding="utf-8")
    book_json = {
        name: {c: {"type": t, "meaning": m, "allowed": v} for c, (t, m, v) in book.items()}
        for name, book in (("answers", CODEBOOK), ("participants", PARTICIPANT_CODEBOOK))
    }
    (out / "codebook.json").write_text(json.dumps(book_json, indent=1, ensure_ascii=False), encoding="utf-8")
    return [*paths, out / "codebook.md", out / "codebook.json"]


def read_csv_export(path: str | Path, codebook: Mapping[str, tuple[str, str, str]] = CODEBOOK) -> list[dict]:
    """Read an exported CSV back with the codebook's types (empty cells -> None)."""

    def convert(kind: str, text: str) -> Any:
        if text == "":
            return None
        base = kind.split(" ")[0]
        if base == "int64":
            return int(text)
        if base == "float64":
            return float(text)
        if base == "bool":
            return text == "true"
        return text

    with Path(path).open(newline="", encoding="utf-8") as handle:
        return [{c: convert(codebook[c][0], v) for c, v in row.items()} for row in csv.DictReader(handle)]
