"""Format fuzzing: ``python -m benchmarks.fuzz_formats [--json] [--cases 10000] [--seed 0]``.

Mutates valid files of every format the readers take (Live Link CSV, keyframe CSV, KeyframeFace
answer JSON and chat JSONL, studio and FLAME npz, packed ``.npy``, dataset folders, results
folders, models configs): truncated, bytes flipped, columns renamed or duplicated, JSON nested,
numbers beyond float range or spelled ``0_1``, other encodings, huge fields, zip bombs, members
that lie about their size, symlinks out of the folder, FIFOs. Each case goes through its reader;
every ``--cli-every``-th case also goes through the real command line, ``studio.cli.main``.

A case passes when the reader returns a valid result (a clip within the frame cap, an index) or
raises ``FormatError``/``ClipError`` with a one-line message, with no Python warning, within
``CASE_TIMEOUT_S`` and without allocating more than ``CASE_MEMORY_MB`` (traced); and, through
the CLI, when it exits 0, or 2 with exactly one line ``error: ...`` on stderr. Anything else is
a crash, and each crash is printed on stderr (kind, mutation, seed, what happened) to replay.

Prints one JSON object: ``cases``, ``clear_errors``, ``crashes`` (must be 0), ``max_rss_mb``
(the process's peak resident memory) and ``max_s`` (the slowest single case). The target is
10,000 cases within 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from studio.formats import FormatError, read_clip, read_dataset, write_clip, write_dataset
from studio.formats.checkpoints import read_config_file
from studio.formats.errors import max_duration_s
from studio.formats.keyframeface import (
    KeyframeRecord,
    KeyframeScript,
    answer_json,
    parse_keyframe_answer,
    read_keyframeface_jsonl,
    write_keyframeface_jsonl,
)
from studio.motion import ARKIT_CHANNELS, ClipError, FlameLayout, MotionClip, livelink_name

# A small frame cap, so that mutations reach the length and size limits cheaply.
MAX_FRAMES = 600
CASE_TIMEOUT_S = 10.0
CASE_MEMORY_MB = 200.0
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


# ---------------------------------------------------------------------------------------------
# Valid seed files
# ---------------------------------------------------------------------------------------------


def _arkit_clip(seed: int, frames: int = 12, fps: float = 30.0) -> MotionClip:
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


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------

_NUMBER_TOKEN = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _pos(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def m_truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: _pos(rng, data)]


def m_flip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return b"\xff"
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def m_insert(data: bytes, rng: random.Random) -> bytes:
    at = _pos(rng, data)
    return data[:at] + rng.choice(SPECIAL_BYTES) * rng.choice((1, 2, 50)) + data[at:]


def m_delete(data: bytes, rng: random.Random) -> bytes:
    a = _pos(rng, data)
    return data[:a] + data[min(len(data), a + rng.randint(1, 200)) :]


def m_duplicate(data: bytes, rng: random.Random) -> bytes:
    a = _pos(rng, data)
    piece = data[a : a + rng.randint(1, 400)]
    at = _pos(rng, data)
    return data[:at] + piece * rng.choice((1, 3, 100)) + data[at:]


def m_number(data: bytes, rng: random.Random) -> bytes:
    tokens = list(_NUMBER_TOKEN.finditer(data))
    if not tokens:
        return m_insert(data, rng)
    hit = rng.choice(tokens)
    return data[: hit.start()] + rng.choice(WEIRD_NUMBERS).encode() + data[hit.end() :]


def m_encoding(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    if rng.random() < 0.5:  # a non-ASCII character, so that latin-1 and UTF-8 differ
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice("éü€😀") + text[at:]
    encoding = rng.choice(
        ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig", "bom2")
    )
    if encoding == "bom2":
        return b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode()
    return text.encode(encoding, "replace")


def m_huge_field(data: bytes, rng: random.Random) -> bytes:
    """A long run of one character, sometimes ending in another (which is what makes an
    ambiguous regular expression backtrack for seconds: ``1111...1x``)."""
    at = _pos(rng, data)
    run = rng.choice((b"x", b"1", b" ", b"[", b"0.", b"_")) * rng.choice((10_000, 100_000, 1_100_000))
    return data[:at] + run + rng.choice((b"", b"x", b"e", b"\n")) + data[at:]


def m_repeat_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.splitlines(keepends=True)
    if not lines:
        return data
    line = rng.choice(lines[1:] or lines)
    return data + line * rng.choice((2, 100, 800))


def m_binary(data: bytes, rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 7, 300, 5000)))


BYTE_OPS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": m_truncate,
    "flip": m_flip,
    "insert": m_insert,
    "delete": m_delete,
    "duplicate": m_duplicate,
    "binary": m_binary,
}
TEXT_OPS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    **BYTE_OPS,
    "number": m_number,
    "encoding": m_encoding,
    "huge_field": m_huge_field,
    "repeat_lines": m_repeat_lines,
}


def _csv_rows(data: bytes) -> list[list[str]]:
    return [line.split(",") for line in data.decode("utf-8", "replace").splitlines()]


def _csv_bytes(rows: list[list[str]]) -> bytes:
    return ("\n".join(",".join(row) for row in rows) + "\n").encode("utf-8", "surrogateescape")


def m_columns(data: bytes, rng: random.Random) -> bytes:
    """Rename, duplicate, drop, swap or multiply the columns of a CSV."""
    rows = _csv_rows(data)
    if not rows or len(rows[0]) < 3:
        return m_insert(data, rng)
    width = len(rows[0])
    col = rng.randrange(width)
    action = rng.choice(("rename", "duplicate", "drop", "swap", "many", "case", "blank"))
    names = [livelink_name(c) for c in ARKIT_CHANNELS]
    for row in rows:
        if len(row) != width:
            continue
        if action == "duplicate":
            row.append(row[col])
        elif action == "drop":
            del row[col]
        elif action == "swap":
            other = rng.randrange(width)
            row[col], row[other] = row[other], row[col]
        elif action == "many":
            row.extend(["0"] * rng.choice((100, 2000)))
    header = rows[0]
    if action == "rename":
        header[col] = rng.choice(
            [
                *names,
                "eyeBlink_L",
                "Sparkle",
                "",
                "Timecode",
                "Keyframe",
                "Time",
                "BlendShapeCount",
                "x" * 300,
                "Eye Blink Left",
            ]
        )
    elif action == "case":
        header[col] = header[col].upper()
    elif action == "blank":
        header[col] = ""
    elif action == "many":
        header[width:] = [f"extra{i}" for i in range(len(header) - width)]
    return _csv_bytes(rows)


def m_nest(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice((10, 65, 1000, 100_000))
    opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}")))
    if rng.random() < 0.5:
        return opener * depth + data + closer * depth
    tokens = list(_NUMBER_TOKEN.finditer(data))
    if not tokens:
        return opener * depth + closer * depth
    hit = rng.choice(tokens)
    return data[: hit.start()] + opener * depth + b"1" + closer * depth + data[hit.end() :]


def m_retype(data: bytes, rng: random.Random) -> bytes:
    """Swap a JSON value for one of another type."""
    tokens = list(_NUMBER_TOKEN.finditer(data)) + list(re.finditer(rb'"[^"\\]{0,80}"', data))
    if not tokens:
        return m_insert(data, rng)
    hit = rng.choice(tokens)
    value = rng.choice(
        (
            b'"0.5"',
            b"null",
            b"true",
            b"[]",
            b"{}",
            b"[1, 2]",
            b'{"a": 1}',
            b"1" + b"0" * 400,
            b"1e400",
            b"NaN",
            b"-Infinity",
            b'"' + b"x" * 100_000 + b'"',
            b"1.5",
            b"-1",
        )
    )
    return data[: hit.start()] + value + data[hit.end() :]


def m_many_keys(data: bytes, rng: random.Random) -> bytes:
    """A KeyframeFace answer with too many keyframes, or an object with thousands of keys."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return m_nest(data, rng)
    if isinstance(value, dict) and value:
        first = next(iter(value.values()))
        n = rng.choice((64, 65, 70, 3000))
        value = {f"Keyframe_{i + 1}": first for i in range(n)}
        if rng.random() < 0.3:
            value["Keyframe_" + "9" * rng.choice((7, 40, 5000))] = first
    return json.dumps(value).encode()


