"""The one error every reader raises, and the report every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.motion import MotionClip

# A clip longer than this is refused: ~55 minutes at 60 fps. Override per call or with
# STUDIO_MAX_FRAMES (see studio.config); it keeps a hostile file from eating the memory.
DEFAULT_MAX_FRAMES = 200_000


class FormatError(ValueError):
    """A file could not be read. The message names the file, the place and the problem.

    ``where`` is a human-readable location ("row 12, column 'JawOpen'", "key 'expression'").
    """

    def __init__(self, path: str | Path, problem: str, where: str | None = None) -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        location = f" ({where})" if where else ""
        super().__init__(f"{self.path}{location}: {problem}")


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
