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

import ast
import json
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from studio.formats.errors import (
    DEFAULT_MAX_FRAMES,
    FormatError,
    LoadedClip,
    check_length,
    check_rate,
    quote,
)
from studio.formats.text import TextError, loads_json
from studio.motion import SPACES, ClipError, FlameLayout, MotionClip, arkit_out_of_range

# CTEG/EmoAva sequences are rendered at 24 fps in their user study; used when a file has no fps.
DEFAULT_FLAME_FPS = 24.0
PACKED_LAYOUTS: dict[int, FlameLayout] = {
    50: FlameLayout(50, None),  # expression only
    53: FlameLayout(50, "axis_angle"),  # CTEG/EmoAva: 50 expression + 3 jaw
    56: FlameLayout(50, "6d"),  # EmoteGPT: 50 expression + 6D jaw
    100: FlameLayout(100, None),
    103: FlameLayout(100, "axis_angle"),
    106: FlameLayout(100, "6d"),
}
MAX_EXPRESSION = 300  # FLAME 2020 has 300 expression components
# No channel of any clip comes near this (limits are ±4, ±20, 2 pi); larger values are garbage,
# refused before they overflow float32.
MAX_MAGNITUDE = 1e6
_KEYS = {
    "expression": ("expression", "expr", "exp"),
    "jaw": ("jaw_pose", "jaw"),
    "jaw6d": ("jaw_pose_6d", "jaw_6d"),
}


# Limits checked from what a file declares, before anything is decompressed or allocated: a
# 389 kB npz can declare 1.4 GB. The budget follows the frame cap: the widest legal clip (every
# FLAME parameter) at max_frames frames in float64, plus room for headers and channel names.
MAX_FLAME_CHANNELS = 300 + 6 + 3 + 3 + 6  # expression, 6D jaw, global, neck, eyes
MAX_CHANNELS = 1024  # a studio npz names its columns: ARKit 61 (aliases and halves allowed), FLAME ≤ 318
MAX_MEMBERS = 64  # a clip npz holds a handful of arrays
SLACK_BYTES = 2**20
MAX_ELEMENTS = 50_000_000  # an absolute cap on one array, whatever STUDIO_MAX_FRAMES says
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
_MAX_HEADER_BYTES = 10_000  # numpy's own limit (np.lib.format.read_array max_header_size)
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_CD_RECORD_MAX = 46 + 3 * 1024  # fixed part + name, extra field and comment of a sane member


def array_budget_bytes(max_frames: int) -> int:
    """Bytes of arrays a NumPy file may declare under ``max_frames`` (all members together)."""
    return max_frames * MAX_FLAME_CHANNELS * 8 + SLACK_BYTES


def _check_zip_directory(path: Path, handle: IO[bytes], size: int) -> None:
    """Refuse a zip whose central directory is larger than a clip npz needs, before zipfile
    parses it (it builds one object per entry, and a small file can hold a million entries)."""
    tail_size = min(size, _EOCD_SIZE + 65535)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or at + _EOCD_SIZE > len(tail):
        raise FormatError(path, "not a readable NumPy file: no zip directory (truncated?)")
    entries, directory_bytes = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries > MAX_MEMBERS or directory_bytes > MAX_MEMBERS * _CD_RECORD_MAX:
        raise FormatError(path, f"the archive lists more than {MAX_MEMBERS} members; a clip file has a few")