def m_timecodes(data: bytes, rng: random.Random) -> bytes:
    """Rewrite the first column as timecodes that step oddly: all equal, a thousandth of a
    frame apart, hours apart, backwards, across midnight, or with Unicode digits."""
    rows = _csv_rows(data)
    if len(rows) < 3:
        return m_insert(data, rng)
    step = rng.choice((0.0, 1e-5, 1 / 30, 3600.0, 43000.0, -1 / 30, 1e-3))
    start = rng.choice((0.0, 86399.9, 3600.0))
    for i, row in enumerate(rows[1:]):
        seconds = (start + i * step) % 86400
        frames = (seconds % 1) * 60
        whole = int(seconds)
        stamp = f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{frames:09.6f}"
        row[0] = (
            stamp.translate(str.maketrans("0123", "\u0660\u0661\u0662\u0663"))
            if rng.random() < 0.1
            else stamp
        )
    return _csv_bytes(rows)


def m_bom(data: bytes, rng: random.Random) -> bytes:
    """A UTF-8 byte-order mark in front: still a valid file."""
    return b"\xef\xbb\xbf" + data


JSON_OPS = {**TEXT_OPS, "nest": m_nest, "retype": m_retype, "many_keys": m_many_keys, "bom": m_bom}
CSV_OPS = {**TEXT_OPS, "columns": m_columns, "columns2": m_columns, "timecodes": m_timecodes, "bom": m_bom}


