"""The one error every reader raises, and the report every reader returns."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from studio.errors import StudioError
from studio.motion import MAX_FPS, MotionClip

# A clip longer than this is refused: ~55 minutes at 60 fps. Override per call or with
# STUDIO_MAX_FRAMES (see studio.config); it keeps a hostile file from eating the memory.
DEFAULT_MAX_FRAMES = 200_000
# The cap on frames is also a cap on duration at this rate (the slowest capture rate), so that a
# clip of few frames at a tiny rate cannot ask a renderer or a resampler for millions of frames.
SLOWEST_RATE = 10.0
# Error messages quote what a file holds; a quoted field is cut to this many characters so that
# a hostile file cannot turn one error line into megabytes.
QUOTE_CHARS = 60
MESSAGE_CHARS = 1000  # the longest problem text an error carries (library messages included)


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with "..."), for naming file content in a message."""
    return text if len(text) <= limit else text[:limit] + "..."


def safe_name(text: str, limit: int = 80) -> str:
    """``text`` (a name read from a file: a pickle's global, a key) as is when printable and at
    most ``limit`` characters, else its ``ascii()`` cut to ``limit``: safe in a one-line message."""
    return text if text.isprintable() and len(text) <= limit else ascii(text[:limit])


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for quoting file content in a message."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text):,} characters)"
    return repr(text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters turned into single spaces.

    An error is one line on stderr, whatever a library's message or a file name holds.
    """
    return _CONTROL.sub(" ", text).strip()


ERROR_CHARS = 300  # an unexpected error's message, as a panel or a status row shows it


def describe(exc: BaseException) -> str:
    """``"KeyError: 'weights'"``: an unexpected exception in one line of at most ERROR_CHARS."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return shorten(one_line(text), ERROR_CHARS)


def max_duration_s(max_frames: int) -> float:
    """The longest clip, in seconds, a reader accepts under ``max_frames``."""
    return max_frames / SLOWEST_RATE


class FormatError(StudioError, ValueError):
    """A file could not be read. The message names the file, the place and the problem.

    ``where`` is a human-readable location ("row 12, column 'JawOpen'", "key 'expression'").
    """

    def __init__(self, path: str | Path, problem: str, where: str | None = None) -> None:
        self.path = one_line(str(path))
        self.where = one_line(where) if where is not None else None
        self.problem = shorten(one_line(problem), MESSAGE_CHARS)
        location = f" ({self.where})" if self.where else ""
        super().__init__(f"{self.path}{location}: {self.problem}")


@dataclass(frozen=True)
class LoadedClip:
    """A clip read from a file, plus what the reader had to do to get it.

    ``dropped_rows`` counts rows skipped on purpose (Live Link tracking-lost rows);
    ``warnings`` lists anything a user should know (unknown columns, gaps, assumed fps).
    """

    clip: MotionClip
    path: str
    format: str
    dropped_rows: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


def check_rate(path: str | Path, fps: float, where: str | None = None) -> None:
    """Raise FormatError unless ``fps`` is a usable frame rate, in (0, 1000]."""
    number = isinstance(fps, int | float) and not isinstance(fps, bool)
    if not (number and math.isfinite(fps) and 0 < fps <= MAX_FPS):
        shown = f"{fps:g}" if number else quote(fps)
        raise FormatError(path, f"frame rate {shown} is not in (0, {MAX_FPS:g}] fps", where)


def check_length(path: str | Path, clip: MotionClip, max_frames: int) -> None:
    """Raise FormatError when ``clip`` has more than ``max_frames`` frames or lasts longer than
    :func:`max_duration_s`: what a clip costs to resample or render is bounded by the cap."""
    if clip.n_frames > max_frames:
        raise FormatError(path, f"{clip.n_frames} frames, more than the limit {max_frames}")
    if clip.n_frames > 1 and clip.duration_s > max_duration_s(max_frames):
        raise FormatError(
            path,
            f"lasts {clip.duration_s:.4g} s ({clip.n_frames} frames at {clip.fps:.4g} fps), longer than "
            f"the limit {max_duration_s(max_frames):g} s ({max_frames} frames at {SLOWEST_RATE:g} fps)",
        )
