"""The benchmark runner end to end on tiny data, and its pieces."""

import shutil

import numpy as np
import pytest

from evaluations.benchmark import (
    BenchmarkError,
    ModelRunError,
    Protocol,
    clip_seed,
    generate_all,
    generation_durations,
    select_items,
)
from evaluations.results import leaderboard_markdown, load_results
from studio.cli import main
from studio.models import ExpressionModel
from studio.motion import ARKIT_CHANNELS, MotionClip


@pytest.fixture(scope="module")
def benchmark_run(
    tmp_path_factory, tiny_corpus, tiny_evaluator_path, tiny_recogniser_path, tiny_models_config
):
    """``python -m studio benchmark`` on the tiny corpus's train split (40 prompts, 2 replications):
    the split the tiny evaluator trained on, so both guards have to be lifted."""
    out = tmp_path_factory.mktemp("bench")
    argv = [
        "benchmark",
        "--models",
        "tiny-emotion-label,tiny-retrieval",
        "--data",
        str(tiny_corpus),
        "--split",
        "train",
        "--replications",
        "2",
        "--prompts",
        "40",
        "--evaluator",
        str(tiny_evaluator_path),
        "--emotion-recogniser",
        str(tiny_recogniser_path),
        "--models-config",
        str(tiny_models_config),
        "--no-progress",
        "--allow-non-test",
        "--allow-overlap",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    return out, argv


def test_writes_the_three_files_with_gt_first_and_every_constant(benchmark_run, capsys):
    out, _ = benchmark_run
    results = load_results(out / "results.json")
    assert [r.model for r in results.rows] == ["ground-truth", "tiny-emotion-label", "tiny-retrieval"]
    for key in (
        "replications",
        "seed",
        "r_precision_batch_size",
        "diversity_pairs",
        "fps",
        "clip_length",
        "mm_prompts",
        "bootstrap_resamples",
        "fid_reference",
        "r_precision_convention",
    ):
        assert key in results.protocol, key
    assert results.protocol["replications"] == 2 and results.dataset["n_items"] == 40
    r1 = results.row("tiny-retrieval").metrics["r_precision_top1"]
    assert r1.kind == "replications" and len(r1.detail["values"]) == 2 and r1.detail["chance"] == 1 / 32
    assert results.row("tiny-retrieval").metrics["dot"].kind == "bootstrap"
    lip = results.row("tiny-emotion-label").metrics["vertex_l1_lip_mm"]
    assert lip.value > 0 and lip.detail["rig"] == "default"
    assert results.evaluator.training_data == "tiny_corpus"
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0] == "model,family,metric,value,uncertainty,kind,n" and len(csv_lines) > 40
    md = (out / "results.md").read_text()
    assert "| Ground truth |" in md and "euclidean distance, text→motion" in md


def test_train_split_and_training_items_are_refused_unless_allowed(benchmark_run, capsys):
    """The tiny evaluator trained on every train item: scoring them is refused twice over (the
    split, then the overlap), one line each; lifted, every output flags it."""
    out, argv = benchmark_run
    guarded = [a for a in argv if a not in ("--allow-non-test", "--allow-overlap")]
    refused = [*guarded[:-1], str(out / "refused")]
    capsys.readouterr()
    assert main(refused) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing to score the 'train' split") and "--allow-non-test" in err
    assert "\n" not in err
    assert main([*refused, "--allow-non-test"]) == 2
    *notes, err = capsys.readouterr().err.strip().splitlines()  # the run's notes, then the one error line
    assert err.startswith("error: refusing to score items the evaluator was trained on: 40 of 40 scored")
    assert "(40 by clip hash, 40 by normalised prompt), e.g. 'fc5-" in err and "--allow-overlap" in err
    assert not any(line.startswith("error") for line in notes) and not (out / "refused").exists()

    results = load_results(out / "results.json")
    assert results.protocol["allow_non_test"] is True and results.protocol["allow_overlap"] is True
    overlap = results.dataset["overlap"]
    assert (overlap["by_clip_hash"], overlap["by_prompt"], overlap["overlapping_items"]) == (40, 40, 40)
    assert len(results.warnings) == 2
    assert results.warnings[0].startswith("scored on the train split (--allow-non-test)")
    assert results.warnings[1].startswith("40 of 40 scored items overlap the evaluator's training items")
    board = leaderboard_markdown(results)
    assert board.startswith("**Warning:** scored on the train split") and board.count("**Warning:**") == 2
    md = (out / "results.md").read_text()
    assert "**Warning:** 40 of 40 scored items overlap" in md
    assert "overlap with the evaluator's training items: 40 of 40 scored items" in md