# -- npz -----------------------------------------------------------------------------------------


def _npz_bytes(arrays: dict[str, object], compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def _npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def npz_bomb(shape: tuple[int, ...], key: str = "expression") -> bytes:
    """An npz whose one member truly inflates to the float64 zeros of ``shape`` it declares.

    The deflate stream is one compressed block repeated: after a full flush the compressor
    starts afresh, so equal input gives equal blocks; a gigabyte takes a few hundred kB and
    about a second (for the CRC). Sizes must stay under 4 GB (no zip64 records are written).
    """
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    header = buffer.getvalue()
    n_zeros = math.prod(shape) * 8
    chunk = 1 << 24
    full, rest = divmod(n_zeros, chunk)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH) if full else b""
    body = head + block * full + compressor.compress(bytes(rest)) + compressor.flush()
    crc = zlib.crc32(header)
    zeros = bytes(chunk)
    for _ in range(full):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    size = len(header) + n_zeros
    name = f"{key}.npy".encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), size, len(name), 0) + name
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(body),
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + name
    )
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    return local + body + central + eocd


@cache
def _bomb_member() -> bytes:
    """An honest bomb: (4000, 318) float64 zeros, 10 MB, several times what :data:`MAX_FRAMES`
    allows (~1 MB of arrays), in a few kB."""
    return npz_bomb((4000, 318))


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)  # an object array is written pickled, which the readers must refuse
    return buffer.getvalue()


def _patch_central_directory(data: bytes, rng: random.Random) -> bytes:
    """Make the zip's central directory lie: a huge uncompressed size, the encrypted flag, an
    unknown compression method, or an entry count of thousands."""
    out = bytearray(data)
    at = data.rfind(b"PK\x01\x02")
    eocd = data.rfind(b"PK\x05\x06")
    if at < 0 or eocd < 0:
        return m_flip(data, rng)
    action = rng.choice(("size", "encrypted", "method", "count"))
    if action == "size":
        struct.pack_into("<I", out, at + 24, rng.choice((2**31, 0xFFFFFFFE, 1_400_000_000)))
    elif action == "encrypted":
        out[at + 8] |= 0x1
    elif action == "method":
        struct.pack_into("<H", out, at + 10, rng.choice((1, 12, 14, 99)))
    else:
        struct.pack_into("<HH", out, eocd + 8, 0xFFFF, rng.choice((0xFFFF, 5000, 65)))
    return bytes(out)


