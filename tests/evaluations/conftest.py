"""Tiny evaluation models trained on the models' tiny corpus (once per session), and helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.motion import ARKIT_CHANNELS, OUTPUT_FPS, MotionClip
from tests.models.conftest import tiny_checkpoint_path, tiny_corpus_dir


def tiny_evaluation_model(basetemp: Path, name: str) -> Path:
    """``evaluator`` or ``emotion-recogniser`` trained ``quick`` on the tiny corpus, on first use."""
    path = basetemp / "tiny_evaluation" / f"{name}.safetensors"
    if not path.is_file():
        if name == "evaluator":
            from evaluations.evaluator import train
        else:
            from evaluations.emotion import train
        train(tiny_corpus_dir(basetemp), path, seed=0, quick=True)
    return path


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return tiny_corpus_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny_evaluator_path(tmp_path_factory) -> Path:
    return tiny_evaluation_model(tmp_path_factory.getbasetemp(), "evaluator")


@pytest.fixture(scope="session")
def tiny_recogniser_path(tmp_path_factory) -> Path:
    return tiny_evaluation_model(tmp_path_factory.getbasetemp(), "emotion-recogniser")


@pytest.fixture(scope="session")
def tiny_models_config(tmp_path_factory) -> Path:
    """A models config with the quick-trained ``emotion-label`` and ``retrieval`` checkpoints."""
    base = tmp_path_factory.getbasetemp()
    lines = ["models:"]
    for family in ("emotion-label", "retrieval"):
        checkpoint = tiny_checkpoint_path(base, family)
        lines += [
            f"  - name: tiny-{family}",
            f"    family: {family}",
            "    space: arkit",
            f"    checkpoint: {checkpoint}",
            "    device: cpu",
        ]
    path = base / "tiny_evaluation" / "models.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def smile_clip(seconds: float = 3.0, fps: float = OUTPUT_FPS, peak: float = 0.9) -> MotionClip:
    """A smile that rises and falls once: ``(seconds * fps, 61)`` ARKit."""
    frames = round(seconds * fps)
    values = np.zeros((frames, 61), np.float32)
    envelope = np.sin(np.linspace(0, np.pi, frames)) * peak
    for name in ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight"):
        values[:, ARKIT_CHANNELS.index(name)] = envelope
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS)