def test_an_evaluator_without_training_items_is_scored_with_a_warning(
    benchmark_run, tiny_evaluator_path, tmp_path, capsys
):
    _, argv = benchmark_run
    bare = tmp_path / "evaluator.safetensors"
    shutil.copy(tiny_evaluator_path, bare)  # the checkpoint without its training_items.json
    argv = list(argv)
    argv[argv.index(str(tiny_evaluator_path))] = str(bare)
    argv[argv.index("tiny-emotion-label,tiny-retrieval")] = "tiny-emotion-label"
    argv = [a for a in argv if a != "--allow-overlap"]
    argv[-1] = str(tmp_path / "out")
    capsys.readouterr()
    assert main([*argv, "--no-geometry"]) == 0
    printed = capsys.readouterr().out
    warning = "overlap with the evaluator's training items could not be checked: no training_items.json"
    assert f"**Warning:** {warning}" in printed  # the CLI's leaderboard
    results = load_results(tmp_path / "out" / "results.json")
    assert results.dataset["overlap"]["checked"] is False
    assert any(w.startswith(warning) for w in results.warnings)


def test_same_seed_reproduces_the_numbers(benchmark_run, tmp_path, capsys):
    out, argv = benchmark_run
    again = tmp_path / "again"
    argv = [a if a != str(out) else str(again) for a in argv]
    argv[argv.index("tiny-emotion-label,tiny-retrieval")] = "tiny-retrieval"
    assert main([*argv, "--no-geometry"]) == 0  # posing is the slow part, and deterministic anyway
    first, second = load_results(out / "results.json"), load_results(again / "results.json")
    for model in ("ground-truth", "tiny-retrieval"):
        a, b = first.row(model).metrics, second.row(model).metrics
        assert {k for k in a if not k.startswith("vertex_l1")} == b.keys()
        for key in b:
            assert a[key].value == pytest.approx(b[key].value, rel=1e-9, abs=1e-12), (model, key)


