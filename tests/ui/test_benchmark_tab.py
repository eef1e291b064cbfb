"""Benchmark tab: saved results become a leaderboard with provenance and charts; results from
different evaluators are refused with the reason; a fresh studio shows the shipped leaderboard;
results written anywhere under the output folder are listed; the page works in a real browser."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from evaluations.results import (
    BenchmarkResults,
    EvaluatorProvenance,
    MetricValue,
    ModelResult,
    leaderboard_markdown,
    load_results,
)
from studio.config import ASSETS_DIR, StudioConfig
from studio.models.pool import ModelPool
from studio.ui.benchmark import (
    default_selection,
    leaderboard_view,
    metric_figure,
    results_choices,
    saved_results,
)
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
    return str((folder / "results.json").resolve())


SHIPPED = ASSETS_DIR / "leaderboard" / "results.json"


def test_a_fresh_studio_opens_on_the_shipped_leaderboard(tmp_path):
    config = StudioConfig(output_dir=tmp_path / "outputs", data_dirs=(tmp_path / "data",))  # nothing saved
    assert saved_results(config) == default_selection(config) == [str(SHIPPED.resolve())]
    assert results_choices(config)[0][0].startswith("Shipped leaderboard")
    board, provenance, metric, chart = leaderboard_view(default_selection(config))
    names = [line.split("|")[1].strip() for line in board.splitlines() if line.startswith("| ")]
    assert names[:6] == ["Model", "Ground truth", "emotion-label", "retrieval", "mdm", "keyframe"]
    assert "c20k / test: 512 prompts, 3 replications, seed 0" in board and "Evaluator" in provenance
    assert metric["value"] == "r_precision_top1" and len(chart.data[0].x) == 5


def test_the_shipped_leaderboard_scores_what_the_studio_ships(tmp_path):
    """Retraining the evaluator or a built-in model without scripts/build_leaderboard.py fails here."""
    from studio.models import read_models_config

    results = load_results(SHIPPED)
    sums = dict(
        line.split()[::-1] for line in (ASSETS_DIR / "evaluator" / "SHA256SUMS").read_text().splitlines()
    )
    assert results.evaluator.checkpoint_sha256 == sums["evaluator.safetensors"]
    assert results.emotion_recogniser["checkpoint_sha256"] == sums["emotion_recogniser.safetensors"]
    shipped = {spec.name: spec.sha256 for spec in read_models_config(ASSETS_DIR / "models.yaml")}
    rows = {row.model: row for row in results.rows if not row.is_ground_truth}
    assert rows.keys() == shipped.keys() and all(not row.error for row in rows.values())
    assert {name: row.checkpoint_sha256 for name, row in rows.items()} == shipped
    assert results.protocol["quick"] and results.dataset["n_items"] == 512
    provenance = (SHIPPED.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "corpus build --n 20000 --seed 0" in provenance and "scripts/build_leaderboard.py" in provenance


def test_the_readme_leaderboard_is_the_shipped_one():
    """Every row of the shipped leaderboard's tables is in the README, digit for digit."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    if not readme.is_file():
        pytest.skip("no README beside the package (an installed copy)")
    text = readme.read_text(encoding="utf-8")
    rows = [
        line for line in leaderboard_markdown(load_results(SHIPPED)).splitlines() if line.startswith("| ")
    ]
    assert len(rows) > 20 and [row for row in rows if row not in text] == []


