"""Live Link Face CSV: Epic's iPhone capture format, read with its real-world quirks.

Layout: ``Timecode,BlendShapeCount,<52 blendshapes>,<9 rotations>``, names capitalised
(``EyeBlinkLeft``), not in alphabetical order. Quirks handled here:

* the count column is spelled ``BlendShapeCount`` or ``BlendshapeCount``;
* ``Timecode`` is ``HH:MM:SS:FF.fff`` with a 60 fps frame field, but rows arrive every ~2
  frames, so the clip rate is derived from the timecodes, not assumed;
* tracking-lost rows have count 0 and no values: they are dropped and counted;
* blendshape values slightly above 1 are real and kept; values far outside any plausible
  range are refused (see :func:`studio.motion.arkit_limits`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.formats.errors import DEFAULT_MAX_FRAMES, FormatError, LoadedClip, check_length, check_rate, quote
from studio.formats.text import TextError, checked_lines, open_text, parse_float
from studio.motion import (
    ARKIT_CHANNELS,
    MotionClip,
    arkit_limits,
    arkit_name_map,
    arkit_out_of_range,
    livelink_name,
)

TIMECODE_RATE = 60  # Live Link Face writes the frame field of its timecode at 60 fps
# Rates a capture is snapped to when the timecodes measure within SNAP_TOLERANCE of one.
STANDARD_RATES = (10, 12, 15, 20, 23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60, 90, 100, 120)
SNAP_TOLERANCE = 0.005
FALLBACK_FPS = 30.0  # used only for a one-row file, where no rate can be measured
_TIMECODE = re.compile(r"\s*(\d{1,2}):(\d{2}):(\d{2})[:;](\d{1,6}(?:\.\d{1,12})?)\s*", re.ASCII)
_COUNT_COLUMN = re.compile(r"^blend\s*shape\s*count$", re.IGNORECASE)
_DAY = 24 * 3600.0
MAX_COLUMNS = 1024  # 63 columns plus a few extras; a wider header is not a Live Link file
_CHUNK_ROWS = 4096  # rows are converted to numbers in chunks: memory follows the clip, not the text
_DECIMAL_CHARS = str.maketrans("", "", "0123456789.eE+-, \t")  # translate() deletes these


def parse_timecode(text: str, rate: int = TIMECODE_RATE) -> float:
    """``"HH:MM:SS:FF.fff"`` -> seconds since midnight; the frame field counts at ``rate``."""
    match = _TIMECODE.fullmatch(text)
    if not match:
        raise ValueError(f"timecode {quote(text)} is not HH:MM:SS:FF.fff")
    hours, minutes, seconds, frames = match.groups()
    frame = float(frames)
    if int(minutes) >= 60 or int(seconds) >= 60 or frame >= rate:
        raise ValueError(f"timecode {quote(text)} has a field out of range (frame rate {rate})")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + frame / rate


def format_timecode(seconds: float, rate: int = TIMECODE_RATE) -> str:
    """Seconds since midnight -> ``"HH:MM:SS:FF.fff"`` (the subframe to 1/1000 of a frame)."""
    milliframes = round(seconds * rate * 1000) % int(_DAY * rate * 1000)
    whole_frames, milli = divmod(milliframes, 1000)
    whole_seconds, frame = divmod(whole_frames, rate)
    minutes, sec = divmod(whole_seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{sec:02d}:{frame:02d}.{milli:03d}"


def measure_fps(times: np.ndarray) -> tuple[float, float, int]:
    """Derive the sample rate from increasing timestamps ``(N,)`` in seconds.

    Returns ``(fps, measured_fps, gaps)``. Each step is counted in whole sample periods (the
    median step), so dropped rows do not bias the rate; ``gaps`` counts steps longer than 1.5
    periods. ``fps`` is ``measured_fps`` snapped to a standard rate within 0.5 %, else rounded
    to 1/1000.
    """
    steps = np.diff(times)
    period = float(np.median(steps))
    n_periods = np.maximum(np.round(steps / period), 1.0)
    measured = float(n_periods.sum() / (times[-1] - times[0]))
    gaps = int(np.sum(steps > 1.5 * period))
    nearest = min(STANDARD_RATES, key=lambda rate: abs(rate - measured))
    if abs(nearest - measured) <= SNAP_TOLERANCE * nearest:
        return float(nearest), measured, gaps
    return round(measured, 3), measured, gaps


def read_livelink_csv(
    path: str | Path, *, max_frames: int = DEFAULT_MAX_FRAMES, timecode_rate: int = TIMECODE_RATE
) -> LoadedClip:
    """Read a Live Link Face CSV into an ARKit clip, mapping columns by name.

    Raises :class:`FormatError` naming the row and column of the first problem: empty file,
    text that is not UTF-8, missing channel, ragged or non-numeric row (strict decimals: no
    ``0_1``), NaN/inf, a value far outside its channel's range, timecodes not increasing, or
    more than ``max_frames`` data rows. Rows are parsed in chunks, so memory follows the clip.
    """
    path = Path(path)
    handle = open_text(path)
    with handle:
        try:
            rows = csv.reader(checked_lines(handle))
            header = next(rows, None)
            if header is None or not any(cell.strip() for cell in header):
                raise FormatError(path, "empty file")
            if len(header) > MAX_COLUMNS:
                raise FormatError(path, f"{len(header)} columns; a Live Link CSV has about 63", "header")
            header = [cell.strip() for cell in header]
            while header and header[-1] == "":  # some exporters end every line with a comma
                header.pop()
            time_col, count_col, channel_cols, warnings = _parse_header(path, header)
            names = [header[i] for i in channel_cols]
            timecodes: list[str] = []
            lines: list[int] = []
            chunks: list[np.ndarray] = []
            cells: list[list[str]] = []
            dropped = 0
            for row in rows:
                line = rows.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if count_col is not None and _is_tracking_lost(row, count_col):
                    dropped += 1
                    continue
                while len(row) > len(header) and row[-1].strip() == "":
                    row = row[:-1]
                if len(row) != len(header):
                    raise FormatError(
                        path, f"expected {len(header)} fields, found {len(row)}", f"line {line}"
                    )
                if len(timecodes) >= max_frames:
                    raise FormatError(path, f"more than {max_frames} frames (the limit)")
                timecodes.append(row[time_col])
                lines.append(line)
                cells.append([row[i] for i in channel_cols])
                if len(cells) == _CHUNK_ROWS:
                    chunks.append(_to_floats(path, cells, names, lines[-len(cells) :]))
                    cells = []
        except TextError as exc:
            raise FormatError(path, str(exc)) from None
        except csv.Error as exc:
            raise FormatError(path, f"not a readable CSV: {exc}") from None
    if cells:
        chunks.append(_to_floats(path, cells, names, lines[-len(cells) :]))
    if not timecodes:
        problem = "no data rows" if not dropped else f"all {dropped} rows are tracking-lost"
        raise FormatError(path, problem)
    values = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    times = _to_times(path, timecodes, lines, timecode_rate)
    name_map = arkit_name_map(names)
    mapped = values @ name_map.matrix.astype(np.float64)  # checked before the float32 cast
    _check_limits(path, mapped, name_map.matrix, names, lines)
    arkit = mapped.astype(np.float32)
    if len(times) > 1:
        fps, measured, gaps = measure_fps(times)
        fps = fps or measured  # below 0.0005 fps the rounding gives 0: keep the rate to refuse it
        if gaps:
            warnings.append(f"{gaps} gaps in the timecodes (rows missing); frames kept in order")
    else:
        fps, measured = FALLBACK_FPS, float("nan")
        warnings.append(f"one data row: no rate to measure, assuming {FALLBACK_FPS:g} fps")
    check_rate(path, fps, "column 'Timecode'")
    meta = {
        "source": str(path),
        "format": "livelink",
        "start_time_s": float(times[0]),
        "measured_fps": measured,
        "dropped_rows": dropped,
    }
    clip = MotionClip(arkit, fps, "arkit", ARKIT_CHANNELS, meta)
    check_length(path, clip, max_frames)
    return LoadedClip(clip, str(path), "livelink", dropped, tuple(warnings))


def _parse_header(path: Path, header: list[str]) -> tuple[int, int | None, list[int], list[str]]:
    lowered = [cell.lower() for cell in header]
    if "timecode" not in lowered:
        raise FormatError(path, "no 'Timecode' column: not a Live Link Face CSV", "header")
    time_col = lowered.index("timecode")
    count_col = next((i for i, c in enumerate(header) if _COUNT_COLUMN.match(c)), None)
    candidates = [i for i in range(len(header)) if i not in (time_col, count_col)]
    name_map = arkit_name_map([header[i] for i in candidates])
    if name_map.duplicates:
        raise FormatError(path, f"channel given twice: {livelink_name(name_map.duplicates[0])}", "header")
    if name_map.missing:
        shown = ", ".join(livelink_name(n) for n in name_map.missing[:5])
        more = f" (+{len(name_map.missing) - 5} more)" if len(name_map.missing) > 5 else ""
        raise FormatError(path, f"missing channel(s): {shown}{more}", "header")
    warnings = []
    if name_map.unknown:
        warnings.append(f"ignored unknown columns: {quote(', '.join(name_map.unknown), 200)}")
    known = set(name_map.unknown)
    channel_cols = [i for i in candidates if header[i] not in known]
    return time_col, count_col, channel_cols, warnings


def _is_tracking_lost(row: list[str], count_col: int) -> bool:
    """A row whose blendshape count is 0 carries no data (ARKit lost the face)."""
    if count_col >= len(row):
        return False
    try:
        return parse_float(row[count_col]) == 0.0
    except TextError:
        return False


def _to_floats(path: Path, cells: list[list[str]], names: list[str], lines: list[int]) -> np.ndarray:
    """``cells`` (rows of text) -> ``(N, K) float64``, strictly: plain decimals, all finite.

    A character check and numpy's conversion accept the common case quickly; only a chunk they
    refuse is looked at cell by cell, to name the culprit (``float()`` alone would take ``0_1``
    and Unicode digits).
    """
    values = None
    # Built from these characters only, a text that float() accepts is a plain decimal: no
    # "0_1", no Unicode digits, no "nan"; anything else is looked at cell by cell below.
    if not ",".join(map(",".join, cells)).translate(_DECIMAL_CHARS):
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:  # "1e", "--1": found below
            values = None
    if values is None:
        values = np.empty((len(cells), len(names)))
        for r, (row, line) in enumerate(zip(cells, lines, strict=True)):
            for c, (text, name) in enumerate(zip(row, names, strict=True)):
                try:
                    values[r, c] = parse_float(text)
                except TextError as exc:
                    raise FormatError(path, str(exc), f"line {line}, column {quote(name)}") from None
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, col = bad[0]
        where = f"line {lines[row]}, column {quote(names[col])}"
        raise FormatError(path, f"{quote(cells[row][col])} is not a finite number", where)
    return values


def _to_times(path: Path, timecodes: list[str], lines: list[int], rate: int) -> np.ndarray:
    times = np.empty(len(timecodes))
    for i, (text, line) in enumerate(zip(timecodes, lines, strict=True)):
        try:
            times[i] = parse_timecode(text, rate)
        except ValueError as exc:
            raise FormatError(path, str(exc), f"line {line}, column 'Timecode'") from None
    steps = np.diff(times)
    steps = np.where(steps < -_DAY / 2, steps + _DAY, steps)  # a take that runs past midnight
    backwards = np.flatnonzero(steps <= 0)
    if len(backwards):
        i = backwards[0]
        raise FormatError(
            path,
            f"timecode does not advance ({timecodes[i].strip()} then {timecodes[i + 1].strip()})",
            f"line {lines[i + 1]}, column 'Timecode'",
        )
    return np.concatenate([[times[0]], times[0] + np.cumsum(steps)])


def _check_limits(
    path: Path, arkit: np.ndarray, matrix: np.ndarray, names: Sequence[str], lines: list[int]
) -> None:
    hit = arkit_out_of_range(arkit)
    if hit is not None:
        row, channel = hit
        low, high = arkit_limits()
        column = names[int(np.flatnonzero(matrix[:, channel])[0])]
        raise FormatError(
            path,
            f"value {arkit[row, channel]:.4g} is far outside the channel's range "
            f"[{low[channel]:g}, {high[channel]:g}]",
            f"line {lines[row]}, column {quote(column)}",
        )


def write_livelink_csv(clip: MotionClip, path: str | Path) -> None:
    """Write an ARKit clip in Live Link Face layout (Unreal's Live Link importer reads it).

    Timecodes start at ``clip.meta["start_time_s"]`` (0 when absent) and advance by
    ``1 / fps``; values are written with 10 decimals, so a round trip is exact to 1e-6.
    """
    if clip.space != "arkit":
        raise ValueError("only ARKit clips can be written as Live Link CSV")
    start = float(clip.meta.get("start_time_s", 0.0))
    header = ["Timecode", "BlendShapeCount", *(livelink_name(c) for c in ARKIT_CHANNELS)]
    count = str(len(ARKIT_CHANNELS))
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for i, frame in enumerate(clip.values):
            stamp = format_timecode(start + i / clip.fps)
            writer.writerow([stamp, count, *(f"{v:.10f}" for v in frame.tolist())])
