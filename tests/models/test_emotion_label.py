"""emotion-label: training on the tiny corpus, the envelope, the apex pose, and the shipped checkpoint."""

import numpy as np
import pytest

from studio import facs
from studio.formats.checkpoints import read_checkpoint
from studio.models import ModelError, ModelSpec, load_model, run_model
from studio.models.emotion_label.model import apex_pose, envelope
from studio.motion import ARKIT_INDEX
from tests.models.conftest import ASSETS, FROWN_SHAKE, SMILE_BROWS, shipped_model

FAMILY = "emotion-label"


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_model(ModelSpec("tiny", FAMILY, checkpoint=tiny_checkpoint(FAMILY)))


@pytest.fixture(scope="module")
def shipped():
    return shipped_model(FAMILY)


def test_quick_training_writes_a_complete_checkpoint(tiny_checkpoint):
    ckpt = read_checkpoint(tiny_checkpoint(FAMILY))
    assert ckpt.config["family"] == FAMILY and ckpt.config["emotions"] == list(facs.EMOTIONS)
    assert ckpt.tensors["classifier.weight"].shape == (6, 384)
    assert ckpt.tensors["prototypes"].shape == (6, 61)
    training = ckpt.config["training"]
    assert training["quick"] and training["train_items"] > 50
    assert all(count > 0 for count in training["prototype_clips"].values())  # every emotion seen
    # the happiness prototype is a smile, the sadness one pulls the lip corners down
    proto = ckpt.tensors["prototypes"]
    assert proto[0, ARKIT_INDEX["mouthSmileLeft"]] > 0.2
    assert proto[1, ARKIT_INDEX["mouthFrownLeft"]] > proto[0, ARKIT_INDEX["mouthFrownLeft"]] + 0.1


@pytest.mark.parametrize("duration", [0.5, 3.3, 12.0])
def test_duration_is_honoured_and_the_pose_is_played(tiny, duration):
    clip = run_model(tiny, "A person smiles widely", seed=1, duration_s=duration).clip
    assert clip.n_frames == round(duration * 30) and clip.fps == 30
    k = facs.EMOTIONS.index(clip.meta["emotion"])
    smile = clip.channel("mouthSmileLeft")
    expected = tiny.prototypes[k, ARKIT_INDEX["mouthSmileLeft"]]
    assert smile.max() > 0.7 * expected  # the canned pose reaches (nearly) full strength


def test_seed_varies_performance_not_emotion(tiny):
    a = run_model(tiny, "A person looks terrified", seed=0, duration_s=3.0).clip
    b = run_model(tiny, "A person looks terrified", seed=1, duration_s=3.0).clip
    assert a.meta["emotion"] == b.meta["emotion"]
    assert not np.array_equal(a.values, b.values)


def test_envelope_rises_holds_and_falls():
    env = envelope(120, np.random.default_rng(0))
    assert env[0] < 0.01 and env[-1] < 0.01
    assert 0.9 <= env.max() <= 1.0
    peak = int(np.argmax(env))
    assert np.all(np.diff(env[: peak + 1]) >= -1e-9)  # monotone onset


def test_apex_pose_finds_the_peak_above_rest():
    values = np.zeros((90, 61), np.float32)
    values[:, ARKIT_INDEX["eyeSquintLeft"]] = 0.1  # a rest face that is not all zeros
    bump = np.sin(np.linspace(0, np.pi, 90)) ** 2
    values[:, ARKIT_INDEX["mouthSmileLeft"]] = 0.6 * bump
    values[40:45, ARKIT_INDEX["eyeBlinkLeft"]] = 1.0  # a blink must not decide the apex
    pose = apex_pose(values, 30.0)
    assert pose[ARKIT_INDEX["mouthSmileLeft"]] == pytest.approx(0.6, abs=0.01)
    assert pose[ARKIT_INDEX["eyeSquintLeft"]] == pytest.approx(0.0, abs=1e-6)


def test_shipped_checkpoint_picks_the_right_emotion(shipped):
    assert shipped.probabilities(SMILE_BROWS).argmax() == facs.EMOTIONS.index("happiness")
    frown = facs.EMOTIONS[int(shipped.probabilities(FROWN_SHAKE).argmax())]
    assert frown in ("sadness", "anger")
    for prompt, emotion in [
        ("She screams in terror", "fear"),
        ("He wrinkles his nose in disgust", "disgust"),
        ("A man gasps in astonishment", "surprise"),
        ("She weeps quietly", "sadness"),
    ]:
        assert facs.EMOTIONS[int(shipped.probabilities(prompt).argmax())] == emotion, prompt


def test_shipped_checkpoint_is_small_and_accurate(shipped):
    assert shipped.checkpoint_sha256 and (shipped.config["training"]["val_top1_accuracy"] or 0) > 0.6
    assert (ASSETS / "models" / f"{FAMILY}.safetensors").stat().st_size <= 10 * 2**20


def test_hash_mismatch_refuses_to_load(tiny_checkpoint, tmp_path):
    path = tiny_checkpoint(FAMILY)
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        load_model(ModelSpec("x", FAMILY, checkpoint=path, sha256="0" * 64))
    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in the weights
    tampered.write_bytes(bytes(data))
    good = read_checkpoint(path).sha256
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        load_model(ModelSpec("x", FAMILY, checkpoint=tampered, sha256=good))
