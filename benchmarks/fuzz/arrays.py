"""Mutations of numpy archives (``.npz``) and arrays (``.npy``): zip bombs, members that lie
about their size, broken central directories, odd dtypes and shapes."""

from __future__ import annotations

import io
import math
import random
import struct
import zlib
from functools import cache

import numpy as np

from benchmarks.fuzz.mutations import BYTE_OPS, m_flip


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
def bomb_member() -> bytes:
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
        return bomb_member()
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
