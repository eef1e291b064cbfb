"""The benchmark's guards: which items an evaluator trained on, and whether scored items are among them."""

import json
import shutil

import numpy as np
import pytest

from evaluations.data import (
    HASH_HEX,
    SplitArrays,
    TrainingItems,
    TrainingItemsError,
    clip_sha256,
    find_overlap,
    normalise_prompt,
    prompt_sha256,
)
from evaluations.evaluator import DEFAULT_CHECKPOINT, Evaluator, load_default_evaluator, training_items_paths
from evaluations.results import run_warnings
from studio.formats import read_clip, write_clip
from studio.motion import ARKIT_CHANNELS, MotionClip


def clip(seed: int, fps: float = 30.0) -> MotionClip:
    values = np.random.default_rng(seed).random((45, 61)).astype(np.float32) * 0.5
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS)


def split(prompts, clips) -> SplitArrays:
    n = len(prompts)
    return SplitArrays(
        tuple(f"x{i}" for i in range(n)),
        tuple(prompts),
        tuple(np.zeros((2, 61), np.float32) for _ in range(n)),
        np.ones(n),
        None,
        tuple(clip_sha256(c) for c in clips),
    )


def test_prompts_normalise_case_space_and_end_punctuation_only():
    assert normalise_prompt("  A person   SMILES widely!! ") == "a person smiles widely"
    assert normalise_prompt("«Smiles, then frowns.»") == "smiles, then frowns"  # inner comma kept
    assert prompt_sha256("A person smiles.") == prompt_sha256("a person\tsmiles") != prompt_sha256("a person")
    assert len(prompt_sha256("x")) == HASH_HEX


def test_clip_hash_is_the_content_not_the_container(tmp_path):
    a = clip(0)
    write_clip(a, tmp_path / "a.npz")
    assert clip_sha256(read_clip(tmp_path / "a.npz").clip) == clip_sha256(a)
    nudged = MotionClip(a.values + np.float32(1e-6), a.fps, a.space, a.channels)
    assert clip_sha256(nudged) != clip_sha256(a)
    assert clip_sha256(MotionClip(a.values, 60.0, "arkit", ARKIT_CHANNELS)) != clip_sha256(a)


def test_overlap_counts_by_clip_and_by_prompt_with_examples(tmp_path):
    trained = split(["A person smiles.", "Someone frowns"], [clip(0), clip(1)])
    items = TrainingItems.from_splits([trained], evaluator_sha256="e" * 64, training_data_sha256="f" * 64)
    scored = split(
        ["a person SMILES", "new prompt", "another new one", "unseen"],
        [clip(5), clip(1), clip(6), clip(7)],  # item 0 by prompt, item 1 by clip, 2 and 3 fresh
    )
    overlap = find_overlap(items, scored)
    assert (overlap.checked, overlap.by_clip, overlap.by_prompt, overlap.overlapping) == (True, 1, 1, 2)
    assert overlap.examples == ("x0: a person SMILES", "x1: new prompt")
    assert "2 of 4 scored items" in overlap.describe() and "1 by clip hash, 1 by normalised prompt" in (
        overlap.describe()
    )
    unknown = find_overlap(None, scored, "no training_items.json beside x.safetensors")
    assert not unknown.checked and "could not be checked: no training_items.json" in unknown.describe()
    # the file round-trips, and a tampered one is one clear error
    path = items.write(tmp_path / "t.json")
    again = TrainingItems.read(path)
    assert again.clip_sha256 == items.clip_sha256 and again.prompt_sha256 == items.prompt_sha256
    data = json.loads(path.read_text())
    data["clip_sha256"].append("short")
    path.write_text(json.dumps(data))
    with pytest.raises(TrainingItemsError, match="16 hex digits"):
        TrainingItems.read(path)


def test_the_overlap_record_becomes_a_warning():
    dataset = {"split": "test", "overlap": {"checked": False, "note": "no file"}}
    assert run_warnings({}, dataset) == (
        "overlap with the evaluator's training items could not be checked: no file",
    )
    flagged = {"checked": True, "n_items": 40, "overlapping_items": 40, "by_clip_hash": 40, "by_prompt": 38}
    (warning,) = run_warnings({"allow_non_test": False}, {"split": "test", "overlap": flagged})
    assert warning.startswith("40 of 40 scored items overlap") and "38 by normalised prompt" in warning
    (split_warning, _) = run_warnings({"allow_non_test": True}, {"split": "val", "overlap": flagged})
    assert "val split (--allow-non-test)" in split_warning
    assert run_warnings({}, {"split": "test", "overlap": {"checked": True, "overlapping_items": 0}}) == ()


def test_training_items_bind_to_their_checkpoint(tiny_evaluator_path, tmp_path):
    """train() writes the sidecar; a copy of the checkpoint without it, or with another
    checkpoint's file, says the overlap cannot be checked rather than passing silently."""
    evaluator = Evaluator.load(tiny_evaluator_path)
    items, note = evaluator.training_items()
    assert items is not None and note.endswith("(exact)")
    assert items.evaluator_sha256 == evaluator.provenance.checkpoint_sha256
    assert items.training_data_sha256 == evaluator.provenance.training_data_sha256
    assert (
        len(items.clip_sha256)
        == evaluator.config["training"]["n_train"] + evaluator.config["training"]["n_val"]
    )

    bare = tmp_path / "bare" / "evaluator.safetensors"
    bare.parent.mkdir()
    shutil.copy(tiny_evaluator_path, bare)
    assert Evaluator.load(bare).training_items() == (
        None,
        "no training_items.json beside evaluator.safetensors",
    )
    other = TrainingItems("0" * 64, "1" * 64, items.clip_sha256, items.prompt_sha256, {"exact": True}).write(
        training_items_paths(bare)[1]
    )
    found, note = Evaluator.load(bare).training_items()
    assert (
        found is None
        and note == f"{other.name} is for evaluator 000000000000, not {items.evaluator_sha256[:12]}"
    )


def test_the_shipped_evaluator_has_its_training_items():
    """Made by scripts/evaluator_training_items.py from today's c20k: bound to the shipped
    checkpoint, every train + val item, and honest that the clip hashes are approximate."""
    evaluator = load_default_evaluator()
    items, note = evaluator.training_items()
    assert items is not None and training_items_paths(DEFAULT_CHECKPOINT)[1].stat().st_size < 1_000_000
    training = evaluator.config["training"]
    assert items.training_data_sha256 == evaluator.provenance.training_data_sha256
    assert (
        items.provenance["n_train"] == training["n_train"] and items.provenance["n_val"] == training["n_val"]
    )
    assert len(items.clip_sha256) == training["n_train"] + training["n_val"]  # every clip distinct
    assert items.provenance["exact"] is False and note.startswith("training_items.json (approximate")
    check = items.provenance["library_check"]
    assert check["same_prompt"] == check["items"] == 5790
