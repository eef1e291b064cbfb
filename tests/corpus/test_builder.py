"""Building the dataset folder: layout, labels, determinism, CLI."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest

from studio import facs
from studio.cli import main
from studio.corpus import ACTION_INDEX, LABEL_COLUMNS, build_corpus, iter_corpus
from studio.corpus.builder import round_scores
from studio.formats import read_clip, read_dataset
from studio.formats.keyframeface import clip_to_keyframes

from .conftest import SEED

N = 60


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "fc"
    build_corpus(root, N, SEED)
    return root


def test_layout_and_labels(built):
    dataset = read_dataset(built)
    assert len(dataset) == N
    assert {len(dataset.split(s)) for s in ("train", "val", "test")} != {0}
    for item in dataset.items:
        assert set(LABEL_COLUMNS) <= set(item.labels)
        scores = [Decimal(item.labels[e]) for e in facs.EMOTIONS]
        assert sum(scores) == Decimal("1.0000"), item.id  # exactly, as written
        assert all(s >= 0 for s in scores)
        actions = json.loads(item.labels["actions"])
        assert actions and all(a in ACTION_INDEX for a in actions)
        assert item.labels["emotion"] in (*facs.EMOTIONS, "neutral")
        script = json.loads(item.labels["keyframes"])
        assert set(script) == {"background", "emotion", "keyframes"}
        assert 1 <= len(script["keyframes"]) <= 8
        clip = read_clip(item.clip_path).clip
        assert clip.space == "arkit" and clip.fps == 30.0
        assert 2.0 <= clip.duration_s <= 10.04
        assert clip.values[:, :52].min() >= 0 and clip.values[:, :52].max() <= 1
        assert np.abs(clip.values[:, 52:]).max() < 1
        frames = [k["frame"] for k in script["keyframes"]]
        assert max(frames) < clip.n_frames and frames == sorted(frames)
        times, _ = clip_to_keyframes(clip)  # the keyframe times travel with the clip
        np.testing.assert_allclose(times, [k["time_s"] for k in script["keyframes"]], atol=1e-6)


def test_dataset_json_holds_stats_and_heldout_inventory(built):
    info = read_dataset(built).info
    assert info["space"] == "arkit" and info["emotions"] == list(facs.EMOTIONS)
    assert info["generator"]["seed"] == SEED and info["generator"]["n"] == N
    assert info["stats"]["items"] == N
    assert info["heldout"]["test"]["templates"] and info["heldout"]["test"]["phrasings"]
    assert info["vocabulary"]["actions"] >= 150


def test_same_seed_same_bytes(built, tmp_path):
    again = tmp_path / "fc"
    build_corpus(again, N, SEED)
    assert (again / "prompts.csv").read_bytes() == (built / "prompts.csv").read_bytes()
    for name in ("splits/train.txt", "splits/test.txt"):
        assert (again / name).read_text() == (built / name).read_text()
    first = sorted((built / "clips").iterdir())[:5]
    for path in first:
        np.testing.assert_array_equal(
            read_clip(path).clip.values, read_clip(again / "clips" / path.name).clip.values
        )


def test_smaller_corpus_is_a_prefix():
    short = list(iter_corpus(12, SEED))
    longer = list(iter_corpus(20, SEED))[:12]
    for a, b in zip(short, longer, strict=True):
        assert (a.id, a.prompt, a.labels) == (b.id, b.prompt, b.labels)
        np.testing.assert_array_equal(a.values, b.values)


def test_round_scores_sum_to_one():
    for scores in (np.full(6, 1 / 6), np.array([0.812, 0.034, 0.021, 0.067, 0.019, 0.047]), np.eye(6)[2]):
        assert sum(Decimal(s) for s in round_scores(scores)) == Decimal("1.0000")


def test_emotion_labels_agree_with_the_text(sample):
    """Single emotion-phrase items: the clip's FACS scores peak on the emotion the text names."""
    checked = [
        item
        for item in sample
        if item.labels["composition"] == "single"
        and ACTION_INDEX[item.plan.words[0].action].category == "emotion"
        and item.labels["emotion"] in facs.EMOTIONS
        and item.plan.words[0].level != "low"
    ]
    assert len(checked) >= 40
    hits = sum(facs.EMOTIONS[int(np.argmax(item.scores))] == item.labels["emotion"] for item in checked)
    assert hits / len(checked) >= 0.75


def test_cli_build(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["corpus", "build", "--n", "8", "--seed", "3", "--out", str(out)]) == 0
    assert "wrote 8 items" in capsys.readouterr().out
    assert len(read_dataset(out)) == 8
    assert main(["corpus", "build", "--n", "4", "--seed", "3", "--out", str(out)]) == 2  # never over a corpus
    assert "not empty" in capsys.readouterr().err
    assert len(read_dataset(out)) == 8
    assert main(["corpus", "build", "--n", "0", "--out", str(tmp_path / "x")]) == 2
