"""Write a "bring your own model" demo: an ARKit results folder, a FLAME results folder, and a
models config listing them beside the four built-ins.

    python scripts/make_demo_results.py                 # -> outputs/demo_byom/
    python -m studio models list --config outputs/demo_byom/models.yaml
    python -m studio compare --config outputs/demo_byom/models.yaml \\
        --models emotion-label,retrieval,keyframe,mdm,capture,flame-lab \\
        --prompt "A person smiles widely and then raises their eyebrows" -o outputs/demo_byom/compare.mp4

``capture`` (ARKit) stands in for another lab's ARKit model: for each demo prompt, seed 0 is the
4-second window of the real Live Link Face takes in ``../shared/data/livelinkface`` that best
matches the prompt's FACS channels (stored as Live Link CSV), and seed 1 is a KeyframeFace answer
JSON written from the EMFACS prototypes. Without the shared takes only the JSON answers are
written. ``flame-lab`` (FLAME) stands in for a FLAME model: CTEG-style ``(T, 53)`` sequences at
24 fps (seed 0) and EmoteGPT-style static ``(56,)`` expressions (seed 1). They are smooth
synthetic parameter curves, not a trained model's output: they show the folder mechanics and the
FLAME render path (the user's FLAME head with ``STUDIO_FLAME_DIR``, else curves). Nothing is
downloaded; the output is regenerated, never committed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))
PROMPTS = (
    "A person smiles widely and then raises their eyebrows",
    "A person frowns and shakes their head",
    "A person looks surprised with their mouth open",
)
WINDOW_S = 4.0


def _score_functions() -> list[Callable[[np.ndarray, dict[str, int]], float]]:
    """One score per prompt for a window ``(T, 61)`` of a take: how well it matches the prompt."""

    def smile_then_brows(w: np.ndarray, c: dict[str, int]) -> float:
        half = len(w) // 2
        smile = w[:half, [c["mouthSmileLeft"], c["mouthSmileRight"]]].mean(axis=1).max()
        brows = w[half:, [c["browInnerUp"], c["browOuterUpLeft"], c["browOuterUpRight"]]].mean(axis=1).max()
        return float(smile + brows - 0.5 * w[half:, c["mouthSmileLeft"]].mean())

    def frown_shake(w: np.ndarray, c: dict[str, int]) -> float:
        frown = w[:, [c["mouthFrownLeft"], c["mouthFrownRight"], c["browDownLeft"], c["browDownRight"]]]
        return float(frown.mean(axis=1).mean() + 2.0 * w[:, c["headYaw"]].std())

    def surprise(w: np.ndarray, c: dict[str, int]) -> float:
        keys = [c["jawOpen"], c["eyeWideLeft"], c["eyeWideRight"], c["browInnerUp"]]
        return float(np.percentile(w[:, keys].mean(axis=1), 90))

    return [smile_then_brows, frown_shake, surprise]


def capture_windows(takes: list[Path]) -> list[tuple[np.ndarray, str]]:
    """Per prompt, the best-matching 4 s window of the takes at 30 fps: ``((120, 61), description)``."""
    from studio.formats import read_clip
    from studio.motion import ARKIT_INDEX

    clips = [(path.name, read_clip(path).clip.resample(30.0)) for path in takes]
    n = round(WINDOW_S * 30)
    best = []
    for score in _score_functions():
        candidates = []
        for name, clip in clips:
            for start in range(0, clip.n_frames - n, 15):
                candidates.append((score(clip.values[start : start + n], dict(ARKIT_INDEX)), name, start))
        _, name, start = max(candidates)
        clip = dict(clips)[name]
        best.append((clip.values[start : start + n], f"{name} frames {start}..{start + n} at 30 fps"))
    return best


def prototype_keyframes() -> list[np.ndarray]:
    """Per prompt, KeyframeFace keyframes ``(K, 61)`` from the EMFACS prototypes (studio.facs)."""
    from studio.motion import ARKIT_INDEX, N_ARKIT

    def pose(**weights: float) -> np.ndarray:
        row = np.zeros(N_ARKIT)
        for name, weight in weights.items():
            row[ARKIT_INDEX[name]] = weight
        return row

    happy = pose(mouthSmileLeft=0.85, mouthSmileRight=0.85, cheekSquintLeft=0.5, cheekSquintRight=0.5)
    brows = pose(
        browInnerUp=0.8, browOuterUpLeft=0.7, browOuterUpRight=0.7, eyeWideLeft=0.3, eyeWideRight=0.3
    )
    sad = pose(browInnerUp=0.5, browDownLeft=0.4, browDownRight=0.4, mouthFrownLeft=0.7, mouthFrownRight=0.7)
    shake = [sad + pose(headYaw=yaw) for yaw in (0.25, -0.25, 0.2)]
    surprise = pose(
        browInnerUp=0.9,
        browOuterUpLeft=0.8,
        browOuterUpRight=0.8,
        eyeWideLeft=0.8,
        eyeWideRight=0.8,
        jawOpen=0.6,
    )
    return [np.stack([happy, happy + brows]), np.stack(shake), np.stack([surprise, 0.8 * surprise])]


def flame_curves(prompt_index: int, fps: float = 24.0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic FLAME outputs for one prompt: a CTEG-style ``(T, 53)`` sequence (50 expression
    coefficients + 3 jaw axis-angle, ``WINDOW_S`` s at ``fps``) and an EmoteGPT-style ``(56,)``
    static expression (50 coefficients + 6D jaw). Smooth, bounded, deterministic; not a model's output."""
    rng = np.random.default_rng(100 + prompt_index)
    t = np.arange(round(WINDOW_S * fps)) / fps
    envelope = np.sin(np.pi * t / WINDOW_S)[:, None]  # rise and fall over the clip
    amplitude = rng.normal(0, 1.0, 50) * np.exp(-np.arange(50) / 12)  # PCA: early components move most
    wobble = 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2, 50) * t[:, None] + rng.uniform(0, 6.3, 50))
    expression = envelope * amplitude + wobble * np.abs(amplitude)
    jaw = np.zeros((len(t), 3))
    jaw[:, 0] = 0.15 * envelope[:, 0] * (prompt_index == 2) + 0.03 * envelope[:, 0]  # mouth open for surprise
    static = np.r_[amplitude, [1, 0, 0, 0, 1, 0]]  # identity 6D jaw rotation
    return np.hstack([expression, jaw]).astype(np.float32), static.astype(np.float32)


