"""Tiny instances of every model family, built from data the tests make."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from studio.formats import write_clip
from studio.models import ExpressionModel, ModelSpec, load_model
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


# family -> builder(tmp_path) returning (model, a prompt it can answer)
FAMILY_BUILDERS: dict[str, Callable[[Path], tuple[ExpressionModel, str]]] = {
    "results": build_results,
}


@pytest.fixture
def results_folder(tmp_path) -> Path:
    return make_results_folder(tmp_path / "results")
