"""Tiny instances of every model family, built from data the tests make."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from studio.config import ASSETS_DIR
from studio.formats import write_clip
from studio.models import ExpressionModel, ModelSpec, family_class, load_model, run_model
from studio.motion import ARKIT_CHANNELS, MotionClip

STORED_PROMPTS = ("A person smiles widely", "A person frowns and shakes their head")


def arkit_clip(seed: int, seconds: float = 2.0, fps: float = 30.0) -> MotionClip:
    rng = np.random.default_rng(seed)
    frames = int(seconds * fps)
    values = np.zeros((frames, 61), np.float32)
    values[:, :52] = rng.random(52) * np.sin(np.linspace(0, np.pi, frames))[:, None]
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS)


def make_results_folder(root: Path) -> Path:
    """Two prompts x two seeds of ARKit clips, in two formats, with a CSV manifest."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for p, prompt in enumerate(STORED_PROMPTS):
        for seed in (0, 1):
            name = f"p{p}_s{seed}." + ("csv" if seed == 0 else "npz")
            write_clip(arkit_clip(10 * p + seed), root / name)
            rows.append({"prompt": prompt, "seed": seed, "file": name})
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["prompt", "seed", "file"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def build_results(tmp_path: Path) -> tuple[ExpressionModel, str]:
    folder = make_results_folder(tmp_path / "results")
    return load_model(ModelSpec("stored", "results", "arkit", path=folder)), STORED_PROMPTS[0]


def build_mdm(tmp_path: Path) -> tuple[ExpressionModel, str]:
    """An untrained (random-weight) tiny MDM with the real checkpoint layout: milliseconds to build."""
    from studio.models.mdm.training import init_checkpoint

    path = tmp_path / "mdm-tiny.safetensors"
    sha = init_checkpoint(path, seed=0)
    return load_model(ModelSpec("mdm-tiny", "mdm", "arkit", path, sha, "cpu")), STORED_PROMPTS[0]


# -- trained families: one tiny corpus and one tiny checkpoint per family for the whole session --
# Builders only get a tmp_path, so the shared files live beside it, in pytest's base temp folder
# (tmp_path.parent); the ``tiny_corpus`` / ``tiny_checkpoint`` fixtures hand out the same files.
TINY_CORPUS_N, TINY_CORPUS_SEED = 120, 5  # ~90 train items covering all six emotions; builds in < 1 s


def tiny_corpus_dir(basetemp: Path) -> Path:
    """The tiny synthetic corpus under ``basetemp``, built on first use (dataset.json is written last)."""
    from studio.corpus import build_corpus

    root = basetemp / "tiny_corpus"
    if not (root / "dataset.json").is_file():
        build_corpus(root, TINY_CORPUS_N, TINY_CORPUS_SEED)
    return root


def tiny_checkpoint_path(basetemp: Path, family: str) -> Path:
    """A ``--quick`` checkpoint of ``family`` trained on the tiny corpus, trained on first use."""
    path = basetemp / "tiny_models" / f"{family}.safetensors"
    if not path.is_file():
        family_class(family).train(tiny_corpus_dir(basetemp), path, seed=0, quick=True)
    return path


def _trained(family: str, prompt: str) -> Callable[[Path], tuple[ExpressionModel, str]]:
    def build(tmp_path: Path) -> tuple[ExpressionModel, str]:
        checkpoint = tiny_checkpoint_path(tmp_path.parent, family)
        return load_model(ModelSpec(f"tiny-{family}", family, "arkit", checkpoint=checkpoint)), prompt

    return build


# -- express4d: a tiny random-weight MDM with Express4D's key layout, and a tiny random CLIP --
TINY_MDM = {
    "njoints": 61,
    "nfeats": 1,
    "latent_dim": 32,
    "ff_size": 64,
    "num_layers": 2,
    "num_heads": 4,
    "activation": "gelu",
    "clip_dim": 16,
}


def tiny_clip_dir(basetemp: Path) -> Path:
    """A transformers CLIP text tower (1 layer, 32 wide, 16-D projection) and a byte-level CLIP
    tokenizer (no merges), saved like a real CLIP folder; built once per session (~3 s)."""
    folder = basetemp / "tiny_clip"
    if (folder / "config.json").is_file():
        return folder
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(chars + [c + "</w>" for c in chars])}
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=16,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    torch.manual_seed(0)
    CLIPTextModelWithProjection(config).save_pretrained(folder)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    return folder


def tiny_mdm_state(seed: int = 0, **sizes: int) -> dict:
    """A random-weight MDM state dict (torch tensors) with Express4D's key layout."""
    import torch

    from studio.models.express4d.network import MDM, MDMConfig

    torch.manual_seed(seed)
    return MDM(MDMConfig(**{**TINY_MDM, **sizes})).state_dict()


