"""``models import``: pickles are opened only there, with weights_only=True; anything more is refused."""

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.cli import main
from studio.formats import FormatError
from studio.formats.checkpoints import read_checkpoint, sha256_file
from studio.models import ModelError, ModelSpec, load_model, run_model
from studio.models.importer import import_checkpoint
from tests.models.conftest import tiny_mdm_state

ROOT = Path(__file__).resolve().parents[2]


class _Payload:
    """A pickle that would run code: ``__reduce__`` asks the unpickler to call ``Path.touch``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_plain_state_dict_becomes_safetensors_with_the_printed_hash(tmp_path, capsys):
    state = {"layer.weight": torch.randn(3, 4), "layer.bias": torch.zeros(3, dtype=torch.bfloat16)}
    source = tmp_path / "model.pt"
    torch.save({"model": state, "epoch": 7, "lr": [0.1, 0.01], "shape": torch.Size([3, 4])}, source)
    assert main(["models", "import", str(source), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "out" / "model.safetensors"
    digest = re.search(r"sha256: ([0-9a-f]{64})", printed).group(1)
    assert digest == sha256_file(out) and (tmp_path / "out" / "model.json").is_file()
    checkpoint = read_checkpoint(out, digest)
    np.testing.assert_array_equal(checkpoint.tensors["model.layer.weight"], state["layer.weight"].numpy())
    assert checkpoint.tensors["model.layer.bias"].dtype == np.float32  # bfloat16 widened, noted
    assert checkpoint.config["extra"] == {"epoch": 7, "lr.0": 0.1, "lr.1": 0.01, "shape": [3, 4]}
    assert checkpoint.config["imported_from"]["loader"] == "torch.load(weights_only=True)"
    assert "bfloat16" in printed and "models config entry" in printed


def test_a_checkpoint_needing_python_objects_is_refused_with_the_reason(tmp_path, capsys):
    source = tmp_path / "with_args.ckpt"
    torch.save({"model": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=0.1)}, source)
    assert main(["models", "import", str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1 and "needs more than plain tensors" in err and "argparse.Namespace" in err
    )
    assert not (tmp_path / "out").exists()


def test_a_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    source = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(1), "x": _Payload(marker)}, source)
    with pytest.raises(FormatError, match="needs more than plain tensors"):
        import_checkpoint(source, tmp_path / "out")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello", "expected a pickled torch checkpoint"),
        ("broken.pt", b"\x80\x02garbage", "not a readable"),
    ],
)
def test_unreadable_sources(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FormatError, match=message):
        import_checkpoint(tmp_path / name, tmp_path / "out")


def test_generate_and_the_app_never_load_pickles(tmp_path):
    source = tmp_path / "m.pt"
    torch.save({"w": torch.ones(1)}, source)
    with pytest.raises(ModelError, match=r"is a pickle, which the studio never loads.*models import"):
        load_model(ModelSpec("m", "mdm", "arkit", checkpoint=source))
    # and nothing outside the importer calls torch.load or plain pickle.load
    hits = []
    for folder in ("studio", "renderers", "evaluations", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if re.search(r"torch\.load\(|pickle\.loads?\(|allow_pickle\s*=\s*True", text):
                hits.append(path.relative_to(ROOT).as_posix())
    assert hits == ["studio/models/importer.py"]
    importer = (ROOT / "studio/models/importer.py").read_text()
    calls = re.findall(r"torch\.load\([^)]*\)", importer)
    assert calls and all("weights_only=True" in call for call in calls)


def test_express4d_import_checks_the_layout_and_embeds_the_stats(tmp_path, clip_dir, capsys):
    state = tiny_mdm_state()
    state["clip_model.token_embedding.weight"] = torch.zeros(4, 4)  # old MDM checkpoints carried CLIP
    source = tmp_path / "run" / "model000200000.pt"
    source.parent.mkdir()
    torch.save({"model": state, "opt": {"lr": 1e-4}}, source)
    (source.parent / "args.json").write_text(
        json.dumps(
            {
                "arch": "trans_enc",
                "noise_schedule": "linear",
                "diffusion_steps": 100,
                "guidance_param": 3.0,
                "dataset": "express4d",
                "save_dir": "/somewhere",
            }
        )
    )
    np.save(tmp_path / "mean.npy", np.full(61, 0.25, np.float32))
    np.save(tmp_path / "std.npy", np.full(61, 0.05, np.float32))
    code = main(
        [
            "models",
            "import",
            str(source),
            "--out",
            str(tmp_path / "out"),
            "--family",
            "express4d",
            "--mean",
            str(tmp_path / "mean.npy"),
            "--std",
            str(tmp_path / "std.npy"),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "dropped 1 clip_model.*" in printed and "read args.json" in printed
    out = tmp_path / "out" / "model000200000.safetensors"
    config = read_checkpoint(out).config
    assert (
        config["family"] == "express4d"
        and config["mdm"]["latent_dim"] == 32
        and config["mdm"]["num_layers"] == 2
    )
    assert config["diffusion"] == {"steps": 100, "schedule": "linear"}
    assert config["sampling"]["guidance_scale"] == 3.0 and "save_dir" not in config["mdm_args"]
    sha = re.search(r"sha256: ([0-9a-f]{64})", printed).group(1)
    model = load_model(
        ModelSpec(
            "e4d", "express4d", "arkit", out, sha, "cpu", options={"clip_path": str(clip_dir), "steps": 5}
        )
    )
    assert model.mean[0] == pytest.approx(0.25) and model.steps == 5
    assert run_model(model, "A person smiles", seed=0, duration_s=1.0).clip.n_frames == 30


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda s: s.pop("output_process.poseFinal.weight"),
            "missing \\['output_process.poseFinal.weight'\\]",
        ),
        (lambda s: s.update({"extra_head.weight": torch.zeros(2)}), "unexpected \\['extra_head.weight'\\]"),
        (lambda s: s.pop("input_process.poseEmbedding.weight"), "not an MDM state dict"),
    ],
)
def test_express4d_import_refuses_other_layouts(tmp_path, mutate, message):
    state = tiny_mdm_state()
    mutate(state)
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(FormatError, match=message):
        import_checkpoint(tmp_path / "m.pt", tmp_path / "out", family="express4d")


def test_hf_layout_for_a_transformers_folder(tmp_path):
    from safetensors.numpy import load_file

    torch.save(
        {"text_model.embeddings.token_embedding.weight": torch.randn(5, 4)}, tmp_path / "pytorch_model.bin"
    )
    result = import_checkpoint(tmp_path / "pytorch_model.bin", tmp_path / "clip", hf=True)
    assert result.path == tmp_path / "clip" / "model.safetensors"
    assert load_file(result.path)["text_model.embeddings.token_embedding.weight"].shape == (5, 4)


def _touch_on_load(self, state):
    Path(state["marker"]).touch()  # what loading the pickle would run


@pytest.fixture
def custom_class_checkpoint(tmp_path, monkeypatch):
    """A checkpoint naming ``labcode.nets.Custom``, a class (and module) that exists only while saving."""
    import sys
    import types

    custom = type("Custom", (), {"__module__": "labcode.nets", "__setstate__": _touch_on_load})
    nets = types.ModuleType("labcode.nets")
    nets.Custom = custom
    monkeypatch.setitem(sys.modules, "labcode", types.ModuleType("labcode"))
    monkeypatch.setitem(sys.modules, "labcode.nets", nets)
    net = custom()
    net.marker = str(tmp_path / "pwned")
    source = tmp_path / "custom.pt"
    torch.save({"w": torch.ones(2), "net": net}, source)
    return source


def _assert_no_unsafe_advice(err: str) -> None:
    for advice in ("weights_only=False", "weights_only", "safe_globals", "trust"):
        assert advice not in err


def test_a_custom_class_is_named_without_advice_to_turn_safety_off(custom_class_checkpoint, tmp_path, capsys):
    code = main(["models", "import", str(custom_class_checkpoint), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "it names the Python object labcode.nets.Custom)" in err
    _assert_no_unsafe_advice(err)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


def test_every_unsafe_global_is_listed_once_from_the_opcodes(tmp_path):
    import os

    from studio.models.importer import unsafe_globals

    source = tmp_path / "many.pt"
    torch.save(
        {"w": torch.ones(1), "a": argparse.Namespace(x=1), "b": argparse.Namespace(y=2), "c": os.getcwd},
        source,
    )
    assert set(unsafe_globals(source)) == {"argparse.Namespace", f"{os.getcwd.__module__}.getcwd"}
    with pytest.raises(FormatError) as caught:
        import_checkpoint(source, tmp_path / "out")
    assert str(caught.value).count("argparse.Namespace") == 1


def test_protocol_4_stack_globals_are_named_too(tmp_path, capsys):
    evil, plain = tmp_path / "evil4.pt", tmp_path / "plain4.pt"
    torch.save({"w": torch.ones(1), "args": argparse.Namespace(lr=0.1)}, evil, pickle_protocol=4)
    torch.save({"w": torch.ones(1)}, plain, pickle_protocol=4)
    assert main(["models", "import", str(evil), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "it names the Python object argparse.Namespace)" in err and "torch._utils" not in err
    assert main(["models", "import", str(plain), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "protocol 2" in err
    _assert_no_unsafe_advice(err)


def test_torchs_own_refusal_is_named_without_its_advice(
    custom_class_checkpoint, tmp_path, monkeypatch, capsys
):
    """Should the opcode listing miss a global, torch's refusal names it; its advice is dropped."""
    from studio.models import importer

    monkeypatch.setattr(importer, "unsafe_globals", lambda path: [])
    assert main(["models", "import", str(custom_class_checkpoint), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "labcode.nets.Custom" in err
    _assert_no_unsafe_advice(err)
    assert not (tmp_path / "pwned").exists()
