"""keyframe: text splitting, targets, oscillation, tiny training, and the shipped checkpoint."""

import numpy as np
import pytest

from studio.formats.checkpoints import read_checkpoint
from studio.formats.keyframeface import KeyframeScript, format_user_message
from studio.models import ModelError, ModelSpec, load_model, run_model
from studio.models.keyframe import split_keyframes
from studio.models.keyframe.model import N_OUT, KeyframeModel, keyframe_targets, keyframe_times
from studio.motion import ARKIT_INDEX
from tests.models.conftest import ASSETS, FROWN_SHAKE, SMILE_BROWS, assert_smile_brows_vs_frown, shipped_model

FAMILY = "keyframe"


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_model(ModelSpec("tiny", FAMILY, checkpoint=tiny_checkpoint(FAMILY)))


@pytest.fixture(scope="module")
def shipped():
    return shipped_model(FAMILY)


@pytest.mark.parametrize(
    ("prompt", "pieces"),
    [
        (SMILE_BROWS, ("A person smiles widely", "raises their eyebrows")),
        (FROWN_SHAKE, (FROWN_SHAKE,)),
        (
            "First she frowns; next, she gasps, and finally she laughs.",
            ("she frowns", "she gasps", "she laughs"),
        ),
        ("He nods while smiling", ("He nods", "smiling")),
        ("She notices a snake next to her foot", ("She notices a snake next to her foot",)),  # "next" inside
        ("Athena thenceforth smiles", ("Athena thenceforth smiles",)),  # "then" inside a word
        ("a; b; then; smile", ("smile",)),  # fragments too short to describe anything are dropped
        ("; then ;", ("; then ;",)),  # nothing left: the whole text is one keyframe
    ],
)
def test_free_text_splits_into_keyframes(prompt, pieces):
    plan = split_keyframes(prompt)
    assert plan.pieces == pieces and not plan.script and plan.context == " ".join(prompt.split())


def test_long_prompts_keep_at_most_five_keyframes():
    plan = split_keyframes(" then ".join(f"smile number {i}" for i in range(9)))
    assert len(plan.pieces) == 5 and plan.pieces[0] == "smile number 0"


def test_keyframeface_script_is_parsed_even_on_one_line():
    script = KeyframeScript(("Brows raised, eyes wide", "Jaw dropped"), "A surprise party", "Surprised")
    for text in (format_user_message(script), " ".join(format_user_message(script).split())):
        plan = split_keyframes(text)
        assert plan.script and plan.pieces == script.keyframes
        assert "Surprised" in plan.context and "A surprise party" in plan.context


def test_targets_are_pose_above_rest_and_oscillation():
    t = np.arange(120) / 30
    values = np.zeros((120, 61), np.float32)
    values[:, ARKIT_INDEX["browInnerUp"]] = 0.1 + 0.5 * (t > 1.5)  # rest 0.1, then raised
    values[:, ARKIT_INDEX["headYaw"]] = 0.08 * np.sin(2 * np.pi * 2.0 * t) * (t > 2.5)
    values[58:63, ARKIT_INDEX["eyeBlinkLeft"]] = 1.0  # an idle blink right at the keyframe
    out = keyframe_targets(values, 30.0, [2.0, 3.3])
    assert out.shape == (2, N_OUT)
    assert out[0, ARKIT_INDEX["browInnerUp"]] == pytest.approx(0.5, abs=1e-6)
    assert out[0, ARKIT_INDEX["eyeBlinkLeft"]] == pytest.approx(0.0, abs=1e-6)
    assert out[1, 61] == pytest.approx(0.08 / np.sqrt(2), rel=0.15)  # yaw std of the shake
    assert out[0, 61] < 0.02


def test_oscillation_and_times():
    times = keyframe_times(3, 4.0, np.random.default_rng(0))
    assert np.all(np.diff(times) > 0) and times[0] > 0 and times[-1] < 4.0
    amp = np.zeros((3, 4))
    assert not KeyframeModel.oscillation(120, times, amp, np.random.default_rng(0)).any()
    amp[1, 0] = 0.05
    wave = KeyframeModel.oscillation(120, times, amp, np.random.default_rng(0))
    yaw = wave[:, ARKIT_INDEX["headYaw"]]
    assert 0.05 < np.abs(yaw).max() <= 0.05 * np.sqrt(2) + 1e-9
    assert np.count_nonzero(wave) == np.count_nonzero(yaw)  # only the channel asked for moves


def test_quick_training_writes_a_complete_checkpoint(tiny_checkpoint, tiny):
    ckpt = read_checkpoint(tiny_checkpoint(FAMILY))
    training = ckpt.config["training"]
    assert ckpt.config["family"] == FAMILY and training["quick"]
    assert training["train_keyframes"] > training["train_items"]  # several keyframes per clip
    assert {"val_r2_blendshapes", "val_r2_rotations", "val_r2_oscillation"} <= set(training)
    clip = run_model(tiny, SMILE_BROWS, seed=0, duration_s=5.0).clip
    assert clip.meta["keyframes"] == list(split_keyframes(SMILE_BROWS).pieces)
    assert len(clip.meta["keyframe_times_s"]) == 2


@pytest.mark.parametrize("duration", [0.5, 4.0, 17.3])
def test_duration_is_honoured(tiny, duration):
    assert run_model(tiny, SMILE_BROWS, seed=2, duration_s=duration).clip.n_frames == round(duration * 30)


def test_shipped_checkpoint_answers_the_prompt(shipped):
    assert (ASSETS / "models" / f"{FAMILY}.safetensors").stat().st_size <= 10 * 2**20
    smile, frown = assert_smile_brows_vs_frown(shipped)
    yaw_speed = [np.abs(np.diff(c.channel("headYaw"))).sum() for c in (*smile, *frown)]
    assert np.mean(yaw_speed[3:]) > 2 * np.mean(yaw_speed[:3])  # the head shake is there
    # the smile comes first, the brow raise second
    first = smile[0]
    t_smile = np.argmax(first.channel("mouthSmileLeft"))
    t_brow = np.argmax(first.channel("browOuterUpLeft"))
    assert t_smile < t_brow


def test_hash_mismatch_refuses_to_load(tiny_checkpoint):
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        load_model(ModelSpec("x", FAMILY, checkpoint=tiny_checkpoint(FAMILY), sha256="a" * 64))
