"""Reading and writing one clip file of any kind the studio knows, chosen by its name."""

from __future__ import annotations

from pathlib import Path

from studio.formats.arrays import read_npz, write_flame_npz, write_npz
from studio.formats.errors import DEFAULT_MAX_FRAMES, FormatError, LoadedClip, check_length, check_rate
from studio.formats.keyframeface import (
    keyframes_to_clip,
    parse_keyframe_answer,
    read_keyframe_csv,
    write_keyframe_csv,
)
from studio.formats.livelink import read_livelink_csv, write_livelink_csv
from studio.formats.paths import require_file
from studio.formats.text import MAX_SMALL_FILE_BYTES, read_text
from studio.motion import OUTPUT_FPS, MotionClip

WRITE_FORMATS = {
    "livelink": ".csv",
    "keyframes": ".keyframes.csv",
    "npz": ".npz",
    "flame-npz": ".npz",
}


def clip_format(path: str | Path) -> str:
    """The format a path names: ``livelink``, ``keyframes``, ``npz`` or ``answer``."""
    name = Path(path).name.lower()
    if name.endswith(".keyframes.csv"):
        return "keyframes"
    if name.endswith(".csv"):
        return "livelink"
    if name.endswith((".npz", ".npy")):
        return "npz"
    if name.endswith(".json"):
        return "answer"
    raise FormatError(path, "unknown file type (expected .csv, .keyframes.csv, .npz, .npy or .json)")


def _sniff_keyframe_csv(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            return handle.readline(256).strip().lower().startswith("keyframe")
    except OSError:
        return False


def read_clip(
    path: str | Path, *, max_frames: int = DEFAULT_MAX_FRAMES, fps: float | None = None
) -> LoadedClip:
    """Read any clip file the studio knows. ``fps`` overrides a file without its own rate.

    Raises :class:`FormatError` (never anything else) for any problem with the file; a clip
    with more than ``max_frames`` frames, or lasting longer than that many frames at 10 fps, is
    refused, and no reader allocates more than such a clip needs.
    """
    path = Path(path)
    require_file(path)
    if fps is not None:
        check_rate(path, fps, "the requested rate")
    kind = clip_format(path)
    if kind == "livelink" and _sniff_keyframe_csv(path):
        kind = "keyframes"
    if kind == "livelink":
        return read_livelink_csv(path, max_frames=max_frames)
    if kind == "keyframes":
        return read_keyframe_csv(path, fps=fps or OUTPUT_FPS, max_frames=max_frames)
    if kind == "npz":
        return read_npz(path, max_frames=max_frames, fps=fps)
    answer = parse_keyframe_answer(read_text(path, max_bytes=MAX_SMALL_FILE_BYTES))
    if answer.problems:
        raise FormatError(path, answer.problems[0])
    if not answer.names:
        raise FormatError(path, "no keyframes in the answer")
    try:
        clip = keyframes_to_clip(answer.values, fps=fps or OUTPUT_FPS, max_frames=max_frames)
    except ValueError as exc:
        raise FormatError(path, str(exc)) from None
    check_length(path, clip, max_frames)
    meta = {**clip.meta, "source": str(path), "format": "answer"}
    return LoadedClip(clip.replace(meta=meta), str(path), "answer")


def write_clip(clip: MotionClip, path: str | Path, fmt: str | None = None) -> str:
    """Write ``clip`` in ``fmt`` (default: from the file name). Returns the format used."""
    path = Path(path)
    if fmt is None:
        kind = clip_format(path)
        fmt = {"livelink": "livelink", "keyframes": "keyframes", "npz": "npz", "answer": "answer"}[kind]
    if fmt == "livelink":
        write_livelink_csv(clip, path)
    elif fmt == "keyframes":
        write_keyframe_csv(clip, path)
    elif fmt == "npz":
        write_npz(clip, path)
    elif fmt == "flame-npz":
        write_flame_npz(clip, path)
    else:
        raise ValueError(f"cannot write format {fmt!r}; use one of {sorted(WRITE_FORMATS)}")
    return fmt