def _read_npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from a ``.npy`` header (format versions 1 to 3).

    Read here rather than by numpy, which would fall back to parsing a Python 2 header with a
    warning (a warning must never come before an error); only a Python literal is accepted.
    Raises ``ValueError``, ``TypeError`` or ``SyntaxError`` for anything malformed.
    """
    magic = handle.read(8)
    if len(magic) < 8 or magic[:6] != _NPY_MAGIC:
        raise ValueError("not a .npy array (no magic string)")
    major = magic[6]
    if major not in (1, 2, 3):
        raise ValueError(f"unsupported .npy format version {major}")
    size_bytes = 2 if major == 1 else 4
    raw = handle.read(size_bytes)
    length = int.from_bytes(raw, "little")
    if len(raw) < size_bytes or length > _MAX_HEADER_BYTES:
        raise ValueError(f"header of {length:,} bytes (numpy writes at most {_MAX_HEADER_BYTES:,})")
    text = handle.read(length)
    if len(text) < length:
        raise ValueError("truncated header")
    header = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin-1"))
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError("the header is not a dict of descr, fortran_order and shape")
    shape, fortran_order = header["shape"], header["fortran_order"]
    if not isinstance(shape, tuple) or not all(type(n) is int for n in shape):
        raise ValueError(f"shape {quote(repr(shape))} is not a tuple of integers")
    if not isinstance(fortran_order, bool):
        raise ValueError("fortran_order is not True or False")
    return shape, fortran_order, np.lib.format.descr_to_dtype(header["descr"])


def _read_member(path: Path, key: str, handle: IO[bytes], declared_bytes: int, budget: int) -> np.ndarray:
    """One ``.npy`` array from ``handle``: header first, then exactly the bytes it declares."""
    try:
        shape, fortran_order, dtype = _read_npy_header(handle)
    except (ValueError, TypeError, SyntaxError, OverflowError, RecursionError, MemoryError) as exc:
        raise FormatError(path, f"not a readable NumPy file: {exc}", _where(key)) from None
    if dtype.hasobject:
        raise FormatError(path, "holds pickled Python objects; refusing to load it", _where(key))
    if dtype.fields is not None or dtype.kind == "V":
        raise FormatError(path, f"holds a structured array (dtype {dtype}); expected numbers", _where(key))
    if any(n < 0 for n in shape):
        raise FormatError(path, f"declares a negative shape {shape}", _where(key))
    count = math.prod(shape)
    n_bytes = count * dtype.itemsize
    if count > MAX_ELEMENTS:
        raise FormatError(path, f"an array holds more than {MAX_ELEMENTS:,} numbers; refusing to load it")
    if n_bytes > budget:
        raise FormatError(
            path, f"declares {n_bytes:,} bytes of data, more than a clip can hold ({budget:,})", _where(key)
        )
    if n_bytes > declared_bytes:
        problem = f"not a readable NumPy file: declares {n_bytes:,} bytes but holds fewer (truncated)"
        raise FormatError(path, problem, _where(key))
    data = handle.read(n_bytes)
    if len(data) != n_bytes:
        problem = f"not a readable NumPy file: truncated ({len(data):,} of {n_bytes:,} bytes)"
        raise FormatError(path, problem, _where(key))
    try:
        return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")
    except ValueError as exc:  # e.g. a zero-width dtype
        raise FormatError(path, f"not a readable NumPy file: {exc}", _where(key)) from None


def load_arrays(path: str | Path, *, max_frames: int = DEFAULT_MAX_FRAMES) -> dict[str, np.ndarray]:
    """Every array in a ``.npz``/``.npy`` file, refusing pickled objects and oversized arrays.

    Sizes are checked from what the file declares before any data is read: the zip directory
    (member count, each member's uncompressed size) and each ``.npy`` header (shape x dtype),
    all bounded by :func:`array_budget_bytes` of ``max_frames``. Raises :class:`FormatError`.
    """
    path = Path(path)
    budget = array_budget_bytes(max_frames)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(6)
            if head.startswith(_ZIP_MAGIC):
                _check_zip_directory(path, handle, size)
                handle.seek(0)
                return _load_zip(path, handle, budget)
            if head == _NPY_MAGIC:
                handle.seek(0)
                return {"array": _read_member(path, "array", handle, size, budget)}
    except OSError as exc:
        raise FormatError(path, f"not a readable NumPy file: {exc.strerror or exc}") from None
    raise FormatError(path, "not a NumPy file (.npy or .npz)")


def _load_zip(path: Path, handle: IO[bytes], budget: int) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            for info in members:
                if not info.filename.endswith(".npy"):
                    raise FormatError(path, f"member {quote(info.filename)} is not a .npy array")
                if info.flag_bits & 0x1:
                    raise FormatError(path, f"member {quote(info.filename)} is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise FormatError(path, f"member {quote(info.filename)} uses an unsupported compression")
            declared = sum(info.file_size for info in members)
            if declared > budget:
                problem = f"members declare {declared:,} bytes uncompressed; a clip holds at most {budget:,}"
                raise FormatError(path, problem)
            arrays = {}
            for info in members:
                key = info.filename[: -len(".npy")]
                with archive.open(info) as member:
                    arrays[key] = _read_member(path, key, member, info.file_size, budget)
            return arrays
    except FormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise FormatError(path, f"not a readable NumPy file: {exc}") from None


def read_npz(
    path: str | Path, *, max_frames: int = DEFAULT_MAX_FRAMES, fps: float | None = None
) -> LoadedClip:
    """Read a studio npz, a FLAME npz or a packed FLAME ``.npy`` (see the module docstring)."""
    path = Path(path)
    if fps is not None:
        check_rate(path, fps)
    arrays = load_arrays(path, max_frames=max_frames)
    if "values" in arrays and "channels" in arrays:
        loaded = _read_studio(path, arrays, max_frames)
    else:
        loaded = _read_flame(path, arrays, max_frames, fps)
    check_length(path, loaded.clip, max_frames)
    return loaded


def _where(key: str) -> str:
    return f"key {quote(key)}"


def _check(path: Path, key: str, array: np.ndarray, max_frames: int) -> np.ndarray:
    if array.dtype.kind not in "fiub":
        raise FormatError(path, f"expected numbers, found dtype {array.dtype}", _where(key))
    if array.size == 0:
        raise FormatError(path, "empty array", _where(key))
    if array.ndim == 2 and array.shape[0] > max_frames:
        raise FormatError(path, f"{array.shape[0]} frames, more than the limit {max_frames}")
    with np.errstate(over="ignore", invalid="ignore"):  # float128 beyond float64 range: inf, refused below
        array = np.asarray(array, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        raise FormatError(path, f"NaN or inf at index {tuple(bad[0].tolist())}", _where(key))
    huge = np.argwhere(np.abs(array) > MAX_MAGNITUDE)
    if len(huge):
        index = tuple(huge[0].tolist())
        problem = f"value {array[index]:.4g} at index {index} is far outside any channel's range"
        raise FormatError(path, problem, _where(key))
    return array


def _scalar(path: Path, arrays: dict[str, np.ndarray], key: str, kinds: str, what: str) -> np.ndarray:
    """The single value stored under ``key`` (a 0-d or one-element array of the given kinds)."""
    if key not in arrays:
        raise FormatError(path, f"studio npz has no {key!r}")
    array = arrays[key]
    if array.dtype.kind not in kinds or array.size != 1:
        raise FormatError(path, f"expected {what}, found {array.dtype} of shape {array.shape}", _where(key))
    return array.reshape(())


def _scalar_text(path: Path, arrays: dict[str, np.ndarray], key: str) -> str:
    value = _scalar(path, arrays, key, "US", "one text").item()
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(path, "text is not UTF-8", _where(key)) from None
    return str(value)


def _read_studio(path: Path, arrays: dict[str, np.ndarray], max_frames: int) -> LoadedClip:
    values = _check(path, "values", arrays["values"], max_frames)
    if values.ndim != 2:
        raise FormatError(path, f"shape {values.shape}, expected (frames, channels)", "key 'values'")
    if values.shape[1] > MAX_CHANNELS:
        raise FormatError(path, f"{values.shape[1]} channels, more than any clip has", "key 'values'")
    fps = float(_scalar(path, arrays, "fps", "fiu", "one number"))
    check_rate(path, fps, "key 'fps'")
    space = _scalar_text(path, arrays, "space")
    if space not in SPACES:
        raise FormatError(path, f"unknown space {quote(space)} (expected 'arkit' or 'flame')", "key 'space'")
    names = arrays["channels"]
    if names.dtype.kind not in "US" or names.shape != (values.shape[1],):
        raise FormatError(
            path,
            f"expected {values.shape[1]} channel names, found {names.dtype} of shape {names.shape}",
            "key 'channels'",
        )
    channels = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in names.tolist()]
    meta: dict[str, object] = {}
    if "meta_json" in arrays:
        try:
            meta = loads_json(_scalar_text(path, arrays, "meta_json"))  # type: ignore[assignment]
        except TextError as exc:
            raise FormatError(path, str(exc), "key 'meta_json'") from None
        if not isinstance(meta, dict):
            raise FormatError(path, f"expected a JSON object, found {type(meta).__name__}", "key 'meta_json'")
    meta.update(source=str(path), format="npz")
    try:
        clip = MotionClip.from_named(values, channels, fps, space, meta=meta)  # type: ignore[arg-type]
    except ClipError as exc:
        raise FormatError(path, str(exc), "key 'channels'") from None
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
        raise FormatError(path, f"shape {array.shape}, expected {want}", _where(key))
    return array


def _read_flame(path: Path, arrays: dict[str, np.ndarray], max_frames: int, fps: float | None) -> LoadedClip:
    warnings: list[str] = []
    if fps is None and "fps" in arrays:
        fps = float(_scalar(path, arrays, "fps", "fiu", "one number"))
        check_rate(path, fps, "key 'fps'")
    if fps is None:
        fps = DEFAULT_FLAME_FPS
        warnings.append(f"no fps in the file; assuming {DEFAULT_FLAME_FPS:g} fps (FLAME default)")
    expression = _pick(arrays, _KEYS["expression"])
    if expression is None:
        packed = [k for k in arrays if k != "fps"]
        if len(packed) != 1:
            keys = quote(", ".join(sorted(arrays)), 200)
            raise FormatError(path, f"no 'expression' key and not a single packed array (keys: {keys})")
        key = packed[0]
        data = _frames(path, key, _check(path, key, arrays[key], max_frames))
        layout = PACKED_LAYOUTS.get(data.shape[1])
        if layout is None:
            raise FormatError(
                path,
                f"width {data.shape[1]} is not a known FLAME layout "
                f"(accepted: {', '.join(map(str, sorted(PACKED_LAYOUTS)))})",
                _where(key),
            )
        return _finish(path, data, layout, fps, warnings)
    key, expr = expression
    parts = [_frames(path, key, _check(path, key, expr, max_frames))]
    if parts[0].shape[1] > MAX_EXPRESSION:
        problem = f"{parts[0].shape[1]} expression coefficients; FLAME has at most {MAX_EXPRESSION}"
        raise FormatError(path, problem, _where(key))
    jaw_kind = None
    for kind, names, width in (("axis_angle", _KEYS["jaw"], 3), ("6d", _KEYS["jaw6d"], 6)):
        hit = _pick(arrays, names)
        if hit is not None:
            if jaw_kind is not None:
                problem = "the jaw is given both as axis-angle and as 6D; keep one"
                raise FormatError(path, problem, _where(hit[0]))
            parts.append(_frames(path, hit[0], _check(path, hit[0], hit[1], max_frames), width))
            jaw_kind = kind
    if jaw_kind is None and "pose" in arrays:  # DECA packs global (3) + jaw (3)
        pose = _frames(path, "pose", _check(path, "pose", arrays["pose"], max_frames), 6)
        parts.append(pose[:, 3:])
        jaw_kind = "axis_angle"
        arrays = {**arrays, "global_pose": pose[:, :3]}
    extras = {}
    for flag, key_name, width in (
        ("global_pose", "global_pose", 3),
        ("neck_pose", "neck_pose", 3),
        ("eye_pose", "eye_pose", 6),
    ):
        if key_name in arrays:
            parts.append(_frames(path, key_name, _check(path, key_name, arrays[key_name], max_frames), width))
            extras[flag] = True
    lengths = {p.shape[0] for p in parts}
    if len(lengths) != 1:
        raise FormatError(path, f"arrays disagree on the number of frames: {sorted(lengths)}")
    layout = FlameLayout(parts[0].shape[1], jaw_kind, **extras)  # type: ignore[arg-type]
    return _finish(path, np.concatenate(parts, axis=1), layout, fps, warnings)


def _finish(path: Path, data: np.ndarray, layout: FlameLayout, fps: float, warnings: list[str]) -> LoadedClip:
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
    for flag, key, names in (
        (layout.global_pose, "global_pose", ["global"]),
        (layout.neck_pose, "neck_pose", ["neck"]),
        (layout.eye_pose, "eye_pose", ["leye", "reye"]),
    ):
        if flag:
            out[key] = take([f"{p}_{a}" for p in names for a in "xyz"])
    np.savez_compressed(Path(path), **out)
