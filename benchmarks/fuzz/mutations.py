"""Byte, text, CSV and JSON mutations: ``(data, rng) -> data``, grouped into op tables by format."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

from benchmarks.fuzz.seeds import SPECIAL_BYTES, WEIRD_NUMBERS
from studio.motion import ARKIT_CHANNELS, livelink_name

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
