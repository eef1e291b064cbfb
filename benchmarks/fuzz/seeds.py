"""The fuzzer's inputs: the kinds of case, odd values to plant, and one valid seed file per kind."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from studio.formats import write_clip, write_dataset
from studio.formats.keyframeface import (
    KeyframeRecord,
    KeyframeScript,
    answer_json,
    parse_keyframe_answer,
    write_keyframeface_jsonl,
)
from studio.motion import ARKIT_CHANNELS, OUTPUT_FPS, FlameLayout, MotionClip

# A small frame cap, so that mutations reach the length and size limits cheaply.
MAX_FRAMES = 600
KINDS = (
    "livelink",
    "keyframes",
    "answer",
    "jsonl",
    "npz",
    "flame_npz",
    "npy",
    "dataset",
    "results",
    "config",
)
CLIP_NAMES = {
    "livelink": "take.csv",
    "keyframes": "take.keyframes.csv",
    "answer": "answer.json",
    "npz": "clip.npz",
    "flame_npz": "flame.npz",
    "npy": "packed.npy",
}
WEIRD_NUMBERS = (
    "1e400",
    "-1e400",
    "1e300",
    "1e38",
    "3.5e38",
    "0_1",
    "1_000",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "\u0663",
    "\uff11",
    "9" * 5000,
    "1e9",
    "1e99999",
    "",
    " ",
    "0x10",
    "1,5",
    "+-1",
    "1e",
    ".",
    "--1",
    "0.5\x00",
    "1 2",
    "4.0000001",
    "2.0000001",
    "-1.0000001",
    "1000000",
    "00000000000000000000000001",
)
SPECIAL_BYTES = (
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3\x28",
    b"\xe9",
    b"\n",
    b"\r",
    b"\r\n",
    b",",
    b'"',
    b";",
    b"\t",
    b"\\",
    b"[",
    b"{",
    b"}",
    b"]",
    b":",
    b"```",
    b"\x1b[31m",
    "\u202e".encode(),
    b"Keyframe_",
    b"expr_",
)


def _arkit_clip(seed: int, frames: int = 12, fps: float = OUTPUT_FPS) -> MotionClip:
    rng = np.random.default_rng(seed)
    values = np.zeros((frames, 61), np.float32)
    values[:, :52] = rng.random((frames, 52)) * 0.8
    values[:, 52:] = rng.uniform(-0.5, 0.5, (frames, 9))
    return MotionClip(values, fps, "arkit", ARKIT_CHANNELS, {"prompt": "a smile"})


def _written(write: Callable[[Path], object], name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        write(path)
        return path.read_bytes()


@cache
def seed_files() -> dict[str, dict[str, bytes]]:
    """Valid files of every kind: ``kind -> {relative path: bytes}`` (a folder for two kinds)."""
    clip = _arkit_clip(0)
    flame = MotionClip(
        np.random.default_rng(1).normal(0, 0.5, (8, 53)), 25, "flame", FlameLayout(50).channels
    )
    keys = np.concatenate([np.random.default_rng(2).random((2, 52)), np.zeros((2, 9))], axis=1)
    script = KeyframeScript(("She smiles.", "She laughs."), "A party.", "joy")
    answer = parse_keyframe_answer(answer_json(keys))

    def flame_keys(path: Path) -> None:
        rng = np.random.default_rng(3)
        np.savez(
            path,
            expression=rng.normal(0, 0.5, (8, 50)),
            jaw_pose=rng.normal(0, 0.1, (8, 3)),
            eye_pose=np.zeros((8, 6)),
            fps=np.float64(25),
        )

    files = {
        "livelink": {"take.csv": _written(lambda p: write_clip(clip, p), "take.csv")},
        "keyframes": {"take.keyframes.csv": _written(lambda p: write_clip(clip, p), "take.keyframes.csv")},
        "answer": {"answer.json": answer_json(keys).encode()},
        "jsonl": {
            "chat.jsonl": _written(
                lambda p: write_keyframeface_jsonl(
                    [KeyframeRecord(script, answer), KeyframeRecord(script)], p
                ),
                "chat.jsonl",
            )
        },
        "npz": {"clip.npz": _written(lambda p: write_clip(clip, p), "clip.npz")},
        "flame_npz": {"flame.npz": _written(flame_keys, "flame.npz")},
        "npy": {"packed.npy": _written(lambda p: np.save(p, flame.values.astype(np.float64)), "packed.npy")},
        "config": {
            "models.yaml": b"models:\n  - {name: stored, family: results, space: arkit, path: results}\n"
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        records = [
            (
                f"s{i}",
                f"A person smiles {i}",
                _arkit_clip(i, 6 + i),
                ("train", "val", "test")[i % 3],
                {"happiness": 0.5},
            )
            for i in range(3)
        ]
        root = write_dataset(Path(tmp) / "ds", records, name="tiny")
        write_clip(_arkit_clip(7), root / "clips" / "s1.csv")
        (root / "clips" / "s1.npz").unlink()
        files["dataset"] = {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }
    results = {
        "a.csv": files["livelink"]["take.csv"],
        "b.npz": files["npz"]["clip.npz"],
        "c.json": files["answer"]["answer.json"],
    }
    manifest = (
        "prompt,seed,file\nA person smiles,0,a.csv\nA person smiles,1,b.npz\nA person frowns,0,c.json\n"
    )
    files["results"] = {**results, "manifest.csv": manifest.encode()}
    return files