def m_npz(data: bytes, rng: random.Random) -> bytes:
    """Structured npz mutations: dtypes, shapes, widths, values, fps, space, channels, meta."""
    arrays: dict[str, object] = dict(_npz_arrays(data))
    key = rng.choice(sorted(arrays))
    action = rng.choice(
        (
            "dtype",
            "shape",
            "width",
            "value",
            "fps",
            "space",
            "channels",
            "meta",
            "members",
            "drop",
            "bomb",
            "liar",
        )
    )
    array = np.asarray(arrays[key])
    if action == "dtype":
        arrays[key] = array.astype(
            rng.choice(
                (object, complex, str, bool, np.float16, np.longdouble, np.uint64, np.int8, "V8", "S4")
            )
        )
    elif action == "shape":
        arrays[key] = rng.choice(
            (array[None], array.reshape(-1), array[:0], array.T, np.float64(1), array[..., None])
        )
    elif action == "width":
        rows = array.shape[0] if array.ndim else 1
        arrays[rng.choice(("expression", "values", key))] = np.zeros(
            (rows, rng.choice((62, 301, 1000, 5000)))
        )
    elif action == "value" and array.dtype.kind == "f" and array.size:
        array = array.copy()
        with np.errstate(over="ignore"):  # 1e300 in a float32 array: inf, as a file could hold
            array.flat[rng.randrange(array.size)] = rng.choice((np.nan, np.inf, 1e300, 1e30, -5.0, 3.0, 1e6))
        arrays[key] = array
    elif action == "fps":
        arrays["fps"] = rng.choice(
            (
                0.0,
                -1.0,
                np.nan,
                np.inf,
                1e-9,
                1e-3,
                1e4,
                np.array([30.0, 30.0]),
                "30",
                "0_1",
                np.array([]),
                np.int64(30),
                True,
            )
        )
    elif action == "space":
        arrays["space"] = rng.choice(
            ("ARKIT", "flame ", "smpl", "", np.bytes_(b"arkit"), np.array(["arkit"] * 2), 1.0)
        )
    elif action == "channels" and "channels" in arrays:
        names = [str(c) for c in np.asarray(arrays["channels"]).tolist()]
        i = rng.randrange(len(names))
        names[i] = rng.choice(("headYaw", "", "expr_999", "Sparkle", names[-1], "x" * 5000, "expr_300"))
        arrays["channels"] = rng.choice((np.array(names), np.array([names]), np.array(names[:-1])))
    elif action == "meta":
        arrays["meta_json"] = rng.choice(
            (
                "[" * 100_000,
                "[1]",
                '"text"',
                "{bad",
                '{"a": 1' + "0" * 5000 + "}",
                '{"a": NaN}',
                "{}",
                "null",
                '{"a": ' * 60 + "1" + "}" * 60,
            )
        )
    elif action == "members":
        for i in range(rng.choice((2, 70))):
            arrays[f"extra{i}"] = np.zeros(3)
    elif action == "drop":
        del arrays[key]
    elif action == "bomb":
        return _bomb_member()
    elif action == "liar":
        return _patch_central_directory(_npz_bytes(arrays, compressed=rng.random() < 0.5), rng)
    return _npz_bytes(arrays, compressed=rng.random() < 0.5)


