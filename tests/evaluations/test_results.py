"""Typed results: round trip, leaderboard formatting, and refusing to mix evaluators."""

import dataclasses
import json

import pytest

from evaluations.results import (
    BenchmarkResults,
    EvaluatorProvenance,
    IncomparableResultsError,
    MetricValue,
    ModelResult,
    ResultsFileError,
    combine_results,
    leaderboard_markdown,
    leaderboard_table,
    load_results,
)

PROVENANCE = EvaluatorProvenance("a" * 64, "c20k", "b" * 64, 10.0, 100, "z-score", "InfoNCE", "MiniLM", 128)
PROTOCOL = {
    "replications": 20,
    "seed": 0,
    "r_precision_convention": "humanml3d-code",
    "r_precision_batch_size": 32,
    "diversity_pairs": 300,
    "fid_reference": "rest",
    "clip_length": "gt",
}
DATASET = {"name": "c20k", "split": "test", "n_items": 512, "items_sha256": "c" * 64}


def row(model: str, r1: float, fid: float) -> ModelResult:
    return ModelResult(
        model,
        "x",
        {
            "r_precision_top1": MetricValue(r1, 0.01, "replications"),
            "fid": MetricValue(fid, 0.002, "replications"),
        },
    )


def results(*rows: ModelResult, evaluator: EvaluatorProvenance = PROVENANCE, **protocol) -> BenchmarkResults:
    return BenchmarkResults(evaluator, {**PROTOCOL, **protocol}, DATASET, rows)


def test_round_trip_through_json(tmp_path):
    original = results(row("ground-truth", 0.5, 0.01), row("mdm", 0.3, 0.2))
    path = tmp_path / "results.json"
    path.write_text(json.dumps(original.to_dict()))
    loaded = load_results(path)
    assert loaded == original
    assert loaded.row("mdm").metrics["fid"].value == 0.2 and loaded.rows[0].is_ground_truth


def test_leaderboard_table_formats_and_keeps_gt_first():
    headers, rows = leaderboard_table(results(row("ground-truth", 0.5, 0.01), row("mdm", 0.25, 0.2)))
    assert headers == ["Model", "R@1 ↑", "FID ↓"]
    assert rows == [
        ["Ground truth", "0.500 ± 0.010", "0.010 ± 0.002"],
        ["mdm", "0.250 ± 0.010", "0.200 ± 0.002"],
    ]
    failed = dataclasses.replace(row("broken", 0, 0), metrics={}, error="checkpoint missing")
    text = leaderboard_markdown(results(row("ground-truth", 0.5, 0.01), failed))
    assert "| broken | failed | failed |" in text and "`broken` failed: checkpoint missing" in text


def test_different_evaluators_are_refused_with_the_reason():
    other = dataclasses.replace(PROVENANCE, checkpoint_sha256="d" * 64, training_data_sha256="e" * 64)
    a = results(row("ground-truth", 0.5, 0.01), row("mdm", 0.3, 0.2))
    b = results(row("ground-truth", 0.4, 0.02), row("keyframe", 0.2, 0.3), evaluator=other)
    with pytest.raises(IncomparableResultsError, match="different evaluators") as info:
        leaderboard_table([a, b])
    assert "checkpoint_sha256, training_data_sha256" in str(info.value)
    with pytest.raises(IncomparableResultsError, match="r_precision_convention"):
        combine_results([a, results(row("keyframe", 0.2, 0.3), r_precision_convention="express4d-paper")])


def test_same_evaluator_results_combine():
    a = results(row("ground-truth", 0.5, 0.01), row("mdm", 0.3, 0.2))
    b = results(row("ground-truth", 0.5, 0.01), row("keyframe", 0.2, 0.3))
    assert [r.model for r in combine_results([b, a]).rows] == ["ground-truth", "keyframe", "mdm"]


def test_bad_results_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsFileError, match="cannot read"):
        load_results(bad)
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ResultsFileError, match="not benchmark results"):
        load_results(bad)
    bad.write_text(json.dumps({"format": "expression-studio-benchmark-1", "rows": []}))
    with pytest.raises(ResultsFileError, match="malformed"):
        load_results(bad)


def test_a_hostile_results_file_is_one_clear_error(tmp_path):
    import pytest

    from evaluations.results import ResultsFileError, load_results

    hostile = {"deep": "[" * 100_000 + "]" * 100_000, "latin1": '{"x": "caf\xe9"}', "huge": "1" * 400}
    for name, body in hostile.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(body.encode("latin-1"))
        with pytest.raises(ResultsFileError, match="cannot read benchmark results"):
            load_results(path)


def test_warnings_round_trip_lead_the_leaderboard_and_combine(tmp_path):
    from evaluations.results_files import write_results

    warned = dataclasses.replace(
        results(row("ground-truth", 0.5, 0.01)),
        warnings=("scored on the val split (--allow-non-test), not test",),
    )
    write_results(warned, tmp_path)
    again = load_results(tmp_path / "results.json")
    assert again.warnings == warned.warnings
    board = leaderboard_markdown(again)
    assert board.startswith("**Warning:** scored on the val split (--allow-non-test), not test.\n")
    assert "**Warning:** scored on the val split" in (tmp_path / "results.md").read_text()
    assert (
        combine_results([results(row("mdm", 0.3, 0.2)), warned]).warnings == warned.warnings
    )  # a flag survives a merge


def test_results_written_before_the_guards_still_load(tmp_path):
    """No warnings, no overlap record, no allow_* constants: read as they are, no warning added."""
    from evaluations.results_files import shipped_leaderboard
    from studio.config import ASSETS_DIR

    old = results(row("ground-truth", 0.5, 0.01)).to_dict()
    del old["warnings"]
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert load_results(tmp_path / "results.json").warnings == ()
    # the shipped leaderboard: scored on the test split, none of it among the evaluator's items
    shipped = load_results(shipped_leaderboard(ASSETS_DIR))
    assert shipped.protocol["allow_non_test"] is False and shipped.protocol["allow_overlap"] is False
    assert shipped.dataset["overlap"]["overlapping_items"] == 0
    assert shipped.warnings == () and "**Warning:**" not in leaderboard_markdown(shipped)
