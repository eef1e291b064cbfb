"""Paths inside a data folder: a listed file, or a symlink, must not lead out of the folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from studio.formats.errors import FormatError


class OutsideFolderError(FormatError):
    """A path leads out of the folder it must stay in (``..``, an absolute path, a symlink)."""


def resolve_inside(root: str | Path, relative_or_path: str | Path) -> Path:
    """The real path of ``relative_or_path`` (relative to ``root``, or absolute), which must be
    ``root`` itself or lie inside it once every symlink on the way is followed.

    Returns the resolved absolute path; the file need not exist. Raises
    :class:`OutsideFolderError` (a :class:`FormatError`) naming the entry when it leads outside
    ``root`` (``..``, an absolute path elsewhere, a symlink out), and :class:`FormatError` when
    it loops or is not a usable path (a NUL byte). ``root`` is resolved as well,
    so it may itself be a symlink. Where the entry leads is not shown: the message may reach
    a browser, and the server's file layout is not its business.
    """
    entry = Path(root) / relative_or_path
    try:
        base = Path(root).resolve()
        resolved = entry.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symlink loop
        raise FormatError(entry, f"cannot be resolved ({exc})") from None
    if not resolved.is_relative_to(base):
        raise OutsideFolderError(entry, f"leads outside the folder {root}; refusing to follow it")
    stat_or_none(resolved, shown=entry)  # a name too long for the file system: refused here
    return resolved


def stat_or_none(path: str | Path, *, shown: str | Path | None = None) -> os.stat_result | None:
    """``os.stat(path)``, or ``None`` when nothing is there; :class:`FormatError` when the path
    cannot be used at all (a name too long, a NUL byte, no permission to look, a symlink loop),
    where ``Path.exists()`` and ``Path.is_file()`` would raise ``OSError`` or ``ValueError``."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FormatError(shown if shown is not None else path, f"cannot be resolved ({reason})") from None


def require_file(path: str | Path) -> None:
    """Raise :class:`FormatError` unless ``path`` is a regular file: nothing there, a folder, a
    FIFO or a device is refused before it is opened (a FIFO would block the reader)."""
    found = stat_or_none(path)
    if found is None or not stat.S_ISREG(found.st_mode):
        raise FormatError(path, "no such file" if found is None else "not a regular file")
