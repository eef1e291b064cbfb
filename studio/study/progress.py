"""Progress tables of a study: participants (status, exclusions), answers per item, attention
checks and prompt-mismatch controls. Rows are dicts (column -> value) from the stored answers
(:data:`~studio.study.records.EXPORT_COLUMNS` rows) and participant summaries."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from studio.study.agreement import wilson_interval
from studio.study.definition import StudyDefinition
from studio.study.records import ParticipantSummary


def participant_table(
    participants: Sequence[ParticipantSummary], analysed: set[str], include_incomplete: bool
) -> list[dict[str, Any]]:
    table = []
    for p in participants:
        if p.exclusion_reasons:
            status = "excluded: " + "; ".join(p.exclusion_reasons)
        elif p.participant in analysed:
            status = "analysed"
        else:
            status = "not analysed: incomplete"
        table.append(
            {
                "participant_index": p.participant_index,
                "participant": p.participant[:12],
                "answered": f"{p.answered}/{p.total}",
                "completed": p.completed,
                "checks_failed": p.checks_failed,
                "checks_answered": p.checks_answered,
                "median_dwell_s": None if p.median_dwell_s is None else round(p.median_dwell_s, 2),
                "rejections": p.rejections,
                "status": status,
            }
        )
    return table


def item_table(
    definition: StudyDefinition, rows: Sequence[Mapping[str, Any]], analysed: set[str]
) -> list[dict[str, Any]]:
    every = Counter(r["item_id"] for r in rows if r["kind"] == "item")
    kept = Counter(r["item_id"] for r in rows if r["kind"] == "item" and r["participant"] in analysed)
    return [
        {
            "item": item.id,
            "prompt": item.prompt.text,
            "models": " vs ".join(item.models) if len(item.models) == 2 else f"{len(item.models)} models",
            "answers": every[item.id],
            "analysed": kept[item.id],
            "target": definition.raters_per_item,
        }
        for item in definition.items
    ]


def attention_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every participant's answers to each check (exclusion decisions rest on all of them)."""
    tally: dict[str, list[bool]] = defaultdict(list)
    prompts: dict[str, str] = {}
    for row in rows:
        if row["kind"] == "attention" and row["attention_passed"] is not None:
            tally[row["item_id"]].append(bool(row["attention_passed"]))
            prompts[row["item_id"]] = row["prompt"]
    table = []
    for check in sorted(tally, key=lambda c: int(c.split(":")[1]) if c.split(":")[-1].isdigit() else 0):
        outcomes = tally[check]
        table.append(
            {
                "check": check,
                "prompt": prompts[check],
                "answered": len(outcomes),
                "failed": outcomes.count(False),
                "pass_rate": sum(outcomes) / len(outcomes),
            }
        )
    return table


def control_table(
    definition: StudyDefinition, rows: Sequence[Mapping[str, Any]], analysed: set[str]
) -> list[dict[str, Any]]:
    """Prompt-mismatch controls: how often the clip made from the shown text was preferred."""
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["kind"] != "control" or row["participant"] not in analysed:
            continue
        clip_prompts = json.loads(row["clip_prompts"])
        matched = clip_prompts.index(row["prompt"])
        model = json.loads(row["clip_models"])[matched]
        if row["ranking"] is not None:
            winner: int | None = json.loads(row["ranking"]).index(1)
        else:
            level = row["choice"]
            winner = {"a": 0, "strong_a": 0, "weak_a": 0, "b": 1, "strong_b": 1, "weak_b": 1}.get(level)
        per_model[model]["matched" if winner == matched else "none" if winner is None else "mismatched"] += 1
    table = []
    for model in [m.name for m in definition.models] + ["all models"]:
        tally = (
            sum(per_model.values(), Counter()) if model == "all models" else per_model.get(model, Counter())
        )
        n = sum(tally.values())
        if n == 0:
            continue
        low, high = wilson_interval(tally["matched"], n)
        table.append(
            {
                "model": model,
                "answers": n,
                "matched_preferred": tally["matched"] / n,
                "ci_low": low,
                "ci_high": high,
                "no_preference": tally["none"],
            }
        )
    return table