def m_npy(data: bytes, rng: random.Random) -> bytes:
    """Packed ``.npy`` mutations: the header's shape, dtype and order, or the array itself."""
    array = np.load(io.BytesIO(data), allow_pickle=False)
    action = rng.choice(("header", "dtype", "shape", "value", "pickle"))
    if action == "header":
        header = rng.choice(
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (200000000, 53), }",
                "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 53), }",
                "{'descr': '<f8', 'fortran_order': True, 'shape': (53, 8), }",
                "{'descr': '|V1000000000', 'fortran_order': False, 'shape': (2,), }",
                "{'descr': '<U0', 'fortran_order': False, 'shape': (5,), }",
                "{'descr': '<f8', 'fortran_order': False, 'shape': " + "(" * 300 + ")" * 300 + ", }",
                "{'descr': 'O', 'fortran_order': False, 'shape': (3,), }",
            )
        )
        header = header.ljust(118) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data[128:]
    if action == "dtype":
        array = array.astype(rng.choice((object, complex, str, np.float16, np.longdouble, "V8")))
    elif action == "shape":
        array = rng.choice((array[None], array.reshape(-1), array[:0], array[:, :52], np.float64(2.0)))
    elif action == "value":
        array = array.copy()
        array.flat[rng.randrange(array.size)] = rng.choice((np.nan, np.inf, 1e300, 25.0))
    else:
        array = np.array([{"a": 1}], dtype=object)
    return _npy_bytes(array)


NPZ_OPS = {**BYTE_OPS, "npz": m_npz, "npz2": m_npz, "npz3": m_npz}
NPY_OPS = {**BYTE_OPS, "npy": m_npy, "npy2": m_npy}
OPS_BY_SUFFIX = {
    ".csv": CSV_OPS,
    ".json": JSON_OPS,
    ".jsonl": JSON_OPS,
    ".txt": TEXT_OPS,
    ".yaml": JSON_OPS,
    ".npz": NPZ_OPS,
    ".npy": NPY_OPS,
}


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

OUTSIDE = "@outside"  # a symlink target: a valid clip in a folder beside the case's folder


@dataclass(frozen=True)
class Case:
    """One mutated input: files to write (relative path -> bytes), symlinks and FIFOs to make."""

    kind: str
    op: str
    files: dict[str, bytes]
    links: tuple[tuple[str, str], ...] = ()
    fifos: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def entry(self) -> str:
        """What the reader opens, relative to the case folder."""
        return "." if self.kind in ("dataset", "results") else next(iter(self.files))


def _mutate_file(name: str, data: bytes, rng: random.Random) -> tuple[str, bytes]:
    ops = OPS_BY_SUFFIX[Path(name).suffix]
    op = rng.choice(sorted(ops))
    try:
        return op, ops[op](data, rng)
    except (ValueError, TypeError, IndexError):  # a variant numpy cannot build: flip bytes instead
        return f"{op}->flip", m_flip(data, rng)


def _manifest_row_op(files: dict[str, bytes], rng: random.Random) -> str:
    """Edit one manifest row: the file leads out, the seed or prompt is malformed or huge."""
    lines = files["manifest.csv"].decode().splitlines()
    row = rng.randrange(1, len(lines))
    prompt, seed, name = lines[row].split(",")
    field_name = rng.choice(("file", "seed", "prompt"))
    if field_name == "file":
        name = rng.choice(
            (
                "../outside/take.csv",
                "/etc/hostname",
                "a\x00.csv",
                "",
                "clips",
                ".",
                "x" * 5000,
                "y" * 300 + ".csv",  # one path component longer than the file system allows
                "manifest.csv",
                "a.csv/",
            )
        )
    elif field_name == "seed":
        seed = rng.choice(("1_0", "-1", "1e400", str(2**40), "true", "1.5", "\u0663", " 7 ", "9" * 5000, ""))
    else:
        prompt = rng.choice(("", "   ", "x" * 5000, '"a,b"', "\u202e", "é"))
    lines[row] = ",".join((prompt, seed, name))
    if rng.random() < 0.3:  # the same rows as JSONL, values typed anyhow
        jsonl = []
        for line in lines[1:]:
            p, s, f = line.split(",", 2)
            jsonl.append(
                json.dumps(
                    {"prompt": p, "seed": rng.choice((s, 1e400 if s == "1e400" else s, True, 1.5)), "file": f}
                )
            )
        del files["manifest.csv"]
        files["manifest.jsonl"] = "\n".join(jsonl).encode()
        return f"jsonl-{field_name}"
    files["manifest.csv"] = ("\n".join(lines) + "\n").encode()
    return f"row-{field_name}"