def write_tiny_express4d(
    path: Path, *, state: dict | None = None, mean=None, std=None, config: dict | None = None
) -> str:
    """Write a tiny express4d checkpoint (safetensors, dataset stats embedded); returns its SHA-256."""
    from studio.formats.checkpoints import write_checkpoint

    tensors = {k: v.numpy() for k, v in (state or tiny_mdm_state()).items()}
    tensors["norm.mean"] = np.asarray(mean if mean is not None else [0.2] * 52 + [0.0] * 9, np.float32)
    tensors["norm.std"] = np.asarray(std if std is not None else [0.1] * 61, np.float32)
    return write_checkpoint(path, tensors, {"family": "express4d", "mdm": TINY_MDM, **(config or {})})


def build_express4d(tmp_path: Path) -> tuple[ExpressionModel, str]:
    path = tmp_path / "express4d-tiny.safetensors"
    sha = write_tiny_express4d(path)
    options = {"clip_path": str(tiny_clip_dir(tmp_path.parent)), "steps": 8}
    model = load_model(ModelSpec("e4d-tiny", "express4d", "arkit", path, sha, "cpu", options=options))
    return model, STORED_PROMPTS[0]


def build_llm_keyframe(tmp_path: Path) -> tuple[ExpressionModel, str]:
    from tests.models.fake_llm import shared_server

    options = {"url": shared_server().url, "model": "good", "timeout_s": 10, "retries": 0}
    return load_model(ModelSpec("llm-fake", "llm-keyframe", options=options)), STORED_PROMPTS[0]


# family -> builder(tmp_path) returning (model, a prompt it can answer). A trainable family needs
# none: family_builder trains it --quick on the tiny corpus, so a new folder is covered as it is.
FAMILY_BUILDERS: dict[str, Callable[[Path], tuple[ExpressionModel, str]]] = {
    "results": build_results,
    "mdm": build_mdm,
    "emotion-label": _trained("emotion-label", "A person smiles widely"),
    "retrieval": _trained("retrieval", "A person frowns and shakes their head"),
    "keyframe": _trained("keyframe", "A person smiles widely and then raises their eyebrows"),
    "express4d": build_express4d,
    "llm-keyframe": build_llm_keyframe,
}


def family_builder(family: str) -> Callable[[Path], tuple[ExpressionModel, str]]:
    if family in FAMILY_BUILDERS:
        return FAMILY_BUILDERS[family]
    if family_class(family).trainable:
        return _trained(family, "A person smiles widely")
    pytest.fail(f"family {family!r} is not trainable: give it a builder in tests/models/conftest.py")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return tiny_corpus_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Callable[[str], Path]:
    """``tiny_checkpoint(family)`` -> the session's tiny checkpoint of that family."""
    return lambda family: tiny_checkpoint_path(tmp_path_factory.getbasetemp(), family)


# -- the shipped checkpoints (assets/models), for prompt-appropriateness tests --
ASSETS = ASSETS_DIR
SMILE_BROWS = "A person smiles widely and then raises their eyebrows"
FROWN_SHAKE = "A person frowns and shakes their head"


def shipped_model(family: str) -> ExpressionModel:
    """The checkpoint shipped in assets/models/<family>.safetensors, checked against the hash in
    assets/models.yaml when that lists it (a missing file fails: shipping them is the point)."""
    import yaml

    checkpoint = ASSETS / "models" / f"{family}.safetensors"
    entries = yaml.safe_load((ASSETS / "models.yaml").read_text()).get("models") or []
    sha256 = next(
        (e.get("sha256") for e in entries if e.get("checkpoint") == f"models/{family}.safetensors"), None
    )
    return load_model(ModelSpec(family, family, "arkit", checkpoint=checkpoint, sha256=sha256))


def clips_for(model: ExpressionModel, prompt: str, seeds: int = 3, duration_s: float = 4.0) -> list:
    """``seeds`` clips of ``model`` for ``prompt`` (seeds 0..n-1)."""
    return [run_model(model, prompt, seed=s, duration_s=duration_s).clip for s in range(seeds)]


def mean_peak(clips: list, *names: str) -> float:
    """Mean over clips of the highest value any of ``names`` reaches."""
    return float(np.mean([max(c.channel(n).max() for n in names) for c in clips]))


def assert_smile_brows_vs_frown(model: ExpressionModel) -> tuple[list, list]:
    """The Done-when pair: the smile-then-brows prompt smiles and raises brows far more, the
    frown prompt frowns far more. Returns the (smile, frown) clips for further checks."""
    smile, frown = clips_for(model, SMILE_BROWS), clips_for(model, FROWN_SHAKE)
    pairs = [("mouthSmileLeft", "mouthSmileRight"), ("browInnerUp", "browOuterUpLeft")]
    assert mean_peak(smile, *pairs[0]) > mean_peak(frown, *pairs[0]) + 0.3
    assert mean_peak(smile, *pairs[1]) > mean_peak(frown, *pairs[1]) + 0.2
    frown_names = ("mouthFrownLeft", "browDownLeft")
    assert mean_peak(frown, *frown_names) > mean_peak(smile, *frown_names) + 0.2
    return smile, frown


@pytest.fixture
def results_folder(tmp_path) -> Path:
    return make_results_folder(tmp_path / "results")


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tiny_clip_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def fake_llm():
    from tests.models.fake_llm import shared_server

    return shared_server()
