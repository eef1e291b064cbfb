from __future__ import annotations

import html

import numpy as np
import pytest

from studio.analysis.categorise import EMOTIONS, ZeroShotCategoriser
from studio.analysis.report import (
    analyse_dataset,
    analyse_models,
    build_figures,
    consistency_table,
    keyframe_texts,
    select_rows,
)
from studio.motion import MotionClip
from tests.analysis.conftest import ROWS, emotion_clip, keyword_embed, write_tiny_dataset


def _analyse(root, **kwargs):
    return analyse_dataset(root, embed=keyword_embed, **kwargs)


def test_dataset_analysis_has_one_row_per_item(tiny_dataset):
    a = _analyse(tiny_dataset)
    n = len(ROWS)
    assert a.n == n and a.prompt_scores.shape == (n, 6) and a.coords.shape == (n, 2)
    np.testing.assert_allclose(a.prompt_scores.sum(axis=1), 1.0)
    assert a.clip_scores is not None and np.isfinite(a.clip_scores).all()
    # the clips were made from prototypes, so each clip's category is the one it was built from
    built = [r[2] for r in ROWS]
    assert [EMOTIONS[k] for k, b in zip(a.clip_scores.argmax(axis=1), built, strict=True) if b] == [
        b for b in built if b
    ]
    np.testing.assert_allclose(a.durations_s, [1.5 + 0.5 * (i % 4) for i in range(n)], atol=1 / 30)
    assert a.n_keyframes.tolist() == [len(r[3]) for r in ROWS]
    assert a.keyframe_counts.shape == (3, 6) and a.keyframe_counts.sum() == sum(len(r[3]) for r in ROWS)


def test_a_sample_of_a_large_dataset_is_reproducible_and_announced(tiny_dataset):
    full = _analyse(tiny_dataset, read_clips=False)
    a = _analyse(tiny_dataset, read_clips=False, max_items=5)
    b = _analyse(tiny_dataset, read_clips=False, max_items=5)
    assert a.n == 5 and a.ids == b.ids and set(a.ids) < set(full.ids)
    assert list(a.ids) == [i for i in full.ids if i in set(a.ids)]  # folder order kept
    assert any("random sample of 5 of" in w for w in a.warnings)
    everything = _analyse(tiny_dataset, read_clips=False, max_items=999)
    assert not any("random sample" in w for w in everything.warnings)


def test_duplicates_warn_and_share_a_point(tiny_dataset):
    a = _analyse(tiny_dataset)
    assert any("duplicate" in w for w in a.warnings)
    np.testing.assert_array_equal(a.coords[0], a.coords[9])


def test_label_accuracy_is_measured_on_the_test_split(tiny_dataset):
    a = _analyse(tiny_dataset)
    by = {acc.against: acc for acc in a.accuracy}
    intended = by["emotion"]
    assert intended.split == "test" and intended.n == 4  # four labelled test prompts
    # "A sad smile, then tears" has two sad keywords and one happy one, so it reads as sadness
    assert intended.accuracy == pytest.approx(1.0)
    assert by["score columns"].n == 4
    assert by["score columns"].accuracy == pytest.approx(0.75)  # the sad-smile clip shows happiness
    assert a.categoriser["temperature_fitted_on"] is None  # 4 train prompts: too few to refit


def test_temperature_is_refitted_with_enough_labels(tmp_path):
    rows = [
        (f"a {w} face number {i}", e, e, [w], "train", "single")
        for i in range(6)
        for e, w in zip(EMOTIONS, ["happy", "sad", "afraid", "surprised", "angry", "disgusted"], strict=True)
    ]
    a = _analyse(write_tiny_dataset(tmp_path / "d", rows), read_clips=False)
    assert "emotion column" in a.categoriser["temperature_fitted_on"]
    assert a.categoriser["temperature"] != pytest.approx(ZeroShotCategoriser(keyword_embed).temperature)
    assert a.accuracy[0].split == "all" and a.accuracy[0].accuracy == 1.0


def test_a_single_prompt_dataset_is_analysed(tmp_path):
    root = write_tiny_dataset(tmp_path / "one", ROWS[:1])
    a = _analyse(root)
    assert a.n == 1 and a.projection == "none"
    assert any("only 1 distinct" in w for w in a.warnings)
    figures = build_figures(a)
    assert "prompt_tsne" in figures and "clip_durations" in figures


def test_non_english_prompts_are_flagged_not_fatal(tmp_path):
    rows = [("一个人开心地笑了", "happiness", "happiness", ["笑"], "train", "single"), *ROWS[:5]]
    a = _analyse(write_tiny_dataset(tmp_path / "zh", rows))
    assert a.notes[0] and not any(a.notes[1:])
    assert any("non-English" in w for w in a.warnings)


def test_no_clips_reads_durations_from_labels_only_when_present(tiny_dataset):
    a = _analyse(tiny_dataset, read_clips=False)
    assert a.clip_scores is None and np.isnan(a.durations_s).all()
    assert "clip_tsne" not in build_figures(a)