def make_case(kind: str, rng: random.Random) -> Case:
    """One mutation of the valid ``kind`` seed, drawn with ``rng`` (deterministic given it)."""
    files = dict(seed_files()[kind])
    if kind not in ("dataset", "results"):
        name = next(iter(files))
        op, files[name] = _mutate_file(name, files[name], rng)
        return Case(kind, op, files)
    links: list[tuple[str, str]] = []
    fifos: list[str] = []
    structural = rng.random() < 0.35
    if not structural:
        name = rng.choice(sorted(files))
        op, files[name] = _mutate_file(name, files[name], rng)
        return Case(kind, f"{name}:{op}", files)
    clips = sorted(n for n in files if n.endswith((".csv", ".npz", ".json")) and not n.startswith("manifest"))
    clips = [n for n in clips if n != "prompts.csv"]
    action = rng.choice(("symlink_out", "symlink_index", "symlink_dir", "symlink_loop", "fifo", "row"))
    if action == "row" and kind == "results":
        return Case(kind, _manifest_row_op(files, rng), files)
    if action == "row":  # a dataset's ids: path-like, Unicode, duplicated across splits
        bad = rng.choice(("../etc", "s0/../s1", "\u0663", "s" * 200, "s0\x00", "s0 ", "S0"))
        target = rng.choice(("prompts.csv", "splits/train.txt", "splits/test.txt"))
        files[target] = (
            files[target].replace(b"s0", bad.encode(), 1) if b"s0" in files[target] else bad.encode()
        )
        return Case(kind, f"id:{target}", files)
    if action == "symlink_out":
        victim = rng.choice(clips)
        del files[victim]
        links.append((victim, OUTSIDE))
    elif action == "symlink_index":
        victim = rng.choice(
            ("prompts.csv", "dataset.json", "splits/train.txt") if kind == "dataset" else ("manifest.csv",)
        )
        files.pop(victim, None)
        links.append((victim, OUTSIDE))
    elif action == "symlink_dir":
        if kind == "dataset":
            for n in [n for n in files if n.startswith("clips/")]:
                del files[n]
            links.append(("clips", OUTSIDE + "/"))
        else:
            links.append(("sub", OUTSIDE + "/"))
            files["manifest.csv"] += b"A person waves,0,sub/take.csv\n"
    elif action == "symlink_loop":
        victim = rng.choice(clips)
        del files[victim]
        links.append((victim, victim))
    else:
        victim = rng.choice(("dataset.json", "splits/val.txt", *clips) if kind == "dataset" else clips)
        files.pop(victim, None)
        fifos.append(victim)
    return Case(kind, action, files, tuple(links), tuple(fifos))