def test_cli_errors_are_one_line(tiny_corpus, tiny_models_config, tmp_path, capsys):
    argv = [
        "benchmark",
        "--models",
        "nope",
        "--data",
        str(tiny_corpus),
        "--models-config",
        str(tiny_models_config),
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown model(s) nope") and "\n" not in err
    assert main([*argv[:2], "tiny-retrieval", *argv[3:], "--r-precision", "cosine"]) == 2
    assert (
        main(
            [
                "benchmark",
                "--models",
                "tiny-retrieval",
                "--data",
                str(tmp_path / "missing"),
                "--models-config",
                str(tiny_models_config),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert not (tmp_path / "results.json").exists()


def test_protocol_validation():
    with pytest.raises(BenchmarkError, match="convention"):
        Protocol(r_precision_convention="cosine")
    with pytest.raises(BenchmarkError, match="2 replications"):
        Protocol(replications=1)


def test_seeds_durations_and_subset():
    seeds = {clip_seed(0, r, i) for r in range(20) for i in range(512)}
    assert len(seeds) == 20 * 512 and max(seeds) < 2**32  # independent per replication and clip
    assert clip_seed(0, 3, 7) == clip_seed(0, 3, 7) != clip_seed(1, 3, 7)
    assert generation_durations(np.array([0.2, 3.63, 8.66, 14.0])).tolist() == [0.5, 3.6, 8.7, 10.0]

    class Item:
        def __init__(self, i):
            self.id = f"x{i:04d}"

    items = [Item(i) for i in range(1000)]
    subset, rest = select_items(items, 512)
    again, _ = select_items(list(reversed(items)), 512)
    assert len(subset) == 512 and len(rest) == 488 and [i.id for i in subset] == [i.id for i in again]


class FakeBatched(ExpressionModel):
    name, space = "fake", "arkit"

    def __init__(self, fail=False):
        self.calls, self.fail = [], fail

    def generate_batch(self, prompts, seeds, duration_s):
        self.calls.append((len(prompts), duration_s))
        if self.fail:
            raise RuntimeError("out of memory")
        n = round(duration_s * 30)
        return [MotionClip(np.full((n, 61), 0.1, np.float32), 30.0, "arkit", ARKIT_CHANNELS) for _ in prompts]


class FakeSingle(ExpressionModel):
    """A family that does not batch: the default generate_batch calls generate once per prompt."""

    name, space = "single", "arkit"

    def generate(self, prompt, *, seed, duration_s):
        n = round(duration_s * 30)
        return MotionClip(np.full((n, 61), seed / 10, np.float32), 30.0, "arkit", ARKIT_CHANNELS)


def test_a_family_that_does_not_batch_runs_one_prompt_at_a_time():
    out = generate_all(FakeSingle(), ["a", "b"], np.array([2.0, 3.0]), [1, 2])
    assert [m.shape[0] for m in out] == [20, 30] and out[1][0, 0] == pytest.approx(0.2)
    with pytest.raises(ModelRunError, match="outside"):
        generate_all(FakeSingle(), ["a"], np.array([2.0]), [20])  # weights of 2.0 break the contract


def test_batched_generation_groups_by_length():
    model = FakeBatched()
    durations = np.array([2.0, 3.0, 2.0, 2.0])
    out = generate_all(model, ["a", "b", "c", "d"], durations, [1, 2, 3, 4])
    assert sorted(model.calls) == [(1, 3.0), (3, 2.0)]
    assert [len(m) for m in out] == [20, 30, 20, 20]  # 10 fps
    with pytest.raises(ModelRunError, match="out of memory"):
        generate_all(FakeBatched(fail=True), ["a"], np.array([2.0]), [0])


def test_progress_names_each_model_and_counts_clips(
    tiny_corpus, tiny_evaluator_path, tiny_recogniser_path, tiny_models_config
):
    """``on_step`` is what the Benchmark tab shows: which model runs, and the clips done of all."""
    from evaluations.benchmark import run_benchmark
    from evaluations.emotion import EmotionRecogniser
    from evaluations.evaluator import Evaluator

    steps, lines = [], []
    results = run_benchmark(
        ["tiny-emotion-label", "tiny-retrieval"],
        tiny_corpus,
        "train",
        Protocol(replications=2, n_prompts=32, allow_non_test=True, allow_overlap=True),
        models_config=tiny_models_config,
        evaluator=Evaluator.load(tiny_evaluator_path),
        recogniser=EmotionRecogniser.load(tiny_recogniser_path),
        geometry=False,
        progress=False,
        log=lines.append,
        on_step=lambda done, total, what: steps.append((done, total, what)),
    )
    assert [row.model for row in results.rows] == ["ground-truth", "tiny-emotion-label", "tiny-retrieval"]
    assert {total for _, total, _ in steps} == {32 + 2 * 2 * 32}
    assert [done for done, _, _ in steps] == sorted(done for done, _, _ in steps)  # never goes back
    assert steps[-1] == (160, 160, "done")
    whats = [what for _, _, what in steps]
    assert whats[:3] == [
        "scoring the ground truth (32 clips)",
        "tiny-emotion-label (1/2): loading",
        "tiny-emotion-label (1/2): generating replication 1/2",
    ]
    assert "tiny-retrieval (2/2): scoring" in whats
    done_lines = [line for line in lines if "clips generated in" in line]
    assert [line.split(":")[0] for line in done_lines] == ["tiny-emotion-label", "tiny-retrieval"]


def test_the_cli_says_whether_the_studio_lists_the_results(tmp_path, monkeypatch):
    from evaluations.cli import studio_listing

    monkeypatch.setenv("STUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("STUDIO_DATA_DIRS", str(tmp_path / "data"))
    assert "Benchmark tab lists it" in studio_listing(str(tmp_path / "outputs" / "runs" / "quick"))
    assert "Benchmark tab lists it" in studio_listing(str(tmp_path / "data" / "corpus" / "bench"))
    elsewhere = studio_listing(str(tmp_path / "runs" / "quick"))
    assert elsewhere.startswith("note: the studio's Benchmark tab does not list") and "outputs" in elsewhere
    assert "does not list" in studio_listing(str(tmp_path / "outputs" / "a" / "b" / "c" / "d" / "e"))
    from studio.config import ASSETS_DIR

    assert "shipped leaderboard" in studio_listing(str(ASSETS_DIR / "leaderboard"))
