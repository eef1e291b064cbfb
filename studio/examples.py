"""The example prompts, and the built-in models' answers to them shipped with the studio.

The Compare tab opens on the first example, and its player shows the built-ins' motion for it
at once: their answers (seed 0, :data:`DURATION_S`) are made when the assets are built
(``python scripts/build_examples.py``) and stored in ``assets/examples/``:

- ``generations.json``: ``{"format": FORMAT, "answers": [{array, model, identity, prompt,
  seed, duration_s, fps, latency_ms, notices, meta}]}``; ``identity`` is the model's name and
  checkpoint hash (:func:`studio.models.pool.model_identity`), so a retrained or renamed model
  never gets another checkpoint's answer;
- ``generations.npz``: one ``(T, 61) float32`` array per answer, read without pickle.

A test regenerates them and compares, so a change to a model's code cannot leave them stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from studio.config import ASSETS_DIR
from studio.models import Generation
from studio.motion import ARKIT_CHANNELS, MotionClip

EXAMPLE_PROMPTS = (
    "A person is raising one eyebrow and smirking",
    "A person smiles widely and then raises their eyebrows",
    "A person frowns and shakes their head",
    "Someone gasps in surprise, then slowly starts laughing",
    "Keyframe Description Sequence:\n1. She presses her lips together, eyes lowered.\n"
    "2. Her face breaks into a relieved smile.\nBackground: She has just heard the exam results.\n"
    "Emotion: anxiety turning to joy",
)
SEED = 0
DURATION_S = 4.0
EXAMPLES_DIR = ASSETS_DIR / "examples"
FORMAT = "studio-examples-1"

SHIPPED_NOTICE = "example answered from assets/examples (latency as measured when it was made)"
AnswerKey = tuple[str, str, int, float]  # (model identity, cleaned prompt, seed, duration_s)


def write_examples(answers: Iterable[tuple[AnswerKey, Generation]], folder: Path = EXAMPLES_DIR) -> int:
    """Store ``(key, generation)`` pairs that have a clip (ARKit only); returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    entries = []
    for (identity, prompt, seed, duration_s), generation in answers:
        clip = generation.clip
        if clip is None or clip.space != "arkit":
            continue
        name = f"a{len(arrays)}"
        arrays[name] = np.asarray(clip.values, np.float32)
        entries.append(
            {
                "array": name,
                "model": generation.model,
                "identity": identity,
                "prompt": prompt,
                "seed": seed,
                "duration_s": duration_s,
                "fps": clip.fps,
                "latency_ms": round(generation.latency_ms, 1),
                "notices": list(generation.notices),
                "meta": json.loads(json.dumps(dict(clip.meta), default=str)),
            }
        )
    np.savez_compressed(folder / "generations.npz", **arrays)
    manifest = {"format": FORMAT, "answers": entries}
    (folder / "generations.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return len(entries)


def read_examples(folder: Path = EXAMPLES_DIR) -> dict[AnswerKey, Generation]:
    """The stored answers by key; empty when the folder holds none (a checkout without them)."""
    manifest_path, arrays_path = folder / "generations.json", folder / "generations.npz"
    if not (manifest_path.is_file() and arrays_path.is_file()):
        return {}
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        return {}
    answers: dict[AnswerKey, Generation] = {}
    with np.load(arrays_path, allow_pickle=False) as arrays:
        for entry in manifest["answers"]:
            clip = MotionClip(arrays[entry["array"]], entry["fps"], "arkit", ARKIT_CHANNELS, entry["meta"])
            key = (entry["identity"], entry["prompt"], int(entry["seed"]), float(entry["duration_s"]))
            answers[key] = Generation(
                entry["model"], clip, float(entry["latency_ms"]), (*entry["notices"], SHIPPED_NOTICE)
            )
    return answers


@lru_cache(maxsize=1)
def shipped_examples() -> dict[AnswerKey, Generation]:
    """:func:`read_examples` of the installed assets, read once per process."""
    return read_examples()