def test_without_keyframe_column(tmp_path):
    a = _analyse(write_tiny_dataset(tmp_path / "nk", keyframes=False))
    assert (a.n_keyframes == -1).all() and a.keyframe_counts.shape == (0, 6)
    figure = build_figures(a)["keyframe_emotions"]
    assert "no keyframe" in figure.layout.annotations[0].text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"keyframes": [{"text": "a"}, {"text": "b"}]}', ["a", "b"]),
        ('[{"description": "x"}, "plain"]', ["x", "plain"]),
        ("not json", None),
        ("", None),
        ('{"other": 1}', None),
    ],
)
def test_keyframe_texts(raw, expected):
    assert keyframe_texts(raw) == expected


def test_select_rows_keeps_compositional_test_prompts_once(tiny_dataset):
    a = _analyse(tiny_dataset)
    rows = select_rows(a, 10)
    assert [a.compositions[i] for i in rows] == ["seq", "seq3", "seq"]
    assert all(a.splits[i] == "test" for i in rows)
    assert len(select_rows(a, 2)) == 2
    everything = select_rows(a, 100, compositional=False, split=None)
    assert len(everything) == len(set(a.prompts))


class KeywordModel:
    """Plays the EMFACS prototype of the first category word it finds (a perfect 'emotion' model)."""

    space = "arkit"

    def __init__(self, name="keyword", fail_on=""):
        self.name, self.fail_on = name, fail_on

    def generate(self, prompt: str, *, seed: int, duration_s: float) -> MotionClip:
        if self.fail_on and self.fail_on in prompt:
            raise ValueError("cannot do that")
        scores = keyword_embed([prompt])[0, :6]
        return emotion_clip(EMOTIONS[int(scores.argmax())] if scores.max() > 0.2 else None, duration_s)


class StillModel(KeywordModel):
    def generate(self, prompt, *, seed, duration_s):
        return emotion_clip("happiness", duration_s)


def test_models_are_scored_against_prompt_and_intended_labels(tiny_dataset):
    a = _analyse(tiny_dataset)
    rows = select_rows(a, 10, compositional=False)
    result = analyse_models(
        a, [KeywordModel(), StillModel("always-happy"), KeywordModel("flaky", "angry")], rows
    )
    good, happy, flaky = result.models
    assert good.vs_prompt.top1 == 1.0 and good.failures == 0
    assert happy.vs_prompt.top1 < good.vs_prompt.top1
    assert flaky.failures == 1 and "cannot do that" in flaky.note and flaky.vs_prompt.n == len(rows) - 1
    assert good.vs_intended is not None and good.vs_intended.n == len(rows)
    table = consistency_table(result)
    assert [r["name"] for r in table] == ["ground truth (dataset clips)", "keyword", "always-happy", "flaky"]
    figures = build_figures(result)
    assert {"model_consistency", "model_categories", "model_keyword_tsne", "model_flaky_confusion"} <= set(
        figures
    )


def test_flame_models_are_reported_not_run(tiny_dataset):
    class Flame:
        name, space = "flame-model", "flame"

        def generate(self, *args, **kwargs):
            raise AssertionError("must not be called")

    a = _analyse(tiny_dataset)
    result = analyse_models(a, [Flame()], select_rows(a, 3))
    assert "FLAME" in result.models[0].note and result.models[0].vs_prompt.n == 0


def test_paired_difference_against_the_baseline(tiny_dataset):
    a = _analyse(tiny_dataset)
    rows = select_rows(a, 10, compositional=False)
    result = analyse_models(a, [StillModel("emotion-label"), KeywordModel()], rows)
    table = {r["name"]: r for r in consistency_table(result)}
    assert "top1_minus_baseline" not in table["emotion-label"]
    keyword = table["keyword"]
    expected = keyword["top1"] - table["emotion-label"]["top1"]
    assert keyword["baseline"] == "emotion-label" and keyword["top1_minus_baseline"] == pytest.approx(
        expected
    )
    low, high = keyword["top1_minus_baseline_ci95"]
    assert low <= keyword["top1_minus_baseline"] <= high and high <= 1.0


def test_every_map_names_the_item_of_each_point(tiny_dataset):
    from studio.formats.dataset import read_dataset

    broken = read_dataset(tiny_dataset).items[3]
    broken.clip_path.write_bytes(b"not a clip")  # left out of the clip map, so its points shift
    a = _analyse(tiny_dataset)
    figures = build_figures(a)
    prompt_map, clip_map = figures["prompt_tsne"].data[0], figures["clip_tsne"].data[0]
    assert list(prompt_map.customdata) == list(a.ids)
    assert list(clip_map.customdata) == [i for i in a.ids if i != broken.id]
    for chart in (prompt_map, clip_map):  # each point's id, prompt and position belong to one item
        for j, item in enumerate(chart.customdata):
            i = a.ids.index(item)
            assert html.escape(a.prompts[i]) in chart.hovertext[j].replace("<br>", " ")
            assert (chart.x[j], chart.y[j]) == pytest.approx(tuple(a.coords[i]))
