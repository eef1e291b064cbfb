"""The raw-data export: CSV and Parquet round trips with the codebook."""

from __future__ import annotations

import json
from pathlib import Path

from studio.study.exports import CODEBOOK, PARTICIPANT_CODEBOOK, read_csv_export, write_exports
from studio.study.records import EXPORT_COLUMNS


def test_export_round_trips_through_csv_and_parquet(simulated, tmp_path):
    import pyarrow.parquet as pq

    store, study = simulated
    rows = store.export_answers(study)
    people = store.participant_summaries(study)
    paths = write_exports(rows, people, tmp_path)
    assert {p.name for p in paths} == {
        "answers.csv",
        "answers.parquet",
        "participants.csv",
        "participants.parquet",
        "codebook.md",
        "codebook.json",
    }
    assert list(CODEBOOK) == list(EXPORT_COLUMNS)
    assert pq.read_table(tmp_path / "answers.parquet").to_pylist() == rows
    assert read_csv_export(tmp_path / "answers.csv") == rows
    back = pq.read_table(tmp_path / "participants.parquet").to_pylist()
    assert [p["excluded"] for p in back] == [bool(p.exclusion_reasons) for p in people]
    assert read_csv_export(tmp_path / "participants.csv", PARTICIPANT_CODEBOOK) == back
    book = json.loads((tmp_path / "codebook.json").read_text())
    for name, columns in (("answers", EXPORT_COLUMNS), ("participants", PARTICIPANT_CODEBOOK)):
        assert list(book[name]) == list(columns)
        assert all(
            set(entry) == {"type", "meaning", "allowed"} and entry["meaning"] for entry in book[name].values()
        )
    assert Path(tmp_path / "codebook.md").read_text().count("| attention_passed |") == 1
