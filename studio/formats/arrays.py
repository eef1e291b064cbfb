"""NumPy files: the studio's own ``.npz`` clips and FLAME parameter sequences.

Studio npz (written by :func:`write_npz`, read back exactly)::

    values    (T, C) float32     the clip
    fps       ()     float64     frames per second
    space     ()     str         "arkit" or "flame"
    channels  (C,)   str         channel names (studio.motion spelling)

FLAME npz, as CTEG/EmoAva, EmoteGPT and DECA-style trackers write them (any of)::

    expression | expr | exp   (T, N) or (N,)  N = 50 or 100 (up to 300)
    jaw_pose | jaw             (T, 3)          axis-angle, radians
    jaw_pose_6d                (T, 6)          6D rotation (first two rows of the matrix)
    pose                       (T, 6)          DECA: global (3) then jaw (3), axis-angle
    global_pose, neck_pose     (T, 3)          axis-angle, radians (optional)
    eye_pose                   (T, 6)          left then right eye, axis-angle (optional)
    fps                        ()              frames per second (optional)

or one packed array (``.npy``, or the only array in an ``.npz``) whose width says its layout:
see :data:`PACKED_LAYOUTS`; a 1-D vector is a static, single-frame expression.
Arrays are loaded with ``allow_pickle=False``: a file holding Python objects is refused.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from studio.formats.errors import DEFAULT_MAX_FRAMES, FormatError, LoadedClip
from studio.motion import ClipError, FlameLayout, MotionClip, arkit_out_of_range

# CTEG/EmoAva sequences are rendered at 24 fps in their user study; used when a file has no fps.
DEFAULT_FLAME_FPS = 24.0
PACKED_LAYOUTS: dict[int, FlameLayout] = {
    50: FlameLayout(50, None),          # expression only
    53: FlameLayout(50, "axis_angle"),  # CTEG/EmoAva: 50 expression + 3 jaw
    56: FlameLayout(50, "6d"),          # EmoteGPT: 50 expression + 6D jaw
    100: FlameLayout(100, None),
    103: FlameLayout(100, "axis_angle"),
    106: FlameLayout(100, "6d"),
}  # fmt: skip
_KEYS = {
    "expression": ("expression", "expr", "exp"),
    "jaw": ("jaw_pose", "jaw"),
    "jaw6d": ("jaw_pose_6d", "jaw_6d"),
}


# No clip has more than a few hundred channels: an array bigger than this is refused from its
# header, before it is decompressed (a small compressed npz can expand to gigabytes).
MAX_ELEMENTS = 50_000_000


def _declared_sizes(path: Path) -> list[int]:
    """Element counts the ``.npy`` headers in a file declare, read without loading the data."""

    def size(handle: IO[bytes]) -> int:
        major, _ = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        )
        shape, _, _ = read_header(handle)
        return int(np.prod(shape, dtype=np.int64))

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            sizes = []
            for name in archive.namelist():
                with archive.open(name) as member:
                    sizes.append(size(member))
            return sizes
    with path.open("rb") as handle:
        return [size(handle)]


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array in a ``.npz``/``.npy`` file, refusing pickled objects and oversized arrays."""
    path = Path(path)
    try:
        if max(_declared_sizes(path), default=0) > MAX_ELEMENTS:
            raise FormatError(path, f"an array holds more than {MAX_ELEMENTS:,} numbers; refusing to load it")
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):  # a .npy holds one bare array
            return {"array": data}
        with data:
            return {key: np.asarray(data[key]) for key in data.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise FormatError(path, "holds pickled Python objects; refusing to load it") from None
        raise FormatError(path, f"not a readable NumPy file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FormatError(path, f"not a readable NumPy file: {exc}") from None


def read_npz(path: str | Path, *, max_frames: int = DEFAULT_MAX_FRAMES,
             fps: float | None = None) -> LoadedClip:  # fmt: skip
    """Read a studio npz, a FLAME npz or a packed FLAME ``.npy`` (see the module docstring)."""
    path = Path(path)
    arrays = load_arrays(path)
    if "values" in arrays and "channels" in arrays:
        return _read_studio(path, arrays, max_frames)
    return _read_flame(path, arrays, max_frames, fps)


def _check(path: Path, key: str, array: np.ndarray, max_frames: int) -> np.ndarray:
    if array.dtype.kind not in "fiub":
        raise FormatError(path, f"expected numbers, found dtype {array.dtype}", f"key {key!r}")
    array = array.astype(np.float64)
    if array.size == 0:
        raise FormatError(path, "empty array", f"key {key!r}")
    if array.ndim == 2 and array.shape[0] > max_frames:
        raise FormatError(path, f"{array.shape[0]} frames, more than the limit {max_frames}")
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        raise FormatError(path, f"NaN or inf at index {tuple(bad[0].tolist())}", f"key {key!r}")
    return array


def _read_studio(path: Path, arrays: dict[str, np.ndarray], max_frames: int) -> LoadedClip:
    values = _check(path, "values", arrays["values"], max_frames)
    try:
        fps = float(arrays["fps"])
        space = str(arrays["space"])
        channels = [str(c) for c in arrays["channels"].tolist()]
        meta = json.loads(str(arrays["meta_json"])) if "meta_json" in arrays else {}
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(path, f"studio npz is missing or has a bad field: {exc}") from None
    meta.update(source=str(path), format="npz")
    try:
        clip = MotionClip.from_named(values, channels, fps, space, meta=meta)  # type: ignore[arg-type]
    except ClipError as exc:
        raise FormatError(path, str(exc)) from None
    _check_flame_range(path, clip) if clip.space == "flame" else check_arkit_range(path, clip)
    return LoadedClip(clip, str(path), "npz")


def _pick(arrays: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple[str, np.ndarray] | None:
    for name in names:
        if name in arrays:
            return name, arrays[name]
    return None


def _frames(path: Path, key: str, array: np.ndarray, width: int | None = None) -> np.ndarray:
    """Promote a static ``(N,)`` vector to one frame and check the width."""
    array = array[None, :] if array.ndim == 1 else array
    if array.ndim != 2 or (width is not None and array.shape[1] != width):
        want = f"(T, {width})" if width else "(T, N)"
        raise FormatError(path, f"shape {array.shape}, expected {want}", f"key {key!r}")
    return array


def _read_flame(path: Path, arrays: dict[str, np.ndarray], max_frames: int,
                fps: float | None) -> LoadedClip:  # fmt: skip
    warnings: list[str] = []
    file_fps = arrays.get("fps")
    if fps is None and file_fps is not None:
        fps = float(_check(path, "fps", file_fps, max_frames).reshape(-1)[0])
    if fps is None:
        fps = DEFAULT_FLAME_FPS
        warnings.append(f"no fps in the file; assuming {DEFAULT_FLAME_FPS:g} fps (FLAME default)")
    expression = _pick(arrays, _KEYS["expression"])
    if expression is None:
        packed = [k for k in arrays if k != "fps"]
        if len(packed) != 1:
            raise FormatError(
                path, f"no 'expression' key and not a single packed array (keys: {sorted(arrays)})"
            )
        key = packed[0]
        data = _frames(path, key, _check(path, key, arrays[key], max_frames))
        layout = PACKED_LAYOUTS.get(data.shape[1])
        if layout is None:
            raise FormatError(
                path,
                f"width {data.shape[1]} is not a known FLAME layout "
                f"(accepted: {', '.join(map(str, sorted(PACKED_LAYOUTS)))})",
                f"key {key!r}",
            )
        return _finish(path, data, layout, fps, warnings)
    key, expr = expression
    parts = [_frames(path, key, _check(path, key, expr, max_frames))]
    jaw_kind = None
    for kind, names, width in (("axis_angle", _KEYS["jaw"], 3), ("6d", _KEYS["jaw6d"], 6)):
        hit = _pick(arrays, names)
        if hit is not None:
            parts.append(_frames(path, hit[0], _check(path, hit[0], hit[1], max_frames), width))
            jaw_kind = kind
    if jaw_kind is None and "pose" in arrays:  # DECA packs global (3) + jaw (3)
        pose = _frames(path, "pose", _check(path, "pose", arrays["pose"], max_frames), 6)
        parts.append(pose[:, 3:])
        jaw_kind = "axis_angle"
        arrays = {**arrays, "global_pose": pose[:, :3]}
    extras = {}
    for flag, key_name, width in (("global_pose", "global_pose", 3), ("neck_pose", "neck_pose", 3),
                                  ("eye_pose", "eye_pose", 6)):  # fmt: skip
        if key_name in arrays:
            parts.append(_frames(path, key_name, _check(path, key_name, arrays[key_name], max_frames), width))
            extras[flag] = True
    lengths = {p.shape[0] for p in parts}
    if len(lengths) != 1:
        raise FormatError(path, f"arrays disagree on the number of frames: {sorted(lengths)}")
    layout = FlameLayout(parts[0].shape[1], jaw_kind, **extras)  # type: ignore[arg-type]
    return _finish(path, np.concatenate(parts, axis=1), layout, fps, warnings)


def _finish(path: Path, data: np.ndarray, layout: FlameLayout, fps: float,
            warnings: list[str]) -> LoadedClip:  # fmt: skip
    meta = {"source": str(path), "format": "flame"}
    try:
        clip = MotionClip(data, fps, "flame", layout.channels, meta)
    except ClipError as exc:
        raise FormatError(path, str(exc)) from None
    _check_flame_range(path, clip)
    return LoadedClip(clip, str(path), "flame", 0, tuple(warnings))


# FLAME expression coefficients are PCA weights in units of standard deviations: |x| of 3-4
# is already extreme. Poses are axis-angle radians. Beyond these limits a file is garbage.
FLAME_EXPRESSION_LIMIT = 20.0
FLAME_POSE_LIMIT = 2 * np.pi


def _check_flame_range(path: Path, clip: MotionClip) -> None:
    for column, name in enumerate(clip.channels):
        limit = FLAME_EXPRESSION_LIMIT if name.startswith("expr_") else FLAME_POSE_LIMIT
        bad = np.flatnonzero(np.abs(clip.values[:, column]) > limit)
        if len(bad):
            raise FormatError(
                path,
                f"value {clip.values[bad[0], column]:.4g} is far outside the plausible range ±{limit:.3g}",
                f"frame {bad[0]}, channel {name!r}",
            )


def check_arkit_range(path: str | Path, clip: MotionClip) -> None:
    """Raise FormatError at the first ARKit value beyond the hard limits."""
    hit = arkit_out_of_range(clip.values)
    if hit is not None:
        frame, column = hit
        raise FormatError(
            path,
            f"value {clip.values[frame, column]:.4g} is far outside the channel's range",
            f"frame {frame}, channel {clip.channels[column]!r}",
        )


def write_npz(clip: MotionClip, path: str | Path) -> None:
    """Write a clip as a studio npz (read back exactly by :func:`read_npz`)."""
    meta = {k: v for k, v in clip.meta.items() if k not in ("source", "format")}
    np.savez_compressed(
        Path(path),
        values=clip.values,
        fps=np.float64(clip.fps),
        space=np.str_(clip.space),
        channels=np.array(clip.channels, dtype=str),
        meta_json=np.str_(json.dumps(meta, default=str)),
    )


def write_flame_npz(clip: MotionClip, path: str | Path) -> None:
    """Write a FLAME clip with the documented per-parameter keys (``expression``, ``jaw_pose``...)."""
    if clip.space != "flame":
        raise ValueError("only FLAME clips can be written as FLAME npz")
    layout = clip.layout
    assert layout is not None
    columns = {name: i for i, name in enumerate(clip.channels)}

    def take(names: list[str]) -> np.ndarray:
        return clip.values[:, [columns[n] for n in names]]

    out: dict[str, np.ndarray] = {
        "expression": take([f"expr_{i:03d}" for i in range(layout.n_expression)]),
        "fps": np.float64(clip.fps),
    }
    if layout.jaw == "axis_angle":
        out["jaw_pose"] = take(["jaw_x", "jaw_y", "jaw_z"])
    elif layout.jaw == "6d":
        out["jaw_pose_6d"] = take([f"jaw6d_{i}" for i in range(6)])
    for flag, key, names in ((layout.global_pose, "global_pose", ["global"]),
                             (layout.neck_pose, "neck_pose", ["neck"]),
                             (layout.eye_pose, "eye_pose", ["leye", "reye"])):  # fmt: skip
        if flag:
            out[key] = take([f"{p}_{a}" for p in names for a in "xyz"])
    np.savez_compressed(Path(path), **out)