def test_results_written_anywhere_under_the_output_folder_are_listed(tmp_path):
    config = StudioConfig(output_dir=tmp_path / "outputs", data_dirs=(tmp_path / "data",))
    out = write(results(), config.output_dir / "runs" / "quick")  # `benchmark --out outputs/runs/quick`
    quick = write(results(), config.output_dir / "benchmarks" / "quick-abc")  # the tab's own runs
    in_data = write(results(), tmp_path / "data" / "corpus" / "bench")
    too_deep = write(results(), config.output_dir / "a" / "b" / "c" / "d" / "e")
    elsewhere = write(results(), tmp_path / "runs" / "quick")  # outside every folder the studio lists
    listed = saved_results(config)
    assert listed[0] == str(SHIPPED.resolve()) and {out, quick, in_data} <= set(listed)
    assert too_deep not in listed and elsewhere not in listed
    labels = dict((path, label) for label, path in results_choices(config))
    assert (
        labels[out] == "outputs/runs/quick/results.json"
        and labels[in_data] == "data/corpus/bench/results.json"
    )


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
    """A fresh studio opens the tab on the shipped leaderboard; a results folder written while it
    runs is listed when the tab is opened again."""
    config = StudioConfig(port=free_port(), output_dir=tmp_path / "out", data_dirs=(tmp_path / "data",))
    with serving(config, ModelPool([])) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(url, wait_until="networkidle")
        page.get_by_role("tab", name="Benchmark").click()
        page.get_by_role("cell", name="Ground truth").first.wait_for(timeout=30_000)
        tables = leaderboard_markdown(load_results(SHIPPED)).count("| Model |")  # 5: one per metric group
        for model in ("emotion-label", "retrieval", "mdm", "keyframe"):
            assert page.get_by_role("cell", name=model, exact=True).count() == tables  # a row in each
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        assert page.get_by_text("Shipped leaderboard").count() >= 1
        page.screenshot(path=str(screenshot_dir / "app-benchmark.png"), full_page=True)

        write(results(), config.output_dir / "runs" / "quick")  # as `studio benchmark --out out/runs/quick`
        page.get_by_role("tab", name="Explore").click()
        page.get_by_role("tab", name="Benchmark").click()
        page.get_by_label("Saved results (results.json)").click()
        page.get_by_role("option", name="out/runs/quick/results.json").click()
        page.get_by_text("Cannot show these results together").wait_for(timeout=30_000)  # another evaluator
        page.close()


def test_only_listed_results_are_read(tmp_path):
    from studio.ui.benchmark import listed_only

    config = StudioConfig(output_dir=tmp_path / "out", data_dirs=(tmp_path / "data",))
    listed = write(results(), config.output_dir / "benchmarks" / "quick-a")
    elsewhere = write(results(), tmp_path / "private")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "escape").symlink_to(tmp_path / "private", target_is_directory=True)
    (tmp_path / "data" / "linked").mkdir()
    (tmp_path / "data" / "linked" / "results.json").symlink_to(Path(elsewhere))
    assert saved_results(config) == [str(SHIPPED.resolve()), listed]  # no link out of data/ is followed
    assert listed_only(config, [str(Path(listed).resolve())]) == [str(Path(listed).resolve())]
    for named in ([elsewhere], [str(tmp_path / "data" / "escape" / "results.json")], ["/etc/passwd"]):
        with pytest.raises(ValueError, match="Choose results from the list"):
            listed_only(config, named)


@pytest.mark.slow
def test_a_quick_run_shows_each_model_and_is_listed(tmp_path_factory, tmp_path):
    """The tab's quick run is the command's protocol; the page hears which model runs and how many
    clips are done, the results are listed and become the selection; a refusal is one message."""
    from studio.corpus import build_corpus
    from studio.ui.benchmark import run_quick
    from tests.models.conftest import tiny_checkpoint_path

    checkpoint = tiny_checkpoint_path(tmp_path_factory.getbasetemp(), "emotion-label")
    models = tmp_path / "models.yaml"
    models.write_text(
        "models:\n  - {name: tiny, family: emotion-label, space: arkit, "
        f"checkpoint: {json.dumps(str(checkpoint))}, device: cpu}}\n",
        encoding="utf-8",
    )
    build_corpus(tmp_path / "data" / "small", 450, 2)  # 47 test prompts: R-precision needs 32
    config = StudioConfig(
        output_dir=tmp_path / "outputs", data_dirs=(tmp_path / "data",), models_config=models
    )
    steps = []
    path, log = run_quick(config, ["tiny"], "small", lambda value, desc, unit: steps.append((value, desc)))
    assert path in saved_results(config) and Path(path).parent.parent == config.output_dir / "benchmarks"
    results = load_results(path)
    assert [row.model for row in results.rows] == ["ground-truth", "tiny"] and results.protocol["quick"]
    assert results.protocol["replications"] == 3 and results.dataset["n_items"] == 47
    said = [desc for _, desc in steps]
    assert said[0].startswith("scoring the ground truth") and said[-1] == "done"
    assert "tiny (1/1): generating replication 3/3" in said and "tiny (1/1): scoring" in said
    done = [value[0] for value, _ in steps]
    assert done == sorted(done) and steps[-1][0] == (4 * 47, 4 * 47)
    assert "tiny: 3 x 47 clips generated in" in log and log.splitlines()[-1].endswith("done")
    with pytest.raises(ValueError, match="unknown model"):
        run_quick(config, ["missing"], "small")
