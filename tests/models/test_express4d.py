"""Express4D MDM checkpoints: MDM's key layout, shapes, de-normalisation, 20 -> 30 fps, channels by name."""

import numpy as np
import pytest
import torch

from studio.formats.checkpoints import write_checkpoint
from studio.models import ModelError, ModelSpec, load_model, run_model
from studio.models.express4d.model import noise_schedule
from studio.models.express4d.network import MDM, MDMConfig
from studio.models.mdm.model import to_output_rate
from studio.motion import ARKIT_CHANNELS, livelink_name
from tests.models.conftest import TINY_MDM, tiny_mdm_state, write_tiny_express4d

# Parameter names of MDM's model/mdm.py (Tevet et al.) that Express4D checkpoints carry.
MDM_KEYS = [
    "input_process.poseEmbedding.weight",
    "input_process.poseEmbedding.bias",
    "sequence_pos_encoder.pe",
    "embed_timestep.sequence_pos_encoder.pe",
    "embed_timestep.time_embed.0.weight",
    "embed_timestep.time_embed.2.bias",
    "seqTransEncoder.layers.0.self_attn.in_proj_weight",
    "seqTransEncoder.layers.0.self_attn.out_proj.weight",
    "seqTransEncoder.layers.1.linear1.weight",
    "seqTransEncoder.layers.1.linear2.bias",
    "seqTransEncoder.layers.1.norm2.weight",
    "embed_text.weight",
    "embed_text.bias",
    "output_process.poseFinal.weight",
    "output_process.poseFinal.bias",
]


def load(path, sha, clip_dir, **options):
    options = {"clip_path": str(clip_dir), "steps": 6, **options}
    return load_model(ModelSpec("e4d", "express4d", "arkit", path, sha, "cpu", options=options))


def test_state_dict_has_mdm_key_layout_and_shapes():
    net = MDM(MDMConfig(**TINY_MDM)).eval()
    state = net.state_dict()
    assert set(MDM_KEYS) <= set(state)
    assert state["input_process.poseEmbedding.weight"].shape == (32, 61)
    assert state["output_process.poseFinal.weight"].shape == (61, 32)
    assert state["embed_text.weight"].shape == (32, 16) and state["sequence_pos_encoder.pe"].shape[1:] == (
        1,
        32,
    )
    assert MDMConfig.from_state_dict({k: v.numpy() for k, v in state.items()}) == MDMConfig(**TINY_MDM)
    x = torch.randn(2, 61, 1, 196)  # Express4D's motion tensor: (B, 61 channels, 1, 196 frames)
    out = net(x, torch.tensor([999, 3]), torch.randn(2, 16))
    assert out.shape == (2, 61, 1, 196)


def test_padding_mask_equals_truncation():
    """Sampling one length without padding is what Express4D's masked batch computes for it."""
    net = MDM(MDMConfig(**TINY_MDM)).eval()
    x, t, text = torch.randn(1, 61, 1, 50), torch.tensor([10]), torch.randn(1, 16)
    padding = torch.zeros(1, 50, dtype=torch.bool)
    padding[:, 30:] = True
    with torch.no_grad():
        padded = net(x, t, text, padding)[..., :30]
        short = net(x[..., :30], t, text)
    torch.testing.assert_close(padded, short, atol=1e-5, rtol=1e-5)


def test_denormalisation_and_channel_order_by_name(tmp_path, clip_dir):
    """A net whose x0 is a constant z shows the mapping: value = z * std + mean, found by name."""
    state = tiny_mdm_state()
    state["output_process.poseFinal.weight"].zero_()
    state["output_process.poseFinal.bias"].fill_(0.5)  # x0 = 0.5 in z units, everywhere
    rng = np.random.default_rng(1)
    order = rng.permutation(61)  # the checkpoint's columns are shuffled and spelled three ways
    spellings = [livelink_name, str, lambda n: n.upper()]
    channels = [spellings[i % 3](ARKIT_CHANNELS[j]) for i, j in enumerate(order)]
    mean = np.where(order < 52, rng.uniform(0.1, 0.6, 61), rng.uniform(-0.3, 0.3, 61)).astype(np.float32)
    std = rng.uniform(0.05, 0.2, 61).astype(np.float32)
    path = tmp_path / "shuffled.safetensors"
    sha = write_tiny_express4d(path, state=state, mean=mean, std=std, config={"channels": channels})
    clip = run_model(load(path, sha, clip_dir), "A person smiles widely", seed=3, duration_s=2.0).clip
    expected = 0.5 * std + mean  # in checkpoint column order
    for column, canonical in enumerate(order):
        np.testing.assert_allclose(clip.values[:, canonical], expected[column], atol=1e-5)


def test_twenty_fps_becomes_thirty(tmp_path, clip_dir):
    path = tmp_path / "m.safetensors"
    sha = write_tiny_express4d(path)
    clip = run_model(load(path, sha, clip_dir), "A person frowns", seed=0, duration_s=2.0).clip
    assert clip.fps == 30.0 and clip.n_frames == 60 and clip.channels == ARKIT_CHANNELS
    assert clip.meta["internal_fps"] == 20.0 and clip.meta["model_frames"] == 40
    ramp = np.repeat(np.arange(40, dtype=np.float32)[:, None] / 20.0, 61, axis=1)  # value = time in s
    out = to_output_rate(ramp, 20.0, 60, 30.0)
    np.testing.assert_allclose(out[:58, 0], np.arange(58) / 30.0, atol=1e-6)  # then it holds the last