def scratch_root() -> str | None:
    """Where cases are written: a RAM disk when there is one (a case writes and deletes a few
    files, which costs ~15 ms on a slow disk and ~1 ms in memory)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def materialise(case: Case, folder: Path) -> Path:
    """Write ``case`` under ``folder`` (emptied first); returns the path its reader opens."""
    root = folder / "case"
    if root.exists():
        shutil.rmtree(root)
    outside = folder / "outside"
    if not (outside / "take.csv").is_file():
        outside.mkdir(parents=True, exist_ok=True)
        (outside / "take.csv").write_bytes(seed_files()["livelink"]["take.csv"])
    for name, data in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    for name, target in case.links:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if target.startswith(OUTSIDE):
            target = str(outside if target.endswith("/") else outside / "take.csv")
        else:
            target = path.name  # a link to itself: a loop
        os.symlink(target, path)
    for name in case.fifos:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    if case.kind == "config":  # the config names a results folder beside it
        results = root / "results"
        results.mkdir(exist_ok=True)
        for name, data in seed_files()["results"].items():
            (results / name).write_bytes(data)
    return root / case.entry


# ---------------------------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------------------------


class CaseTimeoutError(Exception):
    """A case ran past :data:`CASE_TIMEOUT_S`: a hang."""


@dataclass(frozen=True)
class Outcome:
    """``result`` is "accepted", "clear" or "crash"; ``detail`` says what happened."""

    result: str
    seconds: float
    detail: str = ""
    peak_mb: float = 0.0


def read_case(kind: str, entry: Path) -> None:
    """Run the reader(s) of ``kind`` on ``entry``; check what an accepted input produced."""
    if kind in CLIP_NAMES:
        _check_clip(read_clip(entry, max_frames=MAX_FRAMES).clip)
    elif kind == "jsonl":
        records = read_keyframeface_jsonl(entry)
        assert records and all(r.script.keyframes for r in records)
    elif kind == "dataset":
        dataset = read_dataset(entry)
        for item in dataset.items:
            assert item.clip_path.resolve().is_relative_to(entry.resolve()), f"{item.clip_path} is outside"
            _check_clip(read_clip(item.clip_path, max_frames=MAX_FRAMES).clip)
    elif kind == "results":
        from studio.models.results import read_manifest

        for file in sorted({item.file for item in read_manifest(entry)})[:5]:
            assert file.is_relative_to(entry.resolve()), f"{file} is outside"
            _check_clip(read_clip(file, max_frames=MAX_FRAMES).clip)
    elif kind == "config":
        from studio.models import read_models_config

        read_config_file(entry)
        read_models_config(entry)
    else:
        raise ValueError(f"unknown kind {kind!r}")


def _check_clip(clip: MotionClip) -> None:
    """What an accepted clip must satisfy (an accepted hostile file would break one of these)."""
    assert clip.n_frames <= MAX_FRAMES, f"{clip.n_frames} frames over the cap"
    assert clip.n_frames == 1 or clip.duration_s <= max_duration_s(MAX_FRAMES), f"lasts {clip.duration_s} s"
    assert np.all(np.isfinite(clip.values))
    assert np.abs(clip.values).max(initial=0) <= 20.0, "a value beyond every channel's limit"


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseTimeoutError(f"ran past {CASE_TIMEOUT_S:g} s")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: Case, folder: Path) -> Outcome:
    """Materialise ``case`` in ``folder`` and read it, under a time cap, with warnings as errors.

    Memory: with tracemalloc running (the tests), the case's traced peak must stay under
    :data:`CASE_MEMORY_MB`; without it (the benchmark, for speed), the process's peak resident
    memory must not grow by more than that during the case.
    """
    entry = materialise(case, folder)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    tracing = tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
    rss_before = _rss_mb()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
            try:
                read_case(case.kind, entry)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        result, detail = "accepted", ""
    except (FormatError, ClipError) as exc:
        message = str(exc)
        if not message.strip() or "\n" in message or len(message) > 2000:
            result, detail = "crash", f"unclear message: {message[:200]!r}"
        else:
            result, detail = "clear", message
    except Exception as exc:  # anything else a reader lets out is a crash: report it, keep going
        result, detail = "crash", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    grown_mb = tracemalloc.get_traced_memory()[1] / 2**20 if tracing else _rss_mb() - rss_before
    if result != "crash" and grown_mb > CASE_MEMORY_MB:
        result, detail = "crash", f"allocated {grown_mb:.0f} MB (cap {CASE_MEMORY_MB:g})"
    return Outcome(result, seconds, detail, grown_mb)


def cli_case(case: Case, folder: Path) -> Outcome:
    """The same case through ``studio.cli.main``: exit 0, or exit 2 with one ``error:`` line."""
    from studio.cli import main

    entry = materialise(case, folder)
    if case.kind in CLIP_NAMES:
        argv = ["info", str(entry)]
    elif case.kind == "results":
        config = folder / "models.yaml"
        config.write_text(f"models:\n  - {{name: stored, family: results, space: arkit, path: '{entry}'}}\n")
        argv = [
            "generate",
            "--config",
            str(config),
            "--model",
            "stored",
            "--prompt",
            "A person smiles",
            "-o",
            str(folder / "out.npz"),
        ]
    elif case.kind == "config":
        argv = ["models", "list", "--config", str(entry)]
    else:
        return Outcome("accepted", 0.0)
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
            try:
                code = main(argv)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:
        return Outcome(
            "crash", time.perf_counter() - start, f"CLI raised {type(exc).__name__}: {str(exc)[:300]}"
        )
    finally:
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    err = stderr.getvalue()
    if code == 0:
        return Outcome("accepted", seconds)
    if case.kind == "config" and code == 1 and not err:  # `models list`: a model failed to load
        return Outcome("clear", seconds)
    if code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err:
        return Outcome("clear", seconds, err.strip())
    return Outcome("crash", seconds, f"CLI exit {code}, stderr {err[:300]!r}")


def warm_up() -> None:
    """Build the seeds and import what the readers and the CLI import, before anything is timed
    (and before warnings become errors: an import-time DeprecationWarning is not the input's)."""
    import studio.models
    import studio.models.results  # noqa: F401
    from studio.cli import build_parser

    seed_files()
    _bomb_member()
    build_parser()


def _run_share(args: tuple[int, int, int, int, int]) -> dict[str, object]:
    """Cases ``first, first + step, ...`` below ``cases``: one worker's share."""
    cases, seed, first, step, cli_every = args
    warm_up()
    counts = {"accepted": 0, "clear": 0, "crash": 0}
    crashes: list[str] = []
    max_s, slowest = 0.0, ""
    with tempfile.TemporaryDirectory(prefix="fuzz-formats-", dir=scratch_root()) as tmp:
        folder = Path(tmp)
        for i in range(first, cases, step):
            kind = KINDS[i % len(KINDS)]
            case = make_case(kind, random.Random(f"{seed}:{i}"))
            outcomes = [run_case(case, folder)]
            if cli_every and i % cli_every == 0:
                outcomes.append(cli_case(case, folder))
            for outcome in outcomes:
                if outcome.seconds > max_s:
                    max_s, slowest = outcome.seconds, f"case {i} ({kind}, {case.op}): {outcome.detail[:120]}"
                if outcome.result == "crash":
                    crashes.append(f"case {i} ({kind}, {case.op}, seed {seed}): {outcome.detail}")
            worst = "crash" if any(o.result == "crash" for o in outcomes) else outcomes[0].result
            counts[worst] += 1
    return {"counts": counts, "crashes": crashes, "max_s": max_s, "slowest": slowest, "rss_mb": _rss_mb()}


def run(cases: int, seed: int = 0, cli_every: int = 25, workers: int = 1) -> dict[str, object]:
    """Run ``cases`` mutated cases, the kinds in turn, over ``workers`` processes; returns the
    summary (see the module docstring) and prints each crash on stderr."""
    shares = [(cases, seed, first, workers, cli_every) for first in range(workers)]
    if workers == 1:
        results = [_run_share(shares[0])]
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_run_share, shares)
    crashes = [line for r in results for line in r["crashes"]]  # type: ignore[attr-defined]
    for line in crashes[:50]:
        print(f"crash: {line}", file=sys.stderr)
    slowest = max(results, key=lambda r: float(r["max_s"]))["slowest"]  # type: ignore[arg-type]
    print(f"slowest: {slowest}", file=sys.stderr)
    return {
        "cases": cases,
        "clear_errors": sum(r["counts"]["clear"] for r in results),  # type: ignore[index]
        "crashes": sum(r["counts"]["crash"] for r in results),  # type: ignore[index]
        "max_rss_mb": round(max(float(r["rss_mb"]) for r in results), 1),  # type: ignore[arg-type]
        "max_s": round(max(float(r["max_s"]) for r in results), 3),  # type: ignore[arg-type]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="mutated inputs to run (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cli-every", type=int, default=25, help="also run every Nth case through the CLI")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    start = time.perf_counter()
    result = run(args.cases, args.seed, args.cli_every, max(1, args.workers))
    if not args.json:
        elapsed = time.perf_counter() - start
        print(
            f"{result['cases']} cases in {elapsed:.0f} s: {result['clear_errors']} clear errors, "
            f"{result['crashes']} crashes, slowest case {result['max_s']} s"
        )
    print(json.dumps(result))
    return 0 if result["crashes"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
