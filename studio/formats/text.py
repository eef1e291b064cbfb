"""Strict text, JSON and number parsing shared by every reader.

Files come from users and from uploads, so a reader refuses in one clear message what Python's
lenient parsers would accept silently or choke on: text in another encoding, JSON nested deep
enough to exhaust the stack, integers with thousands of digits, ``float("0_1") == 1.0``,
Unicode digits, and files or lines far larger than the format ever needs.

Everything here raises :class:`TextError` with the problem alone; the reader that called it
adds the file and the place (line, key) and raises :class:`~studio.formats.FormatError`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from studio.errors import StudioError
from studio.formats.errors import FormatError, quote
from studio.formats.paths import require_file

# JSON in these files is a few levels deep (an answer is 2, a chat record 4); far deeper
# nesting is hostile, and json.loads would recurse once per level.
MAX_JSON_DEPTH = 64
# An integer in any of these files is a seed, a count or a coefficient: never 30 digits.
MAX_INT_DIGITS = 30
# Small index files (dataset.json, a KeyframeFace answer, a models config) are kilobytes.
MAX_SMALL_FILE_BYTES = 4 * 2**20
# Line-oriented index files (prompts, splits, manifests, chat JSONL) grow with the dataset.
MAX_INDEX_FILE_BYTES = 256 * 2**20
# No line of a clip or index file needs more than this (a Live Link row is ~1 kB).
MAX_LINE_CHARS = 2**20

_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
# A decimal number the way CSV writers spell one: ASCII digits only, no underscores.
# (unambiguous: "\d+\.?\d*" would backtrack quadratically on "1111...1x")
NUMBER = re.compile(r"[ \t]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t]*", re.ASCII)
_NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


class TextError(StudioError, ValueError):
    """Text that a reader refuses; the message is the problem without the file."""


def parse_float(text: str) -> float:
    """Strict decimal number: ``"0.25"``, ``"-1e-3"``; ``"nan"``/``"inf"`` come back non-finite.

    Refused (``TextError``): underscores (``"0_1"``, which ``float()`` reads as 1.0), Unicode
    digits, hexadecimal, empty cells and anything else that is not a plain decimal number.
    The caller checks finiteness, so that NaN and ``1e400`` get their own message.
    """
    if NUMBER.fullmatch(text):
        return float(text)
    if text.strip().lower() in _NON_FINITE:
        return float(text)
    raise TextError(f"non-numeric value {quote(text)}")


def decode_utf8(data: bytes) -> str:
    """Decode a file's bytes as UTF-8 (one leading byte-order mark allowed); else ``TextError``."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            raise TextError(f"{name} text; save the file as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None
    if "\x00" in text:
        raise TextError(f"NUL byte at offset {text.index(chr(0))}: binary data or UTF-16 text, not UTF-8")
    return text