def test_longer_than_196_frames_holds_the_last_pose_with_a_notice(tmp_path, clip_dir):
    path = tmp_path / "m.safetensors"
    sha = write_tiny_express4d(path)
    result = run_model(load(path, sha, clip_dir, steps=2), "A person smiles", seed=0, duration_s=12.0)
    assert result.clip.n_frames == 360 and result.clip.meta["model_frames"] == 196
    assert any("at most 196 frames" in n for n in result.notices)
    np.testing.assert_array_equal(result.clip.values[-1], result.clip.values[300])


def test_defaults_are_mdms_and_fewer_steps_are_selectable(tmp_path, clip_dir):
    path = tmp_path / "m.safetensors"
    sha = write_tiny_express4d(path)
    default = load_model(
        ModelSpec("e4d", "express4d", "arkit", path, sha, "cpu", options={"clip_path": str(clip_dir)})
    )
    assert (default.steps, default.guidance_scale, default.sampler) == (1000, 2.5, "ddpm")
    np.testing.assert_allclose(default._alpha_bar.numpy(), noise_schedule("cosine", 1000), rtol=1e-6)
    full = run_model(default, "A person smiles", seed=1, duration_s=1.0)  # all 1000 ancestral steps
    assert full.clip is not None and full.clip.meta["steps"] == 1000
    assert any("diffusion steps on the CPU are slow" in n for n in full.notices)
    fast = load(path, sha, clip_dir, steps=10, sampler="ddim", guidance_scale=1.0)
    assert run_model(fast, "A person smiles", seed=1, duration_s=1.0).clip.meta["sampler"] == "ddim"
    with pytest.raises(ModelError, match="sampler"):
        load(path, sha, clip_dir, sampler="euler")


def test_seeds_and_prompts_change_the_motion(tmp_path, clip_dir):
    path = tmp_path / "m.safetensors"
    sha = write_tiny_express4d(path)
    model = load(path, sha, clip_dir)
    a = run_model(model, "A person smiles", seed=0, duration_s=1.0).clip.values
    b = run_model(model, "A person smiles", seed=1, duration_s=1.0).clip.values
    c = run_model(model, "A person screams in anger", seed=0, duration_s=1.0).clip.values
    assert not np.allclose(a, b) and not np.allclose(a, c)


def test_absent_clip_encoder_is_explained(tmp_path, clip_dir, monkeypatch):
    monkeypatch.delenv("STUDIO_CLIP_DIR", raising=False)
    path = tmp_path / "m.safetensors"
    sha = write_tiny_express4d(path)
    with pytest.raises(ModelError, match=r"no CLIP text encoder configured.*clip_path"):
        load_model(ModelSpec("e4d", "express4d", "arkit", path, sha, "cpu"))
    with pytest.raises(ModelError, match=r"no CLIP text encoder at .*config.json missing"):
        load(path, sha, tmp_path / "nowhere")
    monkeypatch.setenv("STUDIO_CLIP_DIR", str(clip_dir))  # the environment variable works too
    assert load_model(ModelSpec("e4d", "express4d", "arkit", path, sha, "cpu")).name == "e4d"


def test_mean_std_beside_the_checkpoint_or_a_clear_error(tmp_path, clip_dir):
    from safetensors.numpy import load_file

    path = tmp_path / "m.safetensors"
    write_tiny_express4d(path)
    tensors = {k: v for k, v in load_file(path).items() if not k.startswith("norm.")}
    bare = tmp_path / "bare" / "m.safetensors"
    sha = write_checkpoint(bare, tensors, {"family": "express4d", "mdm": TINY_MDM})
    with pytest.raises(ModelError, match="mean and std"):
        load(bare, sha, clip_dir)
    np.save(bare.parent / "Mean.npy", np.full(61, 0.3, np.float32))  # Express4D/HumanML3D spelling
    np.save(bare.parent / "Std.npy", np.full(61, 0.1, np.float32))
    assert load(bare, sha, clip_dir).mean[0] == pytest.approx(0.3)
    np.save(bare.parent / "Std.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match="pickled"):
        load(bare, sha, clip_dir)


def test_wrong_layout_and_wrong_channels_refused(tmp_path, clip_dir):
    state = tiny_mdm_state()
    del state["embed_text.bias"]
    path = tmp_path / "broken.safetensors"
    sha = write_tiny_express4d(path, state=state)
    with pytest.raises(ModelError, match=r"MDM's key layout.*embed_text.bias"):
        load(path, sha, clip_dir)
    path2 = tmp_path / "channels.safetensors"
    sha2 = write_tiny_express4d(path2, config={"channels": ["notAChannel", *ARKIT_CHANNELS[1:]]})
    with pytest.raises(ModelError, match="notAChannel"):
        load(path2, sha2, clip_dir)


def test_runs_on_cuda_when_present(tmp_path, clip_dir):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    path = tmp_path / "m.safetensors"
    sha = write_tiny_express4d(path)
    model = load_model(
        ModelSpec(
            "e4d", "express4d", "arkit", path, sha, "auto", options={"clip_path": str(clip_dir), "steps": 4}
        )
    )
    assert model.device == "cuda"
    assert run_model(model, "A person smiles", seed=0, duration_s=1.0).clip.n_frames == 30