def write_manifest(folder: Path, rows: list[dict]) -> None:
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["prompt", "seed", "file"])
        writer.writeheader()
        writer.writerows(rows)


def main() -> int:
    from studio.formats import write_clip
    from studio.formats.keyframeface import answer_json
    from studio.motion import ARKIT_CHANNELS, MotionClip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "outputs" / "demo_byom"))
    parser.add_argument("--livelink", default=str(ROOT.parent / "shared" / "data" / "livelinkface"))
    args = parser.parse_args()
    out = Path(args.out).resolve()

    capture = out / "capture"
    capture.mkdir(parents=True, exist_ok=True)
    rows, provenance = [], {}
    takes = sorted(Path(args.livelink).glob("*.csv"))
    windows = capture_windows(takes) if takes else []
    for i, (prompt, keys) in enumerate(zip(PROMPTS, prototype_keyframes(), strict=True)):
        if windows:
            values, where = windows[i]
            write_clip(MotionClip(values, 30.0, "arkit", ARKIT_CHANNELS), capture / f"p{i}_s0.csv")
            rows.append({"prompt": prompt, "seed": 0, "file": f"p{i}_s0.csv"})
            provenance[f"p{i}_s0.csv"] = where
        (capture / f"p{i}_s1.json").write_text(answer_json(keys), encoding="utf-8")
        rows.append({"prompt": prompt, "seed": 1, "file": f"p{i}_s1.json"})
        provenance[f"p{i}_s1.json"] = "KeyframeFace answer from the EMFACS prototypes"
    write_manifest(capture, rows)
    (capture / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2), encoding="utf-8")

    flame = out / "flame-lab"
    flame.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, prompt in enumerate(PROMPTS):
        sequence, static = flame_curves(i)
        np.save(flame / f"p{i}_s0.npy", sequence)
        np.save(flame / f"p{i}_s1.npy", static)
        rows += [
            {"prompt": prompt, "seed": 0, "file": f"p{i}_s0.npy"},
            {"prompt": prompt, "seed": 1, "file": f"p{i}_s1.npy"},
        ]
    write_manifest(flame, rows)

    shipped = yaml.safe_load((ROOT / "assets" / "models.yaml").read_text(encoding="utf-8"))["models"]
    models = []
    for entry in shipped:  # the four built-ins, with absolute checkpoint paths
        models.append({**entry, "checkpoint": str((ROOT / "assets" / entry["checkpoint"]).resolve())})
    models.append({"name": "capture", "family": "results", "space": "arkit", "path": "capture"})
    models.append(
        {
            "name": "flame-lab",
            "family": "results",
            "space": "flame",
            "path": "flame-lab",
            "options": {"fps": 24},
        }
    )
    header = (
        "# Bring-your-own-model demo, written by scripts/make_demo_results.py (regenerate, do not edit).\n"
        "# More families (see README, Models):\n"
        "#   - {name: express4d, family: express4d, checkpoint: e4d/model.safetensors, sha256: <printed by\n"
        "#      `models import`>, options: {clip_path: /data/clip-vit-base-patch32}}\n"
        "#   - {name: llm, family: llm-keyframe, options: {url: http://127.0.0.1:8000/v1,\n"
        "#      model: my-keyframe-llm, api_key_env: MY_LLM_KEY}}\n"
    )
    config = out / "models.yaml"
    config.write_text(header + yaml.safe_dump({"models": models}, sort_keys=False), encoding="utf-8")
    print(
        f"wrote {capture} ({len(list(capture.glob('p*')))} clips, {'with' if windows else 'without'} "
        f"real Live Link windows), {flame} ({len(list(flame.glob('p*')))} clips) and {config}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
