"""Benchmark tab: saved results become a leaderboard with provenance and charts; results from
different evaluators are refused with the reason; the page works in a real browser."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from evaluations.results import BenchmarkResults, EvaluatorProvenance, MetricValue, ModelResult
from studio.config import StudioConfig
from studio.models.pool import ModelPool
from studio.ui.benchmark import leaderboard_view, metric_figure, saved_results
from tests.ui.conftest import free_port, serving

PROVENANCE = EvaluatorProvenance(
    checkpoint_sha256="a" * 64,
    training_data="corpus",
    training_data_sha256="b" * 64,
    fps=20.0,
    max_frames=200,
    normalisation="z-score",
    loss="symmetric InfoNCE, tau=0.07",
    text_encoder="MiniLM",
    embed_dim=256,
)


def results(provenance: EvaluatorProvenance = PROVENANCE) -> BenchmarkResults:
    def row(model: str, r1: float, fid: float) -> ModelResult:
        metrics = {
            "r_precision_top1": MetricValue(r1, 0.01, "replications"),
            "fid": MetricValue(fid, 0.002, "replications"),
        }
        return ModelResult(model, "dataset" if model == "ground-truth" else "keyframe", metrics)

    return BenchmarkResults(
        provenance,
        {
            "replications": 3,
            "seed": 0,
            "r_precision_convention": "humanml3d-code",
            "r_precision_description": "Euclidean, text→motions",
            "r_precision_batch_size": 32,
        },
        {"name": "corpus", "split": "test", "n_items": 64, "items_sha256": "c" * 64},
        (row("ground-truth", 0.91, 0.03), row("keyframe", 0.78, 0.25), row("emotion-label", 0.14, 0.87)),
    )


def write(results: BenchmarkResults, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results.to_dict()), encoding="utf-8")
    return str(folder / "results.json")


def test_leaderboard_shows_gt_first_with_provenance_and_a_chart(tmp_path):
    board, provenance, metric, chart = leaderboard_view([write(results(), tmp_path / "run")])
    lines = [line for line in board.splitlines() if line.startswith("| ")]
    assert lines[1].startswith("| Ground truth | 0.910 ± 0.010") and "emotion-label" in lines[3]
    assert "a" * 16 in provenance and "Euclidean" in provenance
    assert metric["value"] == "r_precision_top1" and list(chart.data[0].x) == [
        "ground truth",
        "keyframe",
        "emotion-label",
    ]


def test_results_of_different_evaluators_are_refused_with_the_reason(tmp_path):
    other = results(replace(PROVENANCE, checkpoint_sha256="d" * 64))
    board, provenance, _, chart = leaderboard_view(
        [write(results(), tmp_path / "a"), write(other, tmp_path / "b")]
    )
    assert board.startswith("**Cannot show these results together.**") and "checkpoint_sha256" in board
    assert provenance == "" and chart is None


def test_a_broken_results_file_is_one_message(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text("{not json", encoding="utf-8")
    board, *_ = leaderboard_view([str(bad)])
    assert board.startswith("**Cannot show these results together.**") and "cannot read" in board


def test_metric_chart_draws_uncertainty():
    figure = metric_figure(results(), "fid")
    assert list(figure.data[0].error_y.array) == [0.002] * 3 and "lower is better" in figure.layout.title.text


@pytest.mark.browser
def test_the_leaderboard_in_a_browser(browser, tmp_path, screenshot_dir):
    config = StudioConfig(port=free_port(), output_dir=tmp_path / "out", data_dirs=(tmp_path / "data",))
    write(results(), config.output_dir / "benchmarks" / "quick-test")
    assert saved_results(config)
    with serving(config, ModelPool([])) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(url, wait_until="networkidle")
        page.get_by_role("tab", name="Benchmark").click()
        page.get_by_label("Saved results (results.json)").click()
        page.get_by_role("option").first.click()
        page.get_by_role("cell", name="Ground truth").first.wait_for(timeout=30_000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        page.screenshot(path=str(screenshot_dir / "app-benchmark.png"), full_page=True)
        page.close()


def test_only_listed_results_are_read(tmp_path):
    from studio.ui.benchmark import listed_only

    config = StudioConfig(output_dir=tmp_path / "out", data_dirs=(tmp_path / "data",))
    listed = write(results(), config.output_dir / "benchmarks" / "quick-a")
    elsewhere = write(results(), tmp_path / "private")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "escape").symlink_to(tmp_path / "private", target_is_directory=True)
    assert saved_results(config) == [str(Path(listed).resolve())]  # the link out of data/ is not followed
    assert listed_only(config, [str(Path(listed).resolve())]) == [str(Path(listed).resolve())]
    for named in ([elsewhere], [str(tmp_path / "data" / "escape" / "results.json")], ["/etc/passwd"]):
        with pytest.raises(ValueError, match="Choose results from the list"):
            listed_only(config, named)
