"""``python -m studio analyze`` end to end with the real offline encoder (and a real built-in model)."""

from __future__ import annotations

import json

import pytest

from studio.cli import main
from tests.analysis.conftest import ROWS, write_tiny_dataset


@pytest.mark.slow
def test_analyze_writes_every_chart_and_the_model_table(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    cache = str(tmp_path / "cache")
    args = ["--no-png", "--cache-dir", cache, "--models", "emotion-label", "--model-prompts", "3"]
    code = main(["analyze", str(tiny_dataset), "--out", str(out), *args])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"for {len(ROWS)} items" in printed.out and "emotion-label" in printed.out
    summary = json.loads((out / "summary.json").read_text())
    stems = {f[:-5] for f in summary["files"] if f.endswith(".html")} - {"index"}
    assert {
        "prompt_tsne",
        "prompt_categories",
        "clip_tsne",
        "keyframe_emotions",
        "keyframes_per_clip",
        "clip_durations",
        "model_consistency",
        "model_emotion-label_confusion",
    } <= stems
    assert [row["name"] for row in summary["consistency_table"]][1] == "emotion-label"
    assert summary["consistency_table"][1]["n"] == 3
    assert any(p.name.startswith("emb-") for p in (tmp_path / "cache").iterdir())


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_an_empty_dataset_is_one_clear_message(tmp_path, capsys):
    root = tmp_path / "empty"
    (root / "clips").mkdir(parents=True)
    (root / "prompts.csv").write_text("id,prompt\n")
    assert main(["analyze", str(root), "--out", str(tmp_path / "o"), "--no-png"]) == 2
    assert "no prompts" in _error(capsys)


def test_a_missing_folder_is_one_clear_message(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "not a folder" in _error(capsys)


def test_unknown_models_are_named(tmp_path, capsys):
    root = write_tiny_dataset(tmp_path / "d", ROWS[:2])
    assert main(["analyze", str(root), "--out", str(tmp_path / "o"), "--models", "emotion-label,nosuch"]) == 2
    assert "nosuch" in _error(capsys)


def test_llm_backend_needs_its_settings(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STUDIO_LLM_URL", raising=False)
    monkeypatch.delenv("STUDIO_LLM_MODEL", raising=False)
    root = write_tiny_dataset(tmp_path / "d", ROWS[:2])
    assert main(["analyze", str(root), "--out", str(tmp_path / "o"), "--categoriser", "llm"]) == 2
    assert "--llm-url" in _error(capsys)


def test_out_must_be_a_folder(tmp_path, capsys):
    root = write_tiny_dataset(tmp_path / "d", ROWS[:2])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["analyze", str(root), "--out", str(blocker)]) == 2
    assert "not a folder" in _error(capsys)
