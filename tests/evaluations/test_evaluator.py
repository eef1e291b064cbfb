"""The contrastive evaluator: loss, encoder, checkpoints and provenance, and the shuffled control."""

import numpy as np
import pytest
import torch

from evaluations.data import read_split
from evaluations.evaluator import (
    DEFAULT_CHECKPOINT,
    EMBED_DIM,
    Evaluator,
    MotionEncoder,
    conv_lengths,
    info_nce,
    load_default_evaluator,
    read_sha256sums,
)
from evaluations.metrics import r_precision
from studio.formats import read_dataset
from studio.formats.checkpoints import CheckpointError, sha256_file
from tests.evaluations.conftest import smile_clip


def test_info_nce_masks_duplicate_prompts():
    # Two pairs with the same prompt and identical vectors: unmasked, each row has two equal top
    # logits, so each cross-entropy is ln 2; masked, the twin is not a negative and the loss is 0.
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert float(info_nce(v, v, torch.tensor([0, 1]), 0.07)) == pytest.approx(np.log(2), abs=1e-6)
    assert float(info_nce(v, v, torch.tensor([0, 0]), 0.07)) == pytest.approx(0.0, abs=1e-6)


def test_info_nce_prefers_aligned_pairs():
    rng = torch.Generator().manual_seed(0)
    t = torch.nn.functional.normalize(torch.randn(16, 8, generator=rng), dim=1)
    groups = torch.arange(16)
    assert (
        info_nce(t, t, groups, 0.07) < info_nce(t, t[torch.randperm(16, generator=rng)], groups, 0.07) - 1.0
    )


def test_conv_lengths_match_the_network():
    encoder = MotionEncoder(width=8)
    for n in (1, 2, 3, 4, 5, 37, 100):
        out = encoder.conv(torch.zeros(1, 61, n))
        assert conv_lengths(torch.tensor([n])).item() == out.shape[-1]


def test_encoder_features_are_unit_and_batch_independent(tiny_evaluator_path):
    evaluator = Evaluator.load(tiny_evaluator_path)
    a, b = smile_clip(2.0), smile_clip(7.0, peak=0.4)
    together = evaluator.motion_features([a, b])
    alone = evaluator.motion_features([a])
    assert together.shape == (2, EMBED_DIM) and together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(alone[0], together[0], atol=1e-6)
    text = evaluator.text_features(["A person smiles widely"])
    assert text.shape == (1, EMBED_DIM) and np.linalg.norm(text) == pytest.approx(1.0, abs=1e-5)


def test_checkpoint_carries_provenance_and_refuses_tampering(
    tiny_evaluator_path, tiny_recogniser_path, tmp_path
):
    evaluator = Evaluator.load(tiny_evaluator_path, sha256_file(tiny_evaluator_path))
    p = evaluator.provenance
    assert p.checkpoint_sha256 == sha256_file(tiny_evaluator_path)
    assert len(p.training_data_sha256) == 64 and p.fps == 10.0 and "InfoNCE" in p.loss
    assert "z-score" in p.normalisation
    history = evaluator.config["training"]["history"]
    assert history and all("val_r1" in h for h in history)
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        Evaluator.load(tiny_evaluator_path, "0" * 64)
    with pytest.raises(CheckpointError, match="not an evaluator"):
        Evaluator.load(tiny_recogniser_path)


def _val_pairs(evaluator, corpus):
    dataset = read_dataset(corpus)
    items = dataset.items  # the tiny corpus is another seed than the training corpus: unseen clips
    split = read_split(dataset, "all", items)
    return evaluator.text_features(split.prompts), evaluator.motion_features(split.motions)


def test_shipped_evaluator_matches_sha256sums():
    sums = read_sha256sums()
    assert sums.get(DEFAULT_CHECKPOINT.name) == sha256_file(DEFAULT_CHECKPOINT)
    provenance = load_default_evaluator().provenance
    assert provenance.training_data == "c20k"


def test_shuffled_motions_fall_to_chance_with_the_real_evaluator(tiny_corpus):
    """Control: the shipped evaluator retrieves real pairs far above chance; with the motions
    shuffled against their texts, R@1..3 fall to k/32 (averaged over 100 shuffles)."""
    evaluator = load_default_evaluator()
    text, motion = _val_pairs(evaluator, tiny_corpus)
    real = r_precision(text, motion, seed=0)
    assert real.rates[0] > 0.3  # chance is 1/32 = 0.031
    rng = np.random.default_rng(0)
    shuffled = np.mean(
        [r_precision(text, motion[rng.permutation(len(motion))], seed=s).rates for s in range(100)], 0
    )
    assert np.allclose(shuffled, real.chance, atol=0.012), (shuffled, real.chance)