def read_text(path: str | Path, *, max_bytes: int = MAX_SMALL_FILE_BYTES) -> str:
    """A whole text file, strictly UTF-8 and at most ``max_bytes``; raises :class:`FormatError`."""
    path = Path(path)
    require_file(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise FormatError(path, f"larger than {_size(max_bytes)}; refusing to read it")
            # read(n) allocates n bytes up front: ask for what the file holds, not for the cap
            data = handle.read(size + 1)
    except OSError as exc:
        raise FormatError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # the file grew while being read
        raise FormatError(path, f"larger than {_size(max_bytes)}; refusing to read it")
    try:
        return decode_utf8(data)
    except TextError as exc:
        raise FormatError(path, str(exc)) from None


def open_text(path: str | Path) -> IO[str]:
    """Open a (possibly large) text file for streaming: strictly UTF-8, BOM allowed.

    Files in another encoding with a byte-order mark are refused here; a bad byte further on
    raises ``UnicodeDecodeError`` while reading, which :func:`checked_lines` turns into
    ``TextError``. Raises :class:`FormatError` when the file cannot be opened.
    """
    path = Path(path)
    require_file(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
        for bom, name in _OTHER_BOMS:
            if head.startswith(bom):
                raise FormatError(path, f"{name} text; save the file as UTF-8")
        return path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise FormatError(path, f"cannot open: {exc.strerror or exc}") from None


def checked_lines(handle: IO[str], max_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of a text stream, each at most ``max_chars``, without NUL bytes; else ``TextError``.

    Lines are read with a size limit, so a file without newlines is never read whole.
    """
    number = 0
    while True:
        try:
            line = handle.readline(max_chars + 1)
        except UnicodeDecodeError as exc:
            problem = f"not UTF-8 text ({exc.reason}) near line {number + 1}; save the file as UTF-8"
            raise TextError(problem) from None
        if not line:
            return
        number += 1
        if len(line) > max_chars:
            raise TextError(f"line {number} is longer than {max_chars:,} characters")
        if "\x00" in line:
            raise TextError(f"NUL byte in line {number}: binary data or UTF-16 text, not UTF-8")
        yield line


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON ``text``; brackets inside strings do not count.

    Linear and vectorised (no regular expression can backtrack): a quote opens or closes a
    string unless an odd run of backslashes precedes it. Exact for valid JSON and for the
    valid prefix of invalid JSON, which is all that ``json.loads`` recurses into.
    """
    raw = text.encode("utf-8", "surrogatepass")
    codes = np.frombuffer(raw, np.uint8)
    if not len(codes):
        return 0
    quote_mark = codes == 0x22  # "
    if b"\\" in raw:
        index = np.arange(len(codes))
        backslash = codes == 0x5C
        # index of the last non-backslash at or before each position (-1 if none)
        last_plain = np.maximum.accumulate(np.where(backslash, -1, index))
        run_before = np.zeros(len(codes), np.int64)  # backslashes right before each position
        run_before[1:] = index[:-1] - last_plain[:-1]
        quote_mark &= run_before % 2 == 0
    outside = (np.cumsum(quote_mark, dtype=np.int64) & 1) == 0
    return _running_depth(codes, outside)


def bracket_depth(text: str) -> int:
    """Deepest running count of ``[``/``{`` over ``]``/``}``, brackets in strings included.

    For formats whose strings :func:`json_depth` cannot see (YAML's quoting): counting every
    bracket can only overestimate the real flow depth, never miss it.
    """
    return _running_depth(np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8))


def _running_depth(codes: np.ndarray, counted: np.ndarray | None = None) -> int:
    """Deepest running count of ``[``/``{`` over ``]``/``}`` in ``codes`` (where ``counted``)."""
    step = (codes == 0x5B).view(np.int8) + (codes == 0x7B).view(np.int8)  # [ {
    step -= (codes == 0x5D).view(np.int8) + (codes == 0x7D).view(np.int8)  # ] }
    if counted is not None:
        step = step * counted
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise TextError(f"integer with {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def loads_json(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> object:
    """``json.loads`` with the nesting depth checked first and integers bounded.

    Raises ``TextError`` beginning "invalid JSON" for any problem. ``NaN``, ``Infinity`` and
    numbers beyond float range (``1e400`` -> inf) load as non-finite floats: the caller decides.
    """
    # counting brackets is cheap; the exact depth is computed only when it could be too deep
    depth = json_depth(text) if text.count("[") + text.count("{") > max_depth else 0
    if depth > max_depth:
        raise TextError(f"invalid JSON: nested {depth} levels deep (at most {max_depth})")
    try:
        return json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise TextError(f"invalid JSON: {exc}") from None
    except TextError as exc:
        raise TextError(f"invalid JSON: {exc}") from None
    except RecursionError:  # the depth check makes this unreachable; kept as a last guard
        raise TextError("invalid JSON: nested too deeply") from None


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:g} MB" if n_bytes >= 2**20 else f"{n_bytes:,} bytes"
